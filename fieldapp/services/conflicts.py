"""Records with more than one live version: listing them, comparing them, ending the conflict.

A conflict is two or more live leaves of one record (two laptops edited the same version, two
offices reviewed the same answer differently). Every installation shows the same winner, and
keeps the others; a person compares them here and keeps one, or saves a combination. The
resolution is built on every live version (``records.resolve_conflict``), so once it has been
exported and merged it wins everywhere, whatever order the files arrive in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..extensions import db
from ..models import Device, RecordHead, Submission
from . import records
from .errors import FieldappError
from .sync import schema
from .sync.revisions import DISPLAY_ONLY, Version

PAGE_SIZE = 50
# Kinds that can have versions (and so conflicts), in the order the filter offers them.
KINDS = schema.VERSIONED_KINDS
# Fields that are the same in every version by construction (they name what the record
# belongs to) and mean nothing to a reader as ids: never compared on screen.
LINK_FIELDS = ("consultation", "submission", "question", "agreed_at")


class ConflictError(FieldappError):
    """A conflict could not be shown or resolved; ``message`` says why."""


class UnknownRecord(ConflictError):
    """No record has this id here."""

    def __init__(self) -> None:
        super().__init__(_l("There is no record with this id on this installation."))


class NoConflict(ConflictError):
    """The record has one live version only (never had a conflict, or it was resolved)."""

    def __init__(self) -> None:
        super().__init__(
            _l(
                "This record has no conflict: it has only one current version. "
                "Someone may have resolved it already."
            )
        )


class StaleConflict(ConflictError):
    """The versions compared are no longer the record's live versions; nothing was saved."""

    def __init__(self) -> None:
        super().__init__(
            _l(
                "The versions of this record changed since you opened this page (a merge "
                "brought another version, or someone resolved it). Nothing was saved. "
                "Compare the versions below and choose again."
            )
        )


@dataclass(frozen=True)
class Title:
    """What a record is about, as multilingual text (shown with the workspace's fallback marks)."""

    texts: Mapping[str, str]
    original: str | None = None


@dataclass(frozen=True)
class ConflictSummary:
    """One line of the Conflicts list."""

    record_id: str
    kind: str
    title: Title
    consultation_id: str | None
    consultation_title: Title | None
    versions: int  # live versions: the winner and its conflicts
    answer: str = ""  # a review's or coding's answer, when it is typed text


@dataclass(frozen=True)
class Account:
    """The account a version names (never a secret)."""

    username: str
    name: str


@dataclass(frozen=True)
class VersionView:
    """One live version of a record, with who made it where and when."""

    rev: str
    body: Mapping[str, Any]
    installation: str  # the device's registered name, else its id
    device_id: str
    account: Account | None
    updated_at: str
    winner: bool

    def editable(self) -> dict[str, Any]:
        """The body without the display stamps."""
        return {k: v for k, v in self.body.items() if k not in DISPLAY_ONLY}


@dataclass(frozen=True)
class ConflictView:
    """A record's live versions side by side, and which of its fields differ between them."""

    summary: ConflictSummary
    versions: tuple[VersionView, ...]
    fields: tuple[str, ...]  # every compared field, in a stable order
    differing: frozenset[str] = field(default_factory=frozenset)

    @property
    def base_revs(self) -> tuple[str, ...]:
        """The revs a resolution made from this page is built on."""
        return tuple(sorted(v.rev for v in self.versions))

    @property
    def winner(self) -> VersionView:
        """The version every installation shows now."""
        return self.versions[0]

    def differs(self, name: str) -> bool:
        """True when the versions do not all agree on field ``name``."""
        return name in self.differing


# ---- titles ---------------------------------------------------------------------------------


def _bodies(record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The current bodies of some records, by id (missing ones left out)."""
    wanted = sorted({r for r in record_ids if r})
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for record_id, body in db.session.execute(
            select(RecordHead.record_id, RecordHead.body).where(RecordHead.record_id.in_(chunk))
        ):
            found[record_id] = json.loads(body)
    return found


def _answers(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Typed answers of (submission, question) pairs."""
    wanted = {p for p in pairs if p[0] and p[1]}
    submissions = sorted({s for s, _q in wanted})
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(submissions), 500):
        chunk = submissions[start : start + 500]
        for uuid, body in db.session.execute(
            select(Submission.uuid, Submission.body).where(Submission.uuid.in_(chunk))
        ):
            answers = json.loads(body).get("answers", {})
            for submission, question in wanted:
                if submission == uuid and isinstance(answers.get(question), str):
                    found[(submission, question)] = answers[question]
    return found


