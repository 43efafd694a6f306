"""Form fields shared by several areas, with messages in the user's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

REQUIRED = _l("Please fill in this field.")


def max_length(limit: int) -> Length:
    """A length limit whose message is translated."""
    return Length(max=limit, message=_l("At most %(max)s characters, please.", max=limit))


def username_field() -> StringField:
    """A username box."""
    return StringField(
        _l("Username"),
        validators=[InputRequired(REQUIRED), max_length(40)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )


def new_password_fields() -> tuple[PasswordField, PasswordField]:
    """A new password and its confirmation."""
    password = PasswordField(
        _l("New password"),
        validators=[InputRequired(REQUIRED), max_length(1024)],
        description=_l("At least 8 characters. A few unrelated words make a good password."),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[
            InputRequired(REQUIRED),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class ActionForm(FlaskForm):
    """A form with no fields but the CSRF token, for buttons that change something."""
