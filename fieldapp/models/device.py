"""Installations of fieldapp that this one knows: itself, and the devices registered with it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class DeviceRole(enum.StrEnum):
    """A field laptop collects input; a head office merges and may export further up."""

    FIELD = "field"
    HEADOFFICE = "headoffice"


class Device(db.Model):  # type: ignore[name-defined]
    """One installation, identified by a UUID made where it was created.

    ``is_self`` marks this installation. Head-office devices carry an age recipient: field
    laptops encrypt their exports to every registered, unrevoked one of them.
    """

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    role: Mapped[DeviceRole] = mapped_column(
        Enum(
            DeviceRole,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    signing_public_key: Mapped[str] = mapped_column(String(64))
    age_recipient: Mapped[str | None] = mapped_column(String(128))
    is_self: Mapped[bool] = mapped_column(default=False)
    revoked: Mapped[bool] = mapped_column(default=False)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
