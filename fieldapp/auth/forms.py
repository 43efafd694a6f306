"""Forms for setup, sign-in and password change."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired

from ..forms import REQUIRED, max_length, new_password_fields, username_field


class SetupForm(FlaskForm):
    """The first account of a new installation."""

    username = username_field()
    display_name = StringField(
        _l("Your name as colleagues know it"),
        validators=[max_length(80)],
        render_kw={"autocomplete": "name", "dir": "auto"},
    )
    password, confirm = new_password_fields()


class LoginForm(FlaskForm):
    """Sign in."""

    username = username_field()
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(REQUIRED), max_length(1024)],
        render_kw={"autocomplete": "current-password"},
    )


class PasswordChangeForm(FlaskForm):
    """Change one's own password."""

    current = PasswordField(
        _l("Current password"),
        validators=[InputRequired(REQUIRED), max_length(1024)],
        render_kw={"autocomplete": "current-password"},
    )
    password, confirm = new_password_fields()
