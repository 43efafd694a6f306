"""Phones on a real hotspot: the laptop's Wi-Fi is the access point, there is no internet.

A Linux hotspot gives the laptop 10.42.0.1/24 and no default route (Windows' Mobile Hotspot:
192.168.137.1). The tests that need such a network build one in Linux network namespaces: a
"laptop" namespace whose only address is 10.42.0.1/24 on ``wlan0``, no route beyond it, joined
by a virtual cable to a "phone" namespace at 10.42.0.2. They need root and ``ip`` and are
skipped, with the reason shown, where those are missing.

Run as ``python -m tests.test_hotspot laptop FOLDER`` this module is the laptop's side of those
tests: a facilitator signed in, driven by JSON commands on standard input.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ifaddr
import pytest

from fieldapp import lan
from fieldapp.i18n import BY_CODE
from fieldapp.models import Role
from fieldapp.services import intake, records, workspace

from .conftest import PASSWORD, add_user, login, translated
from .sync_world import meeting_laptop, opened, site

ROOT = Path(__file__).resolve().parent.parent
IP = shutil.which("ip")
CLOSED = "Input for this meeting has closed"
SAVED = "The answers that were sent are saved. Thank you for taking part."
CONSULTATION_CLOSED = (
    "This consultation is closed, so participants can no longer give input. "
    "To take input again, change its status under Edit."
)


# ---- which address phones get: the ordering and choosing logic on given interface lists ----


def adapter(name: str, *addresses: str) -> ifaddr.Adapter:
    """An interface as ``ifaddr`` describes it; ``"fe80::1"`` style entries are IPv6."""
    ips = []
    for address in addresses:
        ip, _, prefix = address.partition("/")
        if ":" in ip:
            ips.append(ifaddr.IP((ip, 0, 0), int(prefix or 64), name))
        else:
            ips.append(ifaddr.IP(ip, int(prefix or 24), name))
    return ifaddr.Adapter(name, name, ips)


def found(*adapters: ifaddr.Adapter) -> list[tuple[str, str]]:
    """(interface, address) of what phones are offered, in the order offered."""
    return [(a.interface, a.ip) for a in lan.network_addresses(adapters)]


def test_the_hotspot_comes_first_and_loopback_never():
    """Wired office network, Docker, a VPN and the hotspot: the hotspot is preselected."""
    offered = found(
        adapter("lo", "127.0.0.1/8", "::1/128"),
        adapter("enp3s0", "192.168.1.20", "fe80::2"),
        adapter("docker0", "172.17.0.1/16"),
        adapter("wg0", "10.8.0.2"),
        adapter("wlp2s0", "10.42.0.1", "fe80::1"),
        adapter("wwan0", "37.236.4.9/30"),  # a public address (a mobile modem): never offered
    )
    assert offered == [
        ("wlp2s0", "10.42.0.1"),
        ("enp3s0", "192.168.1.20"),
        ("docker0", "172.17.0.1"),
        ("wg0", "10.8.0.2"),
    ]
    assert lan.choose_address(lan.network_addresses([adapter("lo", "127.0.0.1/8")]), None) is None


def test_windows_mobile_hotspot_comes_first():
    offered = found(
        adapter("Ethernet", "192.168.0.14"),
        adapter("VirtualBox Host-Only Network", "192.168.56.1"),
        adapter("Local Area Connection* 10", "192.168.137.1"),
    )
    assert offered[0] == ("Local Area Connection* 10", "192.168.137.1")
    assert offered[-1] == ("VirtualBox Host-Only Network", "192.168.56.1")


def test_link_local_is_the_last_resort():
    """169.254.x.x only when nothing better exists; one address on two interfaces once."""
    offered = found(
        adapter("wlan0", "169.254.12.7/16"),
        adapter("eth0", "10.0.0.5"),
        adapter("br0", "10.0.0.5"),
    )
    assert offered == [("eth0", "10.0.0.5"), ("wlan0", "169.254.12.7")]
    assert found(adapter("wlan0", "169.254.12.7/16")) == [("wlan0", "169.254.12.7")]


def test_the_facilitator_chooses_among_the_addresses_found():
    addresses = lan.network_addresses(
        [adapter("eth0", "192.168.1.20"), adapter("wlan0", "10.42.0.1")]
    )
    assert lan.choose_address(addresses, None) == addresses[0]
    assert addresses[0].hotspot
    assert addresses[0].ip == "10.42.0.1"
    assert lan.choose_address(addresses, "192.168.1.20") == addresses[1]
    # An address that is not (or no longer) on this laptop is never bound.
    assert lan.choose_address(addresses, "192.168.9.9") is None
    assert lan.choose_address(addresses, "0.0.0.0") is None  # noqa: S104 -- the refusal
    assert lan.choose_address([], None) is None


def test_stopping_the_listener_closes_the_phones_connections(tmp_path):
    """A phone's kept-alive connection is closed too, so its next page is not left waiting."""
    folder, _code, _question = meeting_laptop(tmp_path)
    listener = lan.start("keep-alive", folder, "127.0.0.2", 0)
    connection = http.client.HTTPConnection(listener.host, listener.port, timeout=5)
    try:
        try:
            connection.request("GET", "/static/css/app.css")
            with connection.getresponse() as response:
                assert response.status == 200
                assert response.getheader("Connection") != "close"
                response.read()
        finally:
            lan.stop("keep-alive")
        assert not listener.is_alive()  # the listener's process has ended
        assert connection.sock is not None
        assert connection.sock.recv(1) == b""  # closed by the laptop, not left hanging
    finally:
        connection.close()


