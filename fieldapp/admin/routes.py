"""Coordinators add accounts, disable them, reset passwords and change roles."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from ..auth.sessions import password_policy
from ..extensions import db
from ..forms import ActionForm
from ..models import Role, User
from ..services import accounts
from . import bp
from .forms import ResetPasswordForm, RoleForm, UserCreateForm


@bp.before_request
def _coordinators_only() -> None:
    """Only coordinators manage accounts."""
    if not current_user.is_authenticated or not current_user.is_coordinator:
        abort(403)


@bp.route("/users")
def users() -> str:
    """All accounts, with what a coordinator can do to each."""
    return render_template(
        "admin/users.html",
        users=accounts.list_users(),
        action_form=ActionForm(),
        session_count=accounts.active_session_count,
    )


@bp.route("/users/new", methods=["GET", "POST"])
def user_new() -> Response | str:
    """Add an account."""
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                form.username.data or "",
                form.password.data or "",
                Role(form.role.data),
                password_policy(),
                display_name=form.display_name.data or "",
                actor=current_user,
            )
        except accounts.AccountError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("The account %(name)s has been created.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_new.html", form=form)


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users/<int:user_id>")
def user_edit(user_id: int) -> str:
    """One account: reset its password or change its role."""
    return _render_user_page(_user_or_404(user_id), ResetPasswordForm(prefix="reset"))


def _render_user_page(user: User, reset_form: ResetPasswordForm) -> str:
    """The page of one account, with the password form as it was submitted (or empty)."""
    return render_template(
        "admin/user_edit.html",
        user=user,
        reset_form=reset_form,
        role_form=RoleForm(prefix="role", data={"role": user.role.value}),
        action_form=ActionForm(),
    )


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def user_reset_password(user_id: int) -> Response | str:
    """Set a new password for an account; all its sessions end."""
    user = _user_or_404(user_id)
    reset_form = ResetPasswordForm(prefix="reset")
    if reset_form.validate_on_submit():
        try:
            accounts.reset_password(
                user.id, reset_form.password.data or "", password_policy(), current_user
            )
        except accounts.AccountError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("A new password has been set for %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    return _render_user_page(user, reset_form)


@bp.route("/users/<int:user_id>/role", methods=["POST"])
def user_role(user_id: int) -> Response:
    """Change an account's role."""
    user = _user_or_404(user_id)
    form = RoleForm(prefix="role")
    if form.validate_on_submit():
        try:
            accounts.set_role(user.id, Role(form.role.data), current_user)
        except accounts.AccountError as exc:
            flash(str(exc.message), "error")
        else:
            flash(_("The role of %(name)s has been changed.", name=user.username), "success")
    else:
        flash(_("Please choose a role."), "error")
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
def user_active(user_id: int) -> Response:
    """Disable an account (its sessions end at once) or enable it again."""
    user = _user_or_404(user_id)
    form = ActionForm()
    if form.validate_on_submit():
        enable = not user.active
        try:
            accounts.set_active(user.id, enable, current_user)
        except accounts.AccountError as exc:
            flash(str(exc.message), "error")
        else:
            message = (
                _("The account %(name)s can sign in again.", name=user.username)
                if enable
                else _("The account %(name)s is disabled and signed out.", name=user.username)
            )
            flash(message, "success")
    return redirect(url_for("admin.users"))
