"""A facilitator's meeting in Sorani, in chromium: template, attendance, input, actions, print.

Screenshots of every step go to ``test-artifacts/``; axe-core (vendored under tests/assets,
MPL-2.0) checks each page for serious or critical accessibility problems.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fieldapp.models import DeviceRole, Role
from fieldapp.services import records, workspace

from .conftest import PASSWORD, add_user
from .serving import serving
from .sync_world import Installation, opened
from .test_browser import ARTIFACTS, chromium_page, pytestmark  # noqa: F401
from .test_workspace import district_code

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "assets" / "axe.min.js"


@pytest.fixture
def meeting_laptop(tmp_path) -> Iterator[tuple[str, Path]]:
    """A field laptop with a template from head office and a facilitator account, served."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    with opened(laptop.folder, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "hawre", Role.FACILITATOR, display_name="هاوڕێ")
        source, _rev = records.create(
            "consultation",
            {
                "kind": "lpc_meeting",
                "title": {"ckb": "قاڵب"},
                "original_language": "ckb",
                "status": "draft",
                "governorate": "IQ-NI",
            },
        )
        for body in (
            {
                "type": "single_choice",
                "original_language": "ckb",
                "required": True,
                "text": {
                    "ckb": "گرنگترین پێویستی ناوچەکەتان چییە؟",
                    "ar": "ما هي أهم حاجة لمنطقتكم؟",
                },
                "options": [
                    {"id": "o1", "label": {"ckb": "ئاسایش", "ar": "الأمن"}},
                    {"id": "o2", "label": {"ckb": "خزمەتگوزاری", "ar": "الخدمات"}},
                ],
            },
            {
                "type": "free_text",
                "original_language": "ckb",
                "text": {
                    "ckb": "حکومەتی ناوچەیی دەبێت یەکەم جار چی بکات؟",
                    "ar": "ماذا يجب أن تفعل الحكومة المحلية أولاً؟",
                },
            },
        ):
            workspace.add_question(source, body)
        workspace.save_as_template(
            source, {"ckb": "قاڵبی لیژنەی ئاشتی", "en": "LPC template"}, "ckb"
        )
        records.delete(source, records.current(source).winner_rev)
    with serving(laptop.folder) as url:
        yield url, laptop.folder


@pytest.fixture
def page(meeting_laptop) -> Iterator:
    # axe is injected into the page by the test itself, which the strict CSP would refuse.
    with chromium_page(bypass_csp=True) as page:
        yield page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True)


def serious_accessibility_problems(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])})"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_a_meeting_in_sorani(page, meeting_laptop):
    url, _folder = meeting_laptop
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        assert page.locator("html").get_attribute("dir") == "rtl", name
        shot(page, name)
        found = serious_accessibility_problems(page)
        if found:
            problems[name] = found

    page.goto(url + "/login")
    page.get_by_role("button", name="کوردی (سۆرانی)").click()
    page.fill("#username", "hawre")
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(url + "/")

    # 1. A consultation from the template.
    page.goto(url + "/consultations")
    check("1-list")
    page.locator("details summary").click()
    page.get_by_role("link", name="قاڵبی لیژنەی ئاشتی").click()
    page.fill("#title_ckb", "کۆبوونەوەی لیژنەی ئاشتی، بەعشیقە")
    page.select_option("#governorate", "IQ-NI")
    page.select_option("#district", district_code("Al-Hamdaniya"))
    page.fill("#place", "هۆڵی گەڕەک")
    page.fill("#starts_on", "2026-03-12")
    page.check("input[name=languages][value=ar]")
    check("2-plan")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(r".*/consultations/[0-9a-f-]{36}$"))
    record_id = page.url.rsplit("/", 1)[-1]
    check("3-overview")

    # 2. Attendance.
    page.goto(f"{url}/consultations/{record_id}/attendance")
    page.fill("[name=c_woman_18_29]", "9")
    page.fill("[name=c_woman_30_44]", "٦")
    page.fill("[name=c_man_30_44]", "12")
    page.fill("[name=c_man_45_59]", "7")
    check("4-attendance")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{url}/consultations/{record_id}")
    assert "34" in page.inner_text(".big-number >> nth=0")

    # 3. Three spoken contributions, from the keyboard only.
    page.goto(f"{url}/consultations/{record_id}/capture")
    page.locator("input[name=consent_method][value=spoken]").check()  # kept by Save and next
    page.locator(".capture input[name^=q_] >> nth=0").focus()  # where the page put the focus
    check("5-capture")
    for number, words in enumerate(
        ["ڕێگای گوندەکە چاک بکەنەوە", "قوتابخانەیەکی نوێ", "ئاوی خواردنەوە"]
    ):
        focused = page.evaluate("document.activeElement.name")
        assert focused.startswith("q_"), focused  # the first answer has the focus
        page.keyboard.press("Space")  # choose the first option
        page.keyboard.press("Tab")  # out of the radio group, into the next answer
        page.keyboard.type(words)
        assert page.evaluate("document.activeElement.value") == words
        page.locator("#save-next").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert f"{number + 1}" in page.inner_text(".flash")
    shot(page, "6-captured")

    # 4. Two action points.
    page.goto(f"{url}/consultations/{record_id}/actions")
    for text, who in (
        ("چاککردنەوەی ڕێگای گوند", "ئەنجومەنی ناوچە"),
        ("کۆبوونەوە لەگەڵ پەروەردە", "لیژنەی ئاشتی"),
    ):
        page.fill("#text_ckb", text)
        page.fill("#responsible", who)
        with page.expect_navigation():
            page.locator("main article form button[type=submit]").click()
    check("7-actions")
    assert page.locator("ol.question-list > li").count() == 2

    # 5. The printed summary.
    page.goto(f"{url}/consultations/{record_id}/print?in=ckb")
    assert page.locator("html").get_attribute("lang") == "ckb-IQ"
    assert "34" in page.inner_text(".figures")
    check("8-print")
    page.emulate_media(media="print")
    shot(page, "9-print-media")
    pdf = ARTIFACTS / "journey-summary.pdf"
    page.emulate_media(media="screen")
    page.pdf(path=str(pdf), format="A4")
    assert pdf.stat().st_size > 10_000

    assert problems == {}
    assert page.requested_hosts == {urlsplit(url).netloc}
