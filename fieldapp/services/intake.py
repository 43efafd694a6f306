"""Participants' own input: join codes, answers kept on the server until submitted, one record.

A participant's unfinished answers live in ``participant_draft`` on this laptop, never in the
shared browser (cookies hold only a random token) and never in a URL. Submitting turns the
draft into an immutable submission exactly once (the draft's token is the idempotency key) and
deletes the draft; withdrawing or leaving the device idle deletes it too.

Writes per participant are few, because a room of phones shares one disk: nothing is written
before consent (choosing a language or declining writes nothing at all), agreeing is one INSERT
(:func:`start`), a screen is at most one UPDATE and none when what it sends is what the draft
holds already (:func:`update`), and submitting is one transaction (:func:`submit`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, delete, select
from sqlalchemy import update as sa_update

from ..database import (
    content_changed,
    content_generation,
    database_key,
    truncate_log_if_idle,
    writing,
)
from ..extensions import db
from ..models import IntakeSession, ParticipantDraft, RecordHead, Submission
from ..models.types import utcnow
from . import records, workspace
from .errors import FieldappError

# 32 symbols without look-alikes (no 0/O, 1/I/L): 7 characters = 35 bits.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 7
DEFAULT_IDLE = timedelta(minutes=5)


class IntakeError(FieldappError):
    """Participant input was refused; ``message`` says why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _idempotency_key(token: str) -> str:
    """One visit, one submission: the key is derived from the participant's token."""
    return _hash(token)[:32]


def new_join_code() -> str:
    """A random join code (CSPRNG, 35 bits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def open_intake(consultation_id: str) -> str:
    """Open a consultation for participants; return its join code (the same while open).

    A closed consultation takes no more input: refused with an :class:`IntakeError`.
    """
    consultation = workspace.get(consultation_id, "consultation")
    if consultation.body.get("status") == "closed":
        raise IntakeError(
            _l(
                "This consultation is closed, so participants can no longer give input. "
                "To take input again, change its status under Edit."
            )
        )
    with writing() as session:
        current = session.execute(
            select(IntakeSession).where(
                IntakeSession.consultation_id == consultation_id,
                IntakeSession.closed_at.is_(None),
            )
        ).scalar_one_or_none()
        if current is not None:
            return current.join_code
        code = new_join_code()
        session.add(IntakeSession(consultation_id=consultation_id, join_code=code))
        content_changed()
    return code


def close_intake(consultation_id: str) -> None:
    """Close intake: the join code stops working and unfinished answers are discarded."""
    with writing() as session:
        for row in session.execute(
            select(IntakeSession).where(
                IntakeSession.consultation_id == consultation_id,
                IntakeSession.closed_at.is_(None),
            )
        ).scalars():
            row.closed_at = utcnow()
        content_changed()
        session.execute(
            delete(ParticipantDraft).where(ParticipantDraft.consultation_id == consultation_id)
        )


def open_code(consultation_id: str) -> str | None:
    """The join code of a consultation open for input, if any."""
    return db.session.execute(
        select(IntakeSession.join_code).where(
            IntakeSession.consultation_id == consultation_id, IntakeSession.closed_at.is_(None)
        )
    ).scalar_one_or_none()


# The consultation a join code was given for, whether its input is still open or not (join
# codes are unique, so there is at most one).
_CODE_CONSULTATION = (
    select(*workspace.HEAD_COLUMNS, IntakeSession.closed_at)
    .join(IntakeSession, IntakeSession.consultation_id == RecordHead.record_id)
    .where(
        IntakeSession.join_code == bindparam("code"),
        RecordHead.kind == "consultation",
        RecordHead.deleted.is_(False),
    )
)


@dataclass(frozen=True)
class Meeting:
    """What every participant of an open consultation reads: the consultation and its questions.

    Shared between requests (see :func:`meeting_for`): treat it as read-only.
    """

    consultation: workspace.Item
    questions: tuple[workspace.Item, ...]
    # Input has closed (or the consultation itself): participants only see that it has.
    closed: bool = False


# Participants' pages read the consultation and its questions on every view: a crowd of phones
# would otherwise repeat the same two queries hundreds of times a second. The cache is refilled
# when this process commits a change to records or intake (database.content_generation) and at
# least every MEETING_CACHE_SECONDS for changes made by another process (the command line).
MEETING_CACHE_SECONDS = 2.0
_meetings: dict[tuple[str, str], tuple[int, float, Meeting | None]] = {}


def meeting_for(code: str) -> Meeting | None:
    """The open consultation behind a join code (case-insensitive) with its questions, or None."""
    meeting = find_meeting(code)
    return meeting if meeting is not None and not meeting.closed else None


def find_meeting(code: str) -> Meeting | None:
    """The consultation a join code was given for, open or closed, or None for unknown codes.

    A consultation whose input has closed, or which is itself closed, comes back with
    ``closed`` set and without its questions.
    """
    normalised = code.strip().upper()[:16]
    key = (database_key(), normalised)
    generation, now = content_generation(), time.monotonic()
    cached = _meetings.get(key)
    if cached is not None and cached[0] == generation and now - cached[1] < MEETING_CACHE_SECONDS:
        return cached[2]
    row = db.session.connection().execute(_CODE_CONSULTATION, {"code": normalised}).first()
    meeting = None
    if row is not None:
        record_id, rev, kind, body, conflicts, closed_at = row
        consultation = workspace.Item(record_id, rev, kind, json.loads(body), conflicts)
        if closed_at is not None or consultation.body.get("status") == "closed":
            meeting = Meeting(consultation, (), closed=True)
        else:
            meeting = Meeting(consultation, tuple(workspace.questions_of(record_id)))
    if meeting is not None or len(_meetings) < 1000:  # unknown codes are not worth much room
        _meetings[key] = (generation, now, meeting)
    return meeting


@dataclass
class Draft:
    """What one participant has answered so far."""

    token: str
    consultation_id: str
    channel: str
    language: str
    consented: bool
    answers: dict[str, Any]
    demographics: dict[str, Any]
    # When the draft was last written: a draft not written for the idle time is discarded.
    updated_at: datetime


def start(consultation_id: str, language: str, channel: str) -> str:
    """The participant agreed: keep their draft, consented, in one INSERT; return the secret
    token for their cookie. This is a participant's first write: nothing exists before it."""
    token = secrets.token_urlsafe(24)
    with writing() as session:
        session.add(
            ParticipantDraft(
                token_hash=_hash(token),
                consultation_id=consultation_id,
                channel=channel,
                language=language,
                consented=True,
                updated_at=utcnow(),
            )
        )
    return token


