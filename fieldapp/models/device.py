"""Installations of fieldapp that this one knows: itself, and the devices registered with it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, String, Text, UniqueConstraint
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
    # A revoked device's exports numbered up to this still merge (they were made before the
    # laptop was lost); later ones are refused. None with ``revoked`` (databases from before
    # this column) is read as 0: everything refused, as it was then.
    revoked_after_seq: Mapped[int | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The first export number signed with ``signing_public_key``; earlier numbers were signed
    # with the keys in ``device_key`` (the key was rotated, services/sync/rotation.py).
    key_from_seq: Mapped[int] = mapped_column(default=1, server_default="1")

    def refuses(self, export_seq: int) -> bool:
        """Whether an export numbered ``export_seq`` of this device is refused as revoked."""
        return self.revoked and export_seq > (self.revoked_after_seq or 0)


class DeviceKey(db.Model):  # type: ignore[name-defined]
    """A signing key a device used before it rotated to a newer one.

    The key signed the device's exports numbered ``first_seq`` up to ``until_seq - 1``;
    ``statement`` is the signed rotation statement (canonical JSON with its signature) that
    retired it, which a laptop carries in its exports and head office checked.
    """

    __tablename__ = "device_key"
    __table_args__ = (UniqueConstraint("device_id", "public_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36), index=True)
    public_key: Mapped[str] = mapped_column(String(64))
    first_seq: Mapped[int]
    until_seq: Mapped[int]
    statement: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
