"""The dashboard: who came, what they answered and said, and what was done, for one filter set.

:func:`build` turns a :class:`~fieldapp.services.contribution_query.Filters` into tables of
counts (:class:`~.tables.Table`). Consultation-level filters (programme, places, kinds,
consultations, dates) choose the consultations whose attendance records are counted;
contribution-level filters (states, languages, channels, demographics, codes, questions, text)
choose the contributions, with excluded ones left out unless asked. Every number comes from a
handful of ``GROUP BY`` queries on the read model (never one row per answer in Python): one
for the questions' answers, one for the submissions per month, one for the codes and one per
code for its quotes.

Unless ``exact``, every table goes through :func:`.suppression.publish`; means, shares and the
demographics beside quotes are then worked out from the *published* tables, so none of them
gives a withheld count away. Cells that hold the same count in two tables (a code's total by
governorate and by gender; the attendance total) are withheld in both if either withholds it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from flask_babel import force_locale
from flask_babel import format_date as babel_format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ...extensions import db
from ...i18n import LazyText, current_language, pick
from ...models import Submission
from .. import action_plans
from .. import contribution_query as cq
from ..action_plans import ActionRow
from ..contribution_query import CODES, HEADS, TABLE, Filters
from ..sync import schema
from . import suppression
from .tables import Cell, Row, Suppressed, Table, table

BREAKDOWNS = ("gender", "age")
DISTRIBUTIONS = ("single_choice", "yes_no", "rating")
QUOTES_PER_CODE = 3
NOT_STATED = "__none__"  # the column of answers whose demographic was not given
_CHUNK = 500

__all__ = [
    "BREAKDOWNS",
    "Dashboard",
    "QuestionResult",
    "Quote",
    "build",
    "summary",
]


@dataclass(frozen=True)
class Quote:
    """An approved contribution quoted under a code; demographics only where they are safe."""

    key: str
    text: str
    language: str
    consultation_id: str
    governorate: str | None
    gender: str | None
    age_band: str | None


@dataclass(frozen=True)
class QuestionResult:
    """The answers to one question: a table of counts and, where safe, a mean."""

    question_id: str
    consultation_id: str
    text: Mapping[str, str]
    type: str
    table: Table
    mean: float | None = None  # ratings only; None when withheld or too few answers
    respondents: Cell = 0
    original_language: str | None = None


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard, the report, the aggregate exports and the JSON summary show."""

    filters: Filters
    k: int
    exact: bool
    breakdown: str | None
    consultations: int
    attendance: Table
    attendance_groups: Table | None
    shares: Mapping[str, float | None]  # "women", "young" (under 30) of attendance
    participation: Table
    questions: Sequence[QuestionResult]
    codes: Table
    codes_by_governorate: Table
    codes_by_gender: Table
    quotes: Mapping[str, Sequence[Quote]]  # code id -> approved quotes
    actions: Table
    overdue: Sequence[ActionRow] = field(default_factory=tuple)

    def tables(self) -> list[Table]:
        """Every table, in the order the page shows them."""
        found = [self.attendance]
        if self.attendance_groups is not None:
            found.append(self.attendance_groups)
        found.append(self.participation)
        found.extend(q.table for q in self.questions)
        found.extend((self.codes, self.codes_by_governorate, self.codes_by_gender, self.actions))
        return found


# ---- labels, looked up in the reader's language when they are shown ---------------------------


def _picked(texts: Mapping[str, str], original: str | None) -> str:
    return pick(texts, current_language().code, original)[0]


def _content(texts: Mapping[str, str] | None, original: str | None = None) -> Any:
    """Text written in several languages, shown in the reader's (else the original)."""
    return LazyText(_picked, dict(texts or {}), original)


def _place(code: str | None) -> Any:
    if not code or code == NOT_STATED:
        return _l("No governorate")
    from ...consultations.labels import place_name  # the web layer's words, loaded on use

    return LazyText(place_name, code)


def _month_name(month: str) -> str:
    try:
        first = date(int(month[:4]), int(month[5:7]), 1)
    except ValueError:
        return month
    return str(babel_format_date(first, "MMMM y"))


def _labels(kind: str) -> Mapping[str, Any]:
    from ...consultations.labels import LABELS  # the web layer's words, loaded on use

    return LABELS[kind]