# ---- after input has closed: the participant address says so, in the meeting's languages ----


@pytest.fixture
def laptop(tmp_path):
    """A laptop with an Arabic-and-Sorani meeting open for input, and its facilitator."""
    folder, code, question = meeting_laptop(tmp_path, languages=("ar", "ckb"))
    config = {"WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": "scrypt:1024:8:1"}
    with site(folder, **config) as app:
        add_user(app, "amira", Role.COORDINATOR)
        with app.app_context():
            record_id = intake.meeting_for(code).consultation.id
        facilitator = app.test_client()
        login(facilitator)
        yield app, facilitator, record_id, code


def test_a_closed_meeting_says_so_in_arabic_and_sorani(laptop):
    """Reload after closing: 410 Gone, every language of the meeting, nothing cached."""
    app, facilitator, record_id, code = laptop
    phone = app.test_client()
    assert phone.get(f"/p/{code}").status_code == 200
    phone.post(f"/p/{code}", data={"language": "ckb"})  # half-way through the questions
    facilitator.post(f"/consultations/{record_id}/intake/close")
    for path in (f"/p/{code}", f"/p/{code.lower()}/q/1", f"/p/{code}/review"):
        response = phone.get(path)
        assert response.status_code == 410, path
        assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    for lang in ("ar", "ckb"):
        tag = BY_CODE[lang].tag
        section = page.split(f'<section lang="{tag}" dir="rtl">', 1)[1].split("</section>", 1)[0]
        assert translated(lang, CLOSED) in section
        assert translated(lang, SAVED) in section
    assert '<html lang="ar-IQ" dir="rtl">' in page
    assert "اجتماع عام" in page  # the meeting's own title, once
    assert page.count("اجتماع عام") == 2  # the <title> and the page
    assert "Page not found" not in page
    # Sending the last page after closing: the same notice, and the token cookie is gone.
    sent = phone.post(f"/p/{code}/review", data={})
    assert sent.status_code == 410
    assert "fieldapp_participant=;" in sent.headers["Set-Cookie"]


def test_an_unknown_code_tells_nothing_about_any_meeting(laptop):
    app, facilitator, record_id, code = laptop
    facilitator.post(f"/consultations/{record_id}/intake/close")
    page = app.test_client().get("/p/ZZZZZZZ")
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "اجتماع عام" not in text
    assert CLOSED not in text


def test_a_deleted_meeting_is_not_found(laptop):
    app, facilitator, record_id, code = laptop
    facilitator.post(f"/consultations/{record_id}/intake/close")
    with app.app_context():
        head = records.current(record_id)
        records.delete(record_id, head.winner_rev)
    assert app.test_client().get(f"/p/{code}").status_code == 404


def close_consultation(app, facilitator, record_id: str) -> None:
    """Set the consultation's status to closed through its edit form."""
    with app.app_context():
        item = workspace.get(record_id, "consultation")
    data = {
        "kind": "town_hall",
        "status": "closed",
        "title_ar": "اجتماع عام",
        "governorate": "IQ-NI",
        "languages": ["ar", "ckb"],
        "original_language": "ar",
        "base_rev": item.rev,
    }
    assert facilitator.post(f"/consultations/{record_id}/edit", data=data).status_code == 302


def test_a_closed_consultation_offers_no_input(laptop):
    """No *Open for participants' input* button; opening anyway is refused in Sorani."""
    app, facilitator, record_id, code = laptop
    close_consultation(app, facilitator, record_id)
    facilitator.post("/language", data={"lang": "ckb", "next": "/"})
    overview = facilitator.get(f"/consultations/{record_id}").get_data(as_text=True)
    assert translated("ckb", "Open for participants' input") not in overview
    assert translated("ckb", "Use this device as a kiosk") not in overview
    assert translated("ckb", CONSULTATION_CLOSED) in overview
    for path in ("intake/open", "intake/phones", "kiosk"):
        refused = facilitator.post(f"/consultations/{record_id}/{path}", follow_redirects=True)
        assert refused.status_code == 200, path
        assert translated("ckb", CONSULTATION_CLOSED) in refused.get_data(as_text=True), path
        with app.app_context():
            assert intake.open_code(record_id) is None, path
    assert lan.running(record_id) is None
    assert app.test_client().get(f"/p/{code}").status_code == 410


def test_a_consultation_closed_on_another_laptop_takes_no_input(laptop):
    """A merge can bring status "closed" while input is open here: participants see it closed."""
    app, _facilitator, record_id, code = laptop
    with app.app_context():
        head = records.current(record_id)
        body = {k: v for k, v in json.loads(head.body).items() if k not in workspace.STAMPS}
        records.update(record_id, {**body, "status": "closed"}, head.winner_rev)
        assert intake.open_code(record_id) == code  # still open in this laptop's intake table
    assert app.test_client().get(f"/p/{code}").status_code == 410


# ---- a real hotspot without a route, in network namespaces ----------------------------------


def _namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if sys.platform != "linux":
        return "network namespaces exist on Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if IP is None:
        return "making network namespaces needs the ip command (iproute2)"
    probe = f"fa-probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run([IP, "netns", "delete", probe], check=False)
    return None


NAMESPACES_UNAVAILABLE = _namespaces_unavailable()
needs_namespaces = pytest.mark.skipif(
    NAMESPACES_UNAVAILABLE is not None, reason=str(NAMESPACES_UNAVAILABLE)
)


