"""A facilitator's first day, driven in Debian's chromium with Playwright.

The browser talks to a real fieldapp server (waitress, started as a facilitator would start it),
and every request it makes is recorded: none may go to any host but 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import PASSWORD
from .serving import serving

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser
if CHROMIUM is None and not os.environ.get("CI"):
    pytestmark = [
        pytest.mark.browser,
        pytest.mark.skip(reason="Debian's chromium is not installed (apt-get install chromium)"),
    ]


@pytest.fixture
def server(tmp_path) -> Iterator[str]:
    """fieldapp serving a brand-new installation on a free loopback port."""
    with serving(tmp_path / "instance") as url:
        yield url


@contextmanager
def chromium_page(bypass_csp: bool = False) -> Iterator:
    """A fresh chromium page on a 1366x768 screen that records the host of every request."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium must be installed for the browser tests"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(
            viewport={"width": 1366, "height": 768}, bypass_csp=bypass_csp
        )
        page = context.new_page()
        page.requested_hosts = set()
        page.on("request", lambda request: page.requested_hosts.add(urlsplit(request.url).netloc))
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def page(server) -> Iterator:
    """A chromium page for the server."""
    with chromium_page() as page:
        yield page


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def finish_setup(page, server: str) -> None:
    """After the first account: this installation is a head office named Erbil."""
    page.wait_for_url(server + "/setup/installation")
    page.check("input[name=role][value=headoffice]")
    page.click("#setup-role button[type=submit]")
    page.fill("#name", "Erbil head office")
    page.click("#setup-installation button[type=submit]")
    page.wait_for_url(server + "/setup/done")
    page.goto(server + "/")


def test_first_run_login_and_sorani(page, server):
    """Setup, sign out, sign in, switch to Sorani: right to left, nothing fetched elsewhere."""
    page.goto(server + "/")
    assert page.url.endswith("/setup")
    page.fill("#username", "amira")
    page.fill("#display_name", "ئامیرە")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    finish_setup(page, server)
    assert "ئامیرە" in page.inner_text("h1")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(server + "/login")
    page.fill("#username", "amira")
    page.fill("#password", "not my password")
    page.get_by_role("button", name="Sign in").click()
    assert "not correct" in page.inner_text("main")
    page.fill("#username", "amira")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server + "/")

    page.get_by_role("button", name="کوردی (سۆرانی)").click()
    page.wait_for_load_state()
    html = page.locator("html")
    assert html.get_attribute("dir") == "rtl"
    assert html.get_attribute("lang") == "ckb-IQ"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    # The vendored Arabic-script font is the one actually drawing the text.
    page.evaluate("document.fonts.ready")
    assert page.evaluate("document.fonts.check('16px \"Noto Sans Arabic\"', 'ڕڵۆێە')")
    screenshot(page, "home-ckb")

    page.goto(server + "/export")
    assert page.locator("html").get_attribute("dir") == "rtl"
    screenshot(page, "export-ckb")

    # The choice is remembered: a new page load, and the sign-in page after signing out.
    page.goto(server + "/account/password")
    assert page.locator("html").get_attribute("dir") == "rtl"
    screenshot(page, "password-ckb")
    page.locator("header form button[type=submit]").click()
    page.wait_for_url(server + "/login")
    assert page.locator("html").get_attribute("lang") == "ckb-IQ"
    screenshot(page, "login-ckb")

    page.get_by_role("button", name="العربية").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "ar-IQ"
    screenshot(page, "login-ar")

    assert page.requested_hosts == {urlsplit(server).netloc}


def test_back_button_after_sign_out_shows_no_page(page, server):
    """After signing out, Back does not show the signed-in page from the browser's cache."""
    page.goto(server + "/setup")
    page.fill("#username", "amira")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    finish_setup(page, server)
    page.goto(server + "/account/password")
    page.locator("header form button[type=submit]").click()
    page.wait_for_url(server + "/login")
    page.go_back()
    page.wait_for_load_state()
    assert "/login" in page.url or page.locator("#username").count() == 1
