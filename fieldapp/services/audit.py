"""Recording who changed what (never the content of what participants said)."""

from __future__ import annotations

import json
from typing import Any

from ..extensions import db
from ..models import AuditEvent, User


def record(action: str, actor: User | None = None, subject: str | None = None) -> None:
    """Add an audit event to the current unit of work (call inside ``writing()``)."""
    db.session.add(AuditEvent(action=action, actor_id=actor.id if actor else None, subject=subject))


def record_detail(
    action: str, actor_id: int | None, subject: str | None, detail: dict[str, Any]
) -> None:
    """An audit event with details for the Activity page (never a participant's words)."""
    db.session.add(
        AuditEvent(
            action=action,
            actor_id=actor_id,
            subject=(subject or "")[:120] or None,
            detail=json.dumps(detail, ensure_ascii=False, sort_keys=True),
        )
    )
