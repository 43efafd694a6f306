"""The report printed to PDF in chromium, read back with poppler: a viewer's journey.

A viewer signs in in Arabic (and Sorani), opens the report, and chromium prints it to A4 with
the page's print CSS (``report.css``: A4, page numbers in the bottom margin box, each part on a
page of its own). ``pdftotext`` reads the PDF back.

How "no count below k" is checked in a PDF: the PDF's text also holds dates, page numbers,
rating labels 1 to 5 and the note "from 1 to 4", so bare numbers cannot be told apart. Before
printing, the test prefixes every count cell of the page (``td.count`` and the numbers beside
each chart, ``.chart-numbers td``) with the letters ``CNT`` through the DevTools protocol
(``page.evaluate``: not a script of the page, so the CSP is untouched). Letters are strong
left-to-right characters, so ``CNT12`` and ``CNT<5`` keep their order in a right-to-left line.
Every ``CNT`` token read back must be 0, at least k, or "<k"; and the world (see
``tests/test_report_page.make_world``) has raw counts of 1 to 4 (three consultations,
attendance cells, 3 contributions coded Roads), so "<5" must show up and a report that printed
exact counts fails here. The bars' own labels in the SVG charts are drawn from the same
published tables.
Screenshots: ``/tmp/shots/report-<lang>-<page>.png`` (``pdftoppm -png -r 60``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fieldapp.i18n import BY_CODE
from fieldapp.models import DeviceRole, Role

from .conftest import PASSWORD, add_user, translated
from .serving import serving
from .sync_world import Installation
from .test_browser import chromium_page, pytestmark  # noqa: F401
from .test_report_page import ROADS, WATER, make_world

SHOTS = Path("/tmp/shots")  # noqa: S108 -- where the reviewer looks at the pages
K = 5
MARK = "CNT"
# The parts of the report, each printed from a new page: title page + five sections.
SECTIONS = 6
PARTS = (
    "Report on the consultations",
    "What the consultations were",
    "Who came",
    "What people said, by theme",
    "Results of the questions",
    "Action plans",
)
MARK_COUNTS = """() => {
  const cells = document.querySelectorAll("td.count, .chart-numbers td, span.count");
  cells.forEach((cell) => cell.prepend("CNT"));
  return cells.length;
}"""


@pytest.fixture(scope="module")
def head_office(tmp_path_factory) -> Path:
    """The report's world at a head office, with a viewer."""
    root = tmp_path_factory.mktemp("report-pdf")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    with ho.session() as app:
        make_world(app)
        add_user(app, "dilan", Role.VIEWER, display_name="دیلان")
    return ho.folder


def pdf_text(path: Path, first: int | None = None) -> str:
    """The text of a PDF (or of one page), laid out as printed."""
    pages = ["-f", str(first), "-l", str(first)] if first else []
    command = ["pdftotext", "-layout", *pages, str(path), "-"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603


BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def squeeze(text: str) -> str:
    """Text without bidi controls and white space (as pdftotext's layout may split words)."""
    return re.sub(r"\s+", "", BIDI_CONTROLS.sub("", text))


def page_count(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)  # noqa: S603,S607
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


def plain(lang: str, msgid: str) -> str:
    """A translated text as printed (no HTML escaping)."""
    import html

    return html.unescape(translated(lang, msgid))


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils is not installed")
@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_a_viewer_prints_the_report_to_pdf(head_office, tmp_path, lang):
    """Arabic text, a page count the data explains, page numbers, no count below k."""
    folder = tmp_path / "ho"
    shutil.copytree(head_office, folder)
    SHOTS.mkdir(exist_ok=True)
    pdf = tmp_path / f"report-{lang}.pdf"
    with serving(folder) as url, chromium_page() as page:
        page.set_default_timeout(15_000)
        page.goto(url + "/login")
        page.get_by_role("button", name=BY_CODE[lang].native_name).click()
        page.wait_for_load_state()
        page.fill("#username", "dilan")
        page.fill("#password", PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(url + "/")
        page.goto(url + "/analysis/report")
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert plain(lang, "Report on the consultations") in page.inner_text("h1")
        page.screenshot(path=str(SHOTS / f"report-screen-{lang}.png"))
        marked = page.evaluate(MARK_COUNTS)
        assert marked > 20
        page.pdf(path=str(pdf), format="A4", print_background=True, prefer_css_page_size=True)
        assert page.requested_hosts == {urlsplit_host(url)}

    shutil.copy(pdf, SHOTS / f"report-{lang}.pdf")
    text = BIDI_CONTROLS.sub("", pdf_text(pdf))
    # Arabic script read back: a heading of the catalogue and the themes' names (data).
    # pdftotext wraps right-to-left runs in bidi embeddings and may split a word where the
    # glyphs of a ligature are spaced apart: compare letters only.
    letters = squeeze(text)
    assert squeeze(plain(lang, "What people said, by theme")) in letters
    assert squeeze(WATER[lang]) in letters
    assert squeeze(ROADS[lang]) in letters
    # Navigation, the language buttons and the print hint are not printed.
    assert plain(lang, "Sign out") not in text
    assert BY_CODE["ku"].native_name not in text

    # Each of the six parts starts a page of its own (its heading is the page's first line),
    # in order; the questions (12: four in each of the three consultations) take at most a
    # page each, the other parts fit on one page each in this world.
    pages = page_count(pdf)
    page_texts = [BIDI_CONTROLS.sub("", pdf_text(pdf, n)) for n in range(1, pages + 1)]
    first_lines = [
        squeeze(next((ln for ln in t.splitlines() if ln.strip()), "")) for t in page_texts
    ]
    starts = [
        next(n for n, line in enumerate(first_lines, 1) if squeeze(plain(lang, heading)) in line)
        for heading in PARTS
    ]
    assert starts == sorted(starts), starts
    assert starts[:4] == [1, 2, 3, 4], starts  # title page, consultations, who came, themes
    assert pages - starts[-1] <= 1, (starts, pages)
    assert SECTIONS <= pages <= SECTIONS + 12, pages
    # Page numbers "n / N" in the bottom margin box of every page (in either visual order).
    for number, one_page in enumerate(page_texts, 1):
        found = re.findall(r"(?<![\d-])(\d+) / (\d+)(?![\d-])", one_page)
        assert any(sorted(map(int, pair)) == sorted((number, pages)) for pair in found), number

    # Every count cell, read back from the PDF: 0, at least k, or withheld as "<k".
    counts = re.findall(rf"{MARK}\s*(<?)\s*(\d[\d,.]*)", text)
    assert len(counts) == marked  # no count lost between pages, none printed twice
    shown = [(less, int(re.sub(r"\D", "", number))) for less, number in counts]
    small = [n for less, n in shown if not less and 1 <= n < K]
    assert small == [], small
    assert ("<", K) in shown  # small raw counts exist, and were withheld

    for old in SHOTS.glob(f"report-{lang}-*.png"):
        old.unlink()
    subprocess.run(  # noqa: S603
        ["pdftoppm", "-png", "-r", "60", str(pdf), str(SHOTS / f"report-{lang}")],  # noqa: S607
        check=True,
    )
    assert len(list(SHOTS.glob(f"report-{lang}-*.png"))) == pages


def urlsplit_host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc
