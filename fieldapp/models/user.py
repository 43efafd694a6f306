"""Facilitator and coordinator accounts, their server-side sessions and failed logins."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow


class Role(enum.StrEnum):
    """What an account may do (the pages of each role: ``fieldapp.auth.access``).

    A coordinator can do everything; an analyst reviews and codes at head office; a viewer
    sees dashboards and reports only.
    """

    FACILITATOR = "facilitator"
    COORDINATOR = "coordinator"
    ANALYST = "analyst"
    VIEWER = "viewer"


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    """A person who signs in to the facilitator screens. Participants never have accounts."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40))
    # NFKC + casefold of the username: two accounts never differ only by case or width.
    username_key: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sessions: Mapped[list[LoginSession]] = relationship(back_populates="user")

    @property
    def is_active(self) -> bool:
        """Disabled accounts cannot sign in and lose their sessions."""
        return self.active

    @property
    def is_coordinator(self) -> bool:
        """True when this account may manage other accounts."""
        return self.role == Role.COORDINATOR


class LoginSession(db.Model):  # type: ignore[name-defined]
    """One signed-in browser. The cookie holds a random token; only its hash is stored here.

    Ending the row (logout, password change, disabled account, timeout) makes a copied cookie
    worthless, which a signed cookie alone cannot do.
    """

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))

    user: Mapped[User] = relationship(back_populates="sessions")


class LoginFailure(db.Model):  # type: ignore[name-defined]
    """A failed sign-in, counted per account name to slow down password guessing."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key_at", "username_key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username_key: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
