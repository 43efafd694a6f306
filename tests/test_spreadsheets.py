"""Spreadsheets that open right in Excel and cannot be turned into formulas by what people said.

CSV: byte order mark, CRLF, RFC 4180 quoting, formula triggers escaped (proved with Hypothesis
by parsing the output back). XLSX: read back with openpyxl, as the reader's Excel would see it.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask_babel import force_locale
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldapp.services.analysis import spreadsheets
from fieldapp.services.analysis.spreadsheets import (
    Sheet,
    SheetTooLong,
    csv_chunks,
    escape_formula,
    sheet_title,
    write_xlsx,
)
from fieldapp.services.analysis.tables import Suppressed

BOM = b"\xef\xbb\xbf"
# Written out here, not taken from the module, so a trigger dropped there is caught here.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
HYPERLINK = '=HYPERLINK("http://x","y")'
ARABIC = "نريد مدرسة للبنات في القرية، والطريق مقطوع في الشتاء"
SORANI = "ڕێگاکە خراپە و ئاو نییە؛ داوای قوتابخانەیەکی نوێ دەکەین"

# Text people type, and text an attacker types: Arabic, Sorani, Kurmanji, quotes, separators,
# line breaks, control characters, and every formula trigger (also at the start).
ALPHABET = st.sampled_from(
    list("abz AZ09")
    + list("ابتثجحخدذرزسشصضطظعغفقكلمنهويءئةى")
    + list("ڕڵۆێەڤگچپژک")
    + list("êîûçş")
    + list(",;\"'\r\n\t\x00\x01\x1f\x7f\u200c\u200f")
    + sorted(FORMULA_TRIGGERS)
)
TEXT = st.text(ALPHABET, max_size=30)
HOSTILE_TEXT = st.builds(lambda t, s: t + s, st.sampled_from(sorted(FORMULA_TRIGGERS)), TEXT)
CELL = st.one_of(
    TEXT,
    HOSTILE_TEXT,
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.booleans(),
    st.dates(),
)
ROWS = st.lists(st.lists(CELL, max_size=6), max_size=25)


def expected_csv_cell(value: Any) -> str:
    """What a CSV reader must give back for a cell we wrote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return escape_formula(str(value))


def parse_csv(data: bytes) -> list[list[str]]:
    """Parse our CSV bytes as a spreadsheet importer would (after the byte order mark)."""
    assert data.startswith(BOM)
    text = data[len(BOM) :].decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def csv_bytes(header_rows: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]) -> bytes:
    """The whole CSV file."""
    return b"".join(csv_chunks(header_rows, rows))


# --- escape_formula -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("=1+1", "'=1+1"),
        (HYPERLINK, "'" + HYPERLINK),
        ("+964 750 123 4567", "'+964 750 123 4567"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\n=1", "'\n=1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("\uff20x", "'\uff20x"),
        (ARABIC, ARABIC),
        ("a=1", "a=1"),
        ("", ""),
    ],
)
def test_a_cell_that_would_start_a_formula_gets_a_quote(typed: str, written: str) -> None:
    """Does text starting with = + - @ tab CR LF (or full-width = + - @) get a leading quote?"""
    assert escape_formula(typed) == written


# --- CSV ------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(header=st.lists(CELL, max_size=6), rows=ROWS)
def test_csv_reads_back_as_the_escaped_cells(header: list[Any], rows: list[list[Any]]) -> None:
    """For any text (Arabic, Sorani, quotes, line breaks, control characters, formula
    triggers), does a CSV reader get back exactly the escaped cells, and never a text cell
    that starts a formula?"""
    data = csv_bytes([header], rows)
    parsed = parse_csv(data)
    expected = [[expected_csv_cell(v) for v in row] for row in [header, *rows]]
    assert parsed == expected
    for row_in, row_out in zip([header, *rows], parsed, strict=True):
        for value, cell in zip(row_in, row_out, strict=True):
            if isinstance(value, str):
                assert not cell or cell[0] not in FORMULA_TRIGGERS, (value, cell)


