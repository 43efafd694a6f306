"""The head office's read model of what people said: one row per answer.

``Contribution`` is a projection of ``Submission`` rows (which stay byte for byte as signed)
and of the review, coding and consultation records that describe them. It is filled in the
same transaction as every merge and every participant submission, and can be rebuilt from the
record versions at any time (``fieldapp db rebuild-index``); rebuilt and incremental are equal.
Nothing here is ever exported: every installation derives it from what it holds.
"""

from __future__ import annotations

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .sync import UUID_LEN

# created_at (20) | submission uuid (36) | question id (36)
KEY_LEN = 20 + 1 + UUID_LEN + 1 + UUID_LEN


class Contribution(db.Model):  # type: ignore[name-defined]
    """One answer to one question, with the columns the Contributions filters need.

    ``key`` orders the list (newest first) and is the keyset cursor: the submission's time,
    then its uuid, then the question id, so it is the same on every installation.
    """

    __tablename__ = "contribution"
    __table_args__ = (
        Index("ix_contribution_submission_question", "submission_uuid", "question_id"),
        # Duplicates of an answer, and the filters most pages combine: SQLite tests state,
        # language and channel in the index before reading a row (a filtered page's p95 at
        # 800,000 rows: 256 ms with only the first two columns, 105 ms with these).
        Index(
            "ix_contribution_consultation_dup",
            "consultation_id",
            "dup_key",
            "state",
            "language",
            "channel",
            "key",
        ),
        # A rare state (approved, has issues, excluded): counted in 0.3 ms instead of 330 ms.
        Index("ix_contribution_state_key", "state", "key"),
        # The dashboard's count of answers by question, value and demographics read from the
        # index alone (200,000 submissions: p95 4.7 s from the table, 0.59 s from this).
        Index(
            "ix_contribution_answer",
            "question_id",
            "value",
            "gender",
            "age_band",
            "state",
            "consultation_id",
            "language",
            "channel",
            "grp",
        ),
    )

    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
    submission_uuid: Mapped[str] = mapped_column(String(UUID_LEN))
    question_id: Mapped[str] = mapped_column(String(UUID_LEN))
    consultation_id: Mapped[str] = mapped_column(String(UUID_LEN))
    # The consultation's attributes, kept in step when the consultation record changes.
    programme: Mapped[str | None] = mapped_column(String(200))
    governorate: Mapped[str | None] = mapped_column(String(20))
    district: Mapped[str | None] = mapped_column(String(60))
    consultation_kind: Mapped[str | None] = mapped_column(String(40))
    held_on: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD
    # The submission's own attributes.
    created_at: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    channel: Mapped[str] = mapped_column(String(20))
    gender: Mapped[str | None] = mapped_column(String(20))
    age_band: Mapped[str | None] = mapped_column(String(20))
    group: Mapped[str | None] = mapped_column("grp", String(40))
    # The answer: ``text`` for typed answers, else ``value`` as canonical JSON.
    text: Mapped[str | None] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
    search_key: Mapped[str | None] = mapped_column(Text)  # textnorm.search_key(text)
    dup_key: Mapped[str | None] = mapped_column(String(64))  # near-duplicate key of text
    # From the review and coding records.
    state: Mapped[str] = mapped_column(String(12), default="received")
    reason: Mapped[str | None] = mapped_column(String(20))
    codes: Mapped[str | None] = mapped_column(Text)  # effective code ids, space-separated


class ContributionCode(db.Model):  # type: ignore[name-defined]
    """One effective code on one contribution (for the code filter)."""

    __tablename__ = "contribution_code"

    code_id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    contribution_key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
