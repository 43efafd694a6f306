"""The form that links an action point to the codes and contributions that led to it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectMultipleField, TextAreaField

from ..forms import max_length

MAX_PASTED = 20_000


class LinkForm(FlaskForm):
    """Codes ticked, current contribution links to remove, contributions to add, base rev."""

    code = SelectMultipleField(_l("Codes"), choices=[], validate_choice=False)
    remove = SelectMultipleField(_l("Remove"), choices=[], validate_choice=False)
    add = TextAreaField(
        _l("Add contributions"),
        description=_l("Paste a contribution's key or the address of its page, one on each line."),
        validators=[max_length(MAX_PASTED)],
    )
    base_rev = HiddenField()
