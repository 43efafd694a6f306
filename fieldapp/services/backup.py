"""Backups of an installation, and restoring one into a new instance folder (SECURITY.md D-04).

A backup is one age-encrypted zip holding what a restore needs: a snapshot of the database,
the secret key, the settings file and the ``keys/`` folder. The snapshot is made with
``VACUUM INTO`` (a consistent copy of a live database that also leaves out deleted content),
never by copying the live file, into a 0600 file in a 0700 work folder inside the instance
folder (``instance/tmp/``, :mod:`.workdir`; never the system temp folder), and is checked
(``integrity_check`` ok, ``foreign_key_check`` empty) before it is packed. The file is then
written like an export (temp, fsync, rename, folder fsync, read back: ``bundle.write_checked``).

Encryption: with a passphrase the facilitator types (age's scrypt), or, without one, to the
head-office keys registered here, so a backup on a lost stick is as unreadable as an export; such
a backup is restored at head office with its age identity (``--identity``). A head office has
no one to encrypt to but itself and needs a passphrase.

A restore never makes the backup's settings file live: ``config.py`` is Python that runs at
every start, and a backup "to head office's keys" can be made by anyone who has head office's
public key. It is written as ``config.py.restored`` beside the new installation, for a person
to compare and copy from by hand.

A restored laptop has the same device id and signing key as the laptop it was backed up from. If
that laptop still runs, both would number their exports 6, 7, 8... with different content; head
office merges both (merging is a union: nothing is lost) but warns "export numbers reused", its
list of missing exports becomes wrong, and a receipt for "export 7" would acknowledge a file one
of the two never sent. So a restore records, in the restored database's activity log, an export
number to continue from: :data:`EXPORT_SEQ_JUMP` above the backup's last export, plus a random
part below :data:`EXPORT_SEQ_RANDOM`, so that two restores of the same backup (a spare laptop, a
second try) do not number alike either. The laptops' numbers then never meet (unless one makes a
thousand more exports), and head office sees a gap it can explain instead of two different files
under one number.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyrage
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import __version__
from ..config import CONFIG_FILE, DATABASE_FILE, SECRET_KEY_FILE, sqlite_uri
from ..database import writing
from ..extensions import db
from ..models import AuditEvent, DeviceRole
from . import activity
from .errors import FieldappError
from .health import open_read_only, sqlite_file
from .records import utc_stamp
from .sync import keys, strictjson
from .sync.bundle import AGE_MAGIC, HashingWriter, file_sha256, private_tempdir, write_checked
from .workdir import WORK_DIR, work_folder

FORMAT = "fieldapp-backup"
FORMAT_VERSION = 1
SUFFIX = ".fieldbackup"
MANIFEST = "manifest.json"
DATABASE_MEMBER = "database.sqlite3"
# A member's name in the archive: the instance folder's file it restores to.
INSTANCE_MEMBERS = (SECRET_KEY_FILE, CONFIG_FILE)
KEY_MEMBER = re.compile(r"keys/[A-Za-z0-9][A-Za-z0-9._-]{0,80}")
EXPORT_SEQ_JUMP = 1000
# A random amount below this is added to the jump (bundle.MAX_EXPORT_SEQ is 1,000,000).
EXPORT_SEQ_RANDOM = 9000
# The activity-log entries that hold an export number to continue from: a restore's, and a
# recovery's from a damaged database (services/recover.py).
FLOOR_ACTIONS = ("restore.done", "recover.done")
# The backup's settings file is restored under this name, never as the live config.py.
RESTORED_SETTINGS = CONFIG_FILE + ".restored"
# What reading a damaged zip member can raise (zlib for a damaged deflate stream, zipfile's
# NotImplementedError for a compression method it does not know, RuntimeError when encrypted).
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    OSError,
    EOFError,
    ValueError,
)
MIN_PASSPHRASE = 8
MAX_PASSPHRASE = 1024
# Caps for reading a backup (a file encrypted to head office's public key can be made by
# anyone who has that key): the database is at most this large, other members small.
MAX_DATABASE = 8 * 1024**3
MAX_SMALL_MEMBER = 1024 * 1024
MAX_MEMBERS = 50
# pyrage encrypts and decrypts with a passphrase in memory only: such backups are capped.
MAX_PASSPHRASE_BACKUP = 1024**3
MAX_AGE_HEADER = 16 * 1024


class BackupRefused(FieldappError):
    """A backup or restore was refused; ``message`` says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    """What was written."""

    path: str
    sha256: str
    size: int
    encrypted_to: str  # "passphrase" or "headoffice"
    last_export_seq: int

    def as_dict(self) -> dict[str, object]:
        """The result as plain data (for --json)."""
        return asdict(self)


