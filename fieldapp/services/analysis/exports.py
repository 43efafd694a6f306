"""Files for analysts: contributions row by row (CSV, XLSX, REFI-QDA) and the dashboard's tables.

Row-level files hold one row per submission that has at least one contribution matching the
filter of the Contributions page; an answer the filter leaves out (an excluded one, unless
excluded ones are asked for) leaves its cells empty. The contributions are read in key order
with ``yield_per`` (a server-side cursor on PostgreSQL) and grouped by submission as they come,
so an export of 200,000 submissions never holds them all in memory.

Aggregate files (:func:`write_tables`) carry the dashboard's published tables only: counts
below k are "<k" there as on every page that leaves the office, and an exact dashboard is
refused. Every file written is recorded in the activity log with its filters and row count,
never with anything a participant said.
"""

from __future__ import annotations

import functools
import itertools
import json
import uuid
from collections import namedtuple
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import cast as sa_cast
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import JSONB

from ...database import writing
from ...extensions import db
from ...i18n import BY_CODE, pick
from ...labels import CODE_STATUS_LABELS, REVIEW_STATE_LABELS
from ...models import Submission
from .. import activity, audit, codebook, consent, contribution_query, places, records
from ..errors import FieldappError
from ..sync import schema
from .tables import Suppressed, Table

if TYPE_CHECKING:
    from .dashboard import Dashboard

TABLE = contribution_query.TABLE
HEADS = contribution_query.HEADS
BATCH = 1000  # contributions fetched per round trip
JOIN = " ; "  # between the labels of a multiple choice or the names of codes
# The guids of QDPX sources: the same contribution always gets the same guid.
SOURCE_NS = uuid.UUID("0b7f3c1e-4a52-4d8e-9f61-7c2a9e5d3b10")

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "qdpx": "application/zip",
}
ROW_FORMATS = ("csv", "xlsx", "qdpx")
TABLE_FORMATS = ("csv", "xlsx")

# HXL 1.1 hashtags (hxlstandard.org) of the fixed columns, in column order; #gender, #age and
# #group are the ones the issue names for a respondent's demographics.
HXL_FIXED = (
    "#meta+id",
    "#event+name",
    "#activity+programme",
    "#adm1+name",
    "#adm2+name",
    "#date",
    "#meta+lang",
    "#meta+channel",
    "#gender",
    "#age",
    "#group",
    "#meta+consent",
)
HXL_TEXT, HXL_STATE, HXL_CODES = "#description+text", "#status+review", "#meta+codes"
HXL_ANSWER, HXL_OPTION, HXL_RANK = "#meta+answer", "#meta+answer+option", "#meta+answer+rank"

FIXED_HEADERS = (
    _l("Submission"),
    _l("Consultation"),
    _l("Programme"),
    _l("Governorate"),
    _l("District"),
    _l("Date"),
    _l("Language"),
    _l("Channel"),
    _l("Gender"),
    _l("Age band"),
    _l("Group"),
    _l("Consent"),
)
EXTRA_LABELS: dict[str, Any] = {
    "mean": _l("Mean"),
    "share": _l("Share"),
    "mean_rank": _l("Mean rank"),
}

__all__ = [
    "ExportDone",
    "ExportRefused",
    "ExportRequest",
    "write",
    "write_tables",
]


class ExportRefused(FieldappError):
    """An export that cannot be written as asked (``message`` says why, translated)."""


@dataclass(frozen=True)
class ExportRequest:
    """A row-level export: which contributions, which file format, in which language."""

    filters: contribution_query.Filters
    format: str
    lang: str
    hxl: bool = False


@dataclass(frozen=True)
class ExportDone:
    """A file written: how many rows (submissions, sources or table rows), its name and type."""

    rows: int
    file_name: str
    media_type: str


@dataclass(frozen=True)
class _Question:
    id: str
    consultation: str
    type: str
    text: Mapping[str, str]
    original_language: str | None
    position: int
    options: tuple[tuple[str, Mapping[str, str]], ...]


