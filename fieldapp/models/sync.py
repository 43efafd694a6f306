"""What is synced, and the bookkeeping of bundles.

``RecordVersion`` is the truth for editable records: every version ever made or received.
``RecordHead`` is derived from it (the winning version of each record and how many live
conflicts it has) and is what screens read. ``Submission`` rows are immutable and identified by
their UUID, so merging them is insert-if-absent. Bodies are stored as canonical JSON text, so
two installations holding the same data hold the same bytes (see ``services.sync.stats``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow

UUID_LEN = 36
REV_LEN = 75


class RecordVersion(db.Model):  # type: ignore[name-defined]
    """One version of an editable record (consultation, question, attendance, action point)."""

    __tablename__ = "record_version"

    record_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    rev: Mapped[str] = mapped_column(String(REV_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    parent_rev: Mapped[str | None] = mapped_column(String(REV_LEN))
    deleted: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)


class RecordHead(db.Model):  # type: ignore[name-defined]
    """The current state of one editable record: its winning version and conflict count."""

    __tablename__ = "record_head"
    __table_args__ = (Index("ix_record_head_kind_consultation", "kind", "consultation_id"),)

    record_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    winner_rev: Mapped[str] = mapped_column(String(REV_LEN))
    deleted: Mapped[bool] = mapped_column(default=False)
    conflicts: Mapped[int] = mapped_column(default=0)
    # The consultation a question, attendance record or action point belongs to.
    consultation_id: Mapped[str | None] = mapped_column(String(UUID_LEN))
    body: Mapped[str] = mapped_column(Text)


class Submission(db.Model):  # type: ignore[name-defined]
    """One participant's input, immutable once saved; corrections are new submissions."""

    __tablename__ = "submission"

    uuid: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    consultation_id: Mapped[str] = mapped_column(String(UUID_LEN), index=True)
    device_id: Mapped[str] = mapped_column(String(UUID_LEN))
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    body: Mapped[str] = mapped_column(Text)


class BundleImport(db.Model):  # type: ignore[name-defined]
    """A bundle merged into this installation (merging the same bundle again is a no-op)."""

    __tablename__ = "bundle_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(UUID_LEN), index=True)
    export_seq: Mapped[int]
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    summary: Mapped[str] = mapped_column(Text)


class BundleExport(db.Model):  # type: ignore[name-defined]
    """A bundle written by this installation."""

    __tablename__ = "bundle_export"

    id: Mapped[int] = mapped_column(primary_key=True)
    export_seq: Mapped[int] = mapped_column(unique=True)
    file_name: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    summary: Mapped[str] = mapped_column(Text)
