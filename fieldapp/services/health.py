"""The start-up check of the database file (SECURITY.md D-05), and what a damaged file means.

``PRAGMA quick_check`` runs on the SQLite file before the app's engine exists. If the file is
damaged, the app opens it read-only (an ``mode=ro`` URI and ``PRAGMA query_only``): a write into
a damaged b-tree can spread the damage to pages that were still good, and the file is the
evidence a support person needs. Every page then shows what happened and what to do (first:
copy what can still be read into a new folder with ``fieldapp recover``, services/recover.py;
or restore the last backup), and the commands that write refuse with exit code 2.

The check is a read of every page, linear in the file's size: measured on this workplace's
machine, 1.0 s for the 1.1 GB database of a head office with 200,000 submissions when the file
is in the operating system's cache, 9.9 s straight after a reboot; a laptop's file of a few MB
takes milliseconds. Every process that opens the installation pays it once (each ``fieldapp``
command, the server at start); ``STARTUP_QUICK_CHECK = False`` in the instance's ``config.py``
turns it off where that is too slow for a large head office.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from flask import Flask, render_template, request
from sqlalchemy.engine import make_url

from ..config import N_

# app.config key: the first lines quick_check reported, when the database file is damaged.
DAMAGED = "DATABASE_DAMAGED"
# How many problems quick_check lists at most (one is enough to know; a few help support).
MAX_PROBLEMS = 10

DAMAGED_ADVICE = N_(
    "The database file of this installation is damaged. fieldapp has opened it read-only and "
    "will not change it. Stop entering data on this laptop. Keep the instance folder as it is "
    "(copy it to a USB stick for support). Then copy what can still be read into a new folder "
    "with “fieldapp --instance NEW recover DAMAGED-FOLDER”, start fieldapp from there and "
    "export; or restore your last backup into a new folder with “fieldapp --instance NEW "
    "restore FILE” and start fieldapp from there."
)


def sqlite_file(uri: str) -> Path | None:
    """The file of a SQLite database URL (None for PostgreSQL or an in-memory database)."""
    url = make_url(uri)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    name = url.database
    if name.startswith("file:"):
        name = name[len("file:") :].split("?", 1)[0]
    return Path(name)


def open_read_only(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` that SQLite itself refuses to write with."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None)


def quick_check(path: Path) -> list[str]:
    """The problems ``PRAGMA quick_check`` finds in the file at ``path`` (empty: it is sound).

    The file is opened read-only, so checking never writes into it. A file SQLite cannot read
    at all ("file is not a database") is reported as one problem.
    """
    try:
        connection = open_read_only(path)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = connection.execute(f"PRAGMA quick_check({MAX_PROBLEMS})").fetchall()
    except sqlite3.Error as exc:
        return [str(exc)]
    finally:
        connection.close()
    problems = [str(row[0]) for row in rows]
    return [] if problems == ["ok"] else problems


def read_only_uri(path: Path) -> str:
    """A SQLAlchemy URL that opens ``path`` read-only (SQLite refuses every write on it)."""
    return f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"


def check_at_start(app: Flask) -> None:
    """Check the app's SQLite file before its engine exists; open a damaged one read-only.

    Sets ``app.config[DAMAGED]`` and registers :func:`_damaged_page` for every request, ahead
    of every other hook, so not even a sign-in (which writes a session record) reaches the
    database.
    """
    if not app.config.get("STARTUP_QUICK_CHECK", True):
        return
    path = sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return  # a new installation: nothing to check yet
    problems = quick_check(path)
    if not problems:
        return
    app.config[DAMAGED] = problems
    app.config["SQLALCHEMY_DATABASE_URI"] = read_only_uri(path)
    app.logger.error("database file damaged; opened read-only: %s", problems[0][:200])
    app.before_request(_damaged_page)


def is_damaged(app: Flask) -> bool:
    """True when the start-up check found the database file damaged."""
    return bool(app.config.get(DAMAGED))


STATIC_ENDPOINTS = frozenset({"static", "favicon"})


def _damaged_page() -> tuple[str, int] | None:
    """Every page but static files: what happened and what to do (503, nothing written)."""
    if request.endpoint in STATIC_ENDPOINTS:
        return None
    return render_template("errors/damaged.html"), 503