def _demographic_label(breakdown: str, value: str) -> Any:
    if value == NOT_STATED:
        return _l("Not stated")
    return _labels("genders" if breakdown == "gender" else "ages").get(value, value)


# ---- which consultations ----------------------------------------------------------------------


def _selected_consultations(
    filters: Filters, bodies: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """The consultations the consultation-level filters allow, the dates on their start day."""
    allowed = cq._consultations_for(filters)
    chosen: dict[str, dict[str, Any]] = {}
    for record_id, body in bodies:
        if allowed is not None and record_id not in allowed:
            continue
        day = body.get("starts_on")
        if filters.date_from and (not day or day < filters.date_from):
            continue
        if filters.date_to and (not day or day > filters.date_to):
            continue
        chosen[record_id] = body
    return chosen


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _heads(kind: str, *, ids: Sequence[str] = (), consultations: Sequence[str] = ()) -> list[Any]:
    """(record_id, consultation_id, body) of live ``kind`` heads by id or by consultation."""
    found: list[Any] = []
    column = HEADS.c.record_id if ids else HEADS.c.consultation_id
    for chunk in _chunks(sorted(set(ids or consultations))):
        found.extend(
            db.session.execute(
                select(HEADS.c.record_id, HEADS.c.consultation_id, HEADS.c.body).where(
                    HEADS.c.kind == kind, HEADS.c.deleted.is_(False), column.in_(chunk)
                )
            )
        )
    return found


# ---- tables of counts -------------------------------------------------------------------------


def _grid(
    name: str,
    title: Any,
    columns: Sequence[Any],
    rows: Sequence[Row],
    *,
    total_row: bool,
    total_column: bool,
) -> Table:
    """A table with a total row or a total column or both (``tables.table`` adds both)."""
    if total_row and total_column:
        return table(name, title, columns, rows, totals=True)
    plain = table(name, title, columns, rows)
    if total_column:
        rows = [replace(r, cells=(*r.cells, sum(r.cells))) for r in rows]  # type: ignore[arg-type]
        return replace(plain, columns=(*columns, _l("Total")), rows=tuple(rows), total_column=True)
    if total_row:
        sums = tuple(sum(r.cells[i] for r in rows) for i in range(len(columns)))  # type: ignore[misc]
        total = Row(_l("Total"), sums, key="__total__")
        return replace(plain, rows=(*plain.rows, total), total_row=True)
    return plain


def _wanted(values: Sequence[str], chosen: Sequence[str]) -> list[str]:
    return [v for v in values if not chosen or v in chosen]


@dataclass
class _Attendance:
    table: Table
    groups: Table | None
    by_month: Counter[str]


def _attendance(filters: Filters, chosen: Mapping[str, dict[str, Any]]) -> _Attendance:
    """Attendance by gender x age band (and by group) of the chosen consultations."""
    genders = _wanted(schema.GENDERS, filters.genders)
    ages = _wanted(schema.AGE_BANDS, filters.age_bands)
    counts: Counter[tuple[str, str]] = Counter()
    by_month: Counter[str] = Counter()
    by_group: Counter[str] = Counter()
    group_labels: dict[str, Any] = {}
    any_groups = False
    for _record_id, consultation_id, body_text in _heads("attendance", consultations=list(chosen)):
        body = json.loads(body_text)
        consultation = chosen.get(body.get("consultation") or consultation_id)
        if consultation is None:
            continue
        for group in consultation.get("groups") or []:
            group_labels.setdefault(group["id"], _content(group.get("label")))
        month = str(consultation.get("starts_on") or body.get("updated_at") or "")[:7]
        from_counts: Counter[str] = Counter()
        for item in body.get("counts") or []:
            if item["gender"] in genders and item["age_band"] in ages:
                counts[(item["gender"], item["age_band"])] += item["count"]
                by_month[month] += item["count"]
                if item.get("group"):
                    from_counts[item["group"]] += item["count"]
        if from_counts:
            any_groups = True
            by_group.update(from_counts)
        elif body.get("group_counts") and not (filters.genders or filters.age_bands):
            # Group counts carry no demographics: they only answer a filter without any.
            any_groups = True
            for item in body["group_counts"]:
                by_group[item["group"]] += item["count"]
    attendance = table(
        "attendance",
        _l("Attendance by gender and age"),
        [_labels("ages")[a] for a in ages],
        [Row(_labels("genders")[g], tuple(counts[(g, a)] for a in ages), key=g) for g in genders],
        totals=True,
    )
    groups_table = None
    if any_groups:
        ids = [g for g in group_labels if not filters.groups or g in filters.groups]
        ids += sorted(g for g in by_group if g not in group_labels and g in _wanted([g], ids))
        groups_table = _grid(
            "attendance_groups",
            _l("Attendance by group"),
            [_l("People who came")],
            [Row(group_labels.get(g, g), (by_group[g],), key=g) for g in ids],
            total_row=False,
            total_column=False,
        )
    return _Attendance(attendance, groups_table, by_month)


# Filters that pick some answers of a submission and not others (or need its demographics):
# with none of them set, a submission matches if it has any answer not excluded.
_ANSWER_FILTERS = (
    "questions",
    "languages",
    "channels",
    "genders",
    "age_bands",
    "groups",
    "states",
    "codes",
    "text",
)


def _submissions_counted(where: list[Any]) -> Counter[str]:
    """Distinct submissions with a matching contribution, per month (reads every match)."""
    month = func.substr(func.coalesce(TABLE.c.held_on, TABLE.c.created_at), 1, 7)
    return Counter(
        {
            str(m): int(n)
            for m, n in db.session.execute(
                select(month, func.count(func.distinct(TABLE.c.submission_uuid)))
                .where(*where)
                .group_by(month)
            )
        }
    )


def _fully_excluded(consultations: Sequence[str]) -> Counter[str]:
    """Per consultation, the submissions whose every answer is excluded (few: read by state)."""
    excluded: dict[str, str] = {}
    for chunk in _chunks(sorted(consultations)):
        for uuid, consultation in db.session.execute(
            select(TABLE.c.submission_uuid, TABLE.c.consultation_id).where(
                TABLE.c.state == "excluded", TABLE.c.consultation_id.in_(chunk)
            )
        ):
            excluded[str(uuid)] = str(consultation)
    kept: set[str] = set()
    for chunk in _chunks(sorted(excluded)):
        kept.update(
            db.session.execute(
                select(TABLE.c.submission_uuid).where(
                    TABLE.c.submission_uuid.in_(chunk), TABLE.c.state != "excluded"
                )
            ).scalars()
        )
    return Counter(c for uuid, c in excluded.items() if uuid not in kept)


def _submissions_by_month(
    filters: Filters, chosen: Mapping[str, dict[str, Any]], where: list[Any]
) -> Counter[str]:
    """Submissions per month: counted from the submissions when no answer filter is set.

    Then a consultation's submissions all fall in the month it was held, and counting them
    per consultation (an index of the submission table) replaces a distinct count over every
    answer; those whose every answer is excluded are taken off unless excluded ones are asked
    for. A submission with no answer at all counts here, as received. Consultations with no
    date, and every answer filter, go the long way.
    """
    if any(getattr(filters, name) for name in _ANSWER_FILTERS):
        return _submissions_counted(where)
    dated = {rid: str(body["starts_on"]) for rid, body in chosen.items() if body.get("starts_on")}
    undated = sorted(set(chosen) - set(dated))
    found: Counter[str] = Counter()
    if undated:
        found.update(_submissions_counted([*where, TABLE.c.consultation_id.in_(undated)]))
    per_consultation: Counter[str] = Counter()
    column = Submission.__table__.c.consultation_id
    for chunk in _chunks(sorted(dated)):
        for rid, number in db.session.execute(
            select(column, func.count()).where(column.in_(chunk)).group_by(column)
        ):
            per_consultation[str(rid)] += int(number)
    if not filters.include_excluded:
        per_consultation.subtract(_fully_excluded(list(dated)))
    for rid, number in per_consultation.items():
        found[dated[rid][:7]] += number
    return found


def _participation(
    filters: Filters,
    chosen: Mapping[str, dict[str, Any]],
    where: list[Any],
    by_month: Counter[str],
) -> Table:
    """People who came and submissions, per month."""
    submissions = _submissions_by_month(filters, chosen, where)
    months = sorted(
        {m for m, n in submissions.items() if n} | {m for m, n in by_month.items() if n}
    )
    return _grid(
        "participation",
        _l("Participation by month"),
        [_l("People who came"), _l("Submissions")],
        [
            Row(LazyText(_month_name, m), (by_month.get(m, 0), submissions.get(m, 0)), key=m)
            for m in months
        ],
        total_row=True,
        total_column=False,
    )


# ---- questions --------------------------------------------------------------------------------


@dataclass
class _Answers:
    """Counts of one question's answers: value -> column -> count."""

    counts: dict[Any, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    ranks: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    answers: int = 0  # contributions (one per respondent)
    rankings: int = 0


def _answer_counts(
    where: list[Any], breakdown: str | None, questions: Sequence[str] | None = None
) -> tuple[dict[str, _Answers], set[str]]:
    """Per question, the counts of its non-text answers; and the demographic columns seen.

    One ``GROUP BY`` in the order of an index of answers (question, value, gender, age band),
    whichever breakdown is asked; ``questions`` (those of the chosen consultations) lets the
    database search that index instead of reading every row of those consultations.
    """
    split = {"gender": 2, "age": 3}.get(breakdown or "")
    keys = [TABLE.c.question_id, TABLE.c.value, TABLE.c.gender, TABLE.c.age_band]
    found: dict[str, _Answers] = defaultdict(_Answers)
    seen: set[str] = set()
    narrowed = [TABLE.c.question_id.in_(sorted(questions))] if questions is not None else []
    query = (
        select(*keys, func.count())
        .where(*where, *narrowed, TABLE.c.value.is_not(None))
        .group_by(*keys)
    )
    decoded: dict[str, Any] = {}
    for row in db.session.execute(query):
        question, number = row[0], int(row[-1])
        if row[1] not in decoded:
            decoded[row[1]] = json.loads(row[1])
        value = decoded[row[1]]
        where_col = (row[split] or NOT_STATED) if split is not None else ""
        seen.add(where_col)
        answers = found[question]
        answers.answers += number
        if isinstance(value, list):  # multiple choice (any order) or ranking (in order)
            for position, option in enumerate(value, start=1):
                answers.counts[("chosen", option)][where_col] += number
                answers.ranks[option][0] += position * number
                answers.ranks[option][1] += number
            if value:
                answers.counts[("first", value[0])][where_col] += number
                answers.rankings += number
        else:
            answers.counts[value][where_col] += number
    return found, seen


def _question_table(
    question_id: str,
    body: Mapping[str, Any],
    answers: _Answers,
    breakdown: str | None,
    columns: Sequence[str],
) -> Table:
    """The raw table of one question's answers (rows options or values)."""
    qtype = body.get("type", "")
    options = [(o["id"], _content(o.get("label"))) for o in body.get("options") or []]
    values: list[tuple[Any, Any]]
    if qtype == "yes_no":
        values = [(True, _l("Yes")), (False, _l("No"))]
    elif qtype == "rating":
        values = [(n, str(n)) for n in range(1, 6)]
    elif qtype == "single_choice":
        values = list(options)
    else:  # a list answer: count each option chosen, or each option ranked first
        prefix = "first" if qtype == "ranking" else "chosen"
        values = [((prefix, o), label) for o, label in options]
    known = {v for v, _label in values}
    lists = qtype in ("multiple_choice", "ranking")
    extra_values = [v for v in answers.counts if isinstance(v, tuple) == lists and v not in known]
    if lists:  # an option no longer offered, or one only ranked lower, still gets its row
        extra_values = [("chosen" if qtype != "ranking" else "first", o) for o in answers.ranks]
        extra_values = [v for v in extra_values if v not in known]
    for value in sorted(extra_values, key=str):
        values.append((value, str(value[1] if isinstance(value, tuple) else value)))
    rows = []
    for value, label in values:
        cells = tuple(answers.counts.get(value, Counter())[c] for c in columns)
        extra: dict[str, Any] = {}
        key = str(value[1] if isinstance(value, tuple) else json.dumps(value))
        if qtype == "ranking":
            extra["mean_rank"] = None
        rows.append(Row(label, cells, key=key, extra=extra))
    if breakdown:
        column_labels = [_demographic_label(breakdown, c) for c in columns]
    else:
        column_labels = [
            {
                "multiple_choice": _l("People who chose it"),
                "ranking": _l("First choice"),
            }.get(qtype, _l("Answers"))
        ]
    return _grid(
        f"question:{question_id}",
        _content(body.get("text"), body.get("original_language")),
        column_labels,
        rows,
        total_row=qtype != "multiple_choice",
        total_column=bool(breakdown),
    )


def _demographic_columns(breakdown: str | None, filters: Filters, seen: set[str]) -> list[str]:
    if not breakdown:
        return [""]
    if breakdown == "gender":
        values = _wanted(schema.GENDERS, filters.genders)
    else:
        values = _wanted(schema.AGE_BANDS, filters.age_bands)
    return values + ([NOT_STATED] if NOT_STATED in seen else [])


def _questions_raw(
    where: list[Any],
    filters: Filters,
    breakdown: str | None,
    consultation_days: Mapping[str, str],
) -> list[tuple[str, dict[str, Any], _Answers, Table]]:
    """Every question with matching answers, in order, with its raw table."""
    narrowed = cq._consultations_for(replace(filters, questions=()))
    questions = None
    if narrowed is not None:
        questions = [
            rid
            for rid, body in db.session.execute(
                select(HEADS.c.record_id, HEADS.c.body).where(
                    HEADS.c.kind == "question", HEADS.c.deleted.is_(False)
                )
            )
            if json.loads(body).get("consultation") in narrowed
        ]
    found, seen = _answer_counts(where, breakdown, questions)
    columns = _demographic_columns(breakdown, filters, seen)
    bodies = {rid: json.loads(body) for rid, _c, body in _heads("question", ids=list(found))}
    order = sorted(
        (rid for rid, body in bodies.items() if body.get("type") in schema.QUESTION_TYPES),
        key=lambda rid: (
            consultation_days.get(bodies[rid].get("consultation", ""), ""),
            bodies[rid].get("consultation", ""),
            int(bodies[rid].get("position") or 0),
            rid,
        ),
    )
    return [
        (
            rid,
            bodies[rid],
            found[rid],
            _question_table(rid, bodies[rid], found[rid], breakdown, columns),
        )
        for rid in order
        if bodies[rid]["type"] != "free_text"
    ]


def _question_result(
    rid: str, body: Mapping[str, Any], answers: _Answers, shown: Table, k: int, exact: bool
) -> QuestionResult:
    """A question's result from its published (or exact) table: respondents, mean, mean ranks."""
    qtype = body["type"]
    withheld = any(isinstance(c, Suppressed) for row in shown.rows for c in row.cells)
    respondents: Cell = answers.answers
    if shown.total_row:
        respondents = shown.rows[-1].cells[-1]
    elif not exact and 0 < answers.answers < k:
        respondents = Suppressed(k)
    mean = None
    if qtype == "rating" and answers.answers and (exact or (answers.answers >= k and not withheld)):
        total = sum(v * sum(c.values()) for v, c in answers.counts.items() if isinstance(v, int))
        mean = round(total / answers.answers, 2)
    if qtype == "ranking":
        rows = []
        for row in shown.rows:
            if row.key == "__total__":
                rows.append(row)
                continue
            position_sum, number = answers.ranks.get(row.key, [0, 0])
            enough = answers.rankings >= k or (exact and answers.rankings > 0)
            mean_rank = round(position_sum / number, 2) if number and enough else None
            rows.append(replace(row, extra={**row.extra, "mean_rank": mean_rank}))
        shown = replace(shown, rows=tuple(rows))
    return QuestionResult(
        rid,
        str(body.get("consultation", "")),
        body.get("text") or {},
        qtype,
        shown,
        mean,
        respondents,
        body.get("original_language"),
    )


# ---- codes and quotes ---------------------------------------------------------------------------


def _code_rows(counts: Mapping[str, int]) -> list[tuple[str, dict[str, Any]]]:
    """(id, body) of the codes to show: themes, each followed by its sub-codes."""
    codes = {rid: json.loads(body) for rid, _c, body in _all_codes()}
    shown = {
        rid
        for rid, body in codes.items()
        if counts.get(rid) or (body.get("status") == "active" and not body.get("merged_into"))
    }

    def order(rid: str) -> tuple[int, str, str]:
        body = codes[rid]
        return int(body.get("position") or 0), _picked(body.get("name") or {}, None), rid

    themes = sorted(
        (r for r in shown if not codes[r].get("parent") or codes[r]["parent"] not in shown),
        key=order,
    )
    result = []
    for theme in themes:
        result.append((theme, codes[theme]))
        children = [r for r in shown if codes[r].get("parent") == theme and r != theme]
        result.extend((child, codes[child]) for child in sorted(children, key=order))
    return result


def _all_codes() -> list[Any]:
    return list(
        db.session.execute(
            select(HEADS.c.record_id, HEADS.c.consultation_id, HEADS.c.body).where(
                HEADS.c.kind == "code", HEADS.c.deleted.is_(False)
            )
        )
    )


@dataclass
class _Codes:
    codes: Table
    by_governorate: Table
    by_gender: Table
    ages: dict[str, Counter[str]]  # code -> age band -> contributions (for quotes)
    place_columns: list[str]  # the governorate of each column of by_governorate
    gender_columns: list[str]


def _codes(where: list[Any], filters: Filters) -> _Codes:
    """Contributions per code, and per code by governorate and by gender (raw)."""
    joined = CODES.join(TABLE, CODES.c.contribution_key == TABLE.c.key)
    keys = [CODES.c.code_id, TABLE.c.governorate, TABLE.c.gender, TABLE.c.age_band]
    per_code: Counter[str] = Counter()
    governorates: dict[str, Counter[str]] = defaultdict(Counter)
    genders: dict[str, Counter[str]] = defaultdict(Counter)
    ages: dict[str, Counter[str]] = defaultdict(Counter)
    query = select(*keys, func.count()).select_from(joined).where(*where).group_by(*keys)
    for row in db.session.execute(query):
        code, governorate, gender, age_band, number = row[0], row[1], row[2], row[3], int(row[4])
        per_code[code] += number
        governorates[code][governorate or NOT_STATED] += number
        genders[code][gender or NOT_STATED] += number
        ages[code][age_band or NOT_STATED] += number
    rows = _code_rows(per_code)
    seen_places = {g for c in governorates.values() for g, n in c.items() if n}
    place_columns = sorted(
        (g for g in seen_places if g != NOT_STATED), key=lambda g: (str(_place(g)), g)
    ) + ([NOT_STATED] if NOT_STATED in seen_places else [])
    seen_genders = {g for c in genders.values() for g, n in c.items() if n}
    gender_columns = _wanted(schema.GENDERS, filters.genders) + (
        [NOT_STATED] if NOT_STATED in seen_genders else []
    )

    def code_row(rid: str, body: Mapping[str, Any], cells: tuple[int, ...]) -> Row:
        return Row(
            _content(body.get("name"), body.get("original_language")),
            cells,
            key=rid,
            colour=str(body.get("colour") or "#777777"),
            extra={"parent": body.get("parent")},
        )

    return _Codes(
        table(
            "codes",
            _l("Contributions per code"),
            [_l("Contributions")],
            [code_row(rid, body, (per_code[rid],)) for rid, body in rows],
        ),
        table(
            "codes_by_governorate",
            _l("Codes by governorate"),
            [_place(g) for g in place_columns],
            [
                code_row(rid, body, tuple(governorates[rid][g] for g in place_columns))
                for rid, body in rows
            ],
            totals=True,
        ),
        table(
            "codes_by_gender",
            _l("Codes by gender"),
            [_demographic_label("gender", g) for g in gender_columns],
            [
                code_row(rid, body, tuple(genders[rid][g] for g in gender_columns))
                for rid, body in rows
            ],
            totals=True,
        ),
        ages,
        place_columns,
        gender_columns,
    )


def _column_cell(shown: Table, row_key: str, column_key: str, keys: Sequence[str]) -> Cell:
    """The cell of a published code table for one code and one column key (0 if absent)."""
    if column_key not in keys:
        return 0
    for row in shown.rows:
        if row.key == row_key:
            return row.cells[keys.index(column_key)]
    return 0


def _quotes(where: list[Any], codes: _Codes, k: int, exact: bool) -> dict[str, list[Quote]]:
    """Up to three approved quotes per code, each demographic only where its group is large.

    A quote's gender (age band, governorate) is shown only if at least ``k`` contributions
    under that code in this output share it: the raw count decides (a count withheld only to
    protect another cell still describes a group large enough).
    """
    by_gov, by_gender = codes.by_governorate, codes.by_gender
    gov_keys, gender_keys = codes.place_columns, codes.gender_columns
    quotes: dict[str, list[Quote]] = {}
    for row in codes.codes.rows:
        if not row.cells or row.cells[0] == 0:
            continue
        coded = select(CODES.c.contribution_key).where(CODES.c.code_id == row.key)
        found = db.session.execute(
            select(
                TABLE.c.key,
                TABLE.c.text,
                TABLE.c.language,
                TABLE.c.consultation_id,
                TABLE.c.governorate,
                TABLE.c.gender,
                TABLE.c.age_band,
            )
            .where(
                *where,
                TABLE.c.state == "approved",
                TABLE.c.text.is_not(None),
                TABLE.c.key.in_(coded),
            )
            .order_by(TABLE.c.key.desc())
            .limit(QUOTES_PER_CODE)
        )
        chosen = []
        for key, text, language, consultation, governorate, gender, age_band in found:
            gov_cell = _column_cell(by_gov, row.key, governorate or NOT_STATED, gov_keys)
            gender_cell = _column_cell(by_gender, row.key, gender or NOT_STATED, gender_keys)
            age_count = codes.ages.get(row.key, Counter())[age_band or NOT_STATED]
            chosen.append(
                Quote(
                    key,
                    text,
                    language,
                    consultation,
                    governorate if governorate and _safe(gov_cell, k, exact) else None,
                    gender if gender and _safe(gender_cell, k, exact) else None,
                    age_band if age_band and _safe(age_count, k, exact) else None,
                )
            )
        if chosen:
            quotes[row.key] = chosen
    return quotes


def _safe(count: Cell, k: int, exact: bool) -> bool:
    return exact or suppression.demographics_allowed(count, k)


# ---- publishing -------------------------------------------------------------------------------


def _publish_alike(
    raw: Sequence[Table], k: int, places: Sequence[Sequence[tuple[int, int, int]]]
) -> list[Table]:
    """``raw`` published with threshold ``k``, a count that shows in several tables withheld in
    all of them if one withholds it.

    ``places`` lists, per shared count, its (table index, row, column) cells. A cell withheld
    only because another table withholds its count must be protected in its own table too
    (a total whose row has one shown cell would give it away), so each table is published
    again with those cells forced, until no table withholds a shared count that another shows.
    Forced cells only grow, so this ends.
    """
    forced: list[set[tuple[int, int]]] = [set() for _ in raw]
    shown = suppression.publish(raw, k)
    while True:
        grids = [t.counts() for t in shown]
        grown: set[int] = set()
        for cells in places:
            if not any(isinstance(grids[t][r][c], Suppressed) for t, r, c in cells):
                continue
            for t, r, c in cells:
                if not isinstance(grids[t][r][c], Suppressed):
                    forced[t].add((r, c))
                    grown.add(t)
        if not grown:
            return shown
        for t in grown:  # only the tables that must withhold more are published again
            shown[t] = suppression.suppress(raw[t], k, hide=forced[t])


def _conditions(filters: Filters) -> list[Any]:
    """The filter's conditions, its consultation attributes said as the consultations they
    allow (the same rows: the read model copies those attributes from the consultations), so
    that an index of answers that holds ``consultation_id`` covers the whole query."""
    narrowed = cq._consultations_for(replace(filters, questions=()))
    if narrowed is None:
        return cq.conditions(filters)
    return cq.conditions(
        replace(
            filters,
            programmes=(),
            governorates=(),
            districts=(),
            kinds=(),
            consultations=tuple(sorted(narrowed)) or ("",),
        )
    )


def build(
    filters: Filters,
    *,
    k: int,
    exact: bool = False,
    breakdown: str | None = None,
    today: date | None = None,
) -> Dashboard:
    """The dashboard of ``filters``: published with threshold ``k`` unless ``exact``.

    ``breakdown`` ("gender" or "age") splits each question's answers by that demographic.
    ``today`` decides which action points are overdue (default: today).
    """
    if breakdown not in (None, *BREAKDOWNS):
        raise ValueError(f"unknown breakdown {breakdown!r}")
    bodies = cq._consultation_bodies()
    chosen = _selected_consultations(filters, bodies)
    days = {rid: str(body.get("starts_on") or "") for rid, body in bodies}
    where = _conditions(filters)

    attendance = _attendance(filters, chosen)
    participation = _participation(filters, chosen, where, attendance.by_month)
    questions = _questions_raw(where, filters, breakdown, days)
    codes = _codes(where, filters)
    actions = action_plans.status_table(filters, today)

    raw = [attendance.table]
    if attendance.groups is not None:
        raw.append(attendance.groups)
    raw.append(participation)
    raw.extend(q[3] for q in questions)
    first_code = len(raw)
    raw.extend((codes.codes, codes.by_governorate, codes.by_gender, actions))
    if exact:
        shown = list(raw)
    else:
        participation_index = 2 if attendance.groups is not None else 1
        att_total = (0, len(attendance.table.rows) - 1, len(attendance.table.columns) - 1)
        same: list[list[tuple[int, int, int]]] = [
            [att_total, (participation_index, len(participation.rows) - 1, 0)]
        ]
        for row in range(len(codes.codes.rows)):
            same.append(
                [
                    (first_code, row, 0),
                    (first_code + 1, row, len(codes.by_governorate.columns) - 1),
                    (first_code + 2, row, len(codes.by_gender.columns) - 1),
                ]
            )
        shown = _publish_alike(raw, k, same)
    shown_attendance = shown[0]
    shown_groups = shown[1] if attendance.groups is not None else None
    shown_participation = shown[2 if attendance.groups is not None else 1]
    shown_questions = shown[first_code - len(questions) : first_code]
    shown_codes, shown_by_gov, shown_by_gender, shown_actions = shown[first_code:]

    quotes = _quotes(where, codes, k, exact)

    return Dashboard(
        filters=filters,
        k=k,
        exact=exact,
        breakdown=breakdown,
        consultations=len(chosen),
        attendance=shown_attendance,
        attendance_groups=shown_groups,
        shares=_shares(shown_attendance),
        participation=shown_participation,
        questions=[
            _question_result(rid, body, answers, published, k, exact)
            for (rid, body, answers, _raw), published in zip(
                questions, shown_questions, strict=True
            )
        ],
        codes=shown_codes,
        codes_by_governorate=shown_by_gov,
        codes_by_gender=shown_by_gender,
        quotes=quotes,
        actions=shown_actions,
        overdue=tuple(action_plans.rows(filters, overdue_only=True, today=today)),
    )


def _shares(attendance: Table) -> dict[str, float | None]:
    """Women's and young people's shares of attendance, from the published cells."""
    total_row = attendance.rows[-1].cells
    whole = total_row[-1]
    women: Cell = 0
    for row in attendance.rows[:-1]:
        if row.key == "woman":
            women = row.cells[-1]
    ages = [a for a in schema.AGE_BANDS if a in ("under_18", "18_29")]
    age_labels = {str(_labels("ages")[a]) for a in ages}
    young: Cell = 0
    for index, column in enumerate(attendance.columns[:-1]):
        if str(column) in age_labels:
            cell = total_row[index]
            if isinstance(cell, Suppressed) or isinstance(young, Suppressed):
                young = cell if isinstance(cell, Suppressed) else young
            else:
                young += cell
    return {"women": suppression.share(women, whole), "young": suppression.share(young, whole)}


# ---- the JSON summary -------------------------------------------------------------------------


def _cell(cell: Cell) -> int | str:
    return str(cell) if isinstance(cell, Suppressed) else int(cell)


def summary(dashboard: Dashboard, locale: str) -> dict[str, Any]:
    """The dashboard's tables as one JSON-ready object, every text in ``locale``.

    Cells hold counts only (an integer, or "<K" where withheld); means and shares are in their
    own keys.
    """
    results = {q.table.name: q for q in dashboard.questions}
    with force_locale(locale):
        tables = []
        for shown in dashboard.tables():
            entry: dict[str, Any] = {
                "name": shown.name,
                "title": str(shown.title),
                "columns": [str(c) for c in shown.columns],
                "rows": [
                    {
                        "label": str(row.label),
                        "cells": [_cell(c) for c in row.cells],
                        **({"extra": dict(row.extra)} if row.extra else {}),
                    }
                    for row in shown.rows
                ],
            }
            if shown.name == "attendance":
                entry["shares"] = dict(dashboard.shares)
            result = results.get(shown.name)
            if result is not None:
                entry["type"] = result.type
                entry["respondents"] = _cell(result.respondents)
                if result.type == "rating":
                    entry["mean"] = result.mean
            tables.append(entry)
    return {"min_count": dashboard.k, "tables": tables}