@dataclass
class _Catalogue:
    """What the rows name, read once before the rows: consultations, questions, codes."""

    lang: str
    consultations: dict[str, dict[str, Any]]
    questions: list[_Question]
    codes: dict[str, codebook.Code]
    column_of: dict[str, int] = field(default_factory=dict)  # question id -> first column
    # Words rendered once per export (the row loop would otherwise translate on every row).
    words: dict[tuple[str, str | None], str] = field(default_factory=dict)
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # question -> labels

    def word(self, table: str, value: str | None) -> str:
        """A stored value's label (or a place's name) in the export's language, cached."""
        found = self.words.get((table, value))
        if found is None:
            if table == "governorate":
                found = _governorate_name(value, self.lang)
            elif table == "district":
                found = _district_name(value, self.lang)
            elif table == "yes_no":
                found = str(_l("Yes")) if value else str(_l("No"))
            else:
                found = _label(_label_tables()[table], value)
            self.words[(table, value)] = found
        return found

    def option_labels(self, question: _Question) -> dict[str, str]:
        """The labels of a question's options in the export's language, cached."""
        found = self.options.get(question.id)
        if found is None:
            found = {option: self.text(label) for option, label in question.options}
            self.options[question.id] = found
        return found

    def text(self, texts: Mapping[str, str] | None, original: str | None = None) -> str:
        """Multilingual content in the export's language (else the best other one)."""
        return pick(texts, self.lang, original)[0]

    def title(self, consultation_id: str) -> str:
        body = self.consultations.get(consultation_id) or {}
        return self.text(body.get("title"), body.get("original_language"))

    def group(self, consultation_id: str, group_id: str | None) -> str:
        if not group_id:
            return ""
        for group in (self.consultations.get(consultation_id) or {}).get("groups") or []:
            if isinstance(group, dict) and group.get("id") == group_id:
                return self.text(group.get("label")) or group_id
        return group_id

    def code_name(self, code_id: str) -> str:
        code = self.codes.get(code_id)
        return self.text(code.name, code.original_language) if code else code_id


def _labels() -> dict[str, Mapping[str, Any]]:
    from ...consultations.forms import AGE_LABELS, CHANNEL_LABELS, CONSENT_LABELS, GENDER_LABELS

    return {
        "genders": GENDER_LABELS,
        "ages": AGE_LABELS,
        "channels": CHANNEL_LABELS,
        "consents": CONSENT_LABELS,
    }


def _label_tables() -> dict[str, Mapping[str, Any]]:
    return {**_labels(), "states": REVIEW_STATE_LABELS}


def _label(table: Mapping[str, Any], value: str | None) -> str:
    if not value:
        return ""
    return str(table[value]) if value in table else value


def _governorate_name(code: str | None, lang: str) -> str:
    if not code:
        return ""
    try:
        return places.governorate(code).name(lang)
    except places.UnknownPlace:
        return code


def _district_name(code: str | None, lang: str) -> str:
    if not code:
        return ""
    try:
        return places.district(code).name(lang)
    except places.UnknownPlace:
        return code


