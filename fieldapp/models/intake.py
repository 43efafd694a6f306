"""Participant intake on this laptop: open join codes and unfinished answers (never synced)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class IntakeSession(db.Model):  # type: ignore[name-defined]
    """A consultation open for participants' input, reachable with its join code."""

    __tablename__ = "intake_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[str] = mapped_column(String(36), index=True)
    join_code: Mapped[str] = mapped_column(String(16), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ParticipantDraft(db.Model):  # type: ignore[name-defined]
    """One participant's answers while they go through the questions.

    Kept on the server so nothing they type is stored in the shared browser; deleted when they
    submit, decline, or leave the device idle.
    """

    __tablename__ = "participant_draft"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    consented: Mapped[bool] = mapped_column(default=False)
    answers: Mapped[str] = mapped_column(Text, default="{}")
    demographics: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
