"""Filling the Contributions read model: one row per answer, kept in step with the records.

Three ways in, one set of rules, so that rebuilding gives exactly what was filled bit by bit:

- :func:`index_submissions` adds the rows of new submissions (called in the transaction that
  stores them: a participant's submit, or a merge);
- :func:`heads_changed` follows records whose winner changed (called by
  ``records.refresh_heads``): a consultation's place and date, a review state, a coding, a
  codebook entry merged into another;
- :func:`rebuild` empties the tables and fills them again from submissions and record heads
  (``fieldapp db rebuild-index``, and the migration that created them).

Everything works on a SQLAlchemy ``Connection`` so the migration can use it without the app.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from ..extensions import db
from ..models import Contribution, ContributionCode, RecordHead, RecordVersion, Submission
from ..textnorm import loose_key
from .sync.revisions import canonical_json

TABLE = Contribution.__table__
CODES = ContributionCode.__table__
HEADS = RecordHead.__table__
BATCH = 2000
# Consultation fields copied onto each of its contributions (column name: body field).
CONSULTATION_FIELDS = {
    "programme": "programme",
    "governorate": "governorate",
    "district": "district",
    "consultation_kind": "kind",
    "held_on": "starts_on",
}
COLUMNS = (
    "key",
    "submission_uuid",
    "question_id",
    "consultation_id",
    *CONSULTATION_FIELDS,
    "created_at",
    "language",
    "channel",
    "gender",
    "age_band",
    "grp",
    "text",
    "value",
    "search_key",
    "dup_key",
    "state",
    "reason",
    "codes",
)
_NOT_WORD = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"(.)\1+")


def contribution_key(created_at: str, submission: str, question: str) -> str:
    """The row's key: newest first when sorted descending, equal on every installation."""
    return f"{created_at}|{submission}|{question}"


def dup_key(text: str) -> str | None:
    """The key under which two typed answers are possible duplicates, or None if too short.

    "Nearly equal" means equal after the search normalisation (علي/علی, فاطمة/فاطمە, Ş/S, any
    digits), with punctuation, spaces and letter repeats dropped ("جيييد!!" is "جيد").
    Answers shorter than 3 letters after that ("لا", "ok") are never flagged.
    """
    return dup_key_of_loose(loose_key(text))


def _first(match: re.Match[str]) -> str:
    return match.group(1)  # a function is faster here than the template r"\1"


def dup_key_of_loose(loose: str) -> str | None:
    """:func:`dup_key` from the text's ``loose_key`` (a merge computes that once)."""
    squeezed = _REPEATS.sub(_first, _NOT_WORD.sub("", loose))
    if len(squeezed) < 3:
        return None
    return hashlib.sha256(squeezed.encode("utf-8")).hexdigest()[:32]


def _connection(connection: Connection | None) -> Connection:
    return connection if connection is not None else db.session.connection()


def consultation_attributes(body: Mapping[str, Any]) -> dict[str, Any]:
    """The read-model columns taken from a consultation's current body."""
    values = {column: body.get(field) for column, field in CONSULTATION_FIELDS.items()}
    if values["programme"] is not None:
        values["programme"] = str(values["programme"])[:200] or None
    return values


def _type_of(connection: Connection, record_id: str, body: str) -> str | None:
    """A question's type; a deleted question keeps the type of the version it deleted."""
    kind = json.loads(body).get("type")
    if kind is not None:
        return str(kind)
    parent = connection.execute(
        select(RecordVersion.parent_rev).where(
            RecordVersion.record_id == record_id,
            RecordVersion.rev
            == select(HEADS.c.winner_rev).where(HEADS.c.record_id == record_id).scalar_subquery(),
        )
    ).scalar_one_or_none()
    if parent is None:
        return None
    text = connection.execute(
        select(RecordVersion.body).where(
            RecordVersion.record_id == record_id, RecordVersion.rev == parent
        )
    ).scalar_one_or_none()
    return None if text is None else _type_of(connection, record_id, text)


