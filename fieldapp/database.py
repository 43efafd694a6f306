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
once. Between processes (the facilitator's pages and the phones' listener, the command line)
no lock of Python's can hand over, so ``BEGIN IMMEDIATE`` is not left to SQLite's busy handler
either: it is tried with ``busy_timeout`` 0 and tried again after a short pause (0.1 ms growing
to 1 ms, with jitter) until the same overall deadline, :data:`BUSY_TIMEOUT_MS`. A writer thus
waits at most about a millisecond beyond the moment the other process lets go of the lock.
Every wait is counted per process (:func:`write_wait_stats`); ``bench/write_wait.py`` compares
both ways in one run. Reads and checkpoints keep SQLite's busy timeout.

On PostgreSQL none of the SQLite settings apply and ``writing`` is an ordinary transaction.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import random
import sqlite3
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url
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

# How a writer waits while another process holds SQLite's write lock: "poll" tries BEGIN
# IMMEDIATE again after short pauses (what ships); "sqlite" sleeps in SQLite's busy handler (the
# old way, kept so that bench/write_wait.py measures both in one run).
WRITE_LOCK_WAIT: Literal["poll", "sqlite"] = "poll"
# The pause before the n-th new try: 0.1 ms doubling to at most 1 ms, plus up to half of it at
# random so that two waiting processes do not try in step. A try costs a few microseconds.
FIRST_PAUSE_S = 0.0001
LONGEST_PAUSE_S = 0.001
SQLITE_BUSY = 5
SQLITE_BUSY_SNAPSHOT = 517
STALE_SNAPSHOT_TRIES = 20


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
    def _on_begin(connection: Connection) -> None:
        if _write_intent.get():
            _begin_immediate(connection)
        else:
            connection.exec_driver_sql("BEGIN")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    """True for "database is locked" (SQLITE_BUSY and its extended codes)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == SQLITE_BUSY)
    return "database is locked" in str(error)


def _pause(tries: int) -> float:
    """Seconds to wait before the next try of BEGIN IMMEDIATE, after ``tries`` busy ones."""
    pause = min(LONGEST_PAUSE_S, FIRST_PAUSE_S * 2 ** min(tries - 1, 10))
    return pause * (1 + random.random() / 2)  # noqa: S311 -- jitter, not a secret


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock, waiting for another process at most :data:`BUSY_TIMEOUT_MS`.

    With ``busy_timeout`` 0 a busy BEGIN IMMEDIATE fails at once instead of sleeping in
    SQLite's busy handler; it is tried again after :func:`_pause`. The first try goes through
    SQLAlchemy (its events and logging see the statement, as for every other), the quick tries
    after it straight to the driver, and the last one, at the deadline, through SQLAlchemy
    again so that it fails with the usual "database is locked".
    """
    started = time.perf_counter()
    if WRITE_LOCK_WAIT == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        _waits.add(time.perf_counter() - started, 0)
        return
    raw: Any = connection.connection.driver_connection  # the sqlite3 connection
    cursor = raw.cursor()
    tries = 0
    cursor.execute("PRAGMA busy_timeout = 0").fetchall()
    try:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except exc.OperationalError as error:
            if not (isinstance(error.orig, sqlite3.OperationalError) and _is_busy(error.orig)):
                raise
            # The error's frames hold SQLAlchemy's execution context, cursors included, in a
            # reference cycle; a result left unread in one kept an old read snapshot open on
            # this connection until the garbage collector ran, and every try failed meanwhile
            # (SQLITE_BUSY_SNAPSHOT; a two-process benchmark saw writers fail after 10 s).
            traceback.clear_frames(error.__traceback__)
            tries = _wait_for_write_lock(connection, cursor, started + BUSY_TIMEOUT_MS / 1000)
    finally:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}").fetchall()
        cursor.close()
    _waits.add(time.perf_counter() - started, tries)


