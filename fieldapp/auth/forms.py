"""Forms for setup, sign-in and password change."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, MultipleFileField, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired

from ..forms import REQUIRED, max_length, new_password_fields, username_field
from ..models import DeviceRole


class SetupForm(FlaskForm):
    """The first account of a new installation."""

    username = username_field()
    display_name = StringField(
        _l("Your name as colleagues know it"),
        validators=[max_length(80)],
        render_kw={"autocomplete": "name", "dir": "auto"},
    )
    password, confirm = new_password_fields()


INSTALLATION_ROLES = [DeviceRole.FIELD.value, DeviceRole.HEADOFFICE.value]
CHOOSE_ROLE = _l("Please choose: a field laptop or a head office.")


class InstallationRoleForm(FlaskForm):
    """The second step of the first start: is this a field laptop or a head office?

    Sent with GET (it changes nothing), so it carries no CSRF token.
    """

    role = RadioField(
        _l("What is this installation?"),
        choices=[
            SelectChoice(DeviceRole.FIELD.value, _l("A field laptop")),
            SelectChoice(DeviceRole.HEADOFFICE.value, _l("A head office")),
        ],
        validate_choice=False,
        validators=[InputRequired(CHOOSE_ROLE), AnyOf(INSTALLATION_ROLES, message=CHOOSE_ROLE)],
    )


class InstallationForm(FlaskForm):
    """The installation's name and, for a field laptop, the head office's public key files."""

    role = HiddenField(
        validators=[InputRequired(CHOOSE_ROLE), AnyOf(INSTALLATION_ROLES, message=CHOOSE_ROLE)]
    )
    name = StringField(
        _l("Name of this installation"),
        validators=[InputRequired(REQUIRED), max_length(80)],
        description=_l(
            "For example “Duhok laptop 3” or “Erbil head office”. Head office sees this name "
            "on every export file."
        ),
        render_kw={"dir": "auto", "autocomplete": "off"},
    )
    headoffice_keys = MultipleFileField(_l("The head office's public key files"))


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
