"""Forms of the codebook: a code in four languages with its colour, a merge, a file."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import Field, HiddenField, RadioField, SelectField
from wtforms.fields import ColorField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional, ValidationError

from ..consultations.forms import (
    add_language_fields,
    fill_language_fields,
    language_choices,
    language_values,
)
from ..services import codebook
from ..services.sync.schema import LONG, SHORT

# Translators: colours of the codebook's palette (Okabe and Ito's colour-blind-safe colours).
COLOUR_NAMES = {
    "orange": _l("Orange"),
    "sky_blue": _l("Sky blue"),
    "bluish_green": _l("Bluish green"),
    "yellow": _l("Yellow"),
    "blue": _l("Blue"),
    "vermillion": _l("Vermillion"),
    "reddish_purple": _l("Reddish purple"),
    "black": _l("Black"),
}
OTHER_COLOUR = "other"


class CodeForm(FlaskForm):
    """A theme or sub-theme: names and descriptions per language, a colour."""

    original_language = SelectField(
        _l("Language the texts were first written in"),
        choices=language_choices(),
        validate_choice=False,
    )
    palette = RadioField(
        _l("Colour"),
        choices=[
            *(SelectChoice(hex_value, COLOUR_NAMES[name]) for hex_value, name in codebook.PALETTE),
            SelectChoice(OTHER_COLOUR, _l("Another colour, chosen below")),
        ],
        default=codebook.PALETTE[4][0],
        validate_choice=False,
    )
    colour = ColorField(_l("Another colour"), validators=[Optional()], default="#0072b2")
    parent = HiddenField()
    base_rev = HiddenField()

    def validate_palette(self, field: Field) -> None:
        """A colour of the palette, or "another colour"."""
        if field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(_l("Please choose from the list."))

    def validate_original_language(self, field: Field) -> None:
        """One of the four languages."""
        if field.data not in {choice.value for choice in language_choices()}:
            raise ValidationError(_l("Please choose from the list."))

    def chosen_colour(self) -> str:
        """The colour picked: a palette colour, or the one of the colour input."""
        if self.palette.data == OTHER_COLOUR:
            return str(self.colour.data or "")
        return str(self.palette.data or "")

    def show_colour(self, colour: str) -> None:
        """Put a stored colour into the palette choice and the colour input."""
        known = {hex_value for hex_value, _name in codebook.PALETTE}
        self.palette.data = colour if colour in known else OTHER_COLOUR
        self.colour.data = colour

    def names(self) -> dict[str, str]:
        """The names per language, in their storage form."""
        return language_values(self, "name")

    def descriptions(self) -> dict[str, str]:
        """The descriptions per language, in their storage form."""
        return language_values(self, "description")

    def show_code(self, code: codebook.Code) -> None:
        """Fill the form from a stored code."""
        fill_language_fields(self, "name", code.name)
        fill_language_fields(self, "description", code.description)
        self.original_language.data = code.original_language
        self.show_colour(code.colour)
        self.base_rev.data = code.rev

    def changes(self) -> dict[str, Any]:
        """The edit this form describes, for ``codebook.edit_code``."""
        return {
            "name": self.names(),
            "description": self.descriptions(),
            "colour": self.chosen_colour(),
            "original_language": self.original_language.data,
        }


add_language_fields(CodeForm, "name", _l("Name"), limit=SHORT)
add_language_fields(CodeForm, "description", _l("Description"), textarea=True, limit=LONG)


class MergeForm(FlaskForm):
    """Confirm merging one code into another."""

    into = HiddenField(validators=[InputRequired()])
    base_rev = HiddenField(validators=[InputRequired()])


class CodebookImportForm(FlaskForm):
    """A codebook file from head office."""

    file = FileField(_l("Codebook file"), validators=[InputRequired(_l("Choose a codebook file."))])
