"""Recording who changed what (never the content of what participants said)."""

from __future__ import annotations

from ..extensions import db
from ..models import AuditEvent, User


def record(action: str, actor: User | None = None, subject: str | None = None) -> None:
    """Add an audit event to the current unit of work (call inside ``writing()``)."""
    db.session.add(AuditEvent(action=action, actor_id=actor.id if actor else None, subject=subject))
