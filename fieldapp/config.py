"""Configuration: defaults here; ``instance/config.py`` and ``FIELDAPP_*`` variables override.

The instance folder holds everything that belongs to one installation: its secret key, its
database, later its keys and backups. Nothing in it is ever committed.
"""

from __future__ import annotations

import os
import secrets
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

SECRET_KEY_FILE = "secret_key"  # noqa: S105 -- a file name, not a secret
CONFIG_FILE = "config.py"
DATABASE_FILE = "fieldapp.sqlite3"
MIN_SECRET_BYTES = 32

CONFIG_TEMPLATE = '''"""Settings for this fieldapp installation, in Python; every line is optional.

Examples:
    SQLALCHEMY_DATABASE_URI = "postgresql://fieldapp@127.0.0.1/fieldapp"
    IDLE_TIMEOUT_MINUTES = 30
"""
'''


def N_(msgid: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return msgid


class InstanceError(Exception):
    """The instance folder is missing something the app needs, or holds something unreadable.

    ``message`` is an English msgid that callers translate; ``params`` fill its placeholders.
    """

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


# waitress worker threads of the facilitator's server and of the participant listener.
SERVER_THREADS = 8


class Defaults:
    """Settings every installation starts with."""

    # Sessions: the facilitator cookie only ever travels to the loopback address (W-08).
    SESSION_COOKIE_NAME = "__Host-fieldapp"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Strict"
    SESSION_COOKIE_PATH = "/"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    IDLE_TIMEOUT_MINUTES = 30
    ABSOLUTE_TIMEOUT_HOURS = 12
    LANGUAGE_COOKIE_NAME = "fieldapp_lang"

    # Login throttling (W-04): after this many failures for one account within the window,
    # further attempts are refused until the window has passed.
    LOGIN_MAX_FAILURES = 5
    LOGIN_FAILURE_WINDOW_MINUTES = 15

    # scrypt with N=2**17, r=8, p=1 (W-02): about 128 MiB and a few tenths of a second a login.
    PASSWORD_HASH_METHOD = "scrypt:131072:8:1"  # noqa: S105 -- an algorithm name
    PASSWORD_MIN_LENGTH = 8
    PASSWORD_MAX_LENGTH = 128

    # Request limits (W-17). Upload routes may raise MAX_CONTENT_LENGTH for their own request.
    MAX_CONTENT_LENGTH = 1 * 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 256 * 1024
    MAX_FORM_PARTS = 500
    TRUSTED_HOSTS = ["127.0.0.1", "localhost"]

    WTF_CSRF_TIME_LIMIT = 12 * 3600
    # SQL parameters may hold what participants said: never put them in error messages (W-21).
    # A pooled connection for every waitress thread, so that a busy room never opens and closes
    # connections per request (each open re-applies the SQLite settings: measured 4x slower).
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {
        "hide_parameters": True,
        "pool_size": SERVER_THREADS + 2,
        "max_overflow": 20,
    }
    SEND_FILE_MAX_AGE_DEFAULT = timedelta(days=7)

    # Participants' phones on the laptop's Wi-Fi: the address (None: the laptop's own address
    # on its network, found when a facilitator opens intake) and port of their listener.
    LAN_ADDRESS: str | None = None
    LAN_PORT = 8080
    # How many processes serve the phones (fieldapp/lan.py): two where there are two cores or
    # more, so that a room of phones can use both; one on a single core. At most 4.
    LAN_PROCESSES = 2 if (os.cpu_count() or 1) >= 2 else 1
    # A participant's device left this long untouched forgets unsent answers (kiosk and phones).
    KIOSK_IDLE_SECONDS = 300
    # Small counts (1 to MIN_CELL_COUNT - 1) are shown as "<k" on every dashboard, report and
    # aggregate file that a viewer sees or that leaves the office (issue #11).
    MIN_CELL_COUNT = 5
    # Days after a receipt from head office that the answers it acknowledged are removed from
    # this laptop by themselves, at start and after applying a receipt (None: only by hand).
    PURGE_AFTER_DAYS: int | None = None
    # PRAGMA quick_check of the SQLite file at every start; a damaged file is opened read-only
    # (services/health.py). Off only where a very large head-office file makes starts slow.
    STARTUP_QUICK_CHECK = True

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "Asia/Baghdad"


# The participant listener on the laptop's Wi-Fi (SECURITY.md P-07 to P-09, L-01). Phones reach
# it over plain HTTP on the hotspot, where browsers refuse Secure cookies: its own session
# cookie is not Secure (a documented deviation, see README), and it carries no facilitator
# session at all.
PARTICIPANT_SETTINGS: dict[str, Any] = {
    "PARTICIPANT_ONLY": True,
    "SESSION_COOKIE_NAME": "fieldapp_participant_session",
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "MAX_FORM_PARTS": 200,
    "PARTICIPANT_SUBMISSIONS_PER_MINUTE": 6,
    "PARTICIPANT_UNKNOWN_CODES_PER_10_MINUTES": 20,
}


def sqlite_uri(instance_path: Path) -> str:
    """Return the SQLAlchemy URL of the embedded database inside ``instance_path``."""
    return f"sqlite:///{instance_path / DATABASE_FILE}"


def create_secret_key(instance_path: Path) -> Path:
    """Write a new random secret key readable only by its owner, unless one exists already."""
    path = instance_path / SECRET_KEY_FILE
    if path.exists():
        return path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(MIN_SECRET_BYTES) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return path


def read_secret_key(instance_path: Path) -> str:
    """Read the installation's secret key, refusing a missing, short or exposed one (W-09)."""
    path = instance_path / SECRET_KEY_FILE
    if not path.is_file():
        raise InstanceError(
            N_("The secret key file %(path)s is missing. Run “fieldapp init” to create one."),
            path=str(path),
        )
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InstanceError(
            N_(
                "The secret key file %(path)s can be read by other users. "
                "Make it private with “chmod 600”."
            ),
            path=str(path),
        )
    try:
        key = path.read_text(encoding="ascii").strip()
        raw = bytes.fromhex(key)
    except (UnicodeDecodeError, ValueError):
        raise InstanceError(
            N_("The secret key file %(path)s is damaged. Delete it and run “fieldapp init”."),
            path=str(path),
        ) from None
    if len(raw) < MIN_SECRET_BYTES:
        raise InstanceError(
            N_("The secret key in %(path)s is too short. Delete it and run “fieldapp init”."),
            path=str(path),
        )
    return key


def read_instance_config(instance_path: Path) -> dict[str, Any]:
    """Return the upper-case settings of ``instance/config.py``, if the file exists."""
    path = instance_path / CONFIG_FILE
    if not path.exists():
        return {}
    namespace: dict[str, Any] = {"__file__": str(path)}
    try:
        source = path.read_text(encoding="utf-8")
        code = compile(source, str(path), "exec")
        exec(code, namespace)  # noqa: S102 -- the installation's own settings file, owner-written
    except Exception as exc:  # any error in the owner's file must become a readable message
        raise InstanceError(
            N_("The settings file %(path)s cannot be read: %(error)s"),
            path=str(path),
            error=f"{type(exc).__name__}: {exc}",
        ) from None
    return {k: v for k, v in namespace.items() if k.isupper()}


# PostgreSQL URLs without a driver mean psycopg 3 (the ``postgres`` extra), whichever driver
# the installed SQLAlchemy would pick by default (2.0 picks psycopg2, 2.1 psycopg).
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
POSTGRES_DRIVER_SCHEME = "postgresql+psycopg://"


def normalise_database_uri(uri: Any) -> Any:
    """Return ``uri`` with ``postgresql://`` (or ``postgres://``) naming psycopg 3 explicitly.

    Other URLs, and URLs that name their driver, are returned unchanged.
    """
    if isinstance(uri, str):
        for scheme in _POSTGRES_SCHEMES:
            if uri.startswith(scheme):
                return POSTGRES_DRIVER_SCHEME + uri[len(scheme) :]
    return uri


def environment_overrides(environ: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    """Settings from ``FIELDAPP_*`` environment variables (``FIELDAPP_DATABASE_URL`` included)."""
    overrides: dict[str, Any] = {}
    url = environ.get("FIELDAPP_DATABASE_URL")
    if url:
        overrides["SQLALCHEMY_DATABASE_URI"] = url
    if environ.get("FIELDAPP_LAN_ADDRESS"):
        overrides["LAN_ADDRESS"] = environ["FIELDAPP_LAN_ADDRESS"]
    for name in ("IDLE_TIMEOUT_MINUTES", "LOGIN_MAX_FAILURES", "LAN_PORT", "LAN_PROCESSES"):
        value = environ.get(f"FIELDAPP_{name}")
        if value:
            overrides[name] = int(value)
    return overrides


NO_INSTALLATION = N_(
    "%(path)s holds no fieldapp installation. Check --instance (or "
    "FIELDAPP_INSTANCE), or create one there with “fieldapp init”."
)


def holds_installation(instance_path: Path) -> bool:
    """True when ``instance_path`` holds an installation: its secret key or its SQLite database.

    (A head office on PostgreSQL has no database file, but it has its secret key.)
    """
    return (instance_path / SECRET_KEY_FILE).exists() or (instance_path / DATABASE_FILE).exists()


def prepare_instance(instance_path: Path) -> bool:
    """Create the instance folder, its settings template and secret key where missing.

    The secret key is only made for a new installation (no database yet): an existing
    installation whose key has gone missing is refused by :func:`read_secret_key` instead, so
    a damaged instance is noticed. Returns True when the folder was new.
    """
    new = not (instance_path / DATABASE_FILE).exists()
    instance_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        # The folder holds the database of what people said: only its owner may look inside.
        instance_path.chmod(0o700)
    config = instance_path / CONFIG_FILE
    if not config.exists():
        config.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    if new:
        create_secret_key(instance_path)
    return new