def _question_types(
    connection: Connection, consultations: Iterable[str] | None = None
) -> dict[str, str]:
    """The type of each question (of these consultations, or all): free_text, rating, ..."""
    query = select(HEADS.c.record_id, HEADS.c.body).where(HEADS.c.kind == "question")
    batches: list[Any] = []
    if consultations is None:
        batches.append(connection.execute(query))
    else:
        wanted = sorted(set(consultations))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            batches.append(connection.execute(query.where(HEADS.c.consultation_id.in_(chunk))))
    found: dict[str, str] = {}
    for batch in batches:
        for record_id, body in batch.all():
            kind = _type_of(connection, record_id, body)
            if kind is not None:
                found[record_id] = kind
    return found


def answer_columns(answer: Any, question_type: str | None) -> tuple[Any, ...]:
    """(text, value, search_key, dup_key) of one answer.

    Only answers to free-text questions are typed text (searchable, checked for duplicates);
    a single choice is a string too (the option id) and goes to ``value`` like other answers.
    An answer to a question this installation does not hold is text if it is a string.
    """
    if type(answer) is str and question_type in (None, "free_text"):
        loose = loose_key(answer)
        return answer, None, loose or None, dup_key_of_loose(loose)
    return None, canonical_json(answer).decode("utf-8"), None, None


def _consultations(connection: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), 500):
        for record_id, body in connection.execute(
            select(HEADS.c.record_id, HEADS.c.body).where(
                HEADS.c.kind == "consultation", HEADS.c.record_id.in_(wanted[start : start + 500])
            )
        ):
            found[record_id] = consultation_attributes(json.loads(body))
    return found


_NO_CONSULTATION = dict.fromkeys(CONSULTATION_FIELDS)


def rows_of(
    record: Mapping[str, Any],
    consultations: Mapping[str, Mapping[str, Any]],
    question_types: Mapping[str, str],
) -> Iterator[tuple[Any, ...]]:
    """The read-model rows of one valid submission record, in :data:`COLUMNS` order."""
    people = record.get("demographics") or {}
    place = consultations.get(record["consultation"], _NO_CONSULTATION)
    shared = (
        record["consultation"],
        place["programme"],
        place["governorate"],
        place["district"],
        place["consultation_kind"],
        place["held_on"],
        record["created_at"],
        record["language"],
        record["channel"],
        people.get("gender"),
        people.get("age_band"),
        people.get("group"),
    )
    submission, created = record["uuid"], record["created_at"]
    for question, answer in record["answers"].items():
        yield (
            contribution_key(created, submission, question),
            submission,
            question,
            *shared,
            *answer_columns(answer, question_types.get(question)),
            "received",
            None,
            None,
        )


def _writer(connection: Connection) -> Any:
    """Insert-if-absent of rows, straight to the driver on SQLite (as the merge does)."""
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" * len(COLUMNS))
        sql = (
            f"INSERT INTO contribution ({', '.join(COLUMNS)}) VALUES ({marks}) "  # noqa: S608
            "ON CONFLICT DO NOTHING"
        )

        def write_sqlite(rows: list[tuple[Any, ...]]) -> None:
            connection.exec_driver_sql(sql, rows)

        return write_sqlite
    from sqlalchemy.dialects import postgresql

    statement = postgresql.insert(TABLE).on_conflict_do_nothing()

    def write_other(rows: list[tuple[Any, ...]]) -> None:
        connection.execute(statement, [dict(zip(COLUMNS, row, strict=True)) for row in rows])

    return write_other


