"""Reading the Contributions read model: filters from the URL, keyset pages, counts, choices.

The list is newest first (``key`` descending) and paged by keyset: a page names the key it
continues after (older rows) or before (newer rows), never an offset, so page 400 costs what
page 1 costs. Filters come from the URL (:func:`parse_filters`) and go back to it
(:func:`filter_args`); a value that does not exist here becomes a :class:`FilterProblem` shown
to the reader and is left out, so a bookmark sent from another installation still opens.

Only SQLAlchemy Core selects on ``contribution`` and ``contribution_code``: the same code runs
on SQLite and on PostgreSQL. Filters on a consultation's attributes (programme, governorate,
district, kind) and on questions are also turned into the set of consultations they can only
come from, so that the (consultation_id, dup_key) index narrows the rows before they are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, false, func, or_, select

from ..extensions import db
from ..models import Contribution, ContributionCode, RecordHead
from ..textnorm import loose_key
from . import places
from .sync import schema

TABLE = Contribution.__table__
CODES = ContributionCode.__table__
HEADS = RecordHead.__table__
NOT_CODED = "none"
MAX_LIMIT = 500
MAX_VALUES = 200  # values of one parameter taken from a URL; more are a problem
MAX_TEXT = 200
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")

__all__ = [
    "NOT_CODED",
    "Choices",
    "FilterProblem",
    "Filters",
    "Page",
    "Row",
    "by_answer",
    "choices",
    "count",
    "duplicates_of",
    "filter_args",
    "get",
    "matching_keys",
    "neighbours",
    "page",
    "parse_filters",
]


@dataclass(frozen=True)
class Filters:
    """What the reader asked to see; every field empty means every contribution not excluded."""

    programmes: tuple[str, ...] = ()
    governorates: tuple[str, ...] = ()  # governorate codes as stored on consultations
    districts: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # schema.CONSULTATION_KINDS
    consultations: tuple[str, ...] = ()  # consultation record ids
    questions: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # answer language ar/ckb/ku/en
    channels: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()
    age_bands: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    states: tuple[str, ...] = ()  # review states; empty = all but excluded
    codes: tuple[str, ...] = ()  # code ids, or "none" = not yet coded
    date_from: str | None = None  # YYYY-MM-DD on held_on, else created_at's date
    date_to: str | None = None
    text: str = ""  # search words; every word's loose key must occur in search_key
    include_excluded: bool = False

    @property
    def shows_excluded(self) -> bool:
        """Whether excluded contributions are in the list."""
        return self.include_excluded or "excluded" in self.states

    @property
    def empty(self) -> bool:
        """Whether no filter at all is set."""
        return self == Filters()


@dataclass(frozen=True)
class FilterProblem:
    """A filter value that was left out, and why (a lazy translated message)."""

    param: str
    value: str
    message: Any


# URL parameter (repeatable) -> Filters field, in the order filter_args writes them.
LIST_PARAMS: dict[str, str] = {
    "programme": "programmes",
    "governorate": "governorates",
    "district": "districts",
    "kind": "kinds",
    "consultation": "consultations",
    "question": "questions",
    "language": "languages",
    "channel": "channels",
    "gender": "genders",
    "age": "age_bands",
    "group": "groups",
    "state": "states",
    "code": "codes",
}
# Filters field -> Contribution column, for the plain "one of these values" filters.
_COLUMN_OF = {
    "programmes": TABLE.c.programme,
    "governorates": TABLE.c.governorate,
    "districts": TABLE.c.district,
    "kinds": TABLE.c.consultation_kind,
    "consultations": TABLE.c.consultation_id,
    "questions": TABLE.c.question_id,
    "languages": TABLE.c.language,
    "channels": TABLE.c.channel,
    "genders": TABLE.c.gender,
    "age_bands": TABLE.c.age_band,
    "groups": TABLE.c.grp,
    "states": TABLE.c.state,
}
# Fields whose values come from a fixed list in the record schema.
_FIXED = {
    "kinds": schema.CONSULTATION_KINDS,
    "languages": schema.LANGS,
    "channels": schema.CHANNELS,
    "genders": schema.GENDERS,
    "age_bands": schema.AGE_BANDS,
    "states": schema.REVIEW_STATES,
}


def _values(args: Any, name: str) -> list[str]:
    """Every value of one URL parameter, from a MultiDict or a mapping of lists."""
    if hasattr(args, "getlist"):
        raw = args.getlist(name)
    else:
        raw = args.get(name, [])
        if isinstance(raw, str):
            raw = [raw]
    return [str(v).strip() for v in raw if str(v).strip()]


def _heads_present(kind: str, ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(
            db.session.execute(
                select(HEADS.c.record_id).where(
                    HEADS.c.kind == kind, HEADS.c.record_id.in_(wanted[start : start + 500])
                )
            ).scalars()
        )
    return found


def _consultation_bodies() -> list[tuple[str, dict[str, Any]]]:
    """(id, body) of every live consultation held here, in id order."""
    return [
        (record_id, json.loads(body))
        for record_id, body in db.session.execute(
            select(HEADS.c.record_id, HEADS.c.body)
            .where(HEADS.c.kind == "consultation", HEADS.c.deleted.is_(False))
            .order_by(HEADS.c.record_id)
        )
    ]


def _known_places() -> tuple[set[str], set[str], set[str], set[str]]:
    """Programmes, governorates, districts and group ids that may be filtered on here."""
    programmes: set[str] = set()
    governorates = {g.code for g in places.governorates()}
    districts = {d.code for g in places.governorates() for d in g.districts}
    groups: set[str] = set()
    for _id, body in _consultation_bodies():
        if body.get("programme"):
            programmes.add(str(body["programme"])[:200])
        if body.get("governorate"):
            governorates.add(body["governorate"])
        if body.get("district"):
            districts.add(body["district"])
        groups.update(g["id"] for g in body.get("groups") or [] if isinstance(g, dict))
    return programmes, governorates, districts, groups


def _valid_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def parse_filters(args: Any) -> tuple[Filters, list[FilterProblem]]:
    """The filters named by URL parameters, and a problem for each value left out.

    ``args`` is a werkzeug ``MultiDict`` (``request.args``) or a mapping of lists. Values are
    kept in the order given, repeats dropped; values that do not exist here are left out.
    """
    problems: list[FilterProblem] = []
    chosen: dict[str, list[str]] = {}
    for param, name in LIST_PARAMS.items():
        values = list(dict.fromkeys(_values(args, param)))
        if len(values) > MAX_VALUES:
            problems.append(
                FilterProblem(
                    param,
                    str(len(values)),
                    _l(
                        "Too many values for one filter (%(value)s); only the first %(max)s "
                        "were kept.",
                        value=len(values),
                        max=MAX_VALUES,
                    ),
                )
            )
            values = values[:MAX_VALUES]
        chosen[name] = values
    known: dict[str, set[str]] = {k: set(v) for k, v in _FIXED.items()}
    if chosen["programmes"] or chosen["governorates"] or chosen["districts"] or chosen["groups"]:
        known["programmes"], known["governorates"], known["districts"], known["groups"] = (
            _known_places()
        )
    known["consultations"] = _heads_present("consultation", chosen["consultations"])
    known["questions"] = _heads_present("question", chosen["questions"])
    known["codes"] = _heads_present("code", chosen["codes"]) | {NOT_CODED}
    kept: dict[str, tuple[str, ...]] = {}
    for param, name in LIST_PARAMS.items():
        good = []
        for value in chosen[name]:
            if value in known[name]:
                good.append(value)
            else:
                problems.append(FilterProblem(param, value, _UNKNOWN[param](value)))
        kept[name] = tuple(good)
    dates: dict[str, str | None] = {"from": None, "to": None}
    for param in dates:
        values = _values(args, param)
        if not values:
            continue
        if _valid_date(values[0]):
            dates[param] = values[0]
        else:
            problems.append(
                FilterProblem(
                    param,
                    values[0],
                    _l(
                        "%(value)s is not a date (year-month-day); that filter was left out.",
                        value=values[0],
                    ),
                )
            )
    if dates["from"] and dates["to"] and dates["from"] > dates["to"]:
        problems.append(
            FilterProblem(
                "to",
                dates["to"],
                _l(
                    "The end date %(value)s is before the start date %(start)s; the dates were "
                    "left out.",
                    value=dates["to"],
                    start=dates["from"],
                ),
            )
        )
        dates = {"from": None, "to": None}
    words = _values(args, "q")
    text = words[0] if words else ""
    if len(text) > MAX_TEXT:
        problems.append(
            FilterProblem(
                "q",
                text[:40],
                _l("The search was cut to its first %(max)s characters.", max=MAX_TEXT),
            )
        )
        text = text[:MAX_TEXT].strip()
    excluded = _values(args, "excluded")
    filters = Filters(
        **kept,
        date_from=dates["from"],
        date_to=dates["to"],
        text=text,
        include_excluded=bool(excluded) and excluded[0] not in ("0", "false", "no"),
    )
    return filters, problems


# A message for a value that is not held here, per parameter.
_UNKNOWN = {
    "programme": lambda v: _l(
        "There is no programme %(value)s here; that filter was left out.", value=v
    ),
    "governorate": lambda v: _l(
        "There is no governorate %(value)s here; that filter was left out.", value=v
    ),
    "district": lambda v: _l(
        "There is no district %(value)s here; that filter was left out.", value=v
    ),
    "kind": lambda v: _l(
        "There is no consultation kind %(value)s; that filter was left out.", value=v
    ),
    "consultation": lambda v: _l(
        "There is no consultation %(value)s here; that filter was left out.", value=v
    ),
    "question": lambda v: _l(
        "There is no question %(value)s here; that filter was left out.", value=v
    ),
    "language": lambda v: _l("There is no language %(value)s; that filter was left out.", value=v),
    "channel": lambda v: _l("There is no channel %(value)s; that filter was left out.", value=v),
    "gender": lambda v: _l("There is no gender %(value)s; that filter was left out.", value=v),
    "age": lambda v: _l("There is no age band %(value)s; that filter was left out.", value=v),
    "group": lambda v: _l("There is no group %(value)s here; that filter was left out.", value=v),
    "state": lambda v: _l("There is no review state %(value)s; that filter was left out.", value=v),
    "code": lambda v: _l("There is no code %(value)s here; that filter was left out.", value=v),
}


def filter_args(filters: Filters) -> list[tuple[str, str]]:
    """The URL parameters of ``filters``, in a stable order: ``parse_filters`` gives them back."""
    args: list[tuple[str, str]] = []
    for param, name in LIST_PARAMS.items():
        args.extend((param, value) for value in getattr(filters, name))
    if filters.date_from:
        args.append(("from", filters.date_from))
    if filters.date_to:
        args.append(("to", filters.date_to))
    if filters.text:
        args.append(("q", filters.text))
    if filters.include_excluded:
        args.append(("excluded", "1"))
    return args


# ---------------------------------------------------------------------------------------------
# The WHERE clause


def _like_escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_words(text: str) -> list[str]:
    """The loose keys of the words of a search, repeats dropped."""
    return list(dict.fromkeys(loose_key(text).split()))


def _consultations_for(filters: Filters) -> set[str] | None:
    """The consultations a filter's rows can only come from, or None if it does not say.

    Redundant with the column conditions (which stay, and decide), but it lets the database
    read only those consultations' rows through the (consultation_id, dup_key) index.
    """
    attribute_filters = {
        "programme": set(filters.programmes),
        "governorate": set(filters.governorates),
        "district": set(filters.districts),
        "kind": set(filters.kinds),
    }
    wanted: set[str] | None = set(filters.consultations) if filters.consultations else None
    if any(attribute_filters.values()):
        matching = set()
        for record_id, body in _consultation_bodies():
            attributes = {
                "programme": (str(body["programme"])[:200] if body.get("programme") else None),
                "governorate": body.get("governorate"),
                "district": body.get("district"),
                "kind": body.get("kind"),
            }
            if all(
                not allowed or attributes[name] in allowed
                for name, allowed in attribute_filters.items()
            ):
                matching.add(record_id)
        wanted = matching if wanted is None else wanted & matching
    if filters.questions:
        of_questions = {
            body.get("consultation")
            for body in db.session.execute(
                select(HEADS.c.body).where(
                    HEADS.c.kind == "question", HEADS.c.record_id.in_(filters.questions)
                )
            ).scalars()
            for body in [json.loads(body)]
        }
        of_questions.discard(None)
        wanted = of_questions if wanted is None else wanted & of_questions
    return wanted


def conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """The SQL conditions of ``filters`` on the ``contribution`` table."""
    where: list[ColumnElement[bool]] = []
    for name, column in _COLUMN_OF.items():
        values = getattr(filters, name)
        if values:
            where.append(column.in_(values) if len(values) > 1 else column == values[0])
    if not filters.shows_excluded:
        where.append(TABLE.c.state != "excluded")
    narrowed = _consultations_for(filters)
    if narrowed is not None and not filters.consultations:
        where.append(TABLE.c.consultation_id.in_(sorted(narrowed)) if narrowed else false())
    if filters.codes:
        ids = [c for c in filters.codes if c != NOT_CODED]
        either: list[ColumnElement[bool]] = []
        if NOT_CODED in filters.codes:
            either.append(TABLE.c.codes.is_(None))
        if ids:
            # EXISTS on contribution_code, written as IN so that the database can start from
            # the coded rows (its primary key begins with code_id) instead of testing each row.
            either.append(
                TABLE.c.key.in_(select(CODES.c.contribution_key).where(CODES.c.code_id.in_(ids)))
            )
        where.append(or_(*either))
    if filters.date_from or filters.date_to:
        day = func.coalesce(TABLE.c.held_on, func.substr(TABLE.c.created_at, 1, 10))
        if filters.date_from:
            where.append(day >= filters.date_from)
        if filters.date_to:
            where.append(day <= filters.date_to)
    for word in search_words(filters.text):
        where.append(TABLE.c.search_key.like(f"%{_like_escaped(word)}%", escape="\\"))
    return where


# ---------------------------------------------------------------------------------------------
# Rows and pages


@dataclass(frozen=True)
class Row:
    """One contribution as the pages show it."""

    key: str
    submission_uuid: str
    question_id: str
    consultation_id: str
    programme: str | None
    governorate: str | None
    district: str | None
    consultation_kind: str | None
    held_on: str | None
    created_at: str
    language: str
    channel: str
    gender: str | None
    age_band: str | None
    group: str | None
    text: str | None
    value: Any  # the decoded answer when it is not typed text, else None
    state: str
    reason: str | None
    codes: tuple[str, ...] = ()
    possible_duplicates: int = 0  # other rows of the same consultation with the same dup_key
    dup_key: str | None = field(default=None, repr=False, compare=False)

    @property
    def day(self) -> str:
        """The date the filters use: the consultation's, else the submission's."""
        return self.held_on or self.created_at[:10]


_ROW_COLUMNS = [
    TABLE.c.key,
    TABLE.c.submission_uuid,
    TABLE.c.question_id,
    TABLE.c.consultation_id,
    TABLE.c.programme,
    TABLE.c.governorate,
    TABLE.c.district,
    TABLE.c.consultation_kind,
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
    TABLE.c.reason,
    TABLE.c.codes,
    TABLE.c.dup_key,
]


def _duplicate_counts(found: Sequence[Any]) -> dict[tuple[str, str], int]:
    """How many rows not excluded share each (consultation, dup_key) of ``found``: once one
    of two twins is excluded (as a duplicate, say), the other is no longer flagged."""
    keys = {(r.consultation_id, r.dup_key) for r in found if r.dup_key is not None}
    if not keys:
        return {}
    counts: dict[tuple[str, str], int] = {}
    consultations = sorted({c for c, _ in keys})
    dups = sorted({d for _, d in keys})
    for consultation, dup, number in db.session.execute(
        select(TABLE.c.consultation_id, TABLE.c.dup_key, func.count())
        .where(
            TABLE.c.consultation_id.in_(consultations),
            TABLE.c.dup_key.in_(dups),
            TABLE.c.state != "excluded",
        )
        .group_by(TABLE.c.consultation_id, TABLE.c.dup_key)
    ):
        if (consultation, dup) in keys:
            counts[(consultation, dup)] = int(number)
    return counts


def _rows(found: Sequence[Any]) -> list[Row]:
    counts = _duplicate_counts(found)
    rows = []
    for r in found:
        rows.append(
            Row(
                key=r.key,
                submission_uuid=r.submission_uuid,
                question_id=r.question_id,
                consultation_id=r.consultation_id,
                programme=r.programme,
                governorate=r.governorate,
                district=r.district,
                consultation_kind=r.consultation_kind,
                held_on=r.held_on,
                created_at=r.created_at,
                language=r.language,
                channel=r.channel,
                gender=r.gender,
                age_band=r.age_band,
                group=r.grp,
                text=r.text,
                value=json.loads(r.value) if r.value is not None else None,
                state=r.state,
                reason=r.reason,
                codes=tuple(r.codes.split()) if r.codes else (),
                possible_duplicates=(
                    counts.get((r.consultation_id, r.dup_key), 0) - (r.state != "excluded")
                    if r.dup_key
                    else 0
                ),
                dup_key=r.dup_key,
            )
        )
    return rows


@dataclass(frozen=True)
class Page:
    """One page of the list, newest first, and the cursors to the pages around it."""

    rows: list[Row]
    next_after: str | None  # pass as ``after`` for the older page, None on the last
    prev_before: str | None  # pass as ``before`` for the newer page, None on the first


def _keys_beyond(where: list[ColumnElement[bool]], key: str, older: bool) -> str | None:
    """The first matching key older (or newer) than ``key``, or None."""
    column = TABLE.c.key
    query = select(column).where(*where, column < key if older else column > key)
    query = query.order_by(column.desc() if older else column.asc()).limit(1)
    return db.session.execute(query).scalar_one_or_none()


def page(
    filters: Filters, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """A page of at most ``limit`` rows, newest first: the first page, or the one older than
    ``after``, or the one newer than ``before`` (keyset on ``key``, never an offset)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    where = conditions(filters)
    column = TABLE.c.key
    query = select(*_ROW_COLUMNS).where(*where)
    if before is not None and after is None:
        found = list(
            db.session.execute(query.where(column > before).order_by(column.asc()).limit(limit + 1))
        )
        newer = len(found) > limit
        found = found[:limit][::-1]
        if not found:
            older_key = _keys_beyond(where, before, older=True)
            return Page([], before if older_key is not None else None, None)
        older = _keys_beyond(where, found[-1].key, older=True) is not None
        return Page(_rows(found), found[-1].key if older else None, found[0].key if newer else None)
    if after is not None:
        query = query.where(column < after)
    found = list(db.session.execute(query.order_by(column.desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    if after is None:
        return Page(_rows(found), found[-1].key if more and found else None, None)
    if not found:
        return Page([], None, after if _keys_beyond(where, after, older=False) else None)
    newer = _keys_beyond(where, found[0].key, older=False) is not None
    return Page(_rows(found), found[-1].key if more else None, found[0].key if newer else None)


def count(filters: Filters, cap: int = 10_000) -> tuple[int, bool]:
    """How many contributions match, counting at most ``cap`` + 1 rows: (n, capped).

    When capped, ``n`` is ``cap`` and the page says "more than" it.
    """
    inner = select(TABLE.c.key).where(*conditions(filters)).limit(cap + 1).subquery()
    number = int(db.session.execute(select(func.count()).select_from(inner)).scalar_one())
    return (cap, True) if number > cap else (number, False)


def neighbours(filters: Filters, key: str) -> tuple[str | None, str | None]:
    """(previous, next) keys around ``key`` within the filter: previous is the newer one."""
    where = conditions(filters)
    return _keys_beyond(where, key, older=False), _keys_beyond(where, key, older=True)


def matching_keys(filters: Filters, limit: int | None = None) -> list[str]:
    """The keys of every matching contribution, newest first (for bulk review)."""
    query = select(TABLE.c.key).where(*conditions(filters)).order_by(TABLE.c.key.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.execute(query).scalars())


def get(key: str) -> Row | None:
    """The contribution with this key, or None."""
    found = list(db.session.execute(select(*_ROW_COLUMNS).where(TABLE.c.key == key)))
    return _rows(found)[0] if found else None


def by_answer(submission: str, question: str) -> Row | None:
    """The contribution of one submission's answer to one question, or None."""
    found = list(
        db.session.execute(
            select(*_ROW_COLUMNS).where(
                TABLE.c.submission_uuid == submission, TABLE.c.question_id == question
            )
        )
    )
    return _rows(found)[0] if found else None


def duplicates_of(row: Row) -> list[Row]:
    """The other contributions of the same consultation with the same near-duplicate key."""
    if row.dup_key is None:
        return []
    found = list(
        db.session.execute(
            select(*_ROW_COLUMNS)
            .where(
                TABLE.c.consultation_id == row.consultation_id,
                TABLE.c.dup_key == row.dup_key,
                TABLE.c.key != row.key,
            )
            .order_by(TABLE.c.key.desc())
        )
    )
    return _rows(found)


# ---------------------------------------------------------------------------------------------
# What the filter form offers


@dataclass(frozen=True)
class ConsultationChoice:
    """A consultation the form offers."""

    id: str
    title: Mapping[str, str]
    held_on: str | None
    original_language: str | None = None
    governorate: str | None = None
    district: str | None = None


@dataclass(frozen=True)
class QuestionChoice:
    """A question the form offers."""

    id: str
    consultation: str
    text: Mapping[str, str]
    type: str
    original_language: str | None = None
    position: int = 0


@dataclass(frozen=True)
class CodeChoice:
    """A code of the codebook the form offers (retired ones too: they are in the history)."""

    id: str
    name: Mapping[str, str]
    colour: str
    parent: str | None
    status: str
    original_language: str | None = None
    merged_into: str | None = None
    position: int = 0


@dataclass(frozen=True)
class GroupChoice:
    """A participant group defined by a consultation (first label seen for an id)."""

    id: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class Choices:
    """Everything the filter form offers; the fixed lists come from the record schema."""

    programmes: list[str]
    governorates: list[str]
    districts: list[str]
    consultations: list[ConsultationChoice]
    questions: list[QuestionChoice]
    codes: list[CodeChoice]
    groups: list[GroupChoice] = field(default_factory=list)
    kinds: tuple[str, ...] = schema.CONSULTATION_KINDS
    languages: tuple[str, ...] = schema.LANGS
    channels: tuple[str, ...] = schema.CHANNELS
    genders: tuple[str, ...] = schema.GENDERS
    age_bands: tuple[str, ...] = schema.AGE_BANDS
    states: tuple[str, ...] = schema.REVIEW_STATES
    reasons: tuple[str, ...] = schema.EXCLUSION_REASONS


def choices() -> Choices:
    """What the filter form offers, from the record heads (no scan of the read model)."""
    programmes: set[str] = set()
    governorates: set[str] = set()
    districts: set[str] = set()
    groups: dict[str, GroupChoice] = {}
    consultations = []
    for record_id, body in _consultation_bodies():
        if body.get("programme"):
            programmes.add(str(body["programme"])[:200])
        if body.get("governorate"):
            governorates.add(body["governorate"])
        if body.get("district"):
            districts.add(body["district"])
        for group in body.get("groups") or []:
            if isinstance(group, dict) and group.get("id") not in groups:
                groups[group["id"]] = GroupChoice(group["id"], group.get("label") or {})
        consultations.append(
            ConsultationChoice(
                record_id,
                body.get("title") or {},
                body.get("starts_on"),
                body.get("original_language"),
                body.get("governorate"),
                body.get("district"),
            )
        )
    consultations.sort(key=lambda c: (c.held_on or "", c.id), reverse=True)
    questions = []
    codes = []
    for record_id, kind, body_text in db.session.execute(
        select(HEADS.c.record_id, HEADS.c.kind, HEADS.c.body)
        .where(HEADS.c.kind.in_(("question", "code")), HEADS.c.deleted.is_(False))
        .order_by(HEADS.c.record_id)
    ):
        body = json.loads(body_text)
        if kind == "question":
            questions.append(
                QuestionChoice(
                    record_id,
                    body.get("consultation", ""),
                    body.get("text") or {},
                    body.get("type", ""),
                    body.get("original_language"),
                    int(body.get("position") or 0),
                )
            )
        else:
            codes.append(
                CodeChoice(
                    record_id,
                    body.get("name") or {},
                    body.get("colour", "#888888"),
                    body.get("parent"),
                    body.get("status", "active"),
                    body.get("original_language"),
                    body.get("merged_into"),
                    int(body.get("position") or 0),
                )
            )
    questions.sort(key=lambda q: (q.consultation, q.position, q.id))
    codes.sort(key=lambda c: (c.position, c.id))
    return Choices(
        sorted(programmes),
        sorted(governorates),
        sorted(districts),
        consultations,
        questions,
        codes,
        sorted(groups.values(), key=lambda g: g.id),
    )