_DRAFT = select(
    ParticipantDraft.consultation_id,
    ParticipantDraft.channel,
    ParticipantDraft.language,
    ParticipantDraft.consented,
    ParticipantDraft.answers,
    ParticipantDraft.demographics,
    ParticipantDraft.updated_at,
).where(ParticipantDraft.token_hash == bindparam("token_hash"))


def load(token: str | None, consultation_id: str, idle: timedelta = DEFAULT_IDLE) -> Draft | None:
    """The participant's draft, unless it is missing, for another meeting, or idle too long."""
    if not token:
        return None
    row = db.session.connection().execute(_DRAFT, {"token_hash": _hash(token)}).first()
    if row is None or row.consultation_id != consultation_id:
        return None
    updated = _aware(row.updated_at)
    if utcnow() - updated > idle:
        discard(token)
        return None
    return Draft(
        token,
        row.consultation_id,
        row.channel,
        row.language,
        row.consented,
        json.loads(row.answers),
        json.loads(row.demographics),
        updated,
    )


def _aware(moment: datetime) -> datetime:
    """A stored time as UTC (SQLite gives it back without its zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_stored(value: Any) -> Any:
    """``value`` as it reads back from the draft's JSON (tuples become lists, and so on)."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def update(draft: Draft, refresh_after: timedelta | None = None, **changes: Any) -> bool:
    """Save what changed of a draft (language, consent, answers, demographics) in one UPDATE.

    Changes equal to what the draft holds are not written, and when nothing is left nothing
    is written at all (pressing Next or Back over an unchanged answer costs no disk write).
    Only with ``refresh_after``, a draft last written longer ago than that is written anyway
    (its time alone): the idle rule (:func:`load`) counts from the last write, so a participant
    still going through the screens without changing anything is not taken for gone.

    Returns True when a write was made; ``draft`` then holds what was saved.
    """
    values: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    if "language" in changes and changes["language"] != draft.language:
        values["language"] = kept["language"] = changes["language"]
    if "consented" in changes and bool(changes["consented"]) != draft.consented:
        values["consented"] = kept["consented"] = bool(changes["consented"])
    for name in ("answers", "demographics"):
        if name in changes:
            stored = _as_stored(changes[name])
            if stored != getattr(draft, name):
                values[name] = json.dumps(stored, ensure_ascii=False)
                kept[name] = stored
    now = utcnow()
    if not values and (refresh_after is None or now - draft.updated_at <= refresh_after):
        return False
    values["updated_at"] = kept["updated_at"] = now
    with writing() as session:
        result = session.execute(
            sa_update(ParticipantDraft)
            .where(ParticipantDraft.token_hash == _hash(draft.token))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not getattr(result, "rowcount", 0):
            raise IntakeError(_l("Your answers were cleared because the device was left idle."))
    for name, value in kept.items():
        setattr(draft, name, value)
    return True


def discard(token: str) -> bool:
    """Forget a participant's unfinished answers, in the database file and (unless others are
    busy at that moment) in its write-ahead log too. Writes nothing when there are none;
    True when there were."""
    token_hash = _hash(token)
    held = db.session.connection().execute(
        select(ParticipantDraft.token_hash).where(ParticipantDraft.token_hash == token_hash)
    )
    if held.first() is None:
        return False
    with writing() as session:
        session.execute(delete(ParticipantDraft).where(ParticipantDraft.token_hash == token_hash))
    truncate_log_if_idle()
    return True


def submit(draft: Draft) -> str:
    """Turn the draft into one submission (a repeat after a dropped connection changes nothing)."""
    record = records.new_submission(  # built and checked before taking the write lock
        draft.consultation_id,
        draft.answers,
        draft.language,
        draft.channel,
        _idempotency_key(draft.token),
        draft.demographics or None,
        consent=True,
        consent_method="on_screen",  # the participant pressed "I agree" on this screen
    )
    with writing() as session:
        submission_id = records.store_submission(record)
        session.execute(
            delete(ParticipantDraft).where(ParticipantDraft.token_hash == _hash(draft.token))
        )
    return submission_id


def already_submitted(token: str | None, consultation_id: str) -> bool:
    """True when this token's answers were submitted already (a retry of the same submit)."""
    if not token:
        return False
    row = db.session.get(Submission, records.submission_id_for(_idempotency_key(token)))
    return row is not None and row.consultation_id == consultation_id
