"""Copying what can still be read out of a damaged database into a new installation (D-05).

``fieldapp --instance NEW recover DAMAGED`` builds a new installation in the empty (or new)
folder NEW from the installation folder DAMAGED, whose database file start-up found damaged:

- the secret key and the ``keys/`` folder are copied (the device identity goes with them); the
  settings file is written as ``config.py.restored``, as a restore does (:mod:`.backup`);
- a new database gets the damaged file's schema revision from the migrations, every table is
  copied into it row by row, and it is then migrated to this version of fieldapp;
- the damaged file is only ever read: a ``mode=ro`` URI and ``PRAGMA query_only``.

Reading a table: in rowid order, in batches. A damaged b-tree page raises
``sqlite3.DatabaseError`` ("database disk image is malformed") when a read reaches it; the rows
read before it are kept, and the first rowid a read can start after again is found by
exponential search and bisection on rowid ranges (a few dozen one-row reads), so only the rows
of the damaged pages are lost. The rowids in the skipped range are then tried one by one (a
damaged cell on a sound page loses that row only). How many rows were lost is known from the
table's indexes, which live on other pages and hold every row's rowid; a table without a
readable index reports an unknown number.

The Contributions read model (``contribution``, ``contribution_code``) is not copied: it is
derived from the submissions and records, and is rebuilt at the end, as
``fieldapp db rebuild-index`` does.

The recovered installation has the device identity of the damaged one. Its exports continue
above the highest export number the damaged file still shows, plus the jump and random part a
restore adds (:data:`.backup.EXPORT_SEQ_JUMP`): a number the damaged laptop used, in a record
that was lost, or a copy of that laptop restored elsewhere, is then never used again.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .. import config as cfg
from ..config import CONFIG_FILE, DATABASE_FILE, InstanceError, sqlite_uri
from . import backup
from .errors import FieldappError
from .health import open_read_only, sqlite_file

# Rows read per query while a table reads cleanly.
BATCH = 500
# Tables derived from the others, rebuilt at the end instead of copied (contributions.rebuild).
DERIVED = frozenset({"contribution", "contribution_code"})
# Kept from the new database's migrations, never copied (the schema's own bookkeeping).
NOT_COPIED = frozenset({"alembic_version"})
# The largest skipped rowid range whose every rowid is tried one by one when the table has no
# readable index (with an index, only the rowids it lists are tried).
MAX_SINGLE_TRIES = 4096
MAX_ROWID = 2**63 - 1
MIN_ROWID = -(2**63)
# What the recovery records in the new installation's activity log.
RECOVER_ACTION = "recover.done"


class RecoverRefused(FieldappError):
    """A recovery was refused or failed; ``message`` says why and what to do."""


@dataclass
class TableResult:
    """What happened to one table: rows copied, rows lost (None: unknown), or why it was not."""

    name: str
    copied: int = 0
    lost: int | None = 0
    skipped: str | None = None  # "rebuilt" (derived) or "unknown" (not in this schema)

    @property
    def damaged(self) -> bool:
        """True when some of the table could not be read."""
        return self.lost is None or self.lost > 0


@dataclass
class RecoverResult:
    """What was recovered into ``path``."""

    path: str
    source: str
    device_id: str | None
    export_seq_floor: int
    tables: list[TableResult] = field(default_factory=list)
    rebuilt: dict[str, int] = field(default_factory=dict)
    settings_file: str | None = None

    @property
    def complete(self) -> bool:
        """True when every row of every table was copied."""
        return not any(t.damaged for t in self.tables)

    @property
    def rows_copied(self) -> int:
        """Rows copied over all tables."""
        return sum(t.copied for t in self.tables)

    @property
    def rows_lost(self) -> int | None:
        """Rows lost over all tables (None when a table's loss is unknown)."""
        if any(t.lost is None for t in self.tables):
            return None
        return sum(t.lost or 0 for t in self.tables)

    def as_dict(self) -> dict[str, object]:
        """The result as plain data (for --json)."""
        data = asdict(self)
        data.update(complete=self.complete, rows_copied=self.rows_copied, rows_lost=self.rows_lost)
        return data


# ---- the damaged installation ---------------------------------------------------------------


def _not_an_installation(source: Path) -> RecoverRefused:
    return RecoverRefused(
        _l(
            "%(path)s is not a fieldapp installation folder: give the instance folder of the "
            "damaged installation (the folder that holds fieldapp.sqlite3).",
            path=str(source),
        )
    )


def source_database(source: Path) -> Path:
    """The SQLite file of the installation in ``source``; refuses anything else.

    The settings are read as fieldapp reads them at start (``config.py``, then ``FIELDAPP_*``
    variables), so an installation on PostgreSQL is recognised as such.
    """
    if not source.is_dir() or not cfg.holds_installation(source):
        raise _not_an_installation(source)
    try:
        settings = {"SQLALCHEMY_DATABASE_URI": sqlite_uri(source)}
        settings.update(cfg.read_instance_config(source))
        settings.update(cfg.environment_overrides(os.environ))
        uri = str(settings["SQLALCHEMY_DATABASE_URI"])
        backend = make_url(cfg.normalise_database_uri(uri)).get_backend_name()
    except InstanceError:
        raise
    except Exception:  # noqa: BLE001 -- an unreadable URL: not an installation we can read
        raise _not_an_installation(source) from None
    if backend != "sqlite":
        raise RecoverRefused(
            _l(
                "This installation keeps its data in PostgreSQL: recovering reads a SQLite "
                "database file only. Repair or restore a PostgreSQL database with PostgreSQL's "
                "own tools (pg_dump, pg_restore)."
            )
        )
    path = sqlite_file(uri)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        raise _not_an_installation(source)
    return path


def _open_source(path: Path) -> sqlite3.Connection:
    """The damaged file, read-only twice over (``mode=ro`` and ``query_only``)."""
    try:
        connection = open_read_only(path)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        raise RecoverRefused(
            _l(
                "The database file is too damaged to read anything from it (its list of tables "
                "cannot be read). Restore your last backup instead."
            )
        ) from None
    return connection


def _quote(name: str) -> str:
    """A quoted SQL name: table and column names come from the file's schema, never as SQL."""
    return '"' + name.replace('"', '""') + '"'


def _tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rootpage"
    ).fetchall()
    return [_text(row[0]) for row in rows]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [_text(row[1]) for row in connection.execute(f"PRAGMA table_info({_quote(table)})")]


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return _text(row[0]) if row else None