class Indexer:
    """Adds the rows of submissions as they are stored, in batches (one per merge or submit)."""

    def __init__(self, connection: Connection | None = None) -> None:
        self.connection = _connection(connection)
        self.write = _writer(self.connection)
        self.consultations: dict[str, dict[str, Any]] = {}
        self.question_types: dict[str, str] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.submissions: set[str] = set()
        self.by_consultation: set[str] = set()

    def add(self, record: Mapping[str, Any]) -> None:
        """Queue the rows of one submission record (already checked)."""
        consultation = record["consultation"]
        if consultation not in self.by_consultation:
            self.by_consultation.add(consultation)
            self.consultations.update(_consultations(self.connection, [consultation]))
            self.question_types.update(_question_types(self.connection, [consultation]))
        self.submissions.add(record["uuid"])
        self.rows.extend(rows_of(record, self.consultations, self.question_types))
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the queued rows."""
        if self.rows:
            self.rows.sort()
            self.write(self.rows)
            self.rows = []

    def finish(self) -> None:
        """Write what is left, then apply reviews and codings that arrived before their
        submissions (a crafted or partial file; an office's export carries both)."""
        self.flush()
        if not self.submissions:
            return
        waiting = _heads_of(self.connection, ("review", "coding"), self.by_consultation)
        codes = _code_map(self.connection) if waiting else {}
        for head in waiting:
            subject = _subject(self.connection, head)
            if subject is not None and subject[0] in self.submissions:
                _apply(self.connection, head, codes)


def index_submissions(
    records: Iterable[Mapping[str, Any]], connection: Connection | None = None
) -> None:
    """Add the read-model rows of new submission records (inside their transaction)."""
    indexer = Indexer(connection)
    for record in records:
        indexer.add(record)
    indexer.finish()


def _heads_of(
    connection: Connection, kinds: Sequence[str], consultations: Iterable[str] | None = None
) -> list[Any]:
    query = select(HEADS.c.record_id, HEADS.c.kind, HEADS.c.deleted, HEADS.c.body).where(
        HEADS.c.kind.in_(kinds)
    )
    if consultations is None:
        return list(connection.execute(query.order_by(HEADS.c.record_id)))
    found: list[Any] = []
    wanted = sorted(set(consultations))
    for start in range(0, len(wanted), 500):
        found += connection.execute(
            query.where(HEADS.c.consultation_id.in_(wanted[start : start + 500]))
        )
    return found


def _code_map(connection: Connection) -> dict[str, str | None]:
    """Each code id to the code its codings count for: itself, the code it was merged into
    (followed to the end), or None for a deleted code."""
    merged: dict[str, str | None] = {}
    for record_id, deleted, body in connection.execute(
        select(HEADS.c.record_id, HEADS.c.deleted, HEADS.c.body).where(HEADS.c.kind == "code")
    ):
        merged[record_id] = None if deleted else (json.loads(body).get("merged_into") or record_id)
    final: dict[str, str | None] = {}
    for code in merged:
        seen = {code}
        target = merged[code]
        while target is not None and target in merged and merged[target] != target:
            if target in seen:  # a cycle (two offices merged A into B and B into A): stop
                break
            seen.add(target)
            target = merged[target]
        final[code] = target if target is None or target in merged else None
    return final


def _subject(connection: Connection, head: Any) -> tuple[str, str] | None:
    """The (submission, question) a review or coding record is about."""
    body = json.loads(head.body)
    if "submission" in body:
        return body["submission"], body["question"]
    # A deleted record's body has no subject: take it from any version that had one.
    for text in connection.execute(
        select(RecordVersion.body).where(
            RecordVersion.record_id == head.record_id, RecordVersion.deleted.is_(False)
        )
    ).scalars():
        earlier = json.loads(text)
        if "submission" in earlier:
            return earlier["submission"], earlier["question"]
    return None


def _apply(connection: Connection, head: Any, codes: Mapping[str, str | None]) -> None:
    """Bring the contribution of one review or coding record in step with its winner."""
    subject = _subject(connection, head)
    if subject is None:
        return
    where = (TABLE.c.submission_uuid == subject[0]) & (TABLE.c.question_id == subject[1])
    body = {} if head.deleted else json.loads(head.body)
    if head.kind == "review":
        state = body.get("state", "received")
        reason = body.get("reason") if state == "excluded" else None
        connection.execute(update(TABLE).where(where).values(state=state, reason=reason))
        return
    key = connection.execute(select(TABLE.c.key).where(where)).scalar_one_or_none()
    if key is None:
        return
    effective = sorted({c for c in (codes.get(code) for code in body.get("codes", [])) if c})
    connection.execute(
        update(TABLE).where(TABLE.c.key == key).values(codes=" ".join(effective) or None)
    )
    connection.execute(delete(CODES).where(CODES.c.contribution_key == key))
    if effective:
        connection.execute(
            insert(CODES), [{"code_id": code, "contribution_key": key} for code in effective]
        )


def _retype(connection: Connection, question: str, question_type: str) -> None:
    """Rework the answer columns of one question's rows after its type changed."""
    rows = connection.execute(
        select(TABLE.c.key, TABLE.c.text, TABLE.c.value).where(TABLE.c.question_id == question)
    ).all()
    for key, text, value in rows:
        answer = text if text is not None else json.loads(value)
        columns = dict(
            zip(
                ("text", "value", "search_key", "dup_key"),
                answer_columns(answer, question_type),
                strict=True,
            )
        )
        connection.execute(update(TABLE).where(TABLE.c.key == key).values(**columns))


def heads_changed(heads: Iterable[RecordHead], retyped: Mapping[str, str] | None = None) -> None:
    """Follow records whose winner was just recomputed (inside the same transaction).

    ``retyped`` names questions whose type changed (question id: new type); their answers'
    rows are reworked (rare: a question's type is chosen before people answer).
    """
    if retyped:
        for question, question_type in retyped.items():
            _retype(db.session.connection(), question, question_type)
    by_kind: dict[str, list[RecordHead]] = {}
    for head in heads:
        by_kind.setdefault(head.kind, []).append(head)
    if not by_kind.keys() & {"consultation", "review", "coding", "code"}:
        return
    connection = db.session.connection()
    for head in by_kind.get("consultation", []):
        body = {} if head.deleted else json.loads(head.body)
        connection.execute(
            update(TABLE)
            .where(TABLE.c.consultation_id == head.record_id)
            .values(**consultation_attributes(body))
        )
    for head in by_kind.get("review", []):
        _apply(connection, head, {})
    if "code" in by_kind:  # a merge or deletion of a code changes many codings: all again
        codings: Iterable[Any] = _heads_of(connection, ("coding",))
    else:
        codings = by_kind.get("coding", [])
    codes = _code_map(connection) if codings else {}
    for head in codings:
        _apply(connection, head, codes)


def rebuild_on(connection: Connection) -> dict[str, int]:
    """Empty the read model and fill it again from the submissions and records held."""
    connection.execute(delete(CODES))
    connection.execute(delete(TABLE))
    consultations = _consultations(
        connection,
        connection.execute(
            select(HEADS.c.record_id).where(HEADS.c.kind == "consultation")
        ).scalars(),
    )
    question_types = _question_types(connection)
    write = _writer(connection)
    rows: list[tuple[Any, ...]] = []
    count = 0
    last = ""
    submissions = Submission.__table__
    while True:  # in pages of the primary key: memory stays flat at 200,000 submissions
        page = connection.execute(
            select(submissions.c.uuid, submissions.c.body)
            .where(submissions.c.uuid > last)
            .order_by(submissions.c.uuid)
            .limit(BATCH)
        ).all()
        if not page:
            break
        last = page[-1].uuid
        for _uuid, body in page:
            rows.extend(rows_of(json.loads(body), consultations, question_types))
            count += 1
        rows.sort()
        write(rows)
        rows = []
    codes = _code_map(connection)
    heads = _heads_of(connection, ("review", "coding"))
    for head in heads:
        _apply(connection, head, codes)
    answers = connection.execute(select(func.count()).select_from(TABLE)).scalar_one()
    return {"submissions": count, "contributions": int(answers), "reviews_and_codings": len(heads)}


def rebuild() -> dict[str, int]:
    """:func:`rebuild_on` in one write transaction of the app's database."""
    from ..database import writing

    with writing():
        return rebuild_on(db.session.connection())


def snapshot(connection: Connection | None = None) -> list[tuple[Any, ...]]:
    """Every row of the read model, sorted: equal for equal data (the rebuild test uses it)."""
    connection = _connection(connection)
    rows = [tuple(r) for r in connection.execute(select(TABLE).order_by(TABLE.c.key))]
    rows += [("code", *r) for r in connection.execute(select(CODES).order_by(*CODES.c))]
    return rows


__all__ = [
    "COLUMNS",
    "Indexer",
    "contribution_key",
    "dup_key",
    "heads_changed",
    "index_submissions",
    "rebuild",
    "rebuild_on",
    "rows_of",
    "snapshot",
]