@dataclass
class Namespace:
    """One network namespace: a machine with its own interfaces, routes and ports."""

    name: str

    def argv(self, *command: str) -> list[str]:
        """``command`` run inside this namespace."""
        assert IP is not None
        return [IP, "netns", "exec", self.name, *command]

    def ip(self, *arguments: str) -> None:
        """Configure this namespace's network."""
        assert IP is not None
        subprocess.run([IP, "-n", self.name, *arguments], check=True, capture_output=True)

    def python(self, source: str, *arguments: str) -> str:
        """Run Python inside this namespace; its standard output."""
        done = subprocess.run(
            self.argv(sys.executable, "-c", source, *arguments),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@contextmanager
def hotspot(wired: str | None = None) -> Iterator[tuple[Namespace, Namespace]]:
    """A laptop whose Wi-Fi is a hotspot (10.42.0.1/24, no default route) and a phone on it.

    ``wired`` adds a second network to the laptop (an office cable, for example
    ``192.168.1.20/24`` on ``eth0``). Both namespaces are removed afterwards.
    """
    assert IP is not None
    suffix = uuid.uuid4().hex[:8]
    laptop, phone = Namespace(f"fa-laptop-{suffix}"), Namespace(f"fa-phone-{suffix}")
    subprocess.run([IP, "netns", "add", laptop.name], check=True)
    try:
        subprocess.run([IP, "netns", "add", phone.name], check=True)
        # The virtual cable between the laptop's Wi-Fi and the phone, made inside the laptop.
        laptop.ip("link", "add", "wlan0", "type", "veth", "peer", "name", "phone0")
        laptop.ip("link", "set", "phone0", "netns", phone.name)
        laptop.ip("addr", "add", "10.42.0.1/24", "dev", "wlan0")
        phone.ip("addr", "add", "10.42.0.2/24", "dev", "phone0")
        for namespace, device in ((laptop, "wlan0"), (phone, "phone0")):
            namespace.ip("link", "set", "lo", "up")
            namespace.ip("link", "set", device, "up")
        if wired:
            laptop.ip("link", "add", "eth0", "type", "veth", "peer", "name", "cable0")
            laptop.ip("addr", "add", wired, "dev", "eth0")
            laptop.ip("link", "set", "eth0", "up")
            laptop.ip("link", "set", "cable0", "up")
        yield laptop, phone
    finally:
        subprocess.run([IP, "netns", "delete", phone.name], check=False)
        subprocess.run([IP, "netns", "delete", laptop.name], check=False)


class LaptopDriver:
    """The laptop's side, in its namespace: ``python -m tests.test_hotspot laptop FOLDER``."""

    def __init__(self, laptop: Namespace, folder: Path) -> None:
        self.process = subprocess.Popen(
            laptop.argv(sys.executable, "-m", "tests.test_hotspot", "laptop", str(folder)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def __call__(self, command: str, **arguments: Any) -> Any:
        """Send one command; its answer."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"do": command, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.process.stdin.close()
            raise AssertionError(self.process.stderr.read() if self.process.stderr else "died")
        return json.loads(line)

    def close(self) -> None:
        """End the laptop's side (it stops its listeners)."""
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


def laptop_side(folder: Path) -> None:
    """Answer JSON commands as a signed-in facilitator on ``folder`` (inside the namespace)."""
    config = {"WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": "scrypt:1024:8:1"}
    with site(folder, **config) as app:
        add_user(app, "amira", Role.COORDINATOR)
        facilitator = app.test_client()
        login(facilitator)
        try:
            for line in sys.stdin:
                command = json.loads(line)
                record_id = command.get("record", "")
                answer: Any = None
                if command["do"] == "addresses":
                    answer = [[a.interface, a.ip, a.hotspot] for a in lan.network_addresses()]
                elif command["do"] == "overview":
                    answer = facilitator.get(f"/consultations/{record_id}").get_data(as_text=True)
                elif command["do"] in ("phones", "close", "open"):
                    path = {"phones": "intake/phones", "close": "intake/close"}.get(
                        command["do"], "intake/open"
                    )
                    form = {"address": command["address"]} if command.get("address") else {}
                    facilitator.post(f"/consultations/{record_id}/{path}", data=form)
                    listener = lan.running(record_id)
                    with app.app_context():
                        code = intake.open_code(record_id)
                    answer = {"url": listener.url if listener else None, "code": code}
                print(json.dumps(answer), flush=True)
        finally:
            lan.stop_all()


PHONE_GET = """
import json, sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        print(json.dumps([response.status, response.read().decode()]))
except urllib.error.HTTPError as error:
    print(json.dumps([error.code, error.read().decode()]))
"""


def phone_get(phone: Namespace, url: str) -> tuple[int, str]:
    """What a phone on the hotspot gets at ``url``."""
    status, page = json.loads(phone.python(PHONE_GET, url))
    return status, page


def add_meeting(folder: Path, title: str, languages: list[str]) -> str:
    """Plan a second meeting on the laptop (not yet open for input); its record id."""
    with opened(folder):
        record_id = workspace.save_consultation(
            {
                "kind": "consultation_gathering",
                "title": {languages[0]: title},
                "original_language": languages[0],
                "status": "open",
                "governorate": "IQ-DA",
                "languages": languages,
            }
        )
        workspace.add_question(
            record_id,
            {"type": "free_text", "text": {"ckb": "پێشنیارت چییە؟"}, "original_language": "ckb"},
        )
    return record_id


@needs_namespaces
def test_phones_join_a_hotspot_without_a_route(tmp_path):
    """Only 10.42.0.1/24 and no route: phones still get the address, and the pages."""
    folder, code, _question = meeting_laptop(tmp_path, languages=("ar", "ckb"))
    with opened(folder):
        first = intake.meeting_for(code).consultation.id
    second = add_meeting(folder, "کۆبوونەوەی گشتی", ["ckb", "ar"])
    with hotspot() as (laptop, phone):
        driver = LaptopDriver(laptop, folder)
        try:
            joined = driver("phones", record=first)
            assert joined == {"url": "http://10.42.0.1:8080", "code": code}  # LAN_PORT's default
            assert driver("addresses") == [["wlan0", "10.42.0.1", True]]
            assert f"http://10.42.0.1:8080/p/{code}" in driver("overview", record=first)
            status, page = phone_get(phone, f"{joined['url']}/p/{code}")
            assert status == 200
            assert "کوردی (سۆرانی)" in page
            # The morning meeting closes, the afternoon one opens to phones on the same hotspot;
            # a phone still on the morning's page reloads it.
            assert driver("close", record=first) == {"url": None, "code": None}
            driver("open", record=second)
            assert driver("phones", record=second)["url"] == "http://10.42.0.1:8080"
            status, page = phone_get(phone, f"{joined['url']}/p/{code}")
            assert status == 410
            for lang in ("ar", "ckb"):
                assert f'<section lang="{BY_CODE[lang].tag}" dir="rtl">' in page
            assert "اجتماع عام" in page
            assert "کۆبوونەوەی گشتی" not in page  # nothing of the other meeting
            status, page = phone_get(phone, f"{joined['url']}/p/AAAAAAA")
            assert status == 404
        finally:
            driver.close()


@needs_namespaces
def test_the_facilitator_chooses_the_network_for_phones(tmp_path):
    """Hotspot and office cable: a choice, the hotspot preselected, the choice is used."""
    folder, code, _question = meeting_laptop(tmp_path, languages=("ar", "ckb"))
    with opened(folder):
        record_id = intake.meeting_for(code).consultation.id
    with hotspot(wired="192.168.1.20/24") as (laptop, _phone):
        driver = LaptopDriver(laptop, folder)
        try:
            overview = driver("overview", record=record_id)
            chooser = overview.split('class="phone-address"', 1)[1].split("</form>", 1)[0]
            radios = chooser.count('type="radio" name="address"')
            assert radios == 2
            assert 'value="10.42.0.1" checked' in chooser
            assert 'value="192.168.1.20">' in chooser
            assert chooser.index("wlan0") < chooser.index("eth0")
            assert driver("phones", record=record_id, address="192.168.1.20")["url"] == (
                "http://192.168.1.20:8080"
            )
            driver("close", record=record_id)
            driver("open", record=record_id)
            gone = driver("phones", record=record_id, address="192.168.7.7")  # not on this laptop
            assert gone["url"] is None
        finally:
            driver.close()


# ---- in chromium: the chooser on the overview, the closed page on a phone --------------------

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_FOR = """
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the laptop's fieldapp did not answer")
"""


@contextmanager
def served_in(laptop: Namespace, folder: Path) -> Iterator[str]:
    """``run.py`` as a facilitator starts it, inside the laptop's namespace; its address."""
    url = "http://127.0.0.1:5000"
    log = folder.parent / "run.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            laptop.argv(sys.executable, str(ROOT / "run.py"), "--port", "5000"),
            env={**os.environ, "FIELDAPP_INSTANCE": str(folder)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                laptop.python(WAIT_FOR, url + "/static/css/app.css")
            except AssertionError:
                raise AssertionError(log.read_text()) from None
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)


@contextmanager
def chromium_in(laptop: Namespace, tmp_path: Path) -> Iterator[Any]:
    """Chromium running inside the laptop's namespace (Playwright talks to it over a pipe)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium must be installed for the browser tests")
    wrapper = tmp_path / "chromium-in-namespace"
    wrapper.write_text(f'#!/bin/sh\nexec {" ".join(laptop.argv(chromium))} "$@"\n')
    wrapper.chmod(0o755)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(wrapper), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Any, name: str, selector: str | None = None) -> list[str]:
    """Save a screenshot as ``test-artifacts/h3-NAME.png``; serious accessibility problems."""
    from .test_browser import ARTIFACTS
    from .test_browser_workspace import serious_accessibility_problems

    ARTIFACTS.mkdir(exist_ok=True)
    path = str(ARTIFACTS / f"h3-{name}.png")
    page.evaluate("document.fonts.ready")
    if selector:
        page.locator(selector).screenshot(path=path)
    else:
        page.screenshot(path=path, full_page=True)
    return serious_accessibility_problems(page)


@pytest.mark.browser
@needs_namespaces
def test_in_chromium_choose_the_hotspot_then_a_phone_sees_input_closed(tmp_path):
    """Arabic and Sorani: the chooser (hotspot preselected), then the closed page on a phone."""
    folder, code, _question = meeting_laptop(tmp_path, languages=("ar", "ckb"))
    with opened(folder):
        first = intake.meeting_for(code).consultation.id
    add_user_to(folder)
    second = add_meeting(folder, "کۆبوونەوەی گشتی", ["ckb", "ar"])
    problems: dict[str, list[str]] = {}
    with (
        hotspot(wired="192.168.1.20/24") as (laptop, _phone),
        served_in(laptop, folder) as url,
        chromium_in(laptop, tmp_path) as browser,
    ):
        desk = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True)
        page = desk.new_page()
        page.goto(url + "/login")
        page.get_by_role("button", name="العربية").click()
        page.fill("#username", "amira")
        page.fill("#password", PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(url + "/")
        chooser = "article:has(form.phone-address)"
        for lang, native in (("ar", "العربية"), ("ckb", "کوردی (سۆرانی)")):
            page.get_by_role("button", name=native).click()
            page.goto(f"{url}/consultations/{first}")
            assert page.locator("html").get_attribute("dir") == "rtl"
            radios = page.locator("form.phone-address input[type=radio]")
            assert radios.count() == 2
            assert page.locator("form.phone-address input:checked").get_attribute("value") == (
                "10.42.0.1"
            )
            problems[f"chooser-{lang}"] = shot(page, f"chooser-{lang}", chooser)
        page.locator("form.phone-address button[type=submit]").click()
        phone_url = f"http://10.42.0.1:8080/p/{code}"
        assert phone_url in page.inner_text("main")

        phone_context = browser.new_context(
            viewport={"width": 360, "height": 740}, is_mobile=True, bypass_csp=True
        )
        phone = phone_context.new_page()
        assert phone.goto(phone_url).status == 200
        # Morning meeting closed, afternoon meeting opened to phones; the phone reloads.
        page.locator('form[action$="/intake/close"] button').click()
        page.goto(f"{url}/consultations/{second}")
        page.locator('form[action$="/intake/open"] button').click()
        page.locator("form.phone-address button[type=submit]").click()
        assert "http://10.42.0.1:8080/p/" in page.inner_text("main")
        closed = phone.reload()
        assert closed.status == 410
        assert phone.locator("html").get_attribute("lang") == "ar-IQ"
        assert phone.locator("section[lang]").count() == 2
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        problems["closed-ar"] = shot(phone, "closed-ar")
        # The afternoon meeting (Sorani first) closes too; its kiosk address says so.
        with opened(folder):
            second_code = intake.open_code(second)
        page.locator('form[action$="/intake/close"] button').click()
        assert phone.goto(f"{url}/p/{second_code}").status == 410
        assert phone.locator("html").get_attribute("lang") == "ckb-IQ"
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        problems["closed-ckb"] = shot(phone, "closed-ckb")
    assert {name: found for name, found in problems.items() if found} == {}


def add_user_to(folder: Path) -> None:
    """The facilitator's account, made before the laptop's fieldapp starts."""
    with site(folder, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "amira", Role.COORDINATOR)


if __name__ == "__main__" and sys.argv[1:2] == ["laptop"]:
    laptop_side(Path(sys.argv[2]))