def _heads(kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for record_id, body in db.session.execute(
        select(HEADS.c.record_id, HEADS.c.body)
        .where(HEADS.c.kind == kind, HEADS.c.deleted.is_(False))
        .order_by(HEADS.c.record_id)
    ):
        yield record_id, json.loads(body)


def _catalogue(filters: contribution_query.Filters, lang: str) -> _Catalogue:
    """The consultations the filter allows, their questions in order, and the codebook."""
    allowed = contribution_query._consultations_for(filters)
    consultations = {
        record_id: body
        for record_id, body in _heads("consultation")
        if allowed is None or record_id in allowed
    }
    questions = []
    for record_id, body in _heads("question"):
        if body.get("consultation") not in consultations:
            continue
        if filters.questions and record_id not in filters.questions:
            continue
        questions.append(
            _Question(
                record_id,
                body["consultation"],
                body.get("type", "free_text"),
                body.get("text") or {},
                body.get("original_language"),
                int(body.get("position") or 0),
                tuple(
                    (str(o["id"]), o.get("label") or {})
                    for o in body.get("options") or []
                    if isinstance(o, dict) and "id" in o
                ),
            )
        )

    def order(question: _Question) -> tuple[str, str, int, str]:
        held = consultations[question.consultation].get("starts_on") or ""
        return (held, question.consultation, question.position, question.id)

    questions.sort(key=order)
    codes = {
        code.id: code for code in codebook.all_codes(include_retired=True, include_merged=True)
    }
    return _Catalogue(lang, consultations, questions, codes)


def _question_columns(catalogue: _Catalogue) -> tuple[list[str], list[str]]:
    """The headers and HXL hashtags of the question columns; fills ``column_of``."""
    headers: list[str] = []
    tags: list[str] = []
    start = len(FIXED_HEADERS)
    for question in catalogue.questions:
        catalogue.column_of[question.id] = start + len(headers)
        text = catalogue.text(question.text, question.original_language)
        if question.type == "free_text":
            headers += [
                text,
                str(_l("%(question)s — review state", question=text)),
                str(_l("%(question)s — codes", question=text)),
            ]
            tags += [HXL_TEXT, HXL_STATE, HXL_CODES]
        elif question.type == "multiple_choice":
            headers.append(text)
            tags.append(HXL_ANSWER)
            for _id, label in question.options:
                headers.append(f"{text} — {catalogue.text(label)}")
                tags.append(HXL_OPTION)
        elif question.type == "ranking":
            for _id, label in question.options:
                headers.append(
                    str(
                        _l(
                            "%(question)s — rank of %(option)s",
                            question=text,
                            option=catalogue.text(label),
                        )
                    )
                )
                tags.append(HXL_RANK)
        else:
            headers.append(text)
            tags.append(HXL_ANSWER)
    return headers, tags


def _header_rows(catalogue: _Catalogue, hxl: bool) -> list[list[str]]:
    headers, tags = _question_columns(catalogue)
    rows = [[str(h) for h in FIXED_HEADERS] + headers]
    if hxl:
        rows.append([*HXL_FIXED, *tags])
    return rows


def _stream(filters: contribution_query.Filters) -> Iterator[list[Any]]:
    """The matching contributions in key order, one list per submission (never all at once)."""
    query = (
        select(
            TABLE.c.key,
            TABLE.c.submission_uuid,
            TABLE.c.question_id,
            TABLE.c.consultation_id,
            TABLE.c.programme,
            TABLE.c.governorate,
            TABLE.c.district,
            TABLE.c.held_on,
            TABLE.c.created_at,
            TABLE.c.language,
            TABLE.c.channel,
            TABLE.c.gender,
            TABLE.c.age_band,
            TABLE.c.grp,
            TABLE.c.text,
            TABLE.c.value,
            TABLE.c.state,
            TABLE.c.codes,
        )
        .where(*contribution_query.conditions(filters))
        .order_by(TABLE.c.key)
        .execution_options(yield_per=BATCH, stream_results=True)
    )
    current: list[Any] = []
    for row in _rows_of(query):
        if current and row.submission_uuid != current[0].submission_uuid:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def _rows_of(query: Any) -> Iterator[Any]:
    """The rows of ``query``, read as they come.

    On SQLite straight from the DB-API cursor of the session's connection, as named tuples:
    the read model's columns are plain text, and SQLAlchemy's result rows cost a tenth of a
    CSV export. Elsewhere (PostgreSQL: a server-side cursor) through SQLAlchemy.
    """
    if db.engine.dialect.name != "sqlite":
        yield from db.session.execute(query)
        return
    compiled = query.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    arguments = [params[name] for name in compiled.positiontup or ()]
    names = [column.name for column in query.selected_columns]
    row_type = namedtuple("ContributionRow", names)  # type: ignore[misc]
    cursor = db.session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), arguments)
        make = row_type._make
        while batch := cursor.fetchmany(BATCH):
            yield from map(make, batch)
    finally:
        cursor.close()


