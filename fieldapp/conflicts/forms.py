"""Forms of the Conflicts pages: keep one version, or edit a combination of them.

A combination form exists for the kinds a person edits field by field (action points,
consultations' title and minutes, review states, codings); for the others, keeping one
version is enough. Every form carries the revs the person compared (``base_revs``), so a
version that arrives meanwhile makes the resolution stale instead of silently lost.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.validators import ValidationError

from ..consultations.forms import (
    ACTION_STATUS_LABELS,
    STATUS_LABELS,
    ActionPointForm,
    MultiCheckboxField,
    add_language_fields,
    choices,
)
from ..forms import max_length
from ..labels import CODE_STATUS_LABELS, EXCLUSION_REASON_LABELS, REVIEW_STATE_LABELS  # noqa: F401
from ..services.sync import schema

# Translators: kinds of record, as the Conflicts page names them.
RECORD_KIND_LABELS = {
    "consultation": _l("Consultation"),
    "question": _l("Question"),
    "attendance": _l("Attendance"),
    "action_point": _l("Action point"),
    "template": _l("Question template"),
    "code": _l("Code"),
    "review": _l("Review state"),
    "coding": _l("Coding"),
}


def split_revs(value: str | None) -> list[str]:
    """The revs a page compared, as the hidden field carries them (space-separated)."""
    return [rev for rev in (value or "").split() if rev][:50]


class KeepForm(FlaskForm):
    """Keep one version as the record's value."""

    base_revs = HiddenField()
    keep = HiddenField()


class ActionCombinationForm(ActionPointForm):
    """An action point made of the versions' fields (the notes of every version are kept)."""

    base_revs = HiddenField()


class ConsultationCombinationForm(FlaskForm):
    """A consultation's title, status, place and minutes chosen from its versions."""

    base_revs = HiddenField()
    status = SelectField(_l("Status"), choices=choices(STATUS_LABELS), validate_choice=False)

    def validate_status(self, field: Any) -> None:
        """Only the known statuses."""
        if field.data not in STATUS_LABELS:
            raise ValidationError(_l("Please choose from the list."))


add_language_fields(ConsultationCombinationForm, "title", _l("Title"), limit=schema.TITLE)
add_language_fields(
    ConsultationCombinationForm, "minutes", _l("Minutes"), textarea=True, limit=100_000
)


class ReviewCombinationForm(FlaskForm):
    """A review state with its reason and note."""

    base_revs = HiddenField()
    state = SelectField(
        _l("Review state"), choices=choices(REVIEW_STATE_LABELS), validate_choice=False
    )
    reason = SelectField(
        _l("Reason for excluding"),
        choices=choices(EXCLUSION_REASON_LABELS, blank=_l("No reason")),
        validate_choice=False,
    )
    note = TextAreaField(
        _l("Note"), validators=[max_length(schema.LONG)], render_kw={"dir": "auto", "rows": 3}
    )

    def validate_state(self, field: Any) -> None:
        """Only the known states."""
        if field.data not in REVIEW_STATE_LABELS:
            raise ValidationError(_l("Please choose from the list."))

    def validate_reason(self, field: Any) -> None:
        """A known reason, given exactly when the state is excluded."""
        if field.data and field.data not in EXCLUSION_REASON_LABELS:
            raise ValidationError(_l("Please choose from the list."))
        if self.state.data == "excluded" and not field.data:
            raise ValidationError(_l("Say why the contribution is excluded."))


class CodingCombinationForm(FlaskForm):
    """The codes of an answer, chosen from those any version applied."""

    base_revs = HiddenField()
    codes = MultiCheckboxField(_l("Codes"), validate_choice=False)
    note = TextAreaField(
        _l("Note"), validators=[max_length(schema.LONG)], render_kw={"dir": "auto", "rows": 3}
    )

    def validate_codes(self, field: Any) -> None:
        """Only codes some version applied (the page offers no others)."""
        offered = {value for value, _label in field.choices or []}
        if any(code not in offered for code in field.data or []):
            raise ValidationError(_l("Please choose from the list."))


COMBINATION_FORMS: dict[str, type[FlaskForm]] = {
    "action_point": ActionCombinationForm,
    "consultation": ConsultationCombinationForm,
    "review": ReviewCombinationForm,
    "coding": CodingCombinationForm,
}
__all__ = ["ACTION_STATUS_LABELS", "COMBINATION_FORMS", "KeepForm", "split_revs"]