@dataclass(frozen=True)
class RestoreResult:
    """What was restored."""

    path: str
    device_id: str | None
    device_name: str | None
    export_seq_floor: int
    settings_file: str | None = None  # config.py.restored, when the backup held settings

    def as_dict(self) -> dict[str, object]:
        """The result as plain data (for --json)."""
        return asdict(self)


def neutral_name() -> str:
    """A backup file name that reveals no place, date or laptop."""
    return os.urandom(8).hex() + SUFFIX


def check_passphrase(passphrase: str) -> None:
    """Refuse a passphrase too short to protect what a backup holds."""
    if not MIN_PASSPHRASE <= len(passphrase) <= MAX_PASSPHRASE:
        raise BackupRefused(
            _l(
                "The passphrase needs at least %(min)s characters. A few unrelated words make "
                "a good one; write it down and keep it apart from the USB stick.",
                min=MIN_PASSPHRASE,
            )
        )


def _database_path() -> Path:
    """The live SQLite file, or a refusal on PostgreSQL (pg_dump is the tool there)."""
    path = sqlite_file(str(db.engine.url))
    if db.engine.dialect.name != "sqlite" or path is None:
        raise BackupRefused(
            _l(
                "This installation keeps its data in PostgreSQL; back it up with PostgreSQL's "
                "own tool pg_dump (and keep a copy of the instance folder's keys)."
            )
        )
    return path


def _private_file(path: Path) -> None:
    """Create an empty file only its owner can read (VACUUM INTO writes into an empty file)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _snapshot(live: Path, target: Path) -> dict[str, Any]:
    """Copy the live database into ``target`` with VACUUM INTO, check it; return its facts."""
    _private_file(target)
    source = open_read_only(live)
    try:
        source.execute("VACUUM INTO ?", (str(target),))
    finally:
        source.close()
    _fsync(target)  # VACUUM INTO does not sync what it writes
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        sound = copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        if not sound or copy.execute("PRAGMA foreign_key_check").fetchall():
            raise BackupRefused(
                _l(
                    "The database did not pass its integrity check, so no backup was written. "
                    "Stop entering data and ask for support."
                )
            )
        return {
            "last_export_seq": copy.execute("SELECT max(export_seq) FROM bundle_export").fetchone()[
                0
            ]
            or 0,
            "export_seq_floor": _floor(
                row[0]
                for row in copy.execute(
                    "SELECT detail FROM audit_event WHERE action IN ('restore.done', "
                    "'recover.done')"
                )
            ),
            "schema_revision": copy.execute("SELECT version_num FROM alembic_version").fetchone()[
                0
            ],
        }
    finally:
        copy.close()


def _floor(details: Any) -> int:
    """The highest export number restores recorded (0 if this installation was never restored)."""
    floor = 0
    for detail in details:
        try:
            value = json.loads(detail or "{}").get("export_seq_floor", 0)
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int):
            floor = max(floor, value)
    return floor


def export_seq_floor() -> int:
    """The export number this installation continues after, if it was restored from a backup
    or recovered from a damaged database.

    ``export.py`` numbers the next export above both this and its own last export.
    """
    details = db.session.execute(
        select(AuditEvent.detail).where(AuditEvent.action.in_(FLOOR_ACTIONS))
    ).scalars()
    return _floor(details)


def _instance_files(instance_path: Path) -> list[tuple[str, Path]]:
    """The instance folder's files a restore needs, as (member name, file)."""
    found = [(name, instance_path / name) for name in INSTANCE_MEMBERS]
    folder = instance_path / keys.KEY_DIR
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            name = f"{keys.KEY_DIR}/{path.name}"
            # A ".partial" file is a key write that never finished: nothing to restore.
            regular = path.is_file() and not path.is_symlink()
            if regular and KEY_MEMBER.fullmatch(name) and not name.endswith(".partial"):
                found.append((name, path))
    return [(name, path) for name, path in found if path.is_file()]


