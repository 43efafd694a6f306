"""Private work folders inside the instance folder (``instance/tmp/``), and their clean-up.

A backup holds the whole database and the keys in clear while it is packed and encrypted; a
restore holds them while it is unpacked. That work happens in a 0700 folder under
``instance/tmp/`` (itself 0700), never in the system temp folder, so a power cut in the middle
leaves the clear copy where the live database already is, not in a folder other programs
share. Each work folder holds a lock file while it is in use; :func:`remove_leftovers` (run at
every start and before a purge) removes the folders whose lock no one holds any more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

WORK_DIR = "tmp"
PREFIX = "work-"
LOCK_FILE = ".in-use"
# A folder without its lock file is one whose process died between making it and locking it
# (or is doing that right now): only removed once it is this old.
UNLOCKED_GRACE = 600.0


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        path.chmod(0o700)


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when another process holds it."""
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def work_folder(instance_path: Path) -> Iterator[Path]:
    """A new 0700 folder under ``instance_path/tmp``, locked while in use, removed after."""
    base = instance_path / WORK_DIR
    _private_dir(base)
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _try_lock(fd)
        yield folder
    finally:
        os.close(fd)  # Windows cannot remove an open file
        shutil.rmtree(folder, ignore_errors=True)


def remove_leftovers(instance_path: Path) -> int:
    """Remove the work folders under ``instance_path/tmp`` that no running fieldapp uses.

    Returns how many were removed. Never raises for a folder it cannot read or remove.
    """
    base = instance_path / WORK_DIR
    try:
        entries = list(base.iterdir())
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        if not entry.name.startswith(PREFIX) or entry.is_symlink() or not entry.is_dir():
            continue
        if _unused(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed += not entry.exists()
    return removed


def _unused(folder: Path) -> bool:
    """True when no process holds ``folder``'s lock (or it never got one and is old)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > UNLOCKED_GRACE
        except OSError:
            return False
    except OSError:
        return False
    try:
        return _try_lock(fd)
    finally:
        os.close(fd)
