"""What a phone downloads (issue #13): the first question page at most 60 KB, later ones 6 KB.

Counted as the bytes on the wire: each response's headers and its body as sent, compressed
(every request made as Chromium makes it, ``Accept-Encoding: gzip, deflate, br, zstd``). In
Chromium itself, through the DevTools protocol (``encodedDataLength`` of every response and
redirect): the first visit to a question page with an empty cache (the page and everything it
names: stylesheet, font, script, icon), the whole way there from the QR address (start,
consent, first question), and the next question page with the assets cached. And with Flask's
test client, for machines without Chromium: the same page and the assets it names.

Before issue #13 (Pico, app.css, the fontsource fonts, no compression): 168-176 KB for the
first question page, 236 KB for the start page, 4.3 KB for a later question page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from fieldapp import create_app
from fieldapp.models import DeviceRole
from fieldapp.services import intake, workspace

from .serving import serving
from .sync_world import Installation, opened

FIRST_VISIT_LIMIT = 60_000
LATER_PAGE_LIMIT = 6_000
LANGUAGES = ("ar", "ckb", "ku")
ENCODINGS = "gzip, deflate, br, zstd"  # what Chromium 156 sends
TEXTS = {
    "title": {
        "ar": "مشاورة حول الخدمات العامة في قضاء سنجار",
        "ckb": "ڕاوێژ دەربارەی خزمەتگوزارییە گشتییەکان لە قەزای شنگال",
        "ku": "Şêwirîn li ser xizmetguzariyên giştî li qezaya Şingalê",
    },
    "question": {
        "ar": "ما رأيك في الخدمات؟",
        "ckb": "بیرۆکەت چییە دەربارەی خزمەتگوزاری؟",
        "ku": "Hûn li ser xizmetan çi difikirin?",
    },
}
OPTIONS = [
    {"id": "o1", "label": {"ar": "الطريق", "ckb": "ڕێگا", "ku": "Rê"}},
    {"id": "o2", "label": {"ar": "الصحة", "ckb": "تەندروستی", "ku": "Tenduristî"}},
    {"id": "o3", "label": {"ar": "العمل", "ckb": "کار", "ku": "Kar"}},
]


def make_meeting(root: Path) -> tuple[Path, str]:
    """A laptop with a consultation open in ar, ckb, ku, a question of each kind."""
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Sinjar laptop", (ho,))
    with opened(laptop.folder) as _app:
        record_id = workspace.save_consultation(
            {
                "kind": "consultation_gathering",
                "original_language": "ckb",
                "status": "open",
                "title": TEXTS["title"],
                "governorate": "IQ-NI",
                "languages": list(LANGUAGES),
                "consent_text": {
                    "ar": "مشاركتك طوعية.",
                    "ckb": "بەشداریت خۆبەخشانەیە.",
                    "ku": "Beşdariya we bi dilxwazî ye.",
                },
            }
        )
        for body in (
            {"type": "rating", "required": True},
            {"type": "single_choice", "options": OPTIONS},
            {"type": "multiple_choice", "options": OPTIONS},
            {"type": "yes_no"},
            {"type": "ranking", "options": OPTIONS},
            {"type": "free_text"},
        ):
            workspace.add_question(
                record_id, {**body, "original_language": "ckb", "text": TEXTS["question"]}
            )
        code = intake.open_intake(record_id)
    return laptop.folder, code


# ---- Flask's test client: no browser needed ------------------------------------------------


def _wire_bytes(response) -> int:  # noqa: ANN001 -- a werkzeug test response
    """Status line, headers and body, as HTTP/1.1 sends them."""
    head = f"HTTP/1.1 {response.status}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in response.headers.items()
    )
    return len(head.encode("latin-1")) + 2 + len(response.get_data())


def _referenced(html: str) -> list[str]:
    """What a browser fetches for a page: stylesheets, preloads, scripts, one icon."""
    found = re.findall(r'<link rel="(?:stylesheet|preload)" href="([^"]+)"', html)
    found += re.findall(r'<script src="([^"]+)"', html)
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', html)
    return found + icons[-1:]  # Chromium takes the last icon it can use (the .ico here)


@pytest.mark.parametrize("language", LANGUAGES)
def test_first_question_page_by_test_client(tmp_path, language):
    folder, code = make_meeting(tmp_path)
    app = create_app(
        {"TESTING": True, "WTF_CSRF_ENABLED": False}, instance_path=folder, participant_only=True
    )
    client = app.test_client()
    headers = {"Accept-Encoding": ENCODINGS}
    chosen = client.post(f"/p/{code}", data={"language": language}, headers=headers)
    consent_url = chosen.headers["Location"]
    consent = client.get(consent_url, headers=headers).get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)"', consent)
    agreed = client.post(
        action.group(1).replace("&amp;", "&") if action else consent_url,
        data={"choice": "agree"},
        headers=headers,
    )
    question_url = urlsplit(agreed.headers["Location"]).path
    assert question_url.endswith("/q/1")

    page = client.get(question_url, headers=headers)
    html = page.get_data(as_text=True)
    sizes = {question_url: _wire_bytes(page)}
    pending = _referenced(html)
    while pending:
        url = pending.pop()
        with client.get(url, headers=headers) as response:
            assert response.status_code == 200, url
            sizes[url] = _wire_bytes(response)
            if response.mimetype == "text/css":
                css = response.get_data()
                if response.headers.get("Content-Encoding") == "br":
                    import brotli

                    css = brotli.decompress(css)
                for ref in re.findall(r'url\("([^"]+\.woff2)"\)', css.decode("utf-8")):
                    pending.append(urljoin(url, ref))
    total = sum(sizes.values())
    print(f"{language}: first question page by test client {total / 1000:.1f} KB", sizes)  # noqa: T201
    assert any(url.endswith(".woff2") for url in sizes)  # the font was counted
    assert any(url.endswith(".css") for url in sizes)
    assert total <= FIRST_VISIT_LIMIT

    field = re.search(r'type="radio" name="(q_[^"]+)"', html).group(1)  # the faces of 1-5
    answered = client.post(question_url, data={field: "4", "go": "next"}, headers=headers)
    later_url = urlsplit(answered.headers["Location"]).path
    assert later_url.endswith("/q/2")
    later = client.get(later_url, headers=headers)
    later_bytes = _wire_bytes(answered) + _wire_bytes(later)
    print(f"{language}: a later page by test client {later_bytes / 1000:.2f} KB")  # noqa: T201
    assert later_bytes <= LATER_PAGE_LIMIT


# ---- Chromium: what the browser itself counts ----------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, str]]:
    folder, code = make_meeting(tmp_path_factory.mktemp("weight"))
    with serving(folder) as url:
        yield url, code


class Traffic:
    """Bytes received per URL, from the DevTools protocol's network events."""

    def __init__(self, context, page) -> None:  # noqa: ANN001 -- Playwright objects
        self.cdp = context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.urls: dict[str, str] = {}
        self.log: list[tuple[str, int]] = []
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.loadingFinished", self._finished)

    def _sent(self, event: dict) -> None:
        redirect = event.get("redirectResponse")
        if redirect:  # the redirect's own response: counted under the address it came from
            self.log.append((self.urls[event["requestId"]], int(redirect["encodedDataLength"])))
        self.urls[event["requestId"]] = event["request"]["url"]

    def _finished(self, event: dict) -> None:
        url = self.urls.get(event["requestId"], "?")
        self.log.append((url, int(event["encodedDataLength"])))

    def take(self) -> list[tuple[str, int]]:
        """What arrived since the last call, as (path, bytes)."""
        taken = [(urlsplit(url).path, size) for url, size in self.log]
        self.log = []
        return taken

    def forget_cache(self) -> None:
        self.cdp.send("Network.clearBrowserCache")


