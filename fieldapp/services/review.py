"""Review states and codings of contributions: the head office's judgement on what was said.

A contribution (one answer of one submission) has at most one ``review`` record and one
``coding`` record, each with the id :func:`schema.contribution_record_id` gives it, so two
offices reviewing the same answer edit the same record and meet as one conflict, never as two
records. Nothing here deletes input: excluding a contribution is a review state.

Plain functions over ``services.records`` and the read model; no request objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import textnorm
from ..extensions import db
from ..models import Contribution, Device, RecordHead, Submission
from . import records, workspace
from .errors import FieldappError
from .sync import schema
from .sync.revisions import parse_rev

STATES = schema.REVIEW_STATES
REASONS = schema.EXCLUSION_REASONS
# A bulk review of more than this many contributions is refused: narrow the filter first.
BULK_CAP = 50_000


def _grouped(number: int) -> str:
    """A count with thousands separators (Latin digits, as everywhere in the interface)."""
    return f"{number:,}"


class ReviewError(FieldappError):
    """A review or coding was refused; ``message`` says why, nothing was changed."""


@dataclass(frozen=True)
class Subject:
    """The answer a review or coding is about."""

    submission: str
    question: str
    consultation: str

    @property
    def body(self) -> dict[str, str]:
        """The fields every review and coding body starts with."""
        return {
            "submission": self.submission,
            "question": self.question,
            "consultation": self.consultation,
        }


def subject_of(row: Any) -> Subject:
    """The subject of a read-model row (``contribution_query.Row`` or ``Contribution``)."""
    return Subject(row.submission_uuid, row.question_id, row.consultation_id)


def record_id(kind: str, subject: Subject) -> str:
    """The id of the review or coding record of ``subject``."""
    return schema.contribution_record_id(kind, subject.submission, subject.question)


# ---- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """The current review of a contribution."""

    rev: str
    state: str
    reason: str | None
    note: str
    conflicts: int = 0


@dataclass(frozen=True)
class Coding:
    """The current coding of a contribution."""

    rev: str
    codes: tuple[str, ...]
    note: str
    account: str
    updated_at: str
    conflicts: int = 0


@dataclass(frozen=True)
class HistoryEntry:
    """One version of a review record, newest first, as the contribution page lists it."""

    rev: str
    state: str | None  # None for a deleted version
    reason: str | None
    note: str
    account: str
    installation: str
    updated_at: str
    current: bool  # the winning version
    live: bool  # a leaf that is not deleted (the winner, or a conflict)


@dataclass(frozen=True)
class Code:
    """An active code of the codebook, for the coding form."""

    id: str
    name: Mapping[str, str]
    original_language: str | None
    colour: str
    parent: str | None
    position: int = 0
    children: list[Code] = field(default_factory=list, compare=False, hash=False)


def _head(kind: str, subject: Subject) -> RecordHead | None:
    head = records.current(record_id(kind, subject))
    if head is None or head.kind != kind:
        return None
    return head


def current_review(subject: Subject) -> Review | None:
    """The review record of ``subject`` now, or None if nobody has reviewed it."""
    head = _head("review", subject)
    if head is None:
        return None
    if head.deleted:
        return Review(head.winner_rev, "received", None, "", head.conflicts)
    body = json.loads(head.body)
    return Review(
        head.winner_rev,
        body.get("state", "received"),
        body.get("reason"),
        body.get("note") or "",
        head.conflicts,
    )


def coding_of(subject: Subject) -> Coding | None:
    """The coding record of ``subject`` now, or None if nobody has coded it."""
    head = _head("coding", subject)
    if head is None:
        return None
    body = {} if head.deleted else json.loads(head.body)
    return Coding(
        head.winner_rev,
        tuple(body.get("codes", [])),
        body.get("note") or "",
        _account_name(body),
        str(body.get("updated_at") or ""),
        head.conflicts,
    )


def _account_name(body: Mapping[str, Any]) -> str:
    account = body.get("account") or {}
    return str(account.get("name") or account.get("username") or "")


def installation_names(device_ids: Iterable[str]) -> dict[str, str]:
    """Registered installations' names by device id (unknown ids are left out)."""
    wanted = sorted(set(device_ids))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Device.device_id, Device.name).where(Device.device_id.in_(wanted))
    )
    return {device_id: name for device_id, name in rows}


