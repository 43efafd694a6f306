"""An analyst's day at head office in Sorani, in chromium: filter, review, code, resolve.

The head office holds the merged files of two laptops (demo data, near-equal typed answers and
an action point edited on both, so that it has a conflict). The analyst signs in, filters the
Contributions, approves two, excludes a duplicate, adds a theme and codes a contribution with
it, and resolves the conflict. The same screens are taken once more in Arabic.
Screenshots go to ``/tmp/shots/journey-<lang>-<n>-<name>.png``.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.support import Translations

from fieldapp.i18n import BY_CODE, TRANSLATIONS_DIR
from fieldapp.models import DeviceRole, Role
from fieldapp.services import contribution_query, demo, records

from .conftest import PASSWORD, add_user, translated
from .serving import serving
from .sync_world import Installation, copy_record
from .test_browser import chromium_page, pytestmark  # noqa: F401
from .test_conflicts import edit

SHOTS = Path("/tmp/shots")  # noqa: S108 -- where the reviewer looks at the screens
WORD = "پاک"  # "clean": three typed answers of the shared consultation contain it
THEME = "ئاو و ئاوەڕۆ"  # "water and sewage", the theme the analyst adds


@pytest.fixture(scope="module")
def head_office(tmp_path_factory) -> Path:
    """A head office that merged two laptops' files: demo data, duplicates, one conflict."""
    root = tmp_path_factory.mktemp("journey")
    files = root / "files"
    files.mkdir()
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    a = Installation(root / "a", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    b = Installation(root / "b", DeviceRole.FIELD, "Sinjar laptop", (ho,))
    ho.register(a, b)
    amira = records.Actor(None, "amira", "ئامیرە حەسەن")
    with a.session(), records.acting_as(amira):
        demo.fill(consultations=1, submissions=12, seed=1)
        consultation, _ = records.create(
            "consultation",
            {
                "kind": "lpc_meeting",
                "title": {"ckb": "کۆبوونەوەی لیژنەی ئاشتی، بەعشیقە", "ar": "اجتماع لجنة السلام"},
                "original_language": "ckb",
                "status": "open",
                "governorate": "IQ-NI",
                "languages": ["ckb", "ar"],
            },
        )
        action, _ = records.create(
            "action_point",
            {
                "consultation": consultation,
                "text": {"ckb": "چاککردنی بۆری ئاوی گوند", "ar": "إصلاح أنابيب مياه القرية"},
                "original_language": "ckb",
                "priority": "high",
                "status": "agreed",
            },
        )
        question, _ = records.create(
            "question",
            {
                "consultation": consultation,
                "position": 0,
                "type": "free_text",
                "text": {"ckb": "گرنگترین کێشەی گوندەکەتان چییە؟", "ar": "ما أهم مشكلة في قريتكم؟"},
                "original_language": "ckb",
            },
        )
        for key, text, channel in (
            ("w1", "ئاوی پاک نییە", "spoken"),
            ("w2", "ئاوی پاک نییە!!", "spoken"),
            ("w3", "ئاوی پاکمان پێویستە", "paper"),
            ("w4", "ڕێگاکە خراپە", "spoken"),
        ):
            records.add_submission(consultation, {question: text}, "ckb", channel, key)
    for record_id in (consultation, action, question):
        copy_record(a, b, record_id)
    with b.session():
        demo.fill(consultations=1, submissions=12, seed=2)
    edit(a, action, amira, status="in_progress")
    edit(b, action, records.Actor(None, "karwan", "کاروان عەلی"), responsible="شارەوانیی شنگال")
    summaries = ho.merge(a.export(files), b.export(files))
    assert all(s.ok for s in summaries)
    assert sum(s.conflicts for s in summaries) == 1
    with ho.session() as app:
        add_user(app, "layla", Role.ANALYST, display_name="لەیلا ئەحمەد")
        assert contribution_query.count(contribution_query.Filters(text=WORD))[0] == 3
    return ho.folder


def t(lang: str, msgid: str, **params: object) -> str:
    """The text a person reads (not HTML-escaped)."""
    return html.unescape(translated(lang, msgid, **params))


def tn(lang: str, singular: str, plural: str, count: int) -> str:
    """A plural message with ``%(count)s``, as the Contributions pages write it."""
    catalogue = Translations.load(str(TRANSLATIONS_DIR), [BY_CODE[lang].locale])
    text = catalogue.ngettext(singular, plural, count)
    assert text not in (singular, plural), f"{plural!r} is not translated into {lang}"
    return text % {"count": f"{count:,}"}


@pytest.mark.parametrize("lang", ["ckb", "ar"])
def test_an_analyst_reviews_codes_and_resolves_at_head_office(head_office, tmp_path, lang):
    """Sorani (and Arabic): every step asserted, every screen right to left, all on 127.0.0.1."""
    folder = tmp_path / "ho"
    shutil.copytree(head_office, folder)
    SHOTS.mkdir(exist_ok=True)
    number = iter(range(1, 100))

    def look(page, name: str) -> None:
        """What every screen must be: right to left, in the reader's language; a screenshot."""
        page.wait_for_load_state()
        root = page.locator("html")
        assert root.get_attribute("dir") == "rtl", name
        assert root.get_attribute("lang").split("-")[0] == lang, name
        page.screenshot(
            path=str(SHOTS / f"journey-{lang}-{next(number)}-{name}.png"), full_page=True
        )

    def count_shown(page) -> str:
        return page.inner_text(".review-count").strip()

    def matches(count: int) -> str:
        return tn(lang, "%(count)s contribution matches.", "%(count)s contributions match.", count)

    def row(page, text: str):
        """The list's row whose typed answer is exactly ``text``."""
        return page.locator("table.contributions tbody tr").filter(
            has=page.locator("span.typed", has_text=re.compile(f"^{re.escape(text)}$"))
        )

    with serving(folder) as url, chromium_page() as page:
        page.set_default_timeout(10_000)
        # Sign in, in the reader's language.
        page.goto(url + "/login")
        page.get_by_role("button", name=BY_CODE[lang].native_name).click()
        page.wait_for_load_state()
        page.fill("#username", "layla")
        page.fill("#password", PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(url + "/")

        # 1. Contributions: filter by answer language and a typed word, then by channel.
        page.get_by_role("link", name=t(lang, "Contributions"), exact=True).first.click()
        page.wait_for_url(url + "/contributions")
        assert t(lang, "Contributions") in page.inner_text("h1")
        everything = count_shown(page)
        look(page, "list")
        page.locator("details.review-filters summary").click()
        page.select_option("#f-language", "ckb")
        page.locator("#f-q").click()
        page.keyboard.type(WORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        query = parse_qs(urlsplit(page.url).query)
        assert query["language"] == ["ckb"]
        assert query["q"] == [WORD]
        assert count_shown(page).startswith(matches(3))
        assert count_shown(page) != everything
        look(page, "filtered")
        page.select_option("#f-channel", "spoken")
        with page.expect_navigation():
            page.get_by_role("button", name=t(lang, "Show"), exact=True).click()
        query = parse_qs(urlsplit(page.url).query)
        assert (query["language"], query["channel"], query["q"]) == (["ckb"], ["spoken"], [WORD])
        assert count_shown(page).startswith(matches(2))
        assert page.locator("#f-q").input_value() == WORD
        look(page, "filtered-channel")

        # 2. Back to three; tick two and approve them, after the confirmation page.
        page.go_back()
        page.wait_for_load_state()
        assert count_shown(page).startswith(matches(3))
        row(page, "ئاوی پاک نییە").locator("input[name=key]").check()
        row(page, "ئاوی پاکمان پێویستە").locator("input[name=key]").check()
        page.select_option("select[name=action]", label=t(lang, "Approve"))
        with page.expect_navigation():
            page.get_by_role("button", name=t(lang, "Review the ticked contributions")).click()
        assert t(lang, "Confirm the bulk review") in page.inner_text("h1")
        statement = tn(
            lang,
            "You are about to mark %(count)s contribution as approved.",
            "You are about to mark %(count)s contributions as approved.",
            2,
        )
        assert statement in page.inner_text(".big-statement")
        look(page, "confirm")
        with page.expect_navigation():
            page.get_by_role("button", name=t(lang, "Yes, change them")).click()
        changed = tn(lang, "%(count)s contribution changed.", "%(count)s contributions changed.", 2)
        assert changed in page.inner_text(".flash")
        approved = t(lang, "Approved")
        for text in ("ئاوی پاک نییە", "ئاوی پاکمان پێویستە"):
            assert approved in row(page, text).locator(".review-state").inner_text()
        assert approved not in row(page, "ئاوی پاک نییە!!").locator(".review-state").inner_text()
        assert count_shown(page).startswith(matches(3))
        look(page, "approved")

        # 3. The first one's page: its near-equal twin is excluded as a duplicate.
        row(page, "ئاوی پاک نییە").locator("a.contribution-link").click()
        page.wait_for_url(re.compile(r".*/contributions/.+"))
        assert page.inner_text(".contribution-answer").strip() == "ئاوی پاک نییە"
        twin = page.locator("ul.duplicates li").filter(has_text="ئاوی پاک نییە!!")
        assert twin.count() == 1
        look(page, "contribution")
        with page.expect_navigation():
            twin.get_by_role("button", name=t(lang, "Exclude that one as a duplicate")).click()
        assert page.inner_text(".contribution-answer").strip() == "ئاوی پاک نییە"
        assert t(lang, "The contribution was excluded as a duplicate.") in page.inner_text(".flash")
        state = twin.locator(".review-state").inner_text()
        assert t(lang, "Excluded") in state
        assert twin.get_by_role("button").count() == 0
        contribution_url = page.url
        look(page, "duplicate-excluded")

        # 4. A theme in the codebook, applied to the contribution.
        page.get_by_role("link", name=t(lang, "Codebook"), exact=True).first.click()
        page.wait_for_url(url + "/codebook")
        look(page, "codebook-empty")
        page.get_by_role("button", name=t(lang, "Add a theme")).click()
        page.wait_for_url(url + "/codebook/new")
        page.locator("#name_ckb").click()
        page.keyboard.type(THEME)
        page.select_option("#original_language", "ckb")
        page.locator("fieldset.palette input[type=radio]").nth(2).check()
        look(page, "new-theme")
        with page.expect_navigation():
            page.get_by_role("button", name=t(lang, "Save the code")).click()
        assert THEME in page.inner_text("main")
        look(page, "codebook")
        page.goto(contribution_url)
        page.locator("form.coding-form label", has_text=THEME).locator("input").check()
        with page.expect_navigation():
            page.get_by_role("button", name=t(lang, "Save the codes")).click()
        assert t(lang, "Codes saved.") in page.inner_text(".flash")
        assert THEME in page.inner_text("section.coding-box ul.code-chips")
        look(page, "coded")
        page.get_by_role("link", name=t(lang, "Back to the list")).first.click()
        page.wait_for_load_state()
        assert THEME in row(page, "ئاوی پاک نییە").locator(".code-chips").inner_text()
        # The filter was carried along; the excluded twin is left out now.
        assert count_shown(page).startswith(matches(2))
        assert t(lang, "Excluded contributions are left out.") in count_shown(page)
        assert row(page, "ئاوی پاک نییە!!").count() == 0
        look(page, "list-coded")

        # 5. The conflict: both versions side by side, keep one; none is left.
        page.get_by_role("link", name=t(lang, "Conflicts"), exact=True).first.click()
        page.wait_for_url(url + "/conflicts")
        title = {"ckb": "چاککردنی بۆری ئاوی گوند", "ar": "إصلاح أنابيب مياه القرية"}[lang]
        assert title in page.inner_text("table.conflict-list")
        look(page, "conflicts")
        page.locator("table.conflict-list a").first.click()
        page.wait_for_url(re.compile(r".*/conflicts/.+"))
        versions = page.locator("table.conflict-versions")
        assert "Bashiqa laptop" in versions.inner_text()
        assert "Sinjar laptop" in versions.inner_text()
        assert page.locator("tr.differs").count() >= 2  # status and responsible
        look(page, "versions")
        with page.expect_navigation():
            page.get_by_role("button", name=t(lang, "Keep this version")).first.click()
        page.wait_for_url(url + "/conflicts")
        main = page.inner_text("main")
        assert (
            t(lang, "The conflict is resolved: the version you chose is now the record's value.")
            in main
        )
        assert t(lang, "No record has a conflict.") in main
        look(page, "resolved")

        assert page.requested_hosts == {urlsplit(url).netloc}