def _consent_columns() -> tuple[Any, Any]:
    """The submission body's ``consent_method`` and ``consent``, read by the database from the
    JSON text (a whole body parsed in Python per submission cost a third of a CSV export).
    SQLite gives ``consent`` as 1 or 0, PostgreSQL as 'true' or 'false'."""
    if db.engine.dialect.name == "postgresql":
        body = sa_cast(Submission.body, JSONB)
        return body["consent_method"].astext, body["consent"].astext
    return (
        func.json_extract(Submission.body, "$.consent_method"),
        func.json_extract(Submission.body, "$.consent"),
    )


def _with_consent(groups: Iterator[list[Any]]) -> Iterator[tuple[list[Any], str]]:
    """Each submission's contributions with how its consent was given.

    The read model has no column for it, so it is read from the submissions themselves, one
    query per :data:`BATCH` submissions, which keeps the export streaming.
    """
    method_column, consent_column = _consent_columns()
    for batch in iter(lambda: list(itertools.islice(groups, BATCH)), []):
        wanted = [group[0].submission_uuid for group in batch]
        found = db.session.execute(
            select(Submission.uuid, method_column, consent_column).where(
                Submission.uuid.in_(wanted)
            )
        )
        bodies: dict[str, dict[str, Any]] = {
            uuid_: {"consent_method": method, "consent": given not in (0, "false", False)}
            for uuid_, method, given in found
        }
        for group in batch:
            first = group[0]
            body = bodies.get(first.submission_uuid)
            if body is None:
                yield group, consent.NOT_RECORDED
                continue
            yield group, consent.method_of({**body, "channel": first.channel})


def _day(row: Any) -> date | None:
    raw = row.held_on or (row.created_at or "")[:10]
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


# Answers repeat (an option's id, a rating, yes or no): decoded once each. The values are
# only read, never changed, so sharing them between rows is safe.
_decoded = functools.lru_cache(maxsize=8192)(json.loads)


def _answer_cells(catalogue: _Catalogue, question: _Question, row: Any) -> list[Any]:
    """The cells of one answer, as many as its question has columns."""
    if question.type == "free_text":  # the read model has the text: no JSON to read
        text = row.text
        if text is None:
            value = _decoded(row.value) if row.value is not None else None
            text = value if isinstance(value, str) else ""
        codes = JOIN.join(catalogue.code_name(c) for c in (row.codes or "").split())
        return [text, catalogue.word("states", row.state), codes]
    value = _decoded(row.value) if row.value is not None else None
    labels = catalogue.option_labels(question)
    if question.type == "multiple_choice":
        chosen = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        joined = JOIN.join(labels.get(v, v) for v in chosen)
        return [joined, *(int(option in chosen) for option, _label in question.options)]
    if question.type == "ranking":
        ranked = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        return [
            ranked.index(option) + 1 if option in ranked else None
            for option, _label in question.options
        ]
    if question.type == "yes_no":
        if isinstance(value, bool):
            return [catalogue.word("yes_no", "1" if value else "")]
        return [None]
    if question.type == "single_choice" and isinstance(value, str):
        return [labels.get(value, value)]
    if question.type == "rating" and type(value) is int:
        return [value]
    return [value if isinstance(value, str | int) else None]


def _width(question: _Question) -> int:
    if question.type == "free_text":
        return 3
    if question.type == "multiple_choice":
        return 1 + len(question.options)
    if question.type == "ranking":
        return len(question.options)
    return 1