def review_history(subject: Subject) -> list[HistoryEntry]:
    """Every version of the review record of ``subject``, newest first (by generation)."""
    rid = record_id("review", subject)
    versions = records.load_versions(rid)
    if not versions:
        return []
    head = records.current(rid)
    live = {v.rev for v in records.live_leaves(rid) if not v.deleted}
    names = installation_names(str(v.body.get("updated_by") or "") for v in versions)
    entries = []
    for version in sorted(versions, key=lambda v: parse_rev(v.rev), reverse=True):
        body = version.body
        device = str(body.get("updated_by") or "")
        entries.append(
            HistoryEntry(
                rev=version.rev,
                state=None if version.deleted else body.get("state"),
                reason=body.get("reason"),
                note=str(body.get("note") or ""),
                account=_account_name(body),
                installation=names.get(device, device),
                updated_at=str(body.get("updated_at") or ""),
                current=head is not None and version.rev == head.winner_rev,
                live=version.rev in live,
            )
        )
    return entries


def submission_of(submission: str) -> dict[str, Any] | None:
    """The whole submission record (every answer), or None if this installation lacks it."""
    text = db.session.execute(
        select(Submission.body).where(Submission.uuid == submission)
    ).scalar_one_or_none()
    return json.loads(text) if text is not None else None


