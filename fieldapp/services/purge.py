"""Purge: remove from this laptop the participants' answers head office has acknowledged.

A laptop can be lost, broken or searched at a checkpoint. Once head office has merged its
exports and the laptop has applied head office's receipt (:mod:`.sync.receipts`), the answers
those exports carried are safe at head office and need not stay here. A purge removes them:
the submissions, their rows in the Contributions read model (text, search and duplicate keys)
and their codes, and the unfinished answers that participants left idle (the app has already
forgotten those: :func:`fieldapp.services.intake.load` refuses them).

Kept: consultations, questions, attendance counts, action points and every other record, the
export and receipt bookkeeping, and the activity log (which never holds a participant's words).
The next export carries the submissions that remain; head office merges submissions as
insert-if-absent, so a submission missing from a later export is never taken as deleted there.

A purge never removes a submission that no applied receipt acknowledged: one never exported,
or first carried by an export newer than any export a receipt confirmed.

Receipts and purges are for field laptops only: a head office holds what it merged from every
laptop, and a receipt (from a peer head office, say) must never make it delete that. Applying a
receipt or purging on a head office is refused; ``PURGE_AFTER_DAYS`` does nothing there, nor
on a damaged database (which is only ever read, SECURITY.md D-05).

Removed text must not stay in any byte of the database files: every connection runs with
``secure_delete`` (``fieldapp.database``), which overwrites deleted content with zeros, and
after the purge the write-ahead log is checkpointed into the database file and truncated to
zero bytes, so the old pages it held are gone too (SECURITY.md D-01, D-07, E-11).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select

from ..database import writing
from ..extensions import db
from ..models import (
    Contribution,
    ContributionCode,
    DeviceRole,
    ExportedSubmission,
    ParticipantDraft,
    Submission,
)
from ..models.types import utcnow
from . import audit, health, records
from .errors import FieldappError
from .intake import DEFAULT_IDLE
from .sync import keys, receipts
from .workdir import remove_leftovers

BATCH = 500
CHECKPOINT_TRIES = 5


@dataclass
class PurgePlan:
    """What a purge would remove now: submissions, their answers, and through which export."""

    submissions: int
    answers: int
    through_export: int

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


@dataclass
class PurgeResult:
    """What a purge removed; ``wiped`` is False when the write-ahead log could not be
    truncated (another program held the database open: run the purge again)."""

    submissions: int
    answers: int
    drafts: int
    through_export: int
    wiped: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


class PurgeRefused(FieldappError):
    """A receipt or purge refused on this installation; ``message`` says why."""


HEADOFFICE_REFUSAL = _l(
    "This installation is a head office: it keeps every answer it merged. Receipts are "
    "applied, and acknowledged answers removed, on field laptops only."
)


def is_headoffice() -> bool:
    """True when this installation's role is head office."""
    device = keys.self_device()
    return device is not None and device.role == DeviceRole.HEADOFFICE


def refuse_on_headoffice() -> None:
    """Raise :class:`PurgeRefused` on a head office (see the module's docstring)."""
    if is_headoffice():
        raise PurgeRefused(HEADOFFICE_REFUSAL)


def _purgeable(through: int) -> Any:
    return select(ExportedSubmission.submission_uuid).where(
        ExportedSubmission.export_seq <= through
    )


def plan(applied_before: datetime | None = None) -> PurgePlan:
    """What :func:`purge` would remove now (with ``applied_before``: acknowledged by receipts
    applied before then only)."""
    through = receipts.acknowledged_through(applied_before)
    if not through:
        return PurgePlan(0, 0, 0)
    submissions = db.session.execute(
        select(func.count()).select_from(_purgeable(through).subquery())
    ).scalar_one()
    answers = db.session.execute(
        select(func.count())
        .select_from(Contribution)
        .where(Contribution.submission_uuid.in_(_purgeable(through)))
    ).scalar_one()
    return PurgePlan(int(submissions), int(answers), through)