def _rows(
    catalogue: _Catalogue, filters: contribution_query.Filters, for_csv: bool
) -> Iterator[list[Any]]:
    """One row of cells per submission with a matching contribution (for CSV, escaped)."""
    from . import spreadsheets

    by_id = {q.id: q for q in catalogue.questions}
    width = len(FIXED_HEADERS) + sum(_width(q) for q in catalogue.questions)
    titles = {c: catalogue.title(c) for c in catalogue.consultations}
    for group, consent_method in _with_consent(_stream(filters)):
        first = group[0]
        day = _day(first)
        language = BY_CODE.get(first.language)
        cells: list[Any] = [
            first.submission_uuid,
            titles.get(first.consultation_id) or catalogue.title(first.consultation_id),
            first.programme or "",
            catalogue.word("governorate", first.governorate),
            catalogue.word("district", first.district),
            (day.isoformat() if for_csv else day) if day else None,
            language.native_name if language else first.language,
            catalogue.word("channels", first.channel),
            catalogue.word("genders", first.gender),
            catalogue.word("ages", first.age_band),
            catalogue.group(first.consultation_id, first.grp),
            catalogue.word("consents", consent_method),
        ]
        if for_csv:  # escaped here, cell by cell, so the writer need not go over empty cells
            cells = spreadsheets.csv_cells(cells)
        cells.extend([None] * (width - len(cells)))
        for row in group:
            question = by_id.get(row.question_id)
            if question is None:
                continue
            start = catalogue.column_of[question.id]
            answer = _answer_cells(catalogue, question, row)
            if for_csv:
                answer = spreadsheets.csv_cells(answer)
            cells[start : start + len(answer)] = answer
        yield cells


def _submissions(filters: contribution_query.Filters) -> int:
    """How many submissions have a matching contribution (for the About sheet)."""
    inner = (
        select(TABLE.c.submission_uuid)
        .where(*contribution_query.conditions(filters))
        .distinct()
        .subquery()
    )
    return int(db.session.execute(select(func.count()).select_from(inner)).scalar_one())


# ---------------------------------------------------------------------------------------------
# Words for the About sheet and the activity log


def _actor_name() -> str:
    actor = records.current_actor()
    if actor is None:
        return str(_l("Command line"))
    return actor.name or actor.username


def filter_words(filters: contribution_query.Filters, lang: str) -> list[str]:
    """The filters as a reader says them, one line each, in the current locale."""
    catalogue_codes = {
        c.id: c for c in codebook.all_codes(include_retired=True, include_merged=True)
    }
    labels = _labels()
    titles = dict(_heads("consultation")) if filters.consultations else {}
    questions = dict(_heads("question")) if filters.questions else {}

    def named(param: str, value: str) -> str:
        if param == "governorate":
            return _governorate_name(value, lang)
        if param == "district":
            return _district_name(value, lang)
        if param == "consultation":
            body = titles.get(value) or {}
            return pick(body.get("title"), lang, body.get("original_language"))[0] or value
        if param == "question":
            body = questions.get(value) or {}
            return pick(body.get("text"), lang, body.get("original_language"))[0] or value
        if param == "code":
            if value == contribution_query.NOT_CODED:
                return str(_l("Not coded yet"))
            code = catalogue_codes.get(value)
            return pick(code.name, lang, code.original_language)[0] if code else value
        if param == "gender":
            return _label(labels["genders"], value)
        if param == "age":
            return _label(labels["ages"], value)
        if param == "channel":
            return _label(labels["channels"], value)
        if param == "language":
            found = BY_CODE.get(value)
            return found.native_name if found else value
        if param == "state":
            return _label(REVIEW_STATE_LABELS, value)
        return value

    names: dict[str, Any] = {
        "programme": _l("Programme"),
        "governorate": _l("Governorate"),
        "district": _l("District"),
        "kind": _l("Kind of meeting"),
        "consultation": _l("Consultation"),
        "question": _l("Question"),
        "language": _l("Language"),
        "channel": _l("Channel"),
        "gender": _l("Gender"),
        "age": _l("Age band"),
        "group": _l("Group"),
        "state": _l("Review state"),
        "code": _l("Codes"),
        "from": _l("From"),
        "to": _l("To"),
        "q": _l("Search"),
    }
    grouped: dict[str, list[str]] = {}
    for param, value in contribution_query.filter_args(filters):
        if param == "excluded":
            continue
        grouped.setdefault(param, []).append(named(param, value))
    lines = [f"{names.get(param, param)}: {JOIN.join(values)}" for param, values in grouped.items()]
    if filters.include_excluded:
        lines.append(str(_l("Excluded contributions included")))
    return lines or [str(_l("No filter: every contribution not excluded"))]