@settings(max_examples=200, deadline=None)
@given(rows=ROWS)
def test_csv_lines_end_crlf(rows: list[list[Any]]) -> None:
    """Outside quoted cells, does every line end with CR LF and no bare CR or LF appear?"""
    text = csv_bytes([["a", "b"]], rows)[len(BOM) :].decode("utf-8")
    unquoted = re.sub(r'"(?:[^"]|"")*"', '""', text)
    assert unquoted.endswith("\r\n")
    assert unquoted.count("\n") == unquoted.count("\r\n") == unquoted.count("\r")


def test_csv_has_one_bom_and_types_written_as_documented() -> None:
    """Is the byte order mark there once, and are numbers, dates, booleans and empty cells
    written plainly (a negative number not escaped)?"""
    when = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    data = csv_bytes(
        [["text", "count", "share", "held on", "at", "yes", "none", "suppressed"]],
        [[ARABIC, -3, 0.25, date(2025, 3, 4), when, True, None, Suppressed(5)]],
    )
    assert data.startswith(BOM)
    assert data.count(BOM) == 1
    assert data.endswith(b"\r\n")
    assert parse_csv(data)[1] == [
        ARABIC,
        "-3",
        "0.25",
        "2025-03-04",
        "2025-03-04T09:30:00+00:00",
        "1",
        "",
        "<5",
    ]


def test_csv_quotes_per_rfc_4180() -> None:
    """Are cells with a comma, a quote or a line break quoted, quotes doubled, others bare?"""
    data = csv_bytes([["h"]], [['he said "no", twice', "two\r\nlines", "plain"]])
    assert data[len(BOM) :].decode("utf-8") == (
        'h\r\n"he said ""no"", twice","two\r\nlines",plain\r\n'
    )


def test_csv_streams_in_chunks_without_reading_ahead() -> None:
    """Does the CSV come in chunks of about 64 KB, the first before all rows were read?"""
    consumed = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal consumed
        for number in range(20_000):
            consumed += 1
            yield [number, SORANI, "=cmd|' /C calc'!A0"]

    chunks = csv_chunks([["n", "text", "hostile"]], rows())
    first = next(chunks)
    assert consumed < 20_000
    assert len(first) >= spreadsheets.CSV_CHUNK_BYTES
    rest = list(chunks)
    assert len(rest) > 5
    assert all(len(chunk) >= spreadsheets.CSV_CHUNK_BYTES for chunk in rest[:-1])
    parsed = parse_csv(first + b"".join(rest))
    assert len(parsed) == 20_001
    assert parsed[-1] == ["19999", SORANI, "'=cmd|' /C calc'!A0"]


# --- XLSX -----------------------------------------------------------------------------------


HEADER = ["Text", "Count", "Share", "Held on", "Recorded", "Consent", "Empty"]
DATA = [
    [HYPERLINK, 12, 0.5, date(2025, 3, 4), datetime(2025, 3, 4, 9, 30), True, None],
    [ARABIC, -3, 1.25, date(2025, 4, 1), datetime(2025, 4, 1, 7, 0, tzinfo=UTC), False, None],
    [SORANI, 0, 0.0, date(2025, 5, 6), datetime(2025, 5, 6, 12, 0), True, None],
    ["-5", 7, 2.0, None, None, None, "@SUM(A1:A2)"],
]


def read_back(data: bytes) -> openpyxl.Workbook:
    """The workbook as openpyxl reads it."""
    return openpyxl.load_workbook(io.BytesIO(data))


def xlsx_bytes(sheets: list[Sheet], rtl: bool = True) -> tuple[bytes, dict[str, int]]:
    """Write to a file object and return the bytes and the row counts."""
    out = io.BytesIO()
    counts = write_xlsx(out, sheets, rtl=rtl)
    return out.getvalue(), counts


