"""Forms of the dashboard: the exact-counts switch and the downloads."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField
from wtforms.fields.choices import SelectChoice

# Row-level files (analysts and coordinators) and the dashboard's tables (every reader).
FILE_FORMATS = {
    "csv": _l("CSV (opens in Excel and LibreOffice)"),
    "xlsx": _l("Excel workbook (XLSX)"),
    "qdpx": _l("REFI-QDA project (.qdpx) for NVivo, ATLAS.ti, MAXQDA, Taguette"),
}
TABLE_FORMATS = {
    "csv": _l("CSV (opens in Excel and LibreOffice)"),
    "xlsx": _l("Excel workbook (XLSX)"),
}
# The language of a file's headers and labels (each in its own name).
FILE_LANGUAGES = {"ar": "العربية", "ckb": "کوردیی ناوەندی", "ku": "Kurmancî", "en": "English"}


class ExactForm(FlaskForm):
    """Show or hide exact counts on screen (analysts and coordinators)."""

    on = HiddenField()
    query = HiddenField()


class ExportForm(FlaskForm):
    """A row-level file of the filtered contributions."""

    format = SelectField(
        _l("Format"),
        choices=[SelectChoice(v, label) for v, label in FILE_FORMATS.items()],
    )
    lang = SelectField(
        _l("Language of the headers and labels"),
        choices=[SelectChoice(v, label) for v, label in FILE_LANGUAGES.items()],
    )
    hxl = BooleanField(_l("Add a row of HXL hashtags under the headers"))


class TablesForm(FlaskForm):
    """The dashboard's tables, suppressed, as one file."""

    format = SelectField(
        _l("Format"),
        choices=[SelectChoice(v, label) for v, label in TABLE_FORMATS.items()],
    )
    lang = SelectField(
        _l("Language of the headers and labels"),
        choices=[SelectChoice(v, label) for v, label in FILE_LANGUAGES.items()],
    )
