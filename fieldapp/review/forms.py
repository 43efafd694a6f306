"""Forms and labels of the Contributions pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SelectMultipleField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..forms import max_length
from ..labels import EXCLUSION_REASON_LABELS, REVIEW_STATE_LABELS
from ..services.sync import schema

STATE_LABELS = REVIEW_STATE_LABELS
REASON_LABELS = EXCLUSION_REASON_LABELS
# Bulk actions: the state each one gives, and the button's words.
BULK_ACTIONS = {
    "approve": ("approved", _l("Approve")),
    "has_issues": ("has_issues", _l("Mark as having issues")),
    "exclude": ("excluded", _l("Exclude")),
    "received": ("received", _l("Mark as received")),
}


class StateForm(FlaskForm):
    """A contribution's review state, with the version of the review the page showed."""

    state = SelectField(
        _l("Review state"),
        choices=[SelectChoice(v, label) for v, label in STATE_LABELS.items()],
        validate_choice=False,
    )
    reason = SelectField(
        _l("Reason (when excluded)"),
        choices=[
            SelectChoice("", _l("Choose a reason")),
            *(SelectChoice(v, label) for v, label in REASON_LABELS.items()),
        ],
        validate_choice=False,
    )
    note = TextAreaField(_l("Note"), validators=[max_length(schema.LONG)])
    base_rev = HiddenField()


class CodingForm(FlaskForm):
    """The codes of a contribution (checkboxes of the active codes) and a note."""

    code = SelectMultipleField(_l("Codes"), choices=[], validate_choice=False)
    note = TextAreaField(_l("Note on the coding"), validators=[max_length(schema.LONG)])
    base_rev = HiddenField()


class BulkForm(FlaskForm):
    """What a bulk review does to the chosen contributions."""

    action = SelectField(
        _l("Action"),
        choices=[SelectChoice(name, label) for name, (_state, label) in BULK_ACTIONS.items()],
        validate_choice=False,
    )
    reason = SelectField(
        _l("Reason (when excluded)"),
        choices=[
            SelectChoice("", _l("Choose a reason")),
            *(SelectChoice(v, label) for v, label in REASON_LABELS.items()),
        ],
        validate_choice=False,
    )
    note = TextAreaField(_l("Note"), validators=[max_length(schema.LONG)])
