"""Database engine settings and the one way to write: :func:`writing`.

SQLite is the embedded default on a facilitator's laptop. Every pooled connection gets WAL,
``synchronous=FULL``, foreign keys, a busy timeout and ``secure_delete``, so an acknowledged write
survives a power cut and deleted text does not linger in free pages. Writers open their
transaction with ``BEGIN IMMEDIATE``: a deferred ``BEGIN`` that reads first and then writes cannot
wait for the lock in WAL mode and fails with "database is locked" under load (measured in
SECURITY.md: 476-578 of 600 lost). Readers keep a plain deferred ``BEGIN`` so they never queue
behind a writer.

On PostgreSQL none of the SQLite settings apply and ``writing`` is an ordinary transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session

from .extensions import db

BUSY_TIMEOUT_MS = 10_000

SQLITE_PRAGMAS: dict[str, str | int] = {
    "journal_mode": "wal",
    "synchronous": "FULL",
    "foreign_keys": "ON",
    "busy_timeout": BUSY_TIMEOUT_MS,
    "secure_delete": "ON",
    # 32 MiB page cache (SQLite's default is 2 MiB): merging 10^5 submissions into random
    # places of the primary-key index otherwise re-reads pages from disk.
    "cache_size": -32768,
}

_write_intent: ContextVar[bool] = ContextVar("fieldapp_write_intent", default=False)


class WriteOutsideTransaction(RuntimeError):
    """A session tried to write without :func:`writing`: a programming error, never user input."""


def configure_engine(engine: Engine) -> None:
    """Attach the connection settings and the transaction rule to ``engine``."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for name, value in SQLITE_PRAGMAS.items():
                cursor.execute(f"PRAGMA {name} = {value}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def _guard(session: Session, _context: Any, _instances: Any) -> None:
    """Refuse a flush outside :func:`writing`."""
    if not _write_intent.get():
        raise WriteOutsideTransaction("database writes must run inside fieldapp.database.writing()")


def _guard_statements(state: ORMExecuteState) -> None:
    """Refuse an UPDATE, INSERT or DELETE statement run outside :func:`writing`."""
    if (state.is_update or state.is_delete or state.is_insert) and not _write_intent.get():
        raise WriteOutsideTransaction("database writes must run inside fieldapp.database.writing()")


def install_write_guard() -> None:
    """Refuse any write that is not inside :func:`writing`, so none can skip the lock rule."""
    if not event.contains(Session, "before_flush", _guard):
        event.listen(Session, "before_flush", _guard)
    if not event.contains(Session, "do_orm_execute", _guard_statements):
        event.listen(Session, "do_orm_execute", _guard_statements)


@contextmanager
def writing() -> Iterator[Session]:
    """Run one read-then-write unit of work and commit it, or roll it back on any error.

    Any read transaction still open on the session is closed first, so the new transaction starts
    with ``BEGIN IMMEDIATE`` and holds the write lock from its first read. Nested calls join the
    outer unit of work.
    """
    session: Session = db.session()
    if _write_intent.get():
        yield session
        return
    if session.new or session.dirty or session.deleted:
        raise WriteOutsideTransaction("changes were made to the session outside writing()")
    session.rollback()
    token = _write_intent.set(True)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        _write_intent.reset(token)
