"""Spreadsheet writers that open right in Excel and cannot be turned against the reader.

Two formats, both streaming (rows are consumed one at a time, never held as a whole):

CSV (:func:`csv_chunks`)
    UTF-8 with a byte order mark (without it Excel reads UTF-8 as the ANSI code page and Arabic
    and Kurdish come out as mojibake), CRLF line ends and RFC 4180 quoting. Every text cell is
    passed through :func:`escape_formula` (OWASP's advice on CSV injection), because a CSV cell
    has no type: Excel and LibreOffice evaluate any cell that looks like a formula.

XLSX (:func:`write_xlsx`)
    Written with XlsxWriter in ``constant_memory`` mode: each row goes to a temporary file as soon
    as the next one starts, so 200,000 rows need a few megabytes, not gigabytes. Cells are typed:
    text is always written as a text cell (``write_string``, never as a formula, and XlsxWriter's
    guessing of formulas, links and numbers in strings is off), so a participant's
    ``=HYPERLINK(...)`` stays the words they typed. A typed text cell is never evaluated, so
    XLSX text is *not* prefixed with a quote.

Values in both: ``None`` is an empty cell; ``str`` is text; ``int``/``float`` are numbers (ours,
never escaped, so a negative number stays a number); ``date``/``datetime`` are dates (ISO 8601 in
CSV, typed dates in XLSX); ``bool`` is ``1``/``0`` in CSV (like the 0/1 columns of a multiple
choice question) and a boolean in XLSX. Anything else (a lazy translated string, a suppressed
count shown as "<5") is written as its text, escaped like any other text.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from flask_babel import lazy_gettext as _l
from xlsxwriter import Workbook

from fieldapp.services.errors import FieldappError

# What a spreadsheet may read as the start of a formula: OWASP's list (= + - @ tab, carriage
# return), the line feed (LibreOffice and some importers treat a cell starting a new line like
# one starting with a control character) and the full-width forms of = + - @, which Excel in an
# East Asian locale normalises to their ASCII twins before it parses a formula.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")

CSV_CHUNK_BYTES = 64 * 1024
BOM = "\ufeff"

# Excel's hard limits.
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_STRING = 32_767
SHEET_TITLE_MAX = 31
SHEET_TITLE_FORBIDDEN = frozenset("[]:*?/\\")
DEFAULT_WIDTH = 12.0
MAX_WIDTH = 60.0


class SheetTooLong(FieldappError):
    """A sheet would have more rows than Excel can open."""


def escape_formula(value: str) -> str:
    """``value`` made safe as a CSV cell: text that a spreadsheet would read as a formula gets a
    leading single quote.

    A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line feed (or
    a full-width ``＝ ＋ － ＠``) is prefixed with ``'``: Excel and LibreOffice then show the
    text as typed (the quote is visible in the cell, which is the price OWASP accepts for
    safety). Anything else is returned unchanged. Only for text; numbers we write ourselves
    are never passed here, so ``-3`` as a number stays a number.
    """
    if value and value[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def _csv_value(value: Any) -> Any:
    """The slow path of :func:`csv_chunks` for a cell that is not a plain ``str`` or ``int``."""
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, int | float | Decimal | Fraction):
        return value
    if isinstance(value, date):  # datetime too: a subclass of date
        return value.isoformat()
    return escape_formula(str(value))


# Cells the csv module writes right by itself: None as an empty cell, numbers as digits.
_CSV_PLAIN = frozenset({int, float, type(None)})


def csv_cells(row: Sequence[Any]) -> list[Any]:
    """One row's cells as the csv module should write them (text escaped).

    One comprehension with the common cases inline: a row of a wide export is mostly empty
    cells, and a function call per cell made this the export's largest cost (0.7 µs a cell).
    """
    return [
        value
        if type(value) in _CSV_PLAIN
        else (
            ("'" + value if value[:1] in FORMULA_TRIGGERS else value)
            if type(value) is str
            else _csv_value(value)
        )
        for value in row
    ]


def csv_chunks(
    header_rows: Iterable[Sequence[Any]],
    rows: Iterable[Sequence[Any]],
    *,
    prepared: bool = False,
) -> Iterator[bytes]:
    """The CSV file of ``header_rows`` then ``rows``, as UTF-8 byte chunks of about 64 KB.

    The first chunk starts with the byte order mark. Lines end CRLF and cells are quoted only
    when they need it (RFC 4180: a comma, a double quote or a line break inside). Text cells
    go through :func:`escape_formula`; see the module docstring for how other values are
    written. ``rows`` is consumed lazily, one row at a time. With ``prepared`` the rows were
    already passed through :func:`csv_cells` cell by cell as they were built (a wide export's
    rows are mostly empty cells, and going over all of them again cost more than the rest of
    writing the file together).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    write = writer.writerow
    buffer.write(BOM)
    for header in header_rows:
        write(csv_cells(header))
    for row in rows:
        write(row if prepared else csv_cells(row))
        if buffer.tell() >= CSV_CHUNK_BYTES:
            # "replace": a lone surrogate (never valid text) must not abort a download.
            yield buffer.getvalue().encode("utf-8", "replace")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8", "replace")


@dataclass
class Sheet:
    """One worksheet: its title, its header rows (shown bold, frozen, the last one carrying the
    filter buttons), its data rows (any iterable, consumed once) and optional column widths in
    Excel's character units."""

    title: str
    header_rows: list[list[Any]]
    rows: Iterable[Sequence[Any]]
    widths: Sequence[float] = ()


