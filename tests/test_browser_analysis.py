"""The dashboard in chromium, as a viewer and as an analyst, in Arabic and in Sorani.

Open the dashboard from the menu, filter one governorate through the form, download the
row-level CSV and XLSX (analyst) and the suppressed tables (both); every request must stay on
127.0.0.1. Screenshots at 1280x900 and 390x844 go to ``/tmp/shots/web-*.png``.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest

from fieldapp.i18n import BY_CODE
from fieldapp.models import DeviceRole, Role
from fieldapp.services import contributions, demo, records

from .conftest import PASSWORD, add_user, translated
from .serving import serving
from .sync_world import Installation
from .test_browser import CHROMIUM, LAUNCH_ARGS, pytestmark  # noqa: F401

SHOTS = Path("/tmp/shots")  # noqa: S108 -- where the reviewer looks at the screens
FORMULA = '=HYPERLINK("http://example.com","x")'
GOVERNORATE = "IQ-NI"
ARABIC_SCRIPT = re.compile(r"[\u0600-\u06FF]")
SIZES = {"wide": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def head_office(tmp_path_factory) -> Path:
    """Demo data, plus a Ninewa consultation where one participant typed a spreadsheet formula."""
    ho = Installation(tmp_path_factory.mktemp("web") / "ho", DeviceRole.HEADOFFICE, "Erbil")
    amira = records.Actor(None, "amira", "أميرة حسن")
    with ho.session() as app, records.acting_as(amira):
        demo.fill(consultations=2, submissions=40, seed=3)
        consultation, _ = records.create(
            "consultation",
            {
                "kind": "town_hall",
                "title": {"ar": "اجتماع عام في الموصل", "ckb": "کۆبوونەوەی گشتی لە موسڵ"},
                "original_language": "ar",
                "status": "open",
                "governorate": GOVERNORATE,
                "languages": ["ar", "ckb"],
            },
        )
        question, _ = records.create(
            "question",
            {
                "consultation": consultation,
                "position": 0,
                "type": "free_text",
                "text": {"ar": "ما أهم مشكلة في حيّكم؟", "ckb": "گرنگترین کێشەی گەڕەکەکەتان چییە؟"},
                "original_language": "ar",
            },
        )
        records.create(
            "attendance",
            {
                "consultation": consultation,
                "counts": [
                    {"gender": "woman", "age_band": "18_29", "count": 12},
                    {"gender": "man", "age_band": "30_44", "count": 9},
                    {"gender": "woman", "age_band": "45_59", "count": 3},
                ],
            },
        )
        records.create(
            "action_point",
            {
                "consultation": consultation,
                "text": {"ar": "إصلاح شبكة المياه في الحي", "ckb": "چاککردنی تۆڕی ئاوی گەڕەک"},
                "original_language": "ar",
                "priority": "high",
                "status": "agreed",
                "responsible": "بلدية الموصل",
                "due_on": "2025-01-31",
            },
        )
        for n, text in enumerate([FORMULA, "الماء غير نظيف", "الطريق مقطوع", "لا كهرباء"] * 2):
            records.add_submission(consultation, {question: text}, "ar", "spoken", f"m{n}")
        contributions.rebuild()
        add_user(app, "layla", Role.ANALYST, display_name="ليلى أحمد")
        add_user(app, "dilan", Role.VIEWER, display_name="دیلان")
    return ho.folder


@contextmanager
def browser_page(width: int, height: int) -> Iterator:
    """A chromium page that refuses (and remembers) every request to another host."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium must be installed for the browser tests"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
        )
        page = context.new_page()
        page.elsewhere = []

        def only_here(route) -> None:
            host = urlsplit(route.request.url).hostname
            if host == "127.0.0.1":
                route.continue_()
            else:
                page.elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_here)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def t(lang: str, msgid: str) -> str:
    from html import unescape

    return unescape(translated(lang, msgid))


def download(page, form: str, fmt: str, into: Path) -> Path:
    """Choose ``fmt`` in a download form and save what the button sends."""
    page.select_option(f"{form} select[name=format]", fmt)
    with page.expect_download() as info:
        page.locator(f"{form} button[type=submit]").click()
    path = into / info.value.suggested_filename
    info.value.save_as(path)
    return path


