"""Named counters of this installation (for example the export sequence number)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class Counter(db.Model):  # type: ignore[name-defined]
    """A monotonically increasing number, incremented under the write lock."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)
