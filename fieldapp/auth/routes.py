"""Setup, sign-in, sign-out and password change: thin views over ``services.accounts``."""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from ..i18n import current_language
from ..models import Device, DeviceRole, Role
from ..services import accounts
from ..services.sync import keys
from . import bp, sessions
from .forms import (
    InstallationForm,
    InstallationRoleForm,
    LoginForm,
    PasswordChangeForm,
    SetupForm,
)


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
            return redirect(url_for("auth.setup_installation"))
    return render_template("auth/setup.html", form=form)


# What a coordinator may still open while the first start waits for the installation step.
SETUP_STEP_ENDPOINTS = frozenset(
    {"static", "auth.setup", "auth.setup_installation", "auth.logout", "main.set_language"}
)
MAX_HEADOFFICE_KEY_FILES = 10


def setup_pending() -> bool:
    """The first start began in the browser and the installation has no identity yet."""
    return keys.self_device() is None and accounts.web_setup_started()


@bp.before_app_request
def _finish_setup_first() -> Response | None:
    """Until the first start is finished, a coordinator's every page is the setup step.

    Facilitators cannot finish it, so they are not sent there; their Export page tells them
    to ask a coordinator.
    """
    if request.endpoint is None or request.endpoint in SETUP_STEP_ENDPOINTS:
        return None
    if request.blueprint == sessions.PARTICIPANT_BLUEPRINT:
        return None
    if not current_user.is_authenticated or not current_user.is_coordinator:
        return None
    if not setup_pending():
        return None
    return redirect(url_for("auth.setup_installation"))


def _uploaded_headoffice_keys() -> list[keys.PublicKeyInfo]:
    """The head office's public key files chosen in the form, each checked as ``fieldapp
    init --headoffice-key`` checks its files; the first bad one refuses them all."""
    uploads = [f for f in request.files.getlist("headoffice_keys") if f and f.filename]
    if not uploads:
        raise keys.DeviceKeyError(
            _l("Choose the head office's public key file (its name ends in .pub).")
        )
    if len(uploads) > MAX_HEADOFFICE_KEY_FILES:
        raise keys.DeviceKeyError(
            ngettext(
                "Choose at most %(num)s key file.",
                "Choose at most %(num)s key files.",
                MAX_HEADOFFICE_KEY_FILES,
            )
        )
    infos = []
    for upload in uploads:
        try:
            infos.append(keys.read_public_key_stream(upload.stream))
        except keys.DeviceKeyError as exc:
            shown = Path(upload.filename or "").name[:100]
            raise keys.DeviceKeyError(
                _l("The file %(file)s was refused. %(reason)s", file=shown, reason=exc.message)
            ) from None
    return infos


def _headoffices() -> list[Device]:
    """The head offices this installation's exports are encrypted to."""
    return [
        device
        for device in keys.list_devices()
        if device.role == DeviceRole.HEADOFFICE and not device.is_self and not device.revoked
    ]


def _setup_done_page(status: int = 200) -> tuple[str, int]:
    """What this installation is, its public key file, and what to do next."""
    return render_template(
        "auth/setup_done.html", device=keys.self_device(), headoffices=_headoffices()
    ), status


@bp.route("/setup/installation", methods=["GET", "POST"])
def setup_installation() -> Response | str | tuple[str, int]:
    """The first start's second step: field laptop or head office, its name, and (for a
    laptop) the head office's public key files. Done once, by a coordinator, never again."""
    if not current_user.is_coordinator:
        abort(403)
    if keys.self_device() is not None:
        if request.method == "POST":
            # Head office knows a device by its id and keys: they are never replaced.
            flash(
                _(
                    "This installation is already set up. Its role and keys cannot be "
                    "changed: head office knows it by them."
                ),
                "error",
            )
            return _setup_done_page(409)
        return redirect(url_for("auth.setup_done"))
    if request.method == "GET":
        choice = InstallationRoleForm(formdata=request.args, meta={"csrf": False})
        if "role" not in request.args or not choice.validate():
            return render_template("auth/setup_role.html", form=choice, bare=True)
        form = InstallationForm(data={"role": choice.role.data})
        return render_template("auth/setup_installation.html", form=form, bare=True)
    form = InstallationForm()
    if form.role.data not in (DeviceRole.FIELD.value, DeviceRole.HEADOFFICE.value):
        return redirect(url_for("auth.setup_installation"))
    if form.validate_on_submit():
        role = DeviceRole(form.role.data)
        try:
            infos = _uploaded_headoffice_keys() if role == DeviceRole.FIELD else []
            keys.initialise(Path(current_app.instance_path), role, form.name.data or "", infos)
        except keys.DeviceKeyError as exc:
            flash(str(exc.message), "error")
        else:
            return redirect(url_for("auth.setup_done"))
    return render_template("auth/setup_installation.html", form=form, bare=True), 400


@bp.route("/setup/done")
def setup_done() -> Response | tuple[str, int]:
    """This installation as it was set up: its name, role, device id and public key file."""
    if not current_user.is_coordinator:
        abort(403)
    if keys.self_device() is None:
        return redirect(url_for("auth.setup_installation"))
    return _setup_done_page()


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