def _about(
    what: Any, filters: contribution_query.Filters, lang: str, rows: int, at: datetime
) -> list[list[Any]]:
    k = int(current_app.config["MIN_CELL_COUNT"])
    lines: list[list[Any]] = [
        [str(_l("What was exported")), str(what)],
        [str(_l("Exported at (UTC)")), at.replace(tzinfo=None, microsecond=0)],
        [str(_l("Exported by")), _actor_name()],
        [str(_l("Rows")), rows],
        [str(_l("Smallest count published (k)")), k],
        [
            str(_l("Note")),
            str(
                _l(
                    "Row-level data: keep it inside the office. Exact counts below %(k)s are "
                    "never in files that leave it.",
                    k=k,
                )
            ),
        ],
    ]
    for index, line in enumerate(filter_words(filters, lang)):
        lines.append([str(_l("Filters")) if index == 0 else "", line])
    return lines


def _log(action: str, fmt: str, lang: str, hxl: bool, filters: Any, rows: int, name: str) -> None:
    with writing():
        audit.record_detail(
            action,
            activity._actor_id(),
            name,
            {
                "format": fmt,
                "lang": lang,
                "hxl": hxl,
                "filters": [list(pair) for pair in contribution_query.filter_args(filters)],
                "rows": rows,
                "via": activity._via(),
            },
        )


def _file_name(stem: str, fmt: str, at: datetime) -> str:
    return f"{stem}-{at:%Y%m%d-%H%M%S}.{fmt}"


def _check(fmt: str, lang: str, formats: Sequence[str]) -> None:
    if fmt not in formats:
        raise ExportRefused(_l("There is no export format %(value)s.", value=fmt))
    if lang not in schema.LANGS:
        raise ExportRefused(_l("There is no language %(value)s.", value=lang))


# ---------------------------------------------------------------------------------------------
# Row-level sheets besides the contributions


def _attendance_rows(catalogue: _Catalogue) -> Iterator[list[Any]]:
    """Attendance as recorded, one row per consultation, gender and age band (and group)."""
    labels = _labels()
    for _id, body in _heads("attendance"):
        consultation = body.get("consultation")
        if consultation not in catalogue.consultations:
            continue
        held = catalogue.consultations[consultation].get("starts_on")
        place = catalogue.consultations[consultation]
        for count in body.get("counts") or []:
            yield [
                catalogue.title(consultation),
                _governorate_name(place.get("governorate"), catalogue.lang),
                _district_name(place.get("district"), catalogue.lang),
                date.fromisoformat(held) if held else None,
                _label(labels["genders"], count.get("gender")),
                _label(labels["ages"], count.get("age_band")),
                catalogue.group(consultation, count.get("group")),
                int(count.get("count") or 0),
            ]


def _action_rows(filters: contribution_query.Filters, lang: str) -> Iterator[list[Any]]:
    from ...consultations.forms import ACTION_STATUS_LABELS, PRIORITY_LABELS
    from .. import action_plans

    for action in action_plans.rows(filters):
        notes = "\n".join(f"{n.get('on', '')}: {n.get('text', '')}" for n in action.notes)
        yield [
            pick(action.consultation_title, lang)[0],
            _governorate_name(action.governorate, lang),
            _district_name(action.district, lang),
            date.fromisoformat(action.held_on) if action.held_on else None,
            pick(action.text, lang, action.original_language)[0],
            action.responsible or "",
            date.fromisoformat(action.due_on) if action.due_on else None,
            _label(PRIORITY_LABELS, action.priority),
            _label(ACTION_STATUS_LABELS, action.status),
            str(_l("Yes")) if action.overdue else str(_l("No")),
            notes,
        ]


def _codebook_rows(catalogue: _Catalogue) -> Iterator[list[Any]]:
    for code in codebook.all_codes(include_retired=True):
        yield [
            catalogue.code_name(code.id),
            catalogue.code_name(code.parent) if code.parent else "",
            code.colour,
            _label(CODE_STATUS_LABELS, code.status),
            catalogue.text(code.description, code.original_language),
        ]