def purge(applied_before: datetime | None = None, automatic: bool = False) -> PurgeResult:
    """Remove the acknowledged submissions and every copy of their answers, then wipe the
    write-ahead log (see the module's docstring). Logged with the counts, never the text.
    Refused on a head office (:class:`PurgeRefused`)."""
    refuse_on_headoffice()
    # A backup cut short may have left a clear copy of the database in instance/tmp: the
    # answers removed here must not survive there.
    remove_leftovers(Path(current_app.instance_path))
    with writing() as session:
        through = receipts.acknowledged_through(applied_before)
        uuids = list(session.execute(_purgeable(through)).scalars()) if through else []
        answers = 0
        for start in range(0, len(uuids), BATCH):
            chunk = uuids[start : start + BATCH]
            contribution_keys = select(Contribution.key).where(
                Contribution.submission_uuid.in_(chunk)
            )
            session.execute(
                delete(ContributionCode).where(
                    ContributionCode.contribution_key.in_(contribution_keys)
                )
            )
            removed = session.execute(
                delete(Contribution).where(Contribution.submission_uuid.in_(chunk))
            )
            answers += int(getattr(removed, "rowcount", 0) or 0)
            session.execute(delete(Submission).where(Submission.uuid.in_(chunk)))
            session.execute(
                delete(ExportedSubmission).where(ExportedSubmission.submission_uuid.in_(chunk))
            )
        idle = session.execute(
            delete(ParticipantDraft).where(ParticipantDraft.updated_at < utcnow() - DEFAULT_IDLE)
        )
        drafts = int(getattr(idle, "rowcount", 0) or 0)
        if uuids or drafts:
            actor = records.current_actor()
            audit.record_detail(
                "purge.done",
                actor.user_id if actor else None,
                "submissions",
                {
                    "count": len(uuids),
                    "answers": answers,
                    "through_export": through,
                    "automatic": automatic,
                    "via": "web" if has_request_context() else "command line",
                },
            )
    result = PurgeResult(len(uuids), answers, drafts, through)
    result.wiped = wipe_log()
    return result


def wipe_log() -> bool:
    """Copy the write-ahead log into the database file and truncate it to zero bytes.

    ``PRAGMA wal_checkpoint(TRUNCATE)`` waits (the busy timeout) for readers of older pages;
    it answers ``busy`` 1 when one still holds them, then it is tried again. True when done
    (and always on a database that is not SQLite).
    """
    if db.engine.dialect.name != "sqlite":
        return True
    db.session.remove()  # our own open read transaction would hold old pages too
    for attempt in range(CHECKPOINT_TRIES):
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            busy, _log, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
        finally:
            connection.close()
        if not busy:
            return True
        time.sleep(0.2 * (attempt + 1))
    return False


def after_days() -> int | None:
    """The ``PURGE_AFTER_DAYS`` setting: purge automatically N days after a receipt (None: off)."""
    value = current_app.config.get("PURGE_AFTER_DAYS")
    if value is None or isinstance(value, bool):
        return None
    try:
        days = int(value)
    except (TypeError, ValueError):
        return None
    return days if days >= 0 else None


def purge_due() -> PurgeResult | None:
    """With ``PURGE_AFTER_DAYS`` set, purge what receipts applied that many days ago or more
    acknowledged (run at start and after applying a receipt). None when off or nothing due,
    on a head office, and on a damaged database (which is only read)."""
    days = after_days()
    if days is None or health.is_damaged(current_app) or is_headoffice():
        return None
    # A receipt applied this very second counts when the setting is 0.
    cutoff = utcnow() - timedelta(days=days) + timedelta(seconds=1)
    if not plan(cutoff).submissions:
        return None
    return purge(cutoff, automatic=True)


def apply_receipt(data: bytes) -> receipts.AppliedReceipt:
    """Apply a receipt (:func:`receipts.apply_receipt`), then the automatic purge if due.
    Refused on a head office (:class:`PurgeRefused`)."""
    refuse_on_headoffice()
    result = receipts.apply_receipt(data)
    done = purge_due()
    if done is not None:
        result.purged = done.submissions
        result.purgeable = receipts.purgeable_count()
    return result