def _own_title(kind: str, body: Mapping[str, Any]) -> Title | None:
    original = body.get("original_language")
    if kind in ("consultation",):
        return Title(body.get("title") or {}, original)
    if kind in ("question", "action_point"):
        return Title(body.get("text") or {}, original)
    if kind in ("code", "template"):
        return Title(body.get("name") or {}, original)
    return None


HeadRow = tuple[str, str, str | None, str, int]


def _summaries(heads: Sequence[HeadRow]) -> list[ConflictSummary]:
    """Summaries of (record_id, kind, consultation_id, body text, conflicts) rows, titles
    looked up in batches: a question's text for reviews and codings, the consultation's title
    for attendance, the record's own text otherwise."""
    parsed = [(rid, kind, cid, json.loads(body)) for rid, kind, cid, body, _n in heads]
    live = {rid: conflicts + 1 for rid, _k, _c, _b, conflicts in heads}
    consultation_ids = {cid or body.get("consultation") for _r, _k, cid, body in parsed}
    question_ids = {
        body.get("question") for _r, kind, _c, body in parsed if kind in ("review", "coding")
    }
    linked = _bodies([c for c in consultation_ids if c] + [q for q in question_ids if q])
    answers = _answers(
        (body.get("submission", ""), body.get("question", ""))
        for _r, kind, _c, body in parsed
        if kind in ("review", "coding")
    )
    summaries = []
    for record_id, kind, consultation_id, body in parsed:
        consultation_id = consultation_id or body.get("consultation")
        consultation = linked.get(consultation_id or "")
        consultation_title = (
            Title(consultation.get("title") or {}, consultation.get("original_language"))
            if consultation and kind != "consultation"
            else None
        )
        title = _own_title(kind, body)
        answer = ""
        if kind in ("review", "coding"):
            question = linked.get(body.get("question", ""))
            if question is not None:
                title = Title(question.get("text") or {}, question.get("original_language"))
            answer = answers.get((body.get("submission", ""), body.get("question", "")), "")
        if title is None:  # attendance: the meeting it counts
            title = consultation_title or Title({})
        summaries.append(
            ConflictSummary(
                record_id,
                kind,
                title,
                consultation_id,
                consultation_title,
                live[record_id],
                answer,
            )
        )
    return summaries


# ---- the list -------------------------------------------------------------------------------


_SUMMARY_COLUMNS = (
    RecordHead.record_id,
    RecordHead.kind,
    RecordHead.consultation_id,
    RecordHead.body,
    RecordHead.conflicts,
)


def count_conflicts(kind: str | None = None) -> int:
    """How many records have a conflict (of one kind)."""
    query = select(func.count()).select_from(RecordHead).where(RecordHead.conflicts > 0)
    if kind is not None:
        query = query.where(RecordHead.kind == kind)
    return int(db.session.execute(query).scalar_one())


def list_conflicts(
    kind: str | None = None, after: str | None = None, limit: int = PAGE_SIZE
) -> tuple[list[ConflictSummary], str | None]:
    """Records with conflicts, ordered by id, ``limit`` at a time after the id ``after``.

    Returns the page and the cursor of the next page (None on the last one). An unknown
    ``kind`` is refused with :class:`ConflictError` rather than silently showing nothing.
    """
    if kind is not None and kind not in KINDS:
        raise ConflictError(_l("There is no such kind of record. Choose one from the list."))
    limit = max(1, min(limit, 500))
    query = select(*_SUMMARY_COLUMNS).where(RecordHead.conflicts > 0)
    if kind is not None:
        query = query.where(RecordHead.kind == kind)
    if after:
        query = query.where(RecordHead.record_id > after)
    rows: list[HeadRow] = [
        (r[0], r[1], r[2], r[3], r[4])
        for r in db.session.execute(query.order_by(RecordHead.record_id).limit(limit + 1))
    ]
    more = len(rows) > limit
    page = _summaries(rows[:limit])
    return page, (page[-1].record_id if more and page else None)


# ---- one record -----------------------------------------------------------------------------