def _write_xlsx(request: ExportRequest, catalogue: _Catalogue, out: BinaryIO, at: datetime) -> int:
    from . import spreadsheets

    header = _header_rows(catalogue, request.hxl)
    total = _submissions(request.filters)
    sheets = [
        spreadsheets.Sheet(
            str(_l("About")),
            [[str(_l("About this file")), ""]],
            _about(
                _l("Contributions, one row per submission"),
                request.filters,
                request.lang,
                total,
                at,
            ),
            (28, 80),
        ),
        spreadsheets.Sheet(
            str(_l("Contributions")), header, _rows(catalogue, request.filters, False)
        ),
        spreadsheets.Sheet(
            str(_l("Attendance")),
            [
                [
                    str(_l("Consultation")),
                    str(_l("Governorate")),
                    str(_l("District")),
                    str(_l("Date")),
                    str(_l("Gender")),
                    str(_l("Age band")),
                    str(_l("Group")),
                    str(_l("People")),
                ]
            ],
            _attendance_rows(catalogue),
        ),
        spreadsheets.Sheet(
            str(_l("Action points")),
            [
                [
                    str(_l("Consultation")),
                    str(_l("Governorate")),
                    str(_l("District")),
                    str(_l("Date")),
                    str(_l("Action point")),
                    str(_l("Responsible")),
                    str(_l("Due date")),
                    str(_l("Priority")),
                    str(_l("Status")),
                    str(_l("Overdue")),
                    str(_l("Progress notes")),
                ]
            ],
            _action_rows(request.filters, request.lang),
        ),
        spreadsheets.Sheet(
            str(_l("Codebook")),
            [
                [
                    str(_l("Code")),
                    str(_l("Theme")),
                    str(_l("Colour")),
                    str(_l("Status")),
                    str(_l("Description")),
                ]
            ],
            _codebook_rows(catalogue),
        ),
    ]
    counts = spreadsheets.write_xlsx(out, sheets, rtl=request.lang in ("ar", "ckb"))
    return int(counts.get(str(_l("Contributions")), total))


def _write_csv(request: ExportRequest, catalogue: _Catalogue, out: BinaryIO) -> int:
    from . import spreadsheets

    counted = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal counted
        for row in _rows(catalogue, request.filters, True):
            counted += 1
            yield row

    header = _header_rows(catalogue, request.hxl)
    # The rows come escaped from _rows(for_csv=True).
    for chunk in spreadsheets.csv_chunks(header, rows(), prepared=True):
        out.write(chunk)
    return counted


def _write_qdpx(request: ExportRequest, catalogue: _Catalogue, out: BinaryIO) -> int:
    from . import qdpx

    free = {q.id: q for q in catalogue.questions if q.type == "free_text"}
    codes = [
        qdpx.QdaCode(
            code.id,
            catalogue.code_name(code.id),
            code.colour,
            catalogue.text(code.description, code.original_language),
            code.parent if code.parent in catalogue.codes else None,
        )
        for code in codebook.all_codes(include_retired=True)
    ]
    known = {code.guid for code in codes}

    def sources() -> Iterator[Any]:
        for group in _stream(request.filters):
            for row in group:
                question = free.get(row.question_id)
                if question is None or not row.text:
                    continue
                # The submission's last 8 characters find it in the CSV's first column.
                name = " — ".join(
                    (
                        catalogue.title(row.consultation_id),
                        catalogue.text(question.text, question.original_language)[:60],
                        row.submission_uuid[-8:],
                    )
                )
                yield qdpx.QdaSource(
                    str(uuid.uuid5(SOURCE_NS, row.key)),
                    name,
                    row.text,
                    [c for c in (row.codes or "").split() if c in known],
                    created_at=row.created_at,
                )

    return int(
        qdpx.write_qdpx(
            out,
            project=str(_l("Contributions from fieldapp")),
            user_name=_actor_name(),
            codes=codes,
            sources=sources(),
        )
    )


