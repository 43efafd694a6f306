"""Receipts: what head office has acknowledged of this laptop's exports, and what each export
carried, so that a purge removes only answers head office is known to hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .sync import UUID_LEN
from .types import UTCDateTime, utcnow


class ExportManifest(db.Model):  # type: ignore[name-defined]
    """The SHA-256 of the signed manifest of one export written here.

    Head office keeps the same digest for every file it merges, so a receipt can name the
    exact files it holds: an export number reused by a laptop restored from a backup is then
    never taken for the file head office really merged.
    """

    __tablename__ = "export_manifest"

    export_seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    manifest_sha256: Mapped[str] = mapped_column(String(64))


class ExportedSubmission(db.Model):  # type: ignore[name-defined]
    """The first export of this installation that carried a submission.

    Every export carries every submission held, so one first carried by export N is in every
    export after N as well; the row is deleted with the submission when it is purged.
    """

    __tablename__ = "exported_submission"

    submission_uuid: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    export_seq: Mapped[int] = mapped_column(index=True)


class Receipt(db.Model):  # type: ignore[name-defined]
    """A receipt from head office applied here.

    ``exports`` is what head office says it merged (ranges of export numbers, JSON);
    ``acknowledged`` the exports of this installation it confirmed, matched by manifest
    digest (ranges, JSON). ``written_at`` is head office's clock, for display only.
    """

    __tablename__ = "receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    headoffice_device_id: Mapped[str] = mapped_column(String(UUID_LEN))
    written_at: Mapped[str] = mapped_column(String(40))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    exports: Mapped[str] = mapped_column(Text)
    acknowledged: Mapped[str] = mapped_column(Text)