def _wait_for_write_lock(connection: Connection, cursor: Any, deadline: float) -> int:
    """Try BEGIN IMMEDIATE on ``cursor`` after short pauses until it succeeds or ``deadline``
    passes; the number of busy tries (the first one, made before, included)."""
    tries, stale = 1, 0
    while True:
        time.sleep(_pause(tries))
        if time.perf_counter() >= deadline:
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # "database is locked", or the lock
            return tries
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            tries += 1
            # Busy on a snapshot this connection should not hold (no transaction is open): a
            # result left unread in a reference cycle elsewhere keeps it. Free such garbage
            # once instead of failing at the deadline.
            stale = stale + 1 if error.sqlite_errorcode == SQLITE_BUSY_SNAPSHOT else 0
            if stale == STALE_SNAPSHOT_TRIES:
                gc.collect()
        else:
            return tries


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


class _WriteWaits:
    """This process's latest waits for the write lock (a bounded ring): write_wait_stats()."""

    SIZE = 8192

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: deque[float] = deque(maxlen=self.SIZE)
        self.count = 0
        self.contended = 0  # waits that found the lock taken by another process at least once
        self.longest = 0.0

    def add(self, seconds: float, busy_tries: int) -> None:
        """Count one wait for the write lock."""
        with self.lock:
            self.seconds.append(seconds)
            self.count += 1
            self.contended += busy_tries > 0
            self.longest = max(self.longest, seconds)

    def clear(self) -> None:
        """Forget every wait counted so far (a benchmark's new round)."""
        with self.lock:
            self.seconds.clear()
            self.count = self.contended = 0
            self.longest = 0.0


_waits = _WriteWaits()


def _percentile(ordered: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``ordered`` lies (nearest rank)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def write_wait_stats() -> dict[str, Any]:
    """How long this process's writers waited for SQLite's write lock (BEGIN IMMEDIATE).

    ``count`` and ``contended`` (waits that met another process's lock) since the start or
    the last :func:`clear_write_waits`, ``max_ms`` over them, and ``p50_ms``/``p99_ms`` over the
    latest 8,192. The wait for the other writers of this process (their own queue) is not in
    it: that is the time their units of work take, not time lost sleeping.
    """
    with _waits.lock:
        ordered = sorted(_waits.seconds)
        count, contended, longest = _waits.count, _waits.contended, _waits.longest
    return {
        "count": count,
        "contended": contended,
        "p50_ms": round(_percentile(ordered, 0.50) * 1000, 3),
        "p99_ms": round(_percentile(ordered, 0.99) * 1000, 3),
        "max_ms": round(longest * 1000, 3),
        "way": WRITE_LOCK_WAIT,
    }


def clear_write_waits() -> None:
    """Start counting write-lock waits afresh."""
    _waits.clear()


WRITE_WAIT_FILE = "write-wait-{role}.json"


def save_write_wait_stats(instance_path: Path, role: str) -> None:
    """Write :func:`write_wait_stats` to ``write-wait-ROLE.json`` in the instance folder.

    Done by each server process when it stops (``facilitator``, ``participants``), so that a
    benchmark can read what the two processes waited without asking either of them over the
    network. A folder that cannot be written to is no reason to fail a clean stop.
    """
    path = instance_path / WRITE_WAIT_FILE.format(role=role)
    report = {"role": role, "pid": os.getpid(), "write_wait": write_wait_stats()}
    try:
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(report, sort_keys=True) + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError:
        logging.getLogger(__name__).warning("could not write %s", path.name)


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


def close_database(wait_for_others: bool = True) -> None:
    """Checkpoint the WAL into the database file, truncate it, and close every pooled
    connection: after a clean shutdown the database is one self-contained file (D-08).

    Without ``wait_for_others`` (the phones' listener stopping while the facilitator's
    process goes on) the checkpoint is made only if nobody reads or writes at that moment:
    waiting for the readers of the process that is stopping this one, perhaps in the very
    request that stops it, would hold that request for the whole busy timeout. The
    facilitator's process checkpoints at its own clean stop.
    """
    if db.engine.dialect.name == "sqlite" and not wait_for_others:
        db.session.remove()
        truncate_log_if_idle()
    elif db.engine.dialect.name == "sqlite":
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
