"""Home page and language choice."""

from __future__ import annotations

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..auth.sessions import safe_next
from ..i18n import BY_CODE
from ..services import accounts
from . import bp

LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.route("/")
def home() -> str:
    """The facilitator's start page, in the language they chose."""
    return render_template("main/home.html")


@bp.route("/language", methods=["POST"])
def set_language() -> Response:
    """Remember the chosen language in a cookie (and on the account) and go back."""
    code = request.form.get("lang", "")
    if code not in BY_CODE:
        abort(400, description="unknown-language")
    g.explicit_language = code
    if current_user.is_authenticated:
        accounts.set_language(current_user.id, code)
    target = safe_next(request.form.get("next")) or url_for("main.home")
    response = redirect(target)
    response.set_cookie(
        current_app.config["LANGUAGE_COOKIE_NAME"],
        code,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response
