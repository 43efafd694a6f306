"""Database engine settings and the one way to write: :func:`writing`.

SQLite is the embedded default on a facilitator's laptop. Every pooled connection gets WAL,
``synchronous=FULL``, foreign keys, a busy timeout and ``secure_delete``, so an acknowledged write
survives a power cut and deleted text does not linger in free pages. Writers open their
transaction with ``BEGIN IMMEDIATE``: a deferred ``BEGIN`` that reads first and then writes cannot
wait for the lock in WAL mode and fails with "database is locked" under load (measured in
SECURITY.md: 476-578 of 600 lost). Readers keep a plain deferred ``BEGIN`` so they never queue
behind a writer.

Writers of one process also queue on a lock of their own before asking SQLite: SQLite's busy
handler waits by sleeping (1 ms growing to 100 ms between tries), so under a crowd of phones a
writer could sleep through many free moments and answer seconds late; a lock hands over at
once. Other processes (the command line) still meet SQLite's busy timeout.

On PostgreSQL none of the SQLite settings apply and ``writing`` is an ordinary transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import ORMExecuteState, Session

from .config import N_, InstanceError
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

_CONTENT_CHANGED = "fieldapp_content_changed"


@dataclass
class _Shared:
    """What every app of this process on one database shares (the facilitator's pages and the
    participant listener are two apps on one database file)."""

    key: str  # the database URL: names per-database caches elsewhere
    writers: threading.Lock | None  # SQLite only: writers queue here before asking SQLite
    # Committed units of work that changed records or intake: in-process caches of what
    # participants read compare it with the value they were filled at.
    generation: int = 0
    counting: threading.Lock = field(default_factory=threading.Lock)


_shared_by_key: dict[str, _Shared] = {}
_shared_by_engine: weakref.WeakKeyDictionary[Engine, _Shared] = weakref.WeakKeyDictionary()
_shared_guard = threading.Lock()


def _shared(engine: Engine) -> _Shared:
    """The shared state of ``engine``'s database (worked out once per engine)."""
    state = _shared_by_engine.get(engine)
    if state is None:
        with _shared_guard:
            key = str(engine.url)
            state = _shared_by_key.get(key)
            if state is None:
                writers = threading.Lock() if engine.dialect.name == "sqlite" else None
                state = _shared_by_key[key] = _Shared(key, writers)
            _shared_by_engine[engine] = state
    return state


def database_key() -> str:
    """The current app's database, as a key for caches kept per database in this process."""
    return _shared(db.engine).key


_write_intent: ContextVar[bool] = ContextVar("fieldapp_write_intent", default=False)


class WriteOutsideTransaction(RuntimeError):
    """A session tried to write without :func:`writing`: a programming error, never user input."""


class _RowsNotLogged(logging.Filter):
    """Drop SQLAlchemy's DEBUG lines that print result rows: rows hold what participants said.

    Parameters are hidden by ``hide_parameters``; rows are printed whenever someone turns the
    engine's logger to DEBUG to chase a problem, which must not put answers in a log (W-21).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a result row."""
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


_ROWS_NOT_LOGGED = _RowsNotLogged()


def configure_engine(engine: Engine) -> None:
    """Attach the connection settings and the transaction rule to ``engine``."""
    logging.getLogger("sqlalchemy.engine.Engine").addFilter(_ROWS_NOT_LOGGED)  # added once
    if engine.dialect.name != "sqlite":
        return
    read_only = engine.url.query.get("mode") == "ro"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for name, value in SQLITE_PRAGMAS.items():
                cursor.execute(f"PRAGMA {name} = {value}")
            if read_only:  # a damaged file (services/health.py): no statement may write
                cursor.execute("PRAGMA query_only = 1")
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
    shared = _shared(db.engine)
    queue = shared.writers
    # After the busy timeout, go on and let SQLite's own timeout decide (never wait forever).
    queued = queue.acquire(timeout=BUSY_TIMEOUT_MS / 1000) if queue is not None else False
    token = _write_intent.set(True)
    try:
        yield session
        session.commit()
        if session.info.pop(_CONTENT_CHANGED, False):
            with shared.counting:  # PostgreSQL writers do not queue: count under a lock
                shared.generation += 1
    except BaseException:
        session.info.pop(_CONTENT_CHANGED, None)
        session.rollback()
        raise
    finally:
        _write_intent.reset(token)
        if queue is not None and queued:
            queue.release()


def truncate_log_if_idle() -> bool:
    """Copy the write-ahead log into the database file and truncate it, if nobody is reading
    or writing at this moment; never waits. True when done (and on PostgreSQL).

    With ``secure_delete`` a deleted row is zeroed in the database file at once, but the
    pages that held it stay in the WAL until a checkpoint: a participant's abandoned answers
    would be readable there on a laptop seized while the app runs (D-07). Under a crowd the
    checkpoint is simply skipped (busy) and a later one, or the clean stop, does it.
    """
    if db.engine.dialect.name != "sqlite":
        return True
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError:  # "database is locked": a writer is at work
            busy = 1
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.close()
    finally:
        connection.close()
    return not busy


def close_database() -> None:
    """Checkpoint the WAL into the database file, truncate it, and close every pooled
    connection: after a clean shutdown the database is one self-contained file (D-08)."""
    if db.engine.dialect.name == "sqlite":
        db.session.remove()
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            connection.close()
    db.engine.dispose()


def content_changed() -> None:
    """Say, inside :func:`writing`, that this unit of work changes records or intake.

    Once it commits, :func:`content_generation` moves on and caches filled before are stale.
    """
    db.session().info[_CONTENT_CHANGED] = True


def content_generation() -> int:
    """The number of committed changes to records or intake of this process's database."""
    return _shared(db.engine).generation


def describe_database(uri: str) -> str:
    """The database a URL names, as it may be shown: the password replaced by ``***``."""
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "?"  # an unparsable URL may hold a password anywhere: show none of it


def check_database_url(uri: str) -> None:
    """Refuse, before any engine is made, a database URL that is unreadable or whose driver
    is not installed (InstanceError naming the database without its password)."""
    shown = describe_database(uri)
    try:
        dialect = make_url(uri).get_dialect()
    except (exc.ArgumentError, exc.NoSuchModuleError) as error:
        raise InstanceError(
            N_("The database address %(database)s is not valid: %(error)s"),
            database=shown,
            error=str(error).splitlines()[0] if str(error) else type(error).__name__,
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise InstanceError(
            N_(
                "The database %(database)s needs the Python module %(module)s, which is not "
                'installed. For PostgreSQL install fieldapp with: pip install -e ".[postgres]"'
            ),
            database=shown,
            module=error.name or str(error),
        ) from None


def connection_errors() -> tuple[type[Exception], ...]:
    """The errors a database raises when it cannot be reached or opened."""
    return (exc.OperationalError, exc.InterfaceError)


def database_unreachable(uri: str, error: Exception) -> InstanceError:
    """A readable error for a database that could not be reached (server down, no such
    database, refused login, unwritable file), naming it without its password."""
    reason = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(reason).splitlines() if line.strip()]
    return InstanceError(
        N_("The database %(database)s cannot be opened: %(error)s"),
        database=describe_database(uri),
        error=lines[0] if lines else type(reason).__name__,
    )