def _pack(
    snapshot: Path, files: list[tuple[str, Path]], facts: dict[str, Any], zip_path: Path
) -> None:
    """Write the backup's zip: the members, then a manifest of their hashes and lengths."""
    members: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, path in [(DATABASE_MEMBER, snapshot), *files]:
            archive.write(path, name)
            members[name] = {"sha256": file_sha256(path), "length": path.stat().st_size}
        device = keys.self_device()
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": __version__,
            "created_at": utc_stamp(),
            "device": (
                {"id": device.device_id, "name": device.name, "role": device.role.value}
                if device
                else None
            ),
            **facts,
            "members": members,
        }
        archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, sort_keys=True))


def inside(path: Path, folder: Path) -> bool:
    """True when ``path`` (existing or not) is ``folder`` or lies within it, links followed."""
    try:
        resolved, base = path.resolve(), folder.resolve()
    except (OSError, RuntimeError):
        return True  # a path that cannot be resolved is not trusted to lie outside
    return resolved == base or base in resolved.parents


def check_destination(destination: Path, instance_path: Path) -> None:
    """Refuse to write a file into the instance folder or over a file that exists.

    The instance folder holds the live database and the keys: a slip of ``--output`` must not
    replace them. An existing file is never overwritten (a folder gets a new name instead).
    """
    if inside(destination, instance_path):
        raise BackupRefused(
            _l(
                "%(path)s is inside the instance folder, which holds the live database and "
                "keys: write the file to another folder, such as the USB stick.",
                path=str(destination),
            )
        )
    if destination.exists() or destination.is_symlink():
        raise BackupRefused(
            _l(
                "%(path)s already exists and is not replaced: give a new file name, or a "
                "folder (the file then gets a new name).",
                path=str(destination),
            )
        )