def write(request: ExportRequest, out: BinaryIO) -> ExportDone:
    """Write the contributions the filter matches to ``out`` and log it ("analysis.exported").

    CSV and XLSX: one row per submission; QDPX: one source per free-text contribution.
    """
    _check(request.format, request.lang, ROW_FORMATS)
    at = datetime.now(UTC)
    with force_locale(BY_CODE[request.lang].locale):
        catalogue = _catalogue(request.filters, request.lang)
        if request.format == "csv":
            rows = _write_csv(request, catalogue, out)
        elif request.format == "xlsx":
            rows = _write_xlsx(request, catalogue, out, at)
        else:
            rows = _write_qdpx(request, catalogue, out)
    name = _file_name("contributions", request.format, at)
    _log(
        "analysis.exported", request.format, request.lang, request.hxl, request.filters, rows, name
    )
    return ExportDone(rows, name, MEDIA_TYPES[request.format])


# ---------------------------------------------------------------------------------------------
# The dashboard's tables


def _cell(value: Any) -> Any:
    if isinstance(value, Suppressed):
        return str(value)
    return int(value)


def _extras(table: Table) -> list[str]:
    keys: dict[str, None] = {}
    for row in table.rows:
        keys.update(dict.fromkeys(row.extra))
    return list(keys)


def _table_rows(table: Table) -> tuple[list[Any], list[list[Any]]]:
    extras = _extras(table)
    header = ["", *(str(c) for c in table.columns), *(str(EXTRA_LABELS.get(k, k)) for k in extras)]
    rows = []
    for row in table.rows:
        values = [row.extra.get(k) for k in extras]
        rows.append(
            [
                str(row.label),
                *(_cell(c) for c in row.cells),
                *(
                    v if isinstance(v, int | float) and not isinstance(v, bool) else None
                    for v in values
                ),
            ]
        )
    return header, rows


_SHEET_UNSAFE = str.maketrans({c: " " for c in "[]:*?/\\"})


def _sheet_names(tables: Iterable[Table]) -> list[str]:
    names: list[str] = []
    for table in tables:
        base = (str(table.title).translate(_SHEET_UNSAFE).strip() or table.name)[:28]
        name, number = base, 2
        while name.lower() in (n.lower() for n in names):
            name = f"{base[:25]} ({number})"
            number += 1
        names.append(name)
    return names


def write_tables(dashboard: Dashboard, fmt: str, out: BinaryIO, lang: str) -> ExportDone:
    """Write every table of a published dashboard as CSV or XLSX; log "analysis.tables_exported".

    An exact dashboard (counts below k shown to an analyst on screen) is refused: exact counts
    never go into a file.
    """
    _check(fmt, lang, TABLE_FORMATS)
    if dashboard.exact:
        raise ExportRefused(
            _l("Exact counts are never written to a file; switch back to published counts.")
        )
    at = datetime.now(UTC)
    with force_locale(BY_CODE[lang].locale):
        tables = list(dashboard.tables())
        if any(not t.published for t in tables):
            raise ExportRefused(
                _l("Only published tables (small counts withheld) can be exported.")
            )
        rows = 0
        if fmt == "csv":
            from . import spreadsheets

            lines: list[list[Any]] = []
            for index, table in enumerate(tables):
                header, body = _table_rows(table)
                if index:
                    lines.append([])
                lines += [[str(table.title)], header, *body]
                rows += len(body)
            for chunk in spreadsheets.csv_chunks([], lines):
                out.write(chunk)
        else:
            from . import spreadsheets

            sheets = []
            for name, table in zip(_sheet_names(tables), tables, strict=True):
                header, body = _table_rows(table)
                rows += len(body)
                sheets.append(spreadsheets.Sheet(name, [[str(table.title)], header], body))
            spreadsheets.write_xlsx(out, sheets, rtl=lang in ("ar", "ckb"))
    name = _file_name("dashboard-tables", fmt, at)
    _log("analysis.tables_exported", fmt, lang, False, dashboard.filters, rows, name)
    return ExportDone(rows, name, MEDIA_TYPES[fmt])