def test_xlsx_text_is_text_never_a_formula() -> None:
    """Is a participant's "=HYPERLINK(...)" answer (and "-5", "@SUM") a text cell with exactly
    what they typed, not a formula, a link or a number?"""
    data, _ = xlsx_bytes([Sheet("Contributions", [HEADER], iter(DATA))])
    sheet = read_back(data)["Contributions"]
    assert sheet["A2"].value == HYPERLINK
    assert sheet["A2"].data_type == "s"
    assert sheet["A5"].value == "-5"
    assert sheet["A5"].data_type == "s"
    assert sheet["G5"].value == "@SUM(A1:A2)"
    assert sheet["G5"].data_type == "s"
    assert b"<f>" not in _sheet_xml(data)


def _sheet_xml(data: bytes) -> bytes:
    """The XML of the first worksheet."""
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as book:
        return book.read("xl/worksheets/sheet1.xml")


def test_xlsx_arabic_sorani_rtl_frozen_filtered_and_typed(tmp_path: Path) -> None:
    """Does the sheet keep Arabic and Sorani exactly, read right to left, freeze the header,
    put filters on header and data, and type numbers, dates and booleans?"""
    path = tmp_path / "export.xlsx"
    counts = write_xlsx(path, [Sheet("Contributions", [HEADER], iter(DATA))], rtl=True)
    assert counts == {"Contributions": 4}
    sheet = openpyxl.load_workbook(path)["Contributions"]
    assert sheet["A3"].value == ARABIC
    assert sheet["A4"].value == SORANI
    assert sheet.sheet_view.rightToLeft is True
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:G5"
    assert all(cell.font.b for cell in sheet[1])
    assert not sheet["A2"].font.b
    assert sheet["B3"].value == -3
    assert sheet["B3"].data_type == "n"
    assert sheet["C2"].value == 0.5
    assert sheet["C2"].data_type == "n"
    assert sheet["D2"].is_date
    assert sheet["D2"].value == datetime(2025, 3, 4)
    assert sheet["E2"].is_date
    assert sheet["E2"].value == datetime(2025, 3, 4, 9, 30)
    assert sheet["E3"].value == datetime(2025, 4, 1, 7, 0)  # aware times in UTC
    assert sheet["F2"].value is True
    assert sheet["F2"].data_type == "b"
    assert sheet["G2"].value is None
    assert sheet.column_dimensions["A"].width >= 10


def test_xlsx_left_to_right_for_english_and_kurmanji() -> None:
    """Is the sheet left to right when rtl is off?"""
    data, _ = xlsx_bytes([Sheet("Contributions", [HEADER], iter(DATA))], rtl=False)
    assert not read_back(data)["Contributions"].sheet_view.rightToLeft


def test_xlsx_two_header_rows_several_sheets_and_widths() -> None:
    """With an HXL hashtag row, are both header rows frozen and bold and the filter on the
    last one; are given widths used; are sheet titles valid and unique; are rows counted?"""
    hxl = ["#description", "#affected", "", "#date", "", "", ""]
    sheets = [
        Sheet("About: this export", [["What"]], [["Contributions"], ["Filters: all"]]),
        Sheet("Contributions [ar/ckb]", [HEADER, hxl], iter(DATA), widths=[40, 9]),
        Sheet("contributions [AR/CKB]", [["n"]], iter([[1], [2]])),
        Sheet("Empty", [], []),
    ]
    data, counts = xlsx_bytes(sheets)
    assert counts == {
        "About this export": 2,
        "Contributions ar ckb": 4,
        "contributions AR CKB (2)": 2,
        "Empty": 0,
    }
    book = read_back(data)
    assert book.sheetnames == list(counts)
    main = book["Contributions ar ckb"]
    assert main.freeze_panes == "A3"
    assert main.auto_filter.ref == "A2:G6"
    assert main["A2"].value == "#description"
    assert main["A2"].font.b
    assert main.column_dimensions["A"].width == pytest.approx(40, abs=1)
    assert main.column_dimensions["B"].width == pytest.approx(9, abs=1)
    assert book["Empty"].max_row == 1
    assert book["Empty"]["A1"].value is None