# ---- reading one table ----------------------------------------------------------------------


class TableReader:
    """Reads a rowid table of the damaged file around its unreadable pages."""

    def __init__(self, connection: sqlite3.Connection, table: str, columns: list[str]) -> None:
        self.connection = connection
        self.table = _quote(table)
        self.select = ", ".join(["rowid", *(_quote(c) for c in columns)])
        self.name = table

    def _after(self, last: int, limit: int) -> Iterator[tuple[Any, ...]]:
        """Rows with a rowid above ``last``, in rowid order; raises where a read fails."""
        if last >= MAX_ROWID:
            return iter(())
        return iter(
            self.connection.execute(
                f"SELECT {self.select} FROM {self.table} WHERE rowid > ? ORDER BY rowid LIMIT ?",  # noqa: S608
                (last, limit),
            )
        )

    def _readable_after(self, last: int) -> bool:
        """True when a read of the rows above ``last`` gets its first row (or finds none)."""
        try:
            next(self._after(last, 1), None)
        except sqlite3.DatabaseError:
            return False
        return True

    def _resume_point(self, last: int) -> int:
        """The smallest rowid ``x >= last`` after which reading works again (MAX_ROWID: never).

        Exponential search then bisection: about 2 log2(range) one-row reads.
        """
        step = 1
        low = last  # reading after ``low`` fails
        while True:
            probe = min(last + step, MAX_ROWID)
            if self._readable_after(probe):
                high = probe
                break
            low = probe
            if probe >= MAX_ROWID:
                return MAX_ROWID
            step *= 2
        while high - low > 1:
            middle = (low + high) // 2
            if self._readable_after(middle):
                high = middle
            else:
                low = middle
        return high

    def _one(self, rowid: int) -> tuple[Any, ...] | None:
        try:
            return self.connection.execute(
                f"SELECT {self.select} FROM {self.table} WHERE rowid = ?",  # noqa: S608
                (rowid,),
            ).fetchone()
        except sqlite3.DatabaseError:
            return None

    def known_rowids(self) -> set[int] | None:
        """The rowids the table's readable indexes list (None: no index could be read).

        An index is a b-tree of its own, on other pages, and each entry ends with the row's
        rowid: it says which rows existed even where the table's pages are damaged.
        """
        found: set[int] | None = None
        indexes = self.connection.execute(f"PRAGMA index_list({self.table})").fetchall()
        for index in indexes:
            if index[4]:  # a partial index lists only some rows
                continue
            name = _quote(_text(index[1]))
            try:
                query = f"SELECT rowid FROM {self.table} INDEXED BY {name}"  # noqa: S608
                rows = self.connection.execute(query)
                rowids = {int(row[0]) for row in rows}
            except sqlite3.DatabaseError:
                continue  # a damaged index: another may be whole
            found = rowids if found is None else found | rowids
        return found

    def rows(self, result: TableResult) -> Iterator[tuple[Any, ...]]:
        """Every readable row (without its rowid), in rowid order; counts the lost ones."""
        known = self.known_rowids()
        gaps: list[tuple[int, int]] = []  # (after, up to and including) rowid ranges skipped
        copied: set[int] = set()
        last = MIN_ROWID  # (SQLite never gives a row this rowid itself)
        while True:
            count = 0
            try:
                for row in self._after(last, BATCH):
                    count += 1
                    last = int(row[0])
                    copied.add(last)
                    yield row[1:]
            except sqlite3.DatabaseError:
                resume = self._resume_point(last)
                gaps.append((last, resume))
                yield from self._rescue(last, resume, known, copied)
                if resume >= MAX_ROWID:
                    break
                last = resume
                continue
            if count < BATCH:
                break
        if not gaps:
            result.lost = 0
        elif known is None:
            result.lost = None
        else:
            result.lost = len(known - copied)

    def _rescue(
        self, after: int, upto: int, known: set[int] | None, copied: set[int]
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of a skipped range that can be read one by one (a damaged cell, not page)."""
        if known is not None:
            candidates = sorted(r for r in known if after < r <= upto)
        elif upto - after <= MAX_SINGLE_TRIES:
            candidates = list(range(after + 1, upto + 1))
        else:
            candidates = []
        for rowid in candidates:
            row = self._one(rowid)
            if row is not None:
                copied.add(rowid)
                yield row[1:]


def _without_rowid(connection: sqlite3.Connection, table: str) -> bool:
    try:
        connection.execute(f"SELECT rowid FROM {_quote(table)} LIMIT 0")  # noqa: S608
    except sqlite3.OperationalError:
        return True
    return False


def _copy_table(
    source: sqlite3.Connection, target: sqlite3.Connection, table: str, result: TableResult
) -> None:
    """Copy the readable rows of ``table`` into the same table of ``target``."""
    wanted = set(_columns(target, table))
    columns = [c for c in _columns(source, table) if c in wanted]
    names = ", ".join(_quote(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    # Every name is quoted (_quote), every value a parameter.
    insert = f"INSERT OR REPLACE INTO {_quote(table)} ({names}) VALUES ({marks})"  # noqa: S608
    if _without_rowid(source, table):  # none in fieldapp's schema: all or nothing
        try:
            rows = source.execute(
                f"SELECT {', '.join(_quote(c) for c in columns)} FROM {_quote(table)}"  # noqa: S608
            ).fetchall()
        except sqlite3.DatabaseError:
            result.lost = None
            return
        target.executemany(insert, [tuple(_value(v) for v in row) for row in rows])
        result.copied = len(rows)
        return
    batch: list[tuple[Any, ...]] = []
    for row in TableReader(source, table, columns).rows(result):
        batch.append(tuple(_value(v) for v in row))
        result.copied += 1
        if len(batch) >= BATCH:
            target.executemany(insert, batch)
            batch = []
    if batch:
        target.executemany(insert, batch)


def _value(value: Any) -> Any:
    """Text read as bytes back to text (a damaged one keeps its readable characters)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("utf-8", "replace")
    return value


# ---- the new installation -------------------------------------------------------------------


def _copy_files(source: Path, staging: Path) -> str | None:
    """Copy the secret key and the keys/ folder; the settings as config.py.restored."""
    settings = None
    for name, path in backup._instance_files(source):
        target = staging / (backup.RESTORED_SETTINGS if name == CONFIG_FILE else name)
        if name == CONFIG_FILE:
            settings = str(target)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(path.read_bytes())
            out.flush()
            os.fsync(out.fileno())
    cfg.create_secret_key(staging)  # a damaged folder that lost its key gets a new one
    return settings


def _check_empty(target: Path) -> None:
    try:
        backup.check_empty_folder(target)
    except backup.BackupRefused:
        raise RecoverRefused(
            _l(
                "%(path)s is not empty. Give a new folder: recovering never replaces an "
                "installation.",
                path=str(target),
            )
        ) from None


def recover(source: Path, target: Path) -> RecoverResult:
    """Copy what can be read of the installation in ``source`` into the new folder ``target``.

    Everything is built in a private folder beside ``target`` and renamed into place only when
    the new database passes ``integrity_check``. ``source`` is never written.
    """
    source = source.resolve()
    target = target.resolve()
    if backup.inside(target, source) or backup.inside(source, target):
        raise RecoverRefused(
            _l("Give a new folder outside the damaged installation's folder to recover into.")
        )
    _check_empty(target)
    database = source_database(source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = backup.private_tempdir(target.parent)
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    try:
        result = _build(source, database, staging)
        _check_empty(target)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _cannot_write(target, exc) from None
    except (sqlite3.Error, SQLAlchemyError, ValueError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RecoverRefused(
            _l(
                "The recovery stopped and nothing was kept: %(reason)s. Restore your last "
                "backup instead, and ask for support.",
                reason=str(exc)[:200] or type(exc).__name__,
            )
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.path = str(target)
    if result.settings_file:
        result.settings_file = str(target / backup.RESTORED_SETTINGS)
    return result


def _cannot_write(target: Path, exc: OSError) -> RecoverRefused:
    return RecoverRefused(
        _l(
            "Nothing could be written into %(path)s: %(reason)s",
            path=str(target),
            reason=exc.strerror or type(exc).__name__,
        )
    )


def _build(source: Path, database: Path, staging: Path) -> RecoverResult:
    """Fill ``staging`` with the new installation; return what was copied and lost."""
    from flask_migrate import upgrade

    from .. import MIGRATIONS_DIR, create_app
    from ..extensions import db
    from ..startup import upgrade_database

    settings = _copy_files(source, staging)
    reader = _open_source(database)
    try:
        revision = _revision(reader)
        try:
            backup.check_schema_revision(revision)
        except backup.BackupRefused:
            raise RecoverRefused(
                _l(
                    "This database was written by a newer version of fieldapp: update fieldapp "
                    "first, then recover."
                )
            ) from None
        # The URL is given explicitly: neither config.py nor FIELDAPP_DATABASE_URL can point
        # the new installation elsewhere.
        app = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_uri(staging)}, instance_path=staging)
        with app.app_context():
            # The damaged file's own schema first, so that its rows fit; newer migrations after.
            upgrade(directory=MIGRATIONS_DIR, revision=revision or "head")
            db.session.remove()
            db.engine.dispose()
        tables = _copy_tables(reader, staging / DATABASE_FILE)
    finally:
        reader.close()
    try:
        upgrade_database(app)
        with app.app_context():
            rebuilt, floor, device_id = _finish(tables)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    _check_integrity(staging / DATABASE_FILE)
    return RecoverResult(
        str(staging), str(source), device_id, floor, tables, rebuilt, settings_file=settings
    )


def _copy_tables(reader: sqlite3.Connection, new_database: Path) -> list[TableResult]:
    target = sqlite3.connect(new_database, isolation_level=None)
    try:
        new_tables = set(_tables(target))
        results: list[TableResult] = []
        target.execute("BEGIN IMMEDIATE")
        for table in _tables(reader):
            if table in NOT_COPIED:
                continue
            result = TableResult(table)
            results.append(result)
            if table in DERIVED:
                result.skipped = "rebuilt"
            elif table not in new_tables:
                result.skipped = "unknown"
            else:
                _copy_table(reader, target, table, result)
        target.execute("COMMIT")
        return results
    finally:
        target.close()


def _finish(tables: list[TableResult]) -> tuple[dict[str, int], int, str | None]:
    """Rebuild the read model, record the recovery and the export number to continue from."""
    from sqlalchemy import func, select

    from ..database import writing
    from ..extensions import db
    from ..models import BundleExport
    from . import activity, contributions
    from .sync import keys

    rebuilt = contributions.rebuild()
    last = db.session.execute(select(func.max(BundleExport.export_seq))).scalar() or 0
    # Bookkeeping tables name export numbers too: a lost bundle_export row must not lower it.
    for sql in (
        "SELECT max(export_seq) FROM export_manifest",
        "SELECT max(export_seq) FROM exported_submission",
    ):
        last = max(last, db.session.execute(db.text(sql)).scalar() or 0)
    earlier = backup.export_seq_floor()
    jump = backup.EXPORT_SEQ_JUMP + secrets.randbelow(backup.EXPORT_SEQ_RANDOM)
    floor = max(last, earlier) + jump
    lost = [t.name for t in tables if t.damaged]
    with writing():
        activity.recover_done(
            {
                "last_export_seq": int(last),
                "export_seq_floor": int(floor),
                "tables_damaged": lost[:20],
            }
        )
    device = keys.self_device()
    return rebuilt, int(floor), device.device_id if device else None


def _check_integrity(path: Path) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        sound = connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        connection.close()
    if not sound:
        raise RecoverRefused(
            _l(
                "The new database did not pass its integrity check, so nothing was kept. "
                "Restore your last backup instead, and ask for support."
            )
        )
