"""Forms of the workspace. Text in several languages gets one field per language."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from .. import textnorm
from ..forms import REQUIRED, max_length
from ..i18n import LANGUAGES
from ..services.sync import schema

LANG_CODES = [lang.code for lang in LANGUAGES]

# Translators: kinds of meeting, as chosen when planning a consultation.
KIND_LABELS = {
    "town_hall": _l("Town hall meeting"),
    "lpc_meeting": _l("Local Peace Committee meeting"),
    "consultation_gathering": _l("Consultation gathering"),
    "dialogue_session": _l("Dialogue session"),
    "focus_group": _l("Focus group"),
    "training": _l("Training"),
    "survey": _l("Survey"),
}
STATUS_LABELS = {"draft": _l("Draft"), "open": _l("Open"), "closed": _l("Closed")}
QUESTION_TYPE_LABELS = {
    "free_text": _l("Free text"),
    "single_choice": _l("Single choice"),
    "multiple_choice": _l("Multiple choice"),
    "rating": _l("Rating 1 to 5"),
    "yes_no": _l("Yes or no"),
    "ranking": _l("Ranking of priorities"),
}
GENDER_LABELS = {
    "woman": _l("Woman"),
    "man": _l("Man"),
    "prefer_not_to_say": _l("Prefer not to say"),
}
AGE_LABELS = {
    "under_18": _l("Under 18"),
    "18_29": _l("18-29"),
    "30_44": _l("30-44"),
    "45_59": _l("45-59"),
    "60_plus": _l("60 and over"),
    "prefer_not_to_say": _l("Prefer not to say"),
}
CHANNEL_LABELS = {
    "kiosk": _l("Kiosk"),
    "own_device": _l("Own phone"),
    "spoken": _l("Spoken"),
    "paper": _l("Paper form"),
}
# Translators: how a participant's consent was given, shown beside each contribution, in the
# printed summary and in every file of contributions.
CONSENT_LABELS = {
    "on_screen": _l("On screen, by the participant"),
    "spoken": _l("Said aloud"),
    "written": _l("In writing"),
    "not_asked": _l("Not asked"),
    "not_recorded": _l("Not recorded"),
}
# The choices a facilitator has when typing a contribution (the others are not theirs to make).
TYPED_CONSENT_LABELS = {k: CONSENT_LABELS[k] for k in schema.TYPED_CONSENT_METHODS}
PRIORITY_LABELS = {"low": _l("Low"), "medium": _l("Medium"), "high": _l("High")}
ACTION_STATUS_LABELS = {
    "proposed": _l("Proposed"),
    "agreed": _l("Agreed"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "dropped": _l("Dropped"),
}
CHOICE_TYPES = ("single_choice", "multiple_choice", "ranking")
_TIME = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


def choices(labels: dict[str, Any], blank: Any = None) -> list[SelectChoice]:
    """Select choices from a label table (optionally with an empty first choice)."""
    items = [SelectChoice(value, label) for value, label in labels.items()]
    return [SelectChoice("", blank), *items] if blank is not None else items


def language_choices() -> list[SelectChoice]:
    """The four languages, each in its own name."""
    return [SelectChoice(lang.code, lang.native_name) for lang in LANGUAGES]


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def parse_date(value: str | None) -> str | None:
    """A date typed in any digits (٢٠٢٦-٠٣-١٢ too) as YYYY-MM-DD, or None when empty."""
    text = textnorm.ascii_digits((value or "").strip())
    if not text:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValidationError(
            _l("This is not a date. Write it as year-month-day, e.g. 2026-03-12.")
        ) from None


def parse_time(value: str | None) -> str | None:
    """A time typed in any digits as HH:MM, or None when empty."""
    text = textnorm.ascii_digits((value or "").strip())
    if not text:
        return None
    if not _TIME.match(text):
        raise ValidationError(_l("This is not a time. Write it as hours:minutes, e.g. 09:30."))
    hours, minutes = text.split(":")
    return f"{int(hours):02d}:{minutes}"


def date_validator(_form: FlaskForm, field: Field) -> None:
    """Refuse anything that is not a date."""
    parse_date(field.data)


def time_validator(_form: FlaskForm, field: Field) -> None:
    """Refuse anything that is not a time of day."""
    parse_time(field.data)


def add_language_fields(
    form_class: type[FlaskForm], prefix: str, label: Any, textarea: bool = False, limit: int = 300
) -> None:
    """Give ``form_class`` one field per language: ``<prefix>_ar``, ``<prefix>_ckb``, ..."""
    for lang in LANGUAGES:
        kind = TextAreaField if textarea else StringField
        render = {"lang": lang.tag, "dir": lang.direction, "autocomplete": "off"}
        field = kind(
            label,
            validators=[Optional(), max_length(limit)],
            render_kw=render,
            description=lang.native_name,
        )
        setattr(form_class, f"{prefix}_{lang.code}", field)


def language_values(form: FlaskForm, prefix: str) -> dict[str, str]:
    """The non-empty texts of a multilingual field, stored in their storage form."""
    values = {}
    for code in LANG_CODES:
        text = textnorm.storage_form(getattr(form, f"{prefix}_{code}").data or "")
        if text:
            values[code] = text
    return values


def fill_language_fields(form: FlaskForm, prefix: str, texts: dict[str, str] | None) -> None:
    """Put stored texts back into the per-language fields."""
    for code in LANG_CODES:
        getattr(form, f"{prefix}_{code}").data = (texts or {}).get(code, "")


def lines(value: str | None) -> list[str]:
    """The non-empty lines of a text box."""
    return [textnorm.storage_form(line) for line in (value or "").splitlines() if line.strip()]


class ConsultationForm(FlaskForm):
    """Plan a consultation."""

    base_rev = HiddenField()
    kind = SelectField(_l("Kind of meeting"), choices=choices(KIND_LABELS), validate_choice=False)
    programme = StringField(
        _l("Programme"), validators=[max_length(200)], render_kw={"dir": "auto"}
    )
    original_language = SelectField(
        _l("Language the texts were first written in"),
        choices=language_choices(),
        validate_choice=False,
    )
    languages = MultiCheckboxField(
        _l("Languages of the meeting"), choices=language_choices(), validate_choice=False
    )
    governorate = SelectField(_l("Governorate"), validate_choice=False)
    district = SelectField(_l("District"), validate_choice=False)
    place = StringField(_l("Place"), validators=[max_length(200)], render_kw={"dir": "auto"})
    starts_on = StringField(
        _l("Date"), validators=[date_validator], render_kw={"type": "date", "dir": "ltr"}
    )
    start_time = StringField(
        _l("Starts at"), validators=[time_validator], render_kw={"type": "time", "dir": "ltr"}
    )
    end_time = StringField(
        _l("Ends at"), validators=[time_validator], render_kw={"type": "time", "dir": "ltr"}
    )
    facilitators = TextAreaField(
        _l("Co-facilitators, one per line"),
        validators=[max_length(2000)],
        render_kw={"dir": "auto", "rows": 2},
    )
    groups = TextAreaField(
        _l("Groups to count, one per line (for example IDPs, returnees)"),
        validators=[max_length(2000)],
        render_kw={"dir": "auto", "rows": 3},
    )
    status = SelectField(_l("Status"), choices=choices(STATUS_LABELS), validate_choice=False)
    consent_method = SelectField(
        _l("How consent is given when contributions are typed"),
        choices=choices(TYPED_CONSENT_LABELS, blank=_l("Choose for each contribution")),
        validate_choice=False,
    )

    def validate_kind(self, field: Field) -> None:
        """Only the known kinds."""
        if field.data not in KIND_LABELS:
            raise ValidationError(_l("Please choose from the list."))

    def validate_status(self, field: Field) -> None:
        """Only the known statuses."""
        if field.data not in STATUS_LABELS:
            raise ValidationError(_l("Please choose from the list."))

    def validate_consent_method(self, field: Field) -> None:
        """Empty (choose on each contribution) or one of the facilitator's choices."""
        if field.data and field.data not in TYPED_CONSENT_LABELS:
            raise ValidationError(_l("Please choose from the list."))


