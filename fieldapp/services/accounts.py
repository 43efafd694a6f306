"""Accounts: creating them, checking passwords, and the server-side record of who is signed in.

Password rules follow NIST SP 800-63B and SECURITY.md W-02: at least 8 characters, long
passphrases welcome, no composition rules, and a refusal of the most common passwords.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import writing
from ..extensions import db
from ..models import AuditEvent, LoginFailure, LoginSession, Role, User
from ..models.types import utcnow
from . import audit
from .errors import FieldappError

USERNAME_MIN, USERNAME_MAX = 3, 40
DISPLAY_NAME_MAX = 80
USERNAME_EXTRA_CHARS = "._-"
# The audit event that marks an installation whose first start is being done in the browser.
SETUP_STARTED = "installation.setup_started"


class AccountError(FieldappError):
    """An account could not be created or changed; ``message`` says why."""


class InvalidCredentials(FieldappError):
    """The username or password is wrong, or the account is disabled."""


class LoginThrottled(FieldappError):
    """Too many failed sign-ins for this account name; ``minutes`` until the next try."""

    def __init__(self, minutes: int) -> None:
        super().__init__(
            _l(
                "Too many failed sign-ins for this account. Wait %(minutes)s minutes and try "
                "again, or ask a coordinator to reset the password.",
                minutes=minutes,
            )
        )
        self.minutes = minutes


@dataclass(frozen=True)
class PasswordPolicy:
    """Length limits for passwords; the blocklist is shipped with the app."""

    min_length: int = 8
    max_length: int = 128
    hash_method: str = "scrypt:131072:8:1"


def username_key(username: str) -> str:
    """Return the comparison form of a username: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def clean_username(username: str) -> str:
    """Return a username as stored: NFC and trimmed. Raise AccountError if it is not allowed."""
    name = unicodedata.normalize("NFC", username).strip()
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise AccountError(
            _l(
                "A username has %(min)s to %(max)s characters.",
                min=USERNAME_MIN,
                max=USERNAME_MAX,
            )
        )
    if not all(ch.isalnum() or ch in USERNAME_EXTRA_CHARS for ch in name):
        raise AccountError(
            _l("A username may contain letters, digits, dots, dashes and underscores only.")
        )
    return name


def clean_display_name(display_name: str, fallback: str) -> str:
    """Return the name shown on screens: NFC, trimmed, the username if left empty."""
    name = " ".join(unicodedata.normalize("NFC", display_name).split())
    if len(name) > DISPLAY_NAME_MAX:
        raise AccountError(_l("A name has at most %(max)s characters.", max=DISPLAY_NAME_MAX))
    return name or fallback


@cache
def _dummy_hash(method: str) -> str:
    """A hash to check against when the account does not exist, so that takes as long."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords, lower-cased."""
    text = resources.files("fieldapp.data").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line and not line.startswith("#")
    )


def check_password(password: str, username: str, policy: PasswordPolicy) -> None:
    """Raise AccountError when ``password`` is too short, too long or easy to guess."""
    length = len(password)
    if length < policy.min_length:
        raise AccountError(
            _l("The password needs at least %(min)s characters.", min=policy.min_length)
        )
    if length > policy.max_length:
        raise AccountError(
            _l("The password can have at most %(max)s characters.", max=policy.max_length)
        )
    folded = password.casefold()
    if folded in common_passwords() or len(set(folded)) < 3:
        raise AccountError(
            _l("This password is too easy to guess. A few unrelated words make a good password.")
        )
    if username and username_key(username) in folded:
        raise AccountError(_l("The password must not contain the username."))


def users_exist() -> bool:
    """True once the first account has been created."""
    return db.session.execute(select(User.id).limit(1)).first() is not None


def find_user(username: str) -> User | None:
    """Return the account with this username (compared case-insensitively), if any."""
    return db.session.execute(
        select(User).where(User.username_key == username_key(username))
    ).scalar_one_or_none()