def _device_names(device_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted({d for d in device_ids if d})
    if not wanted:
        return {}
    return {
        device_id: name
        for device_id, name in db.session.execute(
            select(Device.device_id, Device.name).where(Device.device_id.in_(wanted))
        )
    }


def _account(body: Mapping[str, Any]) -> Account | None:
    account = body.get("account")
    if not isinstance(account, Mapping) or not account.get("username"):
        return None
    return Account(str(account["username"]), str(account.get("name") or ""))


# Fields in the order screens show them: what the record says first, then its state.
FIELD_ORDER = (
    "title",
    "text",
    "name",
    "state",
    "reason",
    "codes",
    "note",
    "status",
    "priority",
    "responsible",
    "due_on",
    "notes",
    "minutes",
)


def _compared_fields(versions: Sequence[Version]) -> tuple[str, ...]:
    names: set[str] = set()
    for version in versions:
        names.update(version.body)
    names -= DISPLAY_ONLY
    names -= set(LINK_FIELDS)
    first = [name for name in FIELD_ORDER if name in names]
    return (*first, *sorted(names - set(first)))


def _head(record_id: str) -> RecordHead:
    head = records.current(record_id)
    if head is None or head.kind not in KINDS:
        raise UnknownRecord()
    return head


def versions_of(record_id: str) -> ConflictView:
    """The live versions of a record side by side, the winner first.

    Raises :class:`UnknownRecord` for an id this installation does not hold and
    :class:`NoConflict` for a record with one live version.
    """
    head = _head(record_id)
    leaves = records.live_leaves(record_id)
    if len(leaves) < 2:
        raise NoConflict()
    names = _device_names(str(v.body.get("updated_by", "")) for v in leaves)
    views = tuple(
        VersionView(
            rev=v.rev,
            body=v.body,
            installation=names.get(str(v.body.get("updated_by", "")))
            or str(v.body.get("updated_by", "")),
            device_id=str(v.body.get("updated_by", "")),
            account=_account(v.body),
            updated_at=str(v.body.get("updated_at", "")),
            winner=index == 0,
        )
        for index, v in enumerate(leaves)
    )
    fields = _compared_fields(leaves)
    differing = frozenset(
        name for name in fields if len({_canonical(v.body.get(name)) for v in leaves}) > 1
    )
    row = (head.record_id, head.kind, head.consultation_id, head.body, len(leaves) - 1)
    [summary] = _summaries([row])
    return ConflictView(summary, views, fields, differing)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# ---- resolving ------------------------------------------------------------------------------


def resolve(
    record_id: str,
    base_revs: Iterable[str],
    keep: str | None = None,
    body: Mapping[str, Any] | None = None,
) -> str:
    """End a record's conflict: keep the live version ``keep``, or save ``body`` (a combination).

    ``base_revs`` are the live versions the person compared. Nothing is saved, and a
    :class:`ConflictError` says why, when the record is unknown, has no conflict, or has
    other live versions now than those compared. Returns the resolution's rev.
    """
    head = _head(record_id)
    if head.conflicts == 0:
        raise NoConflict()
    compared = {rev for rev in base_revs if rev}
    leaves = {v.rev: v for v in records.live_leaves(record_id)}
    if compared != set(leaves):
        raise StaleConflict()
    if (keep is None) == (body is None):
        raise ConflictError(_l("Choose one version to keep, or save a combination."))
    if keep is not None:
        if keep not in leaves:
            raise StaleConflict()
        chosen: Mapping[str, Any] = leaves[keep].body
    else:
        chosen = body or {}
    clean = {k: v for k, v in chosen.items() if k not in DISPLAY_ONLY}
    try:
        return records.resolve_conflict(record_id, clean, sorted(compared))
    except records.StaleRecord:
        raise StaleConflict() from None


def combination_base(view: ConflictView) -> dict[str, Any]:
    """The body a combination starts from: the winner's, with the progress notes of every
    version (an action point's notes are a log: none written on any laptop is dropped)."""
    base = view.winner.editable()
    if view.summary.kind == "action_point":
        notes: list[Any] = []
        seen: set[str] = set()
        for version in view.versions:
            for note in version.body.get("notes", []) or []:
                key = _canonical(note)
                if key not in seen:
                    seen.add(key)
                    notes.append(note)
        if notes:
            base["notes"] = sorted(notes, key=lambda n: (str(n.get("on", "")), _canonical(n)))
    return base


def code_titles(view: ConflictView) -> dict[str, Title]:
    """The names of the codes a record's versions mention (codings' codes, a sub-theme's
    theme, a merged code's survivor), so that screens show names, not ids."""
    ids: set[str] = set()
    for version in view.versions:
        body = version.body
        ids.update(str(c) for c in body.get("codes", []) or [] if isinstance(c, str))
        ids.update(str(body[k]) for k in ("parent", "merged_into") if isinstance(body.get(k), str))
    found = _bodies(ids)
    return {
        code_id: Title(body.get("name") or {}, body.get("original_language"))
        for code_id, body in found.items()
        if isinstance(body.get("name"), dict)
    }