add_language_fields(ConsultationForm, "title", _l("Title"), limit=schema.TITLE)
add_language_fields(ConsultationForm, "description", _l("Description"), textarea=True, limit=5000)
add_language_fields(
    ConsultationForm, "consent", _l("Consent text read to participants"), textarea=True, limit=3000
)


class QuestionForm(FlaskForm):
    """One question of the sheet."""

    base_rev = HiddenField()
    type = SelectField(
        _l("Type of answer"), choices=choices(QUESTION_TYPE_LABELS), validate_choice=False
    )
    original_language = SelectField(
        _l("Language the question was first written in"),
        choices=language_choices(),
        validate_choice=False,
    )
    required = BooleanField(_l("An answer is required"))

    def validate_type(self, field: Field) -> None:
        """Only the known types."""
        if field.data not in QUESTION_TYPE_LABELS:
            raise ValidationError(_l("Please choose from the list."))


add_language_fields(QuestionForm, "text", _l("Question"), textarea=True, limit=2000)
add_language_fields(QuestionForm, "options", _l("Options, one per line"), textarea=True, limit=5000)


class ActionPointForm(FlaskForm):
    """An action point of the plan."""

    base_rev = HiddenField()
    original_language = SelectField(
        _l("Language the text was first written in"),
        choices=language_choices(),
        validate_choice=False,
    )
    responsible = StringField(
        _l("Responsible"), validators=[max_length(200)], render_kw={"dir": "auto"}
    )
    due_on = StringField(
        _l("Due date"), validators=[date_validator], render_kw={"type": "date", "dir": "ltr"}
    )
    priority = SelectField(_l("Priority"), choices=choices(PRIORITY_LABELS), validate_choice=False)
    status = SelectField(_l("Status"), choices=choices(ACTION_STATUS_LABELS), validate_choice=False)

    def validate_priority(self, field: Field) -> None:
        """Only the known priorities."""
        if field.data not in PRIORITY_LABELS:
            raise ValidationError(_l("Please choose from the list."))

    def validate_status(self, field: Field) -> None:
        """Only the known statuses."""
        if field.data not in ACTION_STATUS_LABELS:
            raise ValidationError(_l("Please choose from the list."))