def create_backup(instance_path: Path, output: Path, passphrase: str | None = None) -> BackupResult:
    """Write an encrypted backup of this installation to ``output`` (a file or a folder).

    With ``passphrase`` the file opens with it; without, it is encrypted to the head-office
    keys registered here (a field laptop only). The file is checked on disk before this
    returns; the Activity page records it.
    """
    live = _database_path()
    device = keys.self_device()
    recipients: list[str] = []
    if passphrase is not None:
        check_passphrase(passphrase)
    elif device is None or device.role == DeviceRole.HEADOFFICE:
        raise BackupRefused(
            _l(
                "This installation has no head-office key to encrypt a backup to: give a "
                "passphrase (--passphrase-stdin, or the Backup page)."
            )
        )
    else:
        recipients = keys.headoffice_recipients()
        if not recipients:
            raise BackupRefused(
                _l("No head-office key is registered, so the backup could not be encrypted.")
            )
    # A folder (the USB stick) gets a name that says nothing about the laptop or the day.
    destination = output / neutral_name() if output.is_dir() else output
    if not destination.parent.is_dir():
        raise BackupRefused(_l("The folder %(path)s does not exist.", path=str(destination.parent)))
    check_destination(destination, instance_path)
    with work_folder(instance_path) as workdir:
        snapshot = workdir / DATABASE_FILE
        facts = _snapshot(live, snapshot)
        plain = workdir / "backup.zip"
        _pack(snapshot, _instance_files(instance_path), facts, plain)
        failed = _l(
            "The backup file could not be written correctly. Try another disk or USB stick."
        )
        if passphrase is None:
            parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]

            def write(writer: HashingWriter) -> None:
                with plain.open("rb") as source:
                    pyrage.encrypt_io(source, writer, parsed)

        else:
            if plain.stat().st_size > MAX_PASSPHRASE_BACKUP:
                raise BackupRefused(
                    _l(
                        "This installation is too large for a passphrase backup; make the "
                        "backup without a passphrase (to head office's keys)."
                    )
                )
            secret = passphrase

            def write(writer: HashingWriter) -> None:
                writer.write(pyrage.passphrase.encrypt(plain.read_bytes(), secret))

        try:
            sha256, size = write_checked(destination, write, failed)
        except (OSError, pyrage.EncryptError) as exc:
            # pyrage reports a failed write (a full stick) as EncryptError("OSError: ...").
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise BackupRefused(
                _l(
                    "The backup file could not be written to %(path)s: %(reason)s",
                    path=str(destination),
                    reason=reason,
                )
            ) from None
    result = BackupResult(
        str(destination),
        sha256,
        size,
        "passphrase" if passphrase is not None else "headoffice",
        int(facts["last_export_seq"]),
    )
    activity.backup_written(
        {"file": destination.name[:100], "size": size, "encrypted_to": result.encrypted_to}
    )
    return result


# ---- restoring ------------------------------------------------------------------------------


def _not_a_backup() -> BackupRefused:
    return BackupRefused(_l("This file is damaged or is not a fieldapp backup."))


def needs_passphrase(path: Path) -> bool:
    """True for a file encrypted with a passphrase (age's scrypt stanza); refuses non-age files."""
    try:
        with path.open("rb") as fh:
            header = fh.read(MAX_AGE_HEADER)
    except OSError:
        raise BackupRefused(_l("The file %(path)s cannot be read.", path=str(path))) from None
    if not header.startswith(AGE_MAGIC):
        raise _not_a_backup()
    return b"\n-> scrypt " in header


def _decrypt(source: Path, plain: Path, passphrase: str | None, identity_file: Path | None) -> None:
    """Decrypt ``source`` into ``plain`` (a 0600 file in a private folder)."""
    if needs_passphrase(source):
        if passphrase is None:
            raise BackupRefused(
                _l("This backup is protected by a passphrase: give it with --passphrase-stdin.")
            )
        if source.stat().st_size > MAX_PASSPHRASE_BACKUP + MAX_AGE_HEADER:
            raise _not_a_backup()
        try:
            data = pyrage.passphrase.decrypt(source.read_bytes(), passphrase)
        except (pyrage.DecryptError, ValueError):
            raise BackupRefused(
                _l("The passphrase is wrong, or the backup file is damaged.")
            ) from None
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return
    if identity_file is None:
        raise BackupRefused(
            _l(
                "This backup is encrypted to head office's keys: restore it at head office "
                "with --identity and head office's key file."
            )
        )
    try:
        text = identity_file.read_text(encoding="ascii").strip()
        identity = pyrage.x25519.Identity.from_str(text)
    except (OSError, ValueError, UnicodeDecodeError, pyrage.IdentityError):
        raise BackupRefused(
            _l("%(path)s is not a head-office key file (an age identity).", path=str(identity_file))
        ) from None
    fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with source.open("rb") as src, os.fdopen(fd, "wb") as target:
            pyrage.decrypt_io(src, target, [identity])
    except (pyrage.DecryptError, ValueError, OSError):
        plain.unlink(missing_ok=True)  # partial output of a failed decryption (E-07)
        raise BackupRefused(
            _l(
                "This backup cannot be decrypted with this key: it is damaged, or it was made "
                "for another head office."
            )
        ) from None