def create_user(
    username: str,
    password: str,
    role: Role,
    policy: PasswordPolicy,
    display_name: str = "",
    language: str | None = None,
    actor: User | None = None,
    first: bool = False,
) -> User:
    """Create an account and commit it. With ``first``, refuse if any account exists already."""
    name = clean_username(username)
    shown = clean_display_name(display_name, name)
    check_password(password, name, policy)
    password_hash = generate_password_hash(password, method=policy.hash_method)
    with writing() as session:
        if first and users_exist():
            raise AccountError(_l("The first account has already been created. Sign in instead."))
        if find_user(name) is not None:
            raise AccountError(_l("An account with this username exists already."))
        user = User(
            username=name,
            username_key=username_key(name),
            display_name=shown,
            password_hash=password_hash,
            role=role,
            language=language,
        )
        session.add(user)
        session.flush()
        audit.record("account.created", actor or user, name)
        if first:
            audit.record(SETUP_STARTED, user)
    return user


def web_setup_started() -> bool:
    """True when the first account was made by the web's setup (not ``fieldapp create-user``).

    From then on the web sends coordinators to the installation's setup step until it has its
    identity; an installation set up from the command line gets it from ``fieldapp init``.
    """
    return (
        db.session.execute(
            select(AuditEvent.id).where(AuditEvent.action == SETUP_STARTED).limit(1)
        ).first()
        is not None
    )


def _recent_failures(key: str, window: timedelta, now: datetime) -> list[datetime]:
    """Times of failed sign-ins for ``key`` within the window, oldest first."""
    rows = db.session.execute(
        select(LoginFailure.at)
        .where(LoginFailure.username_key == key, LoginFailure.at > now - window)
        .order_by(LoginFailure.at)
    )
    return [row[0] for row in rows]