add_language_fields(ActionPointForm, "text", _l("What will be done"), textarea=True, limit=2000)


class NoteForm(FlaskForm):
    """A progress note at a follow-up meeting."""

    base_rev = HiddenField()
    on = StringField(
        _l("Date"),
        validators=[InputRequired(REQUIRED), date_validator],
        render_kw={"type": "date", "dir": "ltr"},
    )
    text = TextAreaField(
        _l("Progress"),
        validators=[InputRequired(REQUIRED), max_length(2000)],
        render_kw={"dir": "auto", "rows": 2},
    )
    status = SelectField(_l("Status"), choices=choices(ACTION_STATUS_LABELS), validate_choice=False)


class MinutesForm(FlaskForm):
    """The minutes of a meeting."""

    base_rev = HiddenField()


add_language_fields(MinutesForm, "minutes", _l("Minutes"), textarea=True, limit=100_000)


class TemplateForm(FlaskForm):
    """Save a question set as a template."""


add_language_fields(TemplateForm, "name", _l("Name of the template"), limit=schema.TITLE)


class TemplateImportForm(FlaskForm):
    """A template file from head office."""

    file = FileField(_l("Template file"), validators=[InputRequired(_l("Choose a template file."))])


class CountField(IntegerField):
    """A whole number typed in any digits; a translated message for anything else.

    Rendered as text with a numeric keyboard: a number input refuses ٣٤ typed on an Arabic
    or Kurdish keyboard, and the server reads digits of any script.
    """

    widget = TextInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read ٣٤ as 34; refuse text and fractions with a message in the user's language."""
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        text = textnorm.ascii_digits(str(valuelist[0]).strip())
        try:
            self.data = int(text)
        except ValueError:
            raise ValueError(str(_l("Counts are whole numbers, 0 or more."))) from None


def attendance_form(groups: list[dict[str, Any]]) -> type[FlaskForm]:
    """A form with one count per gender and age band, and one per group of the consultation."""

    class AttendanceForm(FlaskForm):
        base_rev = HiddenField()

    number = {"inputmode": "numeric", "dir": "ltr", "autocomplete": "off", "size": 4}
    message = _l("Counts are whole numbers, 0 or more.")
    for gender in GENDER_LABELS:
        for band in AGE_LABELS:
            field = CountField(
                validators=[Optional(), NumberRange(min=0, max=100_000, message=message)],
                render_kw=number,
            )
            setattr(AttendanceForm, f"c_{gender}_{band}", field)
    for group in groups:
        field = CountField(
            validators=[Optional(), NumberRange(min=0, max=100_000, message=message)],
            render_kw=number,
        )
        setattr(AttendanceForm, f"g_{group['id']}", field)
    return AttendanceForm


class KioskUnlockForm(FlaskForm):
    """The facilitator's password, to leave kiosk mode."""

    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(REQUIRED), max_length(1024)],
        render_kw={"autocomplete": "current-password"},
    )
