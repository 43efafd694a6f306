"""Ranking questions in chromium: ranks typed on an Arabic or Kurdish keyboard are kept.

A type=number box empties itself when ٢ is typed; the boxes are text with a numeric keyboard.
A facilitator types a paper form on the capture screen, two participants rank on a phone-sized
kiosk, and Check your answers lists their ranking in rank order. Screenshots of the review, the
overview and the printed summary in Arabic and Sorani go to /tmp/shots/ and test-artifacts/.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fieldapp.models import DeviceRole, Role
from fieldapp.services import workspace

from .conftest import PASSWORD, add_user
from .serving import serving
from .sync_world import Installation, opened
from .test_browser import ARTIFACTS, chromium_page, pytestmark  # noqa: F401

SHOTS = Path("/tmp/shots")
LABELS = {
    "o1": {"ar": "الطرق", "ckb": "ڕێگاوبان", "en": "Roads"},
    "o2": {"ar": "الصحة", "ckb": "تەندروستی", "en": "Health"},
    "o3": {"ar": "فرص العمل", "ckb": "هەلی کار", "en": "Jobs"},
}


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, str, str, Path]]:
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Halabja laptop", (ho,))
    with opened(laptop.folder, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "hawre", Role.FACILITATOR)
        record_id = workspace.save_consultation(
            {
                "kind": "consultation_gathering",
                "original_language": "ar",
                "status": "open",
                "title": {"ar": "أولويات الخدمات", "ckb": "ئەولەویەتی خزمەتگوزارییەکان"},
                "governorate": "IQ-NI",
                "languages": ["ar", "ckb"],
                "consent_text": {"ar": "مشاركتك طوعية.", "ckb": "بەشداریت خۆبەخشانەیە."},
            }
        )
        question = workspace.add_question(
            record_id,
            {
                "type": "ranking",
                "original_language": "ar",
                "required": True,
                "text": {"ar": "رتّب الأولويات", "ckb": "ئەولەویەتەکان ڕیز بکە"},
                "options": [{"id": o, "label": label} for o, label in LABELS.items()],
            },
        )
    with serving(laptop.folder) as url:
        yield url, record_id, question, laptop.folder


@pytest.fixture
def page(served) -> Iterator:
    with chromium_page(bypass_csp=True) as page:
        yield page


def shot(page, name: str) -> None:
    """A full-page screenshot, kept for people to look at."""
    for folder in (SHOTS, ARTIFACTS):
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / f"h4-{name}.png"), full_page=True)


def type_ranks(page, question: str, ranks: dict[str, str]) -> None:
    """Type each rank key by key, as on an Arabic or Kurdish keyboard."""
    for option, rank in ranks.items():
        box = page.locator(f'input[name="q_{question}_{option}"]')
        box.click()
        box.press_sequentially(rank)
        assert box.input_value() == rank, f"the box for {option} dropped {rank!r}"


def stored_rankings(folder: Path, question: str) -> dict[str, list[str]]:
    """Each submission's ranking, by channel."""
    with sqlite3.connect(folder / "fieldapp.sqlite3") as connection:
        bodies = [json.loads(row[0]) for row in connection.execute("SELECT body FROM submission")]
    return {b["channel"] + "-" + b["language"]: b["answers"][question] for b in bodies}


def test_ranks_typed_in_arabic_and_kurdish_digits(page, served):
    url, record_id, question, folder = served
    page.goto(url + "/login")
    page.fill("#username", "hawre")
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(url + "/")

    # A paper form typed on the capture screen, ranks in Arabic-Indic digits.
    page.goto(f"{url}/consultations/{record_id}/capture")
    page.locator("input[name=channel][value=paper]").check()
    page.locator("input[name=language][value=ar]").check()
    page.locator("input[name=consent_method][value=written]").check()
    type_ranks(page, question, {"o1": "٢", "o2": "٣", "o3": "١"})
    page.locator("#save-next").click()
    page.wait_for_url(re.compile(r".*/capture\?.*"))
    assert stored_rankings(folder, question) == {"paper-ar": ["o3", "o1", "o2"]}

    # Two participants on a phone-sized kiosk: Arabic, then Sorani (Persian-style digits).
    page.goto(f"{url}/consultations/{record_id}")
    page.get_by_role("button", name="Open for participants' input").click()
    page.get_by_role("button", name="Use this device as a kiosk").click()
    page.wait_for_url(re.compile(r".*/p/[A-Z0-9]{7}$"))
    start = page.url
    page.set_viewport_size({"width": 360, "height": 740})
    for language, native, ranks, expected in (
        ("ar", "العربية", {"o1": "٢", "o2": "١", "o3": "٣"}, ["o2", "o1", "o3"]),
        ("ckb", "کوردی (سۆرانی)", {"o1": "۳", "o2": "۲", "o3": "۱"}, ["o3", "o2", "o1"]),
    ):
        page.goto(start)
        page.get_by_role("button", name=native).click()
        page.locator("button[value=agree]").click()
        page.wait_for_url("**/q/1")
        type_ranks(page, question, ranks)
        shot(page, f"question-{language}")
        page.locator("button[value=next]").click()
        page.wait_for_url("**/about")
        page.locator("button[value=next]").click()
        page.wait_for_url("**/review")
        shown = page.locator("ol.answer.ranked > li").all_inner_texts()
        assert shown == [LABELS[o][language] for o in expected]
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # Numbered by the list itself, at the start of the line: the right in Arabic and Sorani.
        ranked = page.locator("ol.answer.ranked")
        assert ranked.evaluate("ol => getComputedStyle(ol.firstElementChild).listStyleType") == (
            "decimal"
        )
        assert ranked.evaluate("ol => getComputedStyle(ol).direction") == "rtl"
        shot(page, f"review-{language}")
        page.locator("main form button[type=submit]").click()
        page.wait_for_url("**/thanks*")
    assert stored_rankings(folder, question) == {
        "paper-ar": ["o3", "o1", "o2"],
        "kiosk-ar": ["o2", "o1", "o3"],
        "kiosk-ckb": ["o3", "o2", "o1"],
    }

    # The facilitator ends kiosk mode and reads the priorities: Jobs 3+1+3 = 7 points, two first
    # choices; Health 1+3+2 = 6, one; Roads 2+2+1 = 5, none.
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{url}/kiosk/unlock")
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{url}/consultations/{record_id}")
    for language in ("ar", "ckb"):
        page.goto(f"{url}/consultations/{record_id}?lang={language}")
        rows = page.locator("table.priorities tbody tr")
        assert rows.count() == 3
        assert [rows.nth(i).locator("th").inner_text() for i in range(3)] == [
            LABELS[o][language] for o in ("o3", "o2", "o1")
        ]
        assert "(n = 3)" in page.locator("p.priorities-count").inner_text()
        page.locator("table.priorities").scroll_into_view_if_needed()
        shot(page, f"overview-{language}")
        page.goto(f"{url}/consultations/{record_id}/print?in={language}&lang={language}")
        assert page.locator("html").get_attribute("dir") == "rtl"
        cells = page.locator("table.priorities tbody tr").first.locator("td, th")
        assert cells.all_inner_texts() == ["1", LABELS["o3"][language], "2", "7"]
        shot(page, f"print-{language}")