def authenticate(
    username: str,
    password: str,
    policy: PasswordPolicy,
    max_failures: int,
    window: timedelta,
) -> User:
    """Return the active account for these credentials, or raise.

    After ``max_failures`` failures within ``window`` the account name is refused until the
    oldest of them has left the window, whatever the password (W-04). The facilitator screens
    are only served on the laptop itself, so participants cannot lock a facilitator out.
    """
    key = username_key(username)[:USERNAME_MAX]
    now = utcnow()
    failures = _recent_failures(key, window, now)
    if len(failures) >= max_failures:
        wait = failures[-max_failures] + window - now
        raise LoginThrottled(max(1, int(wait.total_seconds() // 60) + 1))
    user = find_user(username) if len(username) <= 4 * USERNAME_MAX else None
    stored = user.password_hash if user else _dummy_hash(policy.hash_method)
    valid = check_password_hash(stored, password) and user is not None and user.active
    with writing() as session:
        if valid:
            session.execute(delete(LoginFailure).where(LoginFailure.username_key == key))
        else:
            session.add(LoginFailure(username_key=key, at=now))
            session.execute(delete(LoginFailure).where(LoginFailure.at < now - 2 * window))
    if not valid or user is None:
        raise InvalidCredentials(_l("The username or password is not correct."))
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def start_session(user: User) -> str:
    """Record a new signed-in session for ``user``; return the secret token for the cookie."""
    token = secrets.token_urlsafe(32)
    with writing() as session:
        session.add(LoginSession(token_hash=_token_hash(token), user_id=user.id))
        audit.record("session.started", user)
    return token


@dataclass(frozen=True)
class ResumedSession:
    """The outcome of checking a session token: the user, or why there is none."""

    user: User | None
    ended_reason: str | None = None


def resume_session(
    token: str, user_id: int, idle: timedelta, absolute: timedelta
) -> ResumedSession:
    """Check a session token on a request; end it if it has timed out.

    ``ended_reason`` is ``idle`` or ``expired`` when this call ended the session, so the person
    can be told why they must sign in again.
    """
    row = db.session.execute(
        select(LoginSession).where(LoginSession.token_hash == _token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.ended_at is not None or row.user_id != user_id:
        return ResumedSession(None)
    user = row.user
    now = utcnow()
    reason = None
    if not user.active:
        reason = "disabled"
    elif now - row.created_at > absolute:
        reason = "expired"
    elif now - row.last_seen_at > idle:
        reason = "idle"
    if reason is not None:
        with writing():
            row = db.session.get(LoginSession, row.id)
            if row is not None and row.ended_at is None:
                row.ended_at, row.end_reason = now, reason
        return ResumedSession(None, reason)
    if now - row.last_seen_at > timedelta(seconds=60):
        with writing():
            fresh = db.session.get(LoginSession, row.id)
            if fresh is not None:
                fresh.last_seen_at = now
        return ResumedSession(db.session.get(User, user_id))
    return ResumedSession(user)


def end_session(token: str, reason: str = "logout") -> None:
    """End the session with this token (sign out)."""
    with writing() as session:
        row = session.execute(
            select(LoginSession).where(LoginSession.token_hash == _token_hash(token))
        ).scalar_one_or_none()
        if row is not None and row.ended_at is None:
            row.ended_at, row.end_reason = utcnow(), reason
            audit.record("session.ended", row.user)


def _end_all_sessions(user: User, reason: str, keep_token: str | None = None) -> None:
    """End every open session of ``user`` but the one with ``keep_token`` (inside writing())."""
    keep = _token_hash(keep_token) if keep_token else None
    for row in db.session.execute(
        select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    ).scalars():
        if row.token_hash != keep:
            row.ended_at, row.end_reason = utcnow(), reason


def active_session_count(user: User) -> int:
    """How many browsers are signed in to this account now."""
    return db.session.execute(
        select(func.count(LoginSession.id)).where(
            LoginSession.user_id == user.id, LoginSession.ended_at.is_(None)
        )
    ).scalar_one()


def change_password(
    user: User, current: str, new: str, policy: PasswordPolicy, keep_token: str | None
) -> None:
    """Change one's own password; every other signed-in browser of the account is signed out."""
    if not check_password_hash(user.password_hash, current):
        raise AccountError(_l("The current password is not correct."))
    check_password(new, user.username, policy)
    password_hash = generate_password_hash(new, method=policy.hash_method)
    with writing():
        target = db.session.get(User, user.id)
        assert target is not None  # noqa: S101 -- the signed-in user exists
        target.password_hash, target.password_changed_at = password_hash, utcnow()
        _end_all_sessions(target, "password", keep_token)
        audit.record("account.password_changed", target, target.username)


def reset_password(user_id: int, new: str, policy: PasswordPolicy, actor: User) -> User:
    """A coordinator sets a new password for an account; its sessions all end."""
    user = _get_user(user_id)
    check_password(new, user.username, policy)
    password_hash = generate_password_hash(new, method=policy.hash_method)
    with writing():
        user = _get_user(user_id)
        user.password_hash, user.password_changed_at = password_hash, utcnow()
        _end_all_sessions(user, "reset")
        audit.record("account.password_reset", actor, user.username)
    return user


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise AccountError(_l("This account does not exist."))
    return user


def _coordinators_left(excluding: User) -> int:
    return db.session.execute(
        select(func.count(User.id)).where(
            User.role == Role.COORDINATOR, User.active.is_(True), User.id != excluding.id
        )
    ).scalar_one()


def set_active(user_id: int, active: bool, actor: User) -> User:
    """Enable or disable an account; disabling ends its sessions at once."""
    with writing():
        user = _get_user(user_id)
        if not active and user.role == Role.COORDINATOR and _coordinators_left(user) == 0:
            raise AccountError(_l("The last active coordinator cannot be disabled."))
        user.active = active
        if not active:
            _end_all_sessions(user, "disabled")
        audit.record("account.enabled" if active else "account.disabled", actor, user.username)
    return user


def set_role(user_id: int, role: Role, actor: User) -> User:
    """Change an account's role, keeping at least one active coordinator."""
    with writing():
        user = _get_user(user_id)
        if (
            user.role == Role.COORDINATOR
            and role != Role.COORDINATOR
            and _coordinators_left(user) == 0
        ):
            raise AccountError(_l("The last active coordinator must keep that role."))
        user.role = role
        audit.record("account.role_changed", actor, f"{user.username}:{role.value}")
    return user


def set_language(user_id: int, language: str) -> None:
    """Remember an account's interface language."""
    with writing():
        user = db.session.get(User, user_id)
        if user is not None:
            user.language = language


def list_users() -> list[User]:
    """All accounts, coordinators first, then by username."""
    return list(db.session.execute(select(User).order_by(User.role, User.username_key)).scalars())