def _member_target(name: str) -> str | None:
    """The instance-relative path a member restores to, or None for a name no backup holds."""
    if name == DATABASE_MEMBER:
        return DATABASE_FILE
    if name in INSTANCE_MEMBERS or KEY_MEMBER.fullmatch(name):
        return name
    return None


def known_revisions() -> set[str]:
    """The database schema revisions (alembic) this version of fieldapp knows."""
    from alembic.script import ScriptDirectory

    from .. import MIGRATIONS_DIR

    return {script.revision for script in ScriptDirectory(MIGRATIONS_DIR).walk_revisions()}


def check_schema_revision(revision: str | None) -> None:
    """Refuse a database whose schema revision this version does not know (a newer fieldapp's):
    migrating it would fail half way, or worse, "downgrade" nothing and run on a schema it does
    not understand. None (no revision recorded) is left to the migration."""
    if revision is not None and revision not in known_revisions():
        raise BackupRefused(
            _l(
                "This backup was made by a newer version of fieldapp: update fieldapp first, "
                "then restore it."
            )
        )


def _read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    """The checked manifest of an opened backup zip."""
    names = archive.namelist()
    if len(names) != len(set(names)) or len(names) > MAX_MEMBERS or MANIFEST not in names:
        raise _not_a_backup()
    info = archive.getinfo(MANIFEST)
    if info.file_size > MAX_SMALL_MEMBER:
        raise _not_a_backup()
    try:
        manifest = strictjson.loads(archive.read(MANIFEST))
    except ZIP_ERRORS:
        raise _not_a_backup() from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _not_a_backup()
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupRefused(
            _l("This backup was made by another version of fieldapp; update fieldapp first.")
        )
    members = manifest.get("members")
    if not isinstance(members, dict) or set(members) != set(names) - {MANIFEST}:
        raise _not_a_backup()
    if DATABASE_MEMBER not in members or SECRET_KEY_FILE not in members:
        raise _not_a_backup()
    revision = manifest.get("schema_revision")
    if revision is not None and not isinstance(revision, str):
        raise _not_a_backup()
    check_schema_revision(revision)
    for name, entry in members.items():
        if _member_target(name) is None or not isinstance(entry, dict):
            raise _not_a_backup()
        if not isinstance(entry.get("sha256"), str) or type(entry.get("length")) is not int:
            raise _not_a_backup()
    return manifest


def _extract(archive: zipfile.ZipFile, name: str, entry: dict[str, Any], target: Path) -> None:
    """Stream one member to ``target`` (0600), counting real bytes against its declared length."""
    limit = min(entry["length"], MAX_DATABASE if name == DATABASE_MEMBER else MAX_SMALL_MEMBER)
    digest, length = hashlib.sha256(), 0
    target.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        try:
            with archive.open(name) as member:
                while chunk := member.read(1024 * 1024):
                    length += len(chunk)
                    if length > limit:
                        raise _not_a_backup()
                    digest.update(chunk)
                    out.write(chunk)
        except ZIP_ERRORS:
            raise _not_a_backup() from None
        out.flush()
        os.fsync(out.fileno())
    if length != entry["length"] or digest.hexdigest() != entry["sha256"]:
        raise _not_a_backup()


def check_empty_folder(instance_path: Path) -> None:
    """Refuse to restore into a folder that holds anything (an installation is never replaced)."""
    if instance_path.exists() and (not instance_path.is_dir() or any(instance_path.iterdir())):
        raise BackupRefused(
            _l(
                "%(path)s is not empty. Restore into a new folder: a restore never replaces "
                "an installation.",
                path=str(instance_path),
            )
        )


