"""Counts of what an installation holds, and a digest that is equal exactly when data is equal."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select

from ...extensions import db
from ...models import RecordHead, RecordVersion, Submission
from . import schema

PLURAL = {
    "consultation": "consultations",
    "question": "questions",
    "attendance": "attendance",
    "action_point": "action_points",
    "template": "templates",
    "code": "codes",
    "review": "reviews",
    "coding": "codings",
}


def counts() -> dict[str, int]:
    """Live records per kind, submissions, all versions, and records with conflicts."""
    result = {PLURAL[kind]: 0 for kind in schema.VERSIONED_KINDS}
    for kind, number in db.session.execute(
        select(RecordHead.kind, func.count())
        .where(RecordHead.deleted.is_(False))
        .group_by(RecordHead.kind)
    ):
        result[PLURAL.get(kind, kind)] = number
    result["submissions"] = db.session.execute(select(func.count(Submission.uuid))).scalar_one()
    result["versions"] = db.session.execute(
        select(func.count()).select_from(RecordVersion)
    ).scalar_one()
    result["conflicts"] = db.session.execute(
        select(func.count()).select_from(RecordHead).where(RecordHead.conflicts > 0)
    ).scalar_one()
    return result


def _bytewise(column: Any) -> Any:
    """Order by code point everywhere (PostgreSQL would otherwise use the locale's rules)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def digest() -> str:
    """SHA-256 of a canonical dump of all versions, winners, conflicts and submissions.

    Rows are read in a fixed order and bodies are stored canonically, so the same data gives
    the same digest on SQLite and PostgreSQL, on any machine.
    """
    sha = hashlib.sha256()
    versions = select(
        RecordVersion.kind,
        RecordVersion.record_id,
        RecordVersion.rev,
        RecordVersion.parent_rev,
        RecordVersion.deleted,
        RecordVersion.body,
    ).order_by(_bytewise(RecordVersion.record_id), _bytewise(RecordVersion.rev))
    for kind, record_id, rev, parent, deleted, body in db.session.execute(
        versions.execution_options(yield_per=2000)
    ):
        sha.update(f"V\t{kind}\t{record_id}\t{rev}\t{parent or ''}\t{int(deleted)}\t".encode())
        sha.update(body.encode("utf-8") + b"\n")
    heads = select(
        RecordHead.record_id, RecordHead.winner_rev, RecordHead.deleted, RecordHead.conflicts
    ).order_by(_bytewise(RecordHead.record_id))
    for record_id, rev, deleted, conflicts in db.session.execute(heads):
        sha.update(f"H\t{record_id}\t{rev}\t{int(deleted)}\t{conflicts}\n".encode())
    submissions = select(Submission.uuid, Submission.body).order_by(_bytewise(Submission.uuid))
    for uuid, body in db.session.execute(submissions.execution_options(yield_per=2000)):
        sha.update(f"S\t{uuid}\t".encode() + body.encode("utf-8") + b"\n")
    return sha.hexdigest()


def stats() -> dict[str, Any]:
    """``{"counts": {...}, "digest": "..."}``."""
    return {"counts": counts(), "digest": digest()}
