"""The glue between Flask-Login and the server-side session records of ``services.accounts``."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from ..extensions import login_manager
from ..models import User
from ..services import accounts, records
from . import access

SESSION_TOKEN_KEY = "sid"  # noqa: S105 -- the name of a session key, not a secret
# Endpoints served before anyone has signed in (W-01). Everything else needs a facilitator.
PUBLIC_ENDPOINTS = frozenset({"static", "favicon", "auth.login", "auth.setup", "main.set_language"})


def password_policy() -> accounts.PasswordPolicy:
    """The password rules configured for this installation."""
    config = current_app.config
    return accounts.PasswordPolicy(
        min_length=config["PASSWORD_MIN_LENGTH"],
        max_length=config["PASSWORD_MAX_LENGTH"],
        hash_method=config["PASSWORD_HASH_METHOD"],
    )


def authenticate(username: str, password: str) -> User:
    """Check credentials with this installation's throttling settings."""
    config = current_app.config
    return accounts.authenticate(
        username,
        password,
        password_policy(),
        max_failures=config["LOGIN_MAX_FAILURES"],
        window=timedelta(minutes=config["LOGIN_FAILURE_WINDOW_MINUTES"]),
    )


def sign_in(user: User) -> None:
    """Start a fresh session for ``user``: nothing of the previous session survives (W-05)."""
    session.clear()
    token = accounts.start_session(user)
    login_user(user)
    session[SESSION_TOKEN_KEY] = token


def sign_out() -> None:
    """End the server-side session and forget the cookie's contents."""
    token = session.get(SESSION_TOKEN_KEY)
    if token:
        accounts.end_session(token)
    logout_user()
    session.clear()


def current_token() -> str | None:
    """The session token of the signed-in browser."""
    return session.get(SESSION_TOKEN_KEY)


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def _load_user(user_id: str) -> User | None:
    """Flask-Login's loader: the user only if the server still knows this session."""
    token = session.get(SESSION_TOKEN_KEY)
    if not token or not user_id.isdigit():
        return None
    config = current_app.config
    result = accounts.resume_session(
        token,
        int(user_id),
        idle=timedelta(minutes=config["IDLE_TIMEOUT_MINUTES"]),
        absolute=timedelta(hours=config["ABSOLUTE_TIMEOUT_HOURS"]),
    )
    if result.user is None:
        g.session_end_reason = result.ended_reason
        session.clear()
    return result.user


def _unauthorized() -> Response:
    """Send a visitor without a valid session to the sign-in page, saying why if we know."""
    reason = getattr(g, "session_end_reason", None)
    if reason == "idle":
        flash(
            _(
                "You were signed out after %(minutes)s minutes without activity. "
                "Sign in again to continue.",
                minutes=current_app.config["IDLE_TIMEOUT_MINUTES"],
            ),
            "warning",
        )
    elif reason in ("expired", "disabled"):
        flash(_("Your session has ended. Sign in again to continue."), "warning")
    elif not accounts.users_exist():
        return redirect(url_for("auth.setup"))
    else:
        flash(_("Please sign in to see this page."), "info")
    target = request.full_path if request.method == "GET" else None
    if target and target.endswith("?"):
        target = target[:-1]
    return redirect(url_for("auth.login", next=safe_next(target)))


# The participant's pages: public, and the only pages a locked kiosk may show.
PARTICIPANT_BLUEPRINT = "kiosk"
KIOSK_LOCK_KEY = "kiosk_lock"


def _require_login() -> Response | None:
    """Refuse every endpoint that is not explicitly public to a visitor without a session.

    A browser put in kiosk mode by a facilitator shows only the participant pages until the
    facilitator unlocks it with their password.
    """
    records.set_actor(None)  # nobody acts until this request's account is known
    if request.endpoint is None or request.blueprint == PARTICIPANT_BLUEPRINT:
        return None
    locked = session.get(KIOSK_LOCK_KEY)
    if locked and request.endpoint not in ("static", "favicon", "consultations.kiosk_unlock"):
        return redirect(url_for("kiosk.start", code=locked))
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if current_user.is_authenticated:
        records.set_actor(
            records.Actor(current_user.id, current_user.username, current_user.display_name)
        )
        access.check_role()  # 403 unless this account's role may use the endpoint
        return None
    return _unauthorized()


def init_app(app: Flask) -> None:
    """Configure Flask-Login and guard every non-public route."""
    login_manager.init_app(app)
    login_manager.session_protection = None  # the server-side session record does this job
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_unauthorized)
    access.init_app(app)
    app.teardown_request(lambda _error: records.set_actor(None))
    app.before_request(_require_login)