def restore_backup(
    source: Path,
    instance_path: Path,
    passphrase: str | None = None,
    identity_file: Path | None = None,
) -> RestoreResult:
    """Restore the backup ``source`` into the empty (or new) folder ``instance_path``.

    Everything is unpacked and checked in a private folder beside ``instance_path`` and only
    then renamed into place, so a refused or interrupted restore leaves no half installation.
    The restored database is migrated to this version of fieldapp and records the restore
    (with the export number to continue from) in its activity log. The backup's settings file
    is written as ``config.py.restored``, never as the live ``config.py``.
    """
    check_empty_folder(instance_path)
    parent = instance_path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = private_tempdir(parent)
    except OSError as exc:
        raise BackupRefused(
            _l(
                "The backup could not be restored into %(path)s: %(reason)s",
                path=str(instance_path),
                reason=exc.strerror or type(exc).__name__,
            )
        ) from None
    settings = None
    try:
        # The decrypted zip (the whole installation in clear) lives in a work folder inside the
        # new installation, never in the system temp folder; it is gone before the rename.
        with work_folder(staging) as workdir:
            plain = workdir / "backup.zip"
            _decrypt(source, plain, passphrase, identity_file)
            try:
                archive = zipfile.ZipFile(plain)
            except ZIP_ERRORS:
                raise _not_a_backup() from None
            with archive:
                manifest = _read_manifest(archive)
                for name, entry in manifest["members"].items():
                    target = _member_target(name) or ""  # every name was checked above
                    if target == CONFIG_FILE:
                        # Never the live settings file: it is Python that runs at every start,
                        # and a backup to head office's keys can be made by anyone (see above).
                        settings = staging / RESTORED_SETTINGS
                        _extract(archive, name, entry, settings)
                    else:
                        _extract(archive, name, entry, staging / target)
            plain.unlink()
        shutil.rmtree(staging / WORK_DIR, ignore_errors=True)
        floor = _record_restore(staging, manifest)
        check_empty_folder(instance_path)
        if instance_path.exists():
            instance_path.rmdir()
        os.replace(staging, instance_path)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupRefused(
            _l(
                "The backup could not be restored into %(path)s: %(reason)s",
                path=str(instance_path),
                reason=exc.strerror or type(exc).__name__,
            )
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    device = manifest.get("device") or {}
    return RestoreResult(
        str(instance_path),
        device.get("id"),
        device.get("name"),
        floor,
        str(instance_path / RESTORED_SETTINGS) if settings is not None else None,
    )


def _record_restore(staging: Path, manifest: dict[str, Any]) -> int:
    """Check and migrate the restored database; log the restore in it; return the floor."""
    from ..startup import upgrade_database

    database = staging / DATABASE_FILE
    checked = open_read_only(database)
    revision: str | None = None
    try:
        sound = checked.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        if sound:
            row = checked.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = str(row[0]) if row else None
    except sqlite3.Error:
        sound = False
    finally:
        checked.close()
    if not sound:
        raise _not_a_backup()
    check_schema_revision(revision)  # the database's own, whatever the manifest says
    from .. import create_app

    # The backup's settings file is never live (config.py.restored), and the URL is given
    # explicitly, so neither it nor FIELDAPP_DATABASE_URL can point this restore elsewhere.
    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_uri(staging)}, instance_path=staging)
    try:
        upgrade_database(app)
        with app.app_context():
            last = manifest.get("last_export_seq")
            earlier = manifest.get("export_seq_floor")
            last = last if type(last) is int else 0
            earlier = earlier if type(earlier) is int else 0
            floor = max(last, earlier) + EXPORT_SEQ_JUMP + secrets.randbelow(EXPORT_SEQ_RANDOM)
            with writing():
                activity.restore_done(
                    {
                        "backup_created_at": str(manifest.get("created_at", ""))[:40],
                        "last_export_seq": last,
                        "export_seq_floor": floor,
                    }
                )
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return floor