def test_xlsx_cells_that_are_not_plain_values_are_text() -> None:
    """Are a suppressed count, an over-long text and a non-finite float written as text (the
    over-long text cut at Excel's 32,767 characters), never lost or failing?"""
    long_text = "ب" * 40_000
    data, _ = xlsx_bytes(
        [Sheet("Tables", [["cell"]], [[Suppressed(5)], [long_text], [float("nan")]])]
    )
    sheet = read_back(data)["Tables"]
    assert sheet["A2"].value == "<5"
    assert sheet["A2"].data_type == "s"
    assert sheet["A3"].value == "ب" * 32_767
    assert sheet["A4"].value == "nan"


@pytest.mark.parametrize(
    ("title", "taken", "result"),
    [
        ("Contributions", set(), "Contributions"),
        ("a/b\\c[d]e:f*g?h", set(), "a b c d e f g h"),
        ("x" * 40, set(), "x" * 31),
        ("'quoted'", set(), "quoted"),
        ("", set(), "Sheet"),
        ("History", set(), "History 1"),
        ("المساهمات", {"المساهمات"}, "المساهمات (2)"),
        ("Codes", {"codes", "codes (2)"}, "Codes (3)"),
        ("y" * 31, {"y" * 31}, "y" * 27 + " (2)"),
    ],
)
def test_sheet_titles_follow_excels_rules(title: str, taken: set[str], result: str) -> None:
    """Are sheet titles cut to 31 characters, stripped of []:*?/\\ and made unique?"""
    assert sheet_title(title, taken) == result
    assert result.casefold() in taken


@settings(max_examples=200, deadline=None)
@given(titles=st.lists(st.text(ALPHABET | st.sampled_from(list("[]:*?/\\'")), max_size=40)))
def test_any_sheet_titles_make_a_workbook_excel_opens(titles: list[str]) -> None:
    """For any titles, are the sheet names valid for Excel and distinct ignoring case?"""
    taken: set[str] = set()
    names = [sheet_title(title, taken) for title in titles]
    assert len({name.casefold() for name in names}) == len(names)
    for name in names:
        assert 0 < len(name) <= 31
        assert not set(name) & set("[]:*?/\\")
        assert not name.startswith("'")
        assert not name.endswith("'")


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary directory of this test's own, so left-over files can be seen."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_too_many_rows_is_refused_and_nothing_is_left(
    app: Flask, private_tmp: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Past Excel's row limit, is the export refused with a clear translated message, the
    output untouched and every temporary file gone?"""
    monkeypatch.setattr(spreadsheets, "XLSX_MAX_ROWS", 10)
    target = tmp_path / "too-long.xlsx"
    with pytest.raises(SheetTooLong) as refused:
        write_xlsx(target, [Sheet("Rows", [["n"]], ([n] for n in range(10)))], rtl=False)
    assert not target.exists()
    assert list(private_tmp.iterdir()) == []
    with app.app_context():
        assert "10" in str(refused.value.message)
        assert "CSV" in str(refused.value.message)
        with force_locale("ar"):
            assert "CSV" in str(refused.value.message)
    out = io.BytesIO()
    with pytest.raises(SheetTooLong):
        write_xlsx(out, [Sheet("Rows", [["n"]], ([n] for n in range(10)))], rtl=False)
    assert out.getvalue() == b""
    # Exactly at the limit is still fine.
    counts = write_xlsx(out, [Sheet("Rows", [["n"]], ([n] for n in range(9)))], rtl=False)
    assert counts == {"Rows": 9}
    assert list(private_tmp.iterdir()) == []