def sheet_title(title: str, taken: set[str]) -> str:
    """``title`` made a valid Excel sheet name not in ``taken`` (compared as Excel does,
    ignoring case): at most 31 characters, none of ``[ ] : * ? / \\``, not starting or ending
    with an apostrophe, not empty and not the reserved "History". Adds it to ``taken``."""
    name = "".join(" " if ch in SHEET_TITLE_FORBIDDEN or ch < " " else ch for ch in title)
    name = " ".join(name.split()).strip("'").strip() or "Sheet"
    if name.casefold() == "history":
        name = f"{name} 1"
    base = name[:SHEET_TITLE_MAX].rstrip("' ")
    candidate, number = base, 1
    while candidate.casefold() in taken:
        number += 1
        suffix = f" ({number})"
        candidate = base[: SHEET_TITLE_MAX - len(suffix)].rstrip("' ") + suffix
    taken.add(candidate.casefold())
    return candidate


def _default_widths(header_rows: Sequence[Sequence[Any]], columns: int) -> list[float]:
    """Column widths from the longest header text of each column, within sensible bounds."""
    widths = [DEFAULT_WIDTH] * columns
    for header in header_rows:
        for col, value in enumerate(header):
            if value is not None:
                widths[col] = max(widths[col], min(MAX_WIDTH, len(str(value)) * 1.1 + 2))
    return widths


class _SheetWriter:
    """Writes the typed cells of one worksheet, row by row."""

    def __init__(self, workbook: Any, worksheet: Any) -> None:
        self.worksheet = worksheet
        self.bold = workbook.add_format({"bold": True})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.row = 0
        self.columns = 0

    def write_row(self, values: Sequence[Any], header: bool = False) -> None:
        """Write the next row; a header row is bold."""
        if self.row >= XLSX_MAX_ROWS:
            # Translators: %(max)s is Excel's limit of rows in one sheet (1048576).
            message = _l(
                "This spreadsheet would have more than %(max)s rows, more than Excel can "
                "open. Narrow the filters, or download CSV instead.",
                max=XLSX_MAX_ROWS,
            )
            raise SheetTooLong(message)
        ws, row = self.worksheet, self.row
        text_format = self.bold if header else None
        for col, value in enumerate(values):
            kind = type(value)
            if kind is str:
                ws.write_string(row, col, value[:XLSX_MAX_STRING], text_format)
            elif value is None:
                if header:
                    ws.write_blank(row, col, None, text_format)
            elif kind is bool:
                ws.write_boolean(row, col, value, text_format)
            elif kind is int or kind is float or isinstance(value, int | float | Decimal):
                if isinstance(value, float) and not math.isfinite(value):
                    ws.write_string(row, col, str(value), text_format)
                else:
                    ws.write_number(row, col, value, text_format)
            elif isinstance(value, datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(UTC).replace(tzinfo=None)
                ws.write_datetime(row, col, value, self.datetime)
            elif isinstance(value, date):
                ws.write_datetime(row, col, value, self.date)
            else:
                ws.write_string(row, col, str(value)[:XLSX_MAX_STRING], text_format)
        self.columns = max(self.columns, len(values))
        self.row += 1


def _write_sheet(workbook: Any, sheet: Sheet, title: str, rtl: bool) -> int:
    """Write one :class:`Sheet` as worksheet ``title``; return its number of data rows."""
    worksheet = workbook.add_worksheet(title)
    if rtl:
        worksheet.right_to_left()
    header_count = len(sheet.header_rows)
    columns = max((len(header) for header in sheet.header_rows), default=0)
    widths = list(sheet.widths) or _default_widths(sheet.header_rows, columns)
    for col, width in enumerate(widths):
        worksheet.set_column(col, col, width)
    writer = _SheetWriter(workbook, worksheet)
    for header in sheet.header_rows:
        writer.write_row(header, header=True)
    for row in sheet.rows:
        writer.write_row(row)
    if header_count:
        # The sheet-level settings are written when the workbook closes, so they can be set
        # now that the number of rows is known, even in constant_memory mode.
        worksheet.freeze_panes(header_count, 0)
        if writer.columns:
            worksheet.autofilter(header_count - 1, 0, writer.row - 1, writer.columns - 1)
    return writer.row - header_count


def write_xlsx(out: BinaryIO | Path | str, sheets: Iterable[Sheet], *, rtl: bool) -> dict[str, int]:
    """Write ``sheets`` as one XLSX workbook to ``out`` (a path or a binary file object).

    Each sheet: header rows bold and frozen, an autofilter over the last header row and the
    data, right to left when ``rtl`` (Arabic, Sorani), typed cells (see the module docstring).
    Sheet titles are made valid for Excel (:func:`sheet_title`). Returns the number of data
    rows of each sheet, keyed by the title as written. Raises :class:`SheetTooLong` if a sheet
    would exceed Excel's 1,048,576 rows; ``out`` is then left untouched. The workbook is built
    in a private temporary directory that is removed in every case.
    """
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="fieldapp-xlsx-") as tmp:
        book_path = Path(tmp) / "book.xlsx"
        workbook = Workbook(
            str(book_path),
            {
                "constant_memory": True,
                "tmpdir": tmp,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        taken: set[str] = set()
        try:
            for sheet in sheets:
                title = sheet_title(sheet.title, taken)
                counts[title] = _write_sheet(workbook, sheet, title, rtl)
            if not counts:
                workbook.add_worksheet(sheet_title("Sheet", taken))
        except BaseException:
            # Close the per-sheet temporary files that close() would have closed.
            for worksheet in workbook.worksheets():
                worksheet._opt_close()
            raise
        workbook.close()
        if isinstance(out, str | os.PathLike):
            shutil.copyfile(book_path, out)
        else:
            with book_path.open("rb") as book:
                shutil.copyfileobj(book, out)
    return counts