def _settle(page) -> None:  # noqa: ANN001
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_first_visit_and_later_pages_in_chromium(served, language):
    from playwright.sync_api import sync_playwright

    from .test_browser import CHROMIUM, LAUNCH_ARGS

    if CHROMIUM is None and not os.environ.get("CI"):  # as tests/test_browser.py: CI has it
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    url, code = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 360, "height": 740})
        page = context.new_page()
        traffic = Traffic(context, page)
        try:
            page.goto(f"{url}/p/{code}")
            _settle(page)
            page.locator(f".kiosk-languages button[value={language}]").click()
            page.wait_for_url(re.compile(r".*/consent(\?.*)?$"))
            _settle(page)
            page.locator("button[value=agree]").click()
            page.wait_for_url("**/q/1")
            _settle(page)
            whole_way = traffic.take()

            traffic.forget_cache()  # a phone that comes straight to the question page
            page.goto(f"{url}/p/{code}/q/1")
            _settle(page)
            first = traffic.take()

            page.locator(".rating label").nth(3).click()
            page.locator("button[value=next]").click()
            page.wait_for_url("**/q/2")
            _settle(page)
            later = traffic.take()
        finally:
            context.close()
            browser.close()

    whole_way_bytes = sum(size for _path, size in whole_way)
    first_bytes = sum(size for _path, size in first)
    later_bytes = sum(size for _path, size in later)
    print(  # noqa: T201 -- the figures go into the report
        f"{language}: first question page {first_bytes / 1000:.1f} KB, "
        f"start to first question {whole_way_bytes / 1000:.1f} KB, "
        f"later question page {later_bytes / 1000:.2f} KB",
        first,
    )
    fetched = [path for path, size in first if size]
    assert any(path.endswith(".woff2") for path in fetched), fetched  # the font was counted
    assert any(path.endswith(".css") for path in fetched), fetched
    assert any(path.endswith(".js") for path in fetched), fetched
    assert first_bytes <= FIRST_VISIT_LIMIT
    assert whole_way_bytes <= FIRST_VISIT_LIMIT
    assert later_bytes <= LATER_PAGE_LIMIT
    # Immutable assets are taken from the cache without asking the server again.
    assert [path for path, size in later if size and path.startswith("/static/")] == []