def heads_by_id(record_ids: Iterable[str], kind: str) -> dict[str, dict[str, Any]]:
    """The live bodies of records of ``kind`` by id (questions and consultations of a page)."""
    wanted = sorted(set(record_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        for rid, body in db.session.execute(
            select(RecordHead.record_id, RecordHead.body).where(
                RecordHead.kind == kind,
                RecordHead.deleted.is_(False),
                RecordHead.record_id.in_(wanted[start : start + 500]),
            )
        ):
            found[rid] = json.loads(body)
    return found


def answer_of(row: Any) -> Any:
    """The stored answer of a row (``contribution_query.Row``): the typed text, or the
    already decoded value of other answers."""
    return row.text if row.text is not None else row.value


def is_typed(question: Mapping[str, Any] | None) -> bool:
    """Whether answers to ``question`` are typed free text (what facilitators may code)."""
    return question is not None and question.get("type") == "free_text"


def active_codes() -> list[Code]:
    """The codes offered for coding, as themes each with its active sub-themes.

    Read from the codebook records: active, not deleted, not merged into another code. A
    sub-theme whose theme is retired is offered as a theme of its own, so it stays usable.
    """
    codes: dict[str, Code] = {}
    for rid, body_text in db.session.execute(
        select(RecordHead.record_id, RecordHead.body).where(
            RecordHead.kind == "code", RecordHead.deleted.is_(False)
        )
    ):
        body = json.loads(body_text)
        if body.get("status") != "active" or body.get("merged_into"):
            continue
        codes[rid] = Code(
            rid,
            body.get("name") or {},
            body.get("original_language"),
            str(body.get("colour") or "#777777"),
            body.get("parent"),
            int(body.get("position") or 0),
        )
    themes = []
    for code in codes.values():
        parent = codes.get(code.parent) if code.parent else None
        if parent is not None and parent.parent is None:
            parent.children.append(code)
        else:
            themes.append(code)

    def order(code: Code) -> tuple[int, str, str]:
        name = code.name.get(code.original_language or "") or next(iter(code.name.values()), "")
        return code.position, str(name), code.id

    for theme in themes:
        theme.children.sort(key=order)
    return sorted(themes, key=order)


def code_records(ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Every code record (active or not) among ``ids``: names and colours for display."""
    return heads_by_id(ids, "code")


@dataclass(frozen=True)
class PageContext:
    """What a page of contributions shows beside the rows: questions, consultations, codes."""

    questions: Mapping[str, Mapping[str, Any]]
    consultations: Mapping[str, Mapping[str, Any]]
    codes: Mapping[str, Mapping[str, Any]]
    typed: frozenset[str]  # ids of free-text questions (facilitators may code those)


def page_context(rows: Sequence[Any]) -> PageContext:
    """The records a page of read-model rows refers to, read in three queries."""
    questions = heads_by_id((r.question_id for r in rows), "question")
    codes = code_records(code for r in rows for code in (r.codes or ()))
    return PageContext(
        questions,
        heads_by_id((r.consultation_id for r in rows), "consultation"),
        codes,
        frozenset(q for q, body in questions.items() if is_typed(body)),
    )


@dataclass(frozen=True)
class Answer:
    """One answer of a submission, with its question (None if this installation lacks it)."""

    question_id: str
    question: Mapping[str, Any] | None
    value: Any


@dataclass(frozen=True)
class Detail:
    """Everything the page of one contribution shows about its submission and consultation."""

    submission: Mapping[str, Any] | None
    question: dict[str, Any] | None
    consultation: Mapping[str, Any] | None
    answers: list[Answer]
    installation: str
    codes: Mapping[str, Mapping[str, Any]]


def contribution_detail(row: Any) -> Detail:
    """The whole submission of a contribution, every answer beside its question, in order."""
    record = submission_of(row.submission_uuid)
    consultation = heads_by_id([row.consultation_id], "consultation").get(row.consultation_id)
    questions = {item.id: item.body for item in workspace.questions_of(row.consultation_id)}
    answers_given = (record or {}).get("answers", {})
    ordered = [q for q in questions if q in answers_given]
    ordered += sorted(q for q in answers_given if q not in questions)
    answers = [Answer(q, questions.get(q), answers_given[q]) for q in ordered]
    device = str((record or {}).get("device") or "")
    coding = coding_of(subject_of(row))
    question = questions.get(row.question_id)
    if question is None:
        question = heads_by_id([row.question_id], "question").get(row.question_id)
    return Detail(
        record,
        question,
        consultation,
        answers,
        installation_names([device]).get(device, device),
        code_records(set(coding.codes if coding else ()) | set(row.codes or ())),
    )


# ---- changing ---------------------------------------------------------------------------------


def _check_state(state: str, reason: str | None) -> str | None:
    if state not in STATES:
        raise ReviewError(_l("“%(value)s” is not a review state.", value=state))
    if state != "excluded":
        return None
    if not reason:
        raise ReviewError(_l("Say why the contribution is excluded."))
    if reason not in REASONS:
        raise ReviewError(_l("“%(value)s” is not a reason for excluding.", value=reason))
    return reason


def _review_body(subject: Subject, state: str, reason: str | None, note: str) -> dict[str, Any]:
    body: dict[str, Any] = {**subject.body, "state": state}
    if reason:
        body["reason"] = reason
    # Stored like every other typed text: bidi overrides removed, so a note cannot disguise
    # what it says (SECURITY.md W-13).
    note = textnorm.storage_form(note)
    if note:
        body["note"] = note[: schema.LONG]
    return body


def _save(kind: str, subject: Subject, body: Mapping[str, Any], base_rev: str) -> str:
    """Create the record of ``subject`` or update it on ``base_rev`` (StaleRecord if moved on)."""
    rid = record_id(kind, subject)
    head = records.current(rid)
    if head is None:
        if base_rev:  # the page showed a version this installation no longer has
            raise records.StaleRecord(None, "", body, kind)
        return records.create(kind, body, record_id=rid)[1]
    return records.update(rid, body, base_rev)


def set_state(
    subject: Subject, state: str, reason: str | None = None, note: str = "", base_rev: str = ""
) -> str:
    """Give a contribution a review state on top of the version the reviewer saw.

    ``base_rev`` is the review record's rev the page showed ("" if it had none); if another
    review was saved since, :class:`records.StaleRecord` is raised and nothing changes.
    Returns the new rev.
    """
    reason = _check_state(state, reason)
    return _save("review", subject, _review_body(subject, state, reason, note.strip()), base_rev)


def mark_duplicate(subject: Subject, duplicate_of: Subject | None = None) -> str:
    """Exclude ``subject`` as a duplicate (one action, from the other contribution's page).

    The note it had is kept. The reviewer did not open this contribution's own review, so the
    change is made on its current version.
    """
    now = current_review(subject)
    note = now.note if now else ""
    body = _review_body(subject, "excluded", "duplicate", note)
    return _save("review", subject, body, now.rev if now else "")


def subjects_of(keys: Sequence[str]) -> list[Subject]:
    """The subjects of read-model keys; an unknown key refuses the whole list."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, Subject] = {}
    table = Contribution.__table__
    for start in range(0, len(wanted), 500):
        for key, submission, question, consultation in db.session.execute(
            select(
                table.c.key, table.c.submission_uuid, table.c.question_id, table.c.consultation_id
            ).where(table.c.key.in_(wanted[start : start + 500]))
        ):
            found[key] = Subject(submission, question, consultation)
    missing = [key for key in wanted if key not in found]
    if missing:
        raise ReviewError(
            _l("“%(value)s” is not a contribution on this installation.", value=missing[0])
        )
    return [found[key] for key in wanted]


def bulk_states(
    subjects: Sequence[Subject], state: str, reason: str | None = None, note: str = ""
) -> int:
    """Give many contributions one review state in one transaction; return how many changed.

    Each is saved on its current version (a bulk action is one decision about a selection);
    a note already on a contribution is kept unless a new one is given. More than
    :data:`BULK_CAP` contributions are refused.
    """
    reason = _check_state(state, reason)
    if len(subjects) > BULK_CAP:
        raise ReviewError(
            _l(
                "A bulk review can change at most %(max)s contributions at once. "
                "Narrow the filter and try again.",
                max=_grouped(BULK_CAP),
            )
        )
    if not subjects:
        raise ReviewError(_l("No contributions were chosen."))
    ids = {record_id("review", s): s for s in subjects}
    notes: dict[str, str] = {}
    if not note.strip():
        for rid, body in heads_by_id(ids, "review").items():
            notes[rid] = str(body.get("note") or "")
    bodies = {
        rid: _review_body(subject, state, reason, note.strip() or notes.get(rid, ""))
        for rid, subject in ids.items()
    }
    return records.save_many("review", bodies, action="review.bulk")


def apply_codes(
    subject: Subject, code_ids: Iterable[str], note: str = "", base_rev: str = ""
) -> str:
    """Set the codes of a contribution (the whole answer) on the version the coder saw.

    Every id must be an active code of the codebook; an unknown, retired or merged code refuses
    the whole change. An empty set is saved as ``codes: []`` (coded: no code applies).
    """
    offered: dict[str, Code] = {}
    for theme in active_codes():
        offered[theme.id] = theme
        offered.update((child.id, child) for child in theme.children)
    chosen = list(dict.fromkeys(code_ids))
    for code in chosen:
        if code not in offered:
            raise ReviewError(_l("“%(value)s” is not an active code of the codebook.", value=code))
    if len(chosen) > 50:
        raise ReviewError(_l("A contribution can have at most %(max)s codes.", max=50))
    body: dict[str, Any] = {**subject.body, "codes": sorted(chosen)}
    if note.strip():
        body["note"] = textnorm.storage_form(note.strip())[: schema.LONG]
    return _save("coding", subject, body, base_rev)


__all__ = [
    "BULK_CAP",
    "REASONS",
    "STATES",
    "Code",
    "Coding",
    "HistoryEntry",
    "Answer",
    "Detail",
    "PageContext",
    "Review",
    "ReviewError",
    "Subject",
    "active_codes",
    "answer_of",
    "apply_codes",
    "bulk_states",
    "code_records",
    "contribution_detail",
    "coding_of",
    "current_review",
    "heads_by_id",
    "installation_names",
    "is_typed",
    "mark_duplicate",
    "page_context",
    "record_id",
    "review_history",
    "set_state",
    "subject_of",
    "subjects_of",
    "submission_of",
]
