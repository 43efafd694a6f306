"""Forms for managing accounts."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired

from ..forms import max_length, new_password_fields, username_field
from ..models import Role

ROLE_CHOICES = [
    SelectChoice(Role.FACILITATOR.value, _l("Facilitator")),
    SelectChoice(Role.ANALYST.value, _l("Analyst (reviews and codes at head office)")),
    SelectChoice(Role.VIEWER.value, _l("Viewer (dashboards and reports only)")),
    SelectChoice(Role.COORDINATOR.value, _l("Coordinator (also manages accounts)")),
]


def role_field(default: str | None = None) -> RadioField:
    """Facilitator or coordinator; anything else gets a translated message."""
    return RadioField(
        _l("Role"),
        choices=ROLE_CHOICES,
        default=default,
        validate_choice=False,
        validators=[
            InputRequired(_l("Please choose a role.")),
            AnyOf([choice.value for choice in ROLE_CHOICES], message=_l("Please choose a role.")),
        ],
    )


class UserCreateForm(FlaskForm):
    """A new account, with a first password the coordinator passes on in person."""

    username = username_field()
    display_name = StringField(
        _l("Name as colleagues know it"),
        validators=[max_length(80)],
        render_kw={"dir": "auto", "autocomplete": "off"},
    )
    role = role_field(Role.FACILITATOR.value)
    password, confirm = new_password_fields()


class ResetPasswordForm(FlaskForm):
    """A coordinator sets a new password for someone who forgot theirs."""

    password, confirm = new_password_fields()


class RoleForm(FlaskForm):
    """Change an account's role."""

    role = role_field()
