"""The kiosk in chromium: three participants in Arabic, Sorani and Kurmanji on one device.

One presses Back after submitting and must see the start screen, never the previous answers.
Screenshots of each screen in each language go to ``test-artifacts/``; axe-core checks them.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fieldapp.models import DeviceRole, Role
from fieldapp.services import workspace

from .conftest import PASSWORD, add_user
from .serving import serving
from .sync_world import Installation, opened
from .test_browser import ARTIFACTS, chromium_page, pytestmark  # noqa: F401
from .test_browser_workspace import serious_accessibility_problems

ANSWERS = {
    "ar": "نريد مدرسة للبنات",
    "ckb": "ڕێگای گوندەکە چاک بکەنەوە",
    "ku": "Em avê vexwarinê dixwazin",
}


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, str, Path]]:
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Sinjar laptop", (ho,))
    with opened(laptop.folder, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "hawre", Role.FACILITATOR)
        record_id = workspace.save_consultation(
            {
                "kind": "consultation_gathering",
                "original_language": "ar",
                "status": "open",
                "title": {
                    "ar": "مشاورة حول الخدمات",
                    "ckb": "ڕاوێژ دەربارەی خزمەتگوزاری",
                    "ku": "Şêwirîn li ser xizmetguzariyê",
                },
                "governorate": "IQ-NI",
                "languages": ["ar", "ckb", "ku"],
                "consent_text": {
                    "ar": "مشاركتك طوعية.",
                    "ckb": "بەشداریت خۆبەخشانەیە.",
                    "ku": "Beşdariya we bi dilxwazî ye.",
                },
            }
        )
        workspace.add_question(
            record_id,
            {
                "type": "rating",
                "original_language": "ar",
                "required": True,
                "text": {
                    "ar": "كيف تقيّم الخدمات؟",
                    "ckb": "خزمەتگوزارییەکان چۆن هەڵدەسەنگێنیت؟",
                    "ku": "Hûn xizmetguzariyan çawa dinirxînin?",
                },
            },
        )
        workspace.add_question(
            record_id,
            {
                "type": "free_text",
                "original_language": "ar",
                "text": {"ar": "ماذا تقترح؟", "ckb": "پێشنیارت چییە؟", "ku": "Pêşniyara we çi ye?"},
            },
        )
    with serving(laptop.folder) as url:
        yield url, record_id, laptop.folder


@pytest.fixture
def page(served) -> Iterator:
    with chromium_page(bypass_csp=True) as page:
        yield page


def test_three_participants_on_one_kiosk(page, served):
    url, record_id, folder = served
    problems: dict[str, list[str]] = {}

    def shot(name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"kiosk-{name}.png"), full_page=True)
        found = serious_accessibility_problems(page)
        if found:
            problems[name] = found

    page.goto(url + "/login")
    page.fill("#username", "hawre")
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(url + "/")
    page.goto(f"{url}/consultations/{record_id}")
    page.get_by_role("button", name="Open for participants' input").click()
    page.get_by_role("button", name="Use this device as a kiosk").click()
    page.wait_for_url(re.compile(r".*/p/[A-Z0-9]{7}$"))
    start = page.url
    page.goto(f"{url}/consultations")  # a participant cannot reach facilitator pages
    assert page.url == start

    for language, native in (
        ("ar", "العربية"),
        ("ckb", "کوردی (سۆرانی)"),
        ("ku", "Kurdî (Kurmancî)"),
    ):
        page.goto(start)
        shot(f"{language}-0-start")
        page.get_by_role("button", name=native).click()
        page.wait_for_url(f"**/consent?lang={language}")  # nothing kept before consent
        direction = "ltr" if language == "ku" else "rtl"
        assert page.locator("html").get_attribute("dir") == direction
        shot(f"{language}-1-consent")
        page.locator("button[value=agree]").click()
        page.wait_for_url("**/q/1")
        shot(f"{language}-2-rating")
        page.locator(".rating label").nth(3).click()  # four of five
        page.locator("button[value=next]").click()
        page.wait_for_url("**/q/2")
        page.fill("textarea", ANSWERS[language])
        shot(f"{language}-3-text")
        page.locator("button[value=next]").click()
        page.wait_for_url("**/about")
        shot(f"{language}-4-about")
        page.locator("button[value=next]").click()
        page.wait_for_url("**/review")
        assert ANSWERS[language] in page.inner_text("main")
        shot(f"{language}-5-review")
        page.locator("main form button[type=submit]").click()
        page.wait_for_url("**/thanks*")
        shot(f"{language}-6-thanks")
        assert ANSWERS[language] not in page.content()
        if language == "ckb":
            # The next person presses Back: they must not see the previous answers.
            page.go_back()
            page.wait_for_load_state()
            assert ANSWERS["ckb"] not in page.content()
            assert page.url == start
            shot("ckb-7-after-back")

    # At 200% zoom (half the CSS width on the same screen) nothing needs sideways scrolling.
    page.set_viewport_size({"width": 683, "height": 384})
    for path in ("", "/consent"):
        page.goto(start + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    page.get_by_role("button", name="العربية").click()
    page.locator("button[value=agree]").click()
    page.wait_for_url("**/q/1")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot("zoom-200-question")

    with sqlite3.connect(folder / "fieldapp.sqlite3") as connection:
        bodies = [json.loads(row[0]) for row in connection.execute("SELECT body FROM submission")]
    assert sorted(b["language"] for b in bodies) == ["ar", "ckb", "ku"]
    assert {b["channel"] for b in bodies} == {"kiosk"}
    assert problems == {}
    assert page.requested_hosts == {urlsplit(url).netloc}
