"""Setup, sign-in, sign-out and password change: thin views over ``services.accounts``."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from ..i18n import current_language
from ..models import Role
from ..services import accounts
from . import bp, sessions
from .forms import LoginForm, PasswordChangeForm, SetupForm


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> Response | str:
    """Create the first account of a new installation. Gone once any account exists."""
    if accounts.users_exist():
        if request.method == "POST":
            abort(404)
        return redirect(url_for("auth.login"))
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                form.username.data or "",
                form.password.data or "",
                Role.COORDINATOR,
                sessions.password_policy(),
                display_name=form.display_name.data or "",
                language=current_language().code,
                first=True,
            )
        except accounts.AccountError as exc:
            flash(str(exc.message), "error")
        else:
            sessions.sign_in(user)
            flash(_("Your account is ready. Welcome to fieldapp."), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/setup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    """Sign in; after repeated failures the account name is paused for a while."""
    if not accounts.users_exist():
        return redirect(url_for("auth.setup"))
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = sessions.authenticate(form.username.data or "", form.password.data or "")
        except accounts.LoginThrottled as exc:
            flash(str(exc.message), "error")
            status = 429
        except accounts.InvalidCredentials as exc:
            flash(str(exc.message), "error")
            status = 401
        else:
            target = sessions.safe_next(request.args.get("next"))
            sessions.sign_in(user)
            language = current_language().code
            if user.language != language:
                accounts.set_language(user.id, language)
            return redirect(target or url_for("main.home"))
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Sign out: the server forgets the session, so a copied cookie no longer works."""
    sessions.sign_out()
    flash(_("You have signed out."), "success")
    response = redirect(url_for("auth.login"))
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> Response | str:
    """Change one's own password; other browsers signed in to the account are signed out."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(
                current_user,
                form.current.data or "",
                form.password.data or "",
                sessions.password_policy(),
                keep_token=sessions.current_token(),
            )
        except accounts.AccountError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/password.html", form=form)