@pytest.mark.parametrize("username", ["dilan", "layla"])
@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_the_dashboard_in_chromium(head_office, tmp_path, lang, username):
    folder = tmp_path / "ho"
    shutil.copytree(head_office, folder)
    SHOTS.mkdir(exist_ok=True)
    analyst = username == "layla"
    with serving(folder) as url:
        for size, (width, height) in SIZES.items():
            with browser_page(width, height) as page:
                page.set_default_timeout(15_000)
                page.goto(url + "/login")
                page.get_by_role("button", name=BY_CODE[lang].native_name).click()
                page.wait_for_load_state()
                page.fill("#username", username)
                page.fill("#password", PASSWORD)
                page.locator("main form button[type=submit]").click()
                page.wait_for_url(url + "/")
                # The start page leads there; so does the menu.
                assert page.locator('main a[href="/analysis/"]').count() == 1
                if size == "wide":
                    page.locator('header a[href="/analysis/"]').click()
                else:
                    page.locator('main a[href="/analysis/"]').click()
                page.wait_for_url(url + "/analysis/")
                page.screenshot(
                    path=str(SHOTS / f"web-{lang}-{username}-{size}-all.png"), full_page=True
                )
                for section in ("summary", "attendance", "participation", "questions", "actions"):
                    page.locator(f"#{section}").screenshot(
                        path=str(SHOTS / f"web-{lang}-{username}-{size}-{section}.png")
                    )
                root = page.locator("html")
                assert root.get_attribute("dir") == "rtl"
                assert root.get_attribute("lang").split("-")[0] == lang
                assert page.locator("svg.chart text[direction=rtl]").count() > 0
                assert page.locator("form[action='/analysis/export']").count() == int(analyst)

                # Filter one governorate through the form.
                page.locator("details.analysis-filters summary").click()
                page.select_option("#f-governorate", GOVERNORATE)
                with page.expect_navigation():
                    page.locator("details.analysis-filters").get_by_role(
                        "button", name=t(lang, "Show"), exact=True
                    ).click()
                assert parse_qs(urlsplit(page.url).query)["governorate"] == [GOVERNORATE]
                assert page.locator("#f-governorate").input_value() == GOVERNORATE
                page.screenshot(
                    path=str(SHOTS / f"web-{lang}-{username}-{size}-ninewa.png"), full_page=True
                )
                if size == "phone":
                    wide = page.evaluate(
                        "[...document.querySelectorAll('body *')].filter(e => "
                        "e.getBoundingClientRect().right > innerWidth + 1 || "
                        "e.getBoundingClientRect().left < -1).slice(0, 8).map(e => "
                        "e.tagName + '.' + e.className + ' ' + (e.id || ''))"
                    )
                    # Nothing wider than the screen: the page never scrolls sideways.
                    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, wide
                    assert page.elsewhere == []
                    continue

                # The dashboard's tables, suppressed, for every reader.
                tables = download(page, "form[action='/analysis/tables']", "csv", tmp_path)
                data = tables.read_bytes()
                assert data.startswith(b"\xef\xbb\xbf")
                assert ARABIC_SCRIPT.search(data.decode("utf-8-sig"))
                workbook = download(page, "form[action='/analysis/tables']", "xlsx", tmp_path)
                book = openpyxl.load_workbook(workbook)
                assert all(sheet.sheet_view.rightToLeft for sheet in book.worksheets)

                if analyst:
                    rows = download(page, "form[action='/analysis/export']", "csv", tmp_path)
                    text = rows.read_bytes()
                    assert text.startswith(b"\xef\xbb\xbf")
                    decoded = text.decode("utf-8-sig")
                    assert "الماء غير نظيف" in decoded
                    assert "\n=HYPERLINK" not in decoded
                    assert ",=HYPERLINK" not in decoded
                    sheet_file = download(page, "form[action='/analysis/export']", "xlsx", tmp_path)
                    book = openpyxl.load_workbook(io.BytesIO(sheet_file.read_bytes()))
                    values = [
                        cell
                        for sheet in book.worksheets
                        for row in sheet.iter_rows()
                        for cell in row
                        if cell.value is not None
                    ]
                    assert any(
                        isinstance(c.value, str) and "الماء غير نظيف" in c.value for c in values
                    )
                    formula = [c for c in values if c.value == FORMULA]
                    assert formula, "the participant's answer is in the workbook"
                    assert all(c.data_type == "s" for c in formula)  # text, never a formula
                    assert any(sheet.sheet_view.rightToLeft for sheet in book.worksheets)
                page.screenshot(
                    path=str(SHOTS / f"web-{lang}-{username}-{size}-downloads.png"), full_page=True
                )
                assert page.elsewhere == []
