"""The whole first start in chromium, as run.py serves it: a field laptop in Sorani up to its
first export, and a head office in Arabic up to registering a laptop and merging its file.

Screenshots of every screen go to /tmp/shots/h5-*.png.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from fieldapp.models import DeviceRole
from fieldapp.services import demo
from fieldapp.services.sync import keys

from .conftest import PASSWORD
from .serving import serving
from .sync_world import Installation
from .test_browser import chromium_page, pytestmark  # noqa: F401

SHOTS = Path("/tmp/shots")  # noqa: S108 -- where the reviewer looks at the screens


def shot(page, name: str) -> None:
    """Save a full-page screenshot as /tmp/shots/h5-NAME.png."""
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"h5-{name}.png"), full_page=True)


def first_account(page, url: str, language: str, lang: str) -> None:
    """Open the new installation, switch the language, create the first account."""
    page.goto(url + "/")
    assert page.url.endswith("/setup")
    page.get_by_role("button", name=language).click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.fill("#username", "amira")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    shot(page, f"1-account-{lang}")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(url + "/setup/installation")


def choose_files(page, selector: str, files: list[Path]) -> str:
    """Choose files in a translated file picker; return what it says was chosen."""
    native = page.locator(selector)
    button = page.locator(f"label.file-button[for='{selector[1:]}']")
    assert button.is_visible()  # our translated button replaces the browser's own
    assert native.evaluate("e => e.classList.contains('visually-hidden')")
    native.set_input_files([str(f) for f in files])
    return page.inner_text(f"{selector}-chosen")


def download(page, selector: str, target: Path) -> Path:
    """Click a download link and save the file."""
    with page.expect_download() as info:
        page.click(selector)
    info.value.save_as(str(target))
    return target


def test_a_field_laptop_from_first_start_to_first_export_in_sorani(tmp_path):
    """First account, field laptop, name, head office's key (a wrong file first), done,
    the laptop's own public key, Export: and head office merges what was carried."""
    headoffice = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    erbil_pub = tmp_path / "erbil.pub"
    erbil_pub.write_bytes(keys.public_key_bytes(headoffice.public))
    wrong = tmp_path / "photo.jpg"
    wrong.write_bytes(b"\xff\xd8\xff\xe0 not a key")
    with serving(tmp_path / "laptop") as url, chromium_page() as page:
        first_account(page, url, "کوردی (سۆرانی)", "ckb")
        page.goto(url + "/consultations")  # every page leads back to the setup step
        assert urlsplit(page.url).path == "/setup/installation"
        assert page.locator("header a[href='/consultations']").count() == 0  # no dead ends
        shot(page, "2-role-ckb")
        page.check("input[name=role][value=field]")
        page.click("#setup-role button[type=submit]")
        page.wait_for_url("**/setup/installation?role=field")
        page.fill("#name", "لاپتۆپی دهۆک ٣")
        assert "photo.jpg" in choose_files(page, "#headoffice_keys", [wrong])
        page.click("#setup-installation button[type=submit]")
        page.wait_for_load_state()
        assert page.locator(".flash-error").count() == 1
        assert "photo.jpg" in page.inner_text(".flash-error")
        assert page.locator("html").get_attribute("lang") == "ckb-IQ"
        shot(page, "3-refused-ckb")
        assert page.input_value("#name") == "لاپتۆپی دهۆک ٣"
        assert "erbil.pub" in choose_files(page, "#headoffice_keys", [erbil_pub])
        shot(page, "3-keys-ckb")
        page.click("#setup-installation button[type=submit]")
        page.wait_for_url(url + "/setup/done")
        assert "Erbil head office" in page.inner_text("main")
        shot(page, "4-done-ckb")
        laptop_pub = download(page, "main a[href='/keys/public']", tmp_path / "duhok3.pub")
        assert json.loads(laptop_pub.read_text("utf-8"))["name"] == "لاپتۆپی دهۆک ٣"

        page.goto(url + "/export")
        assert page.locator("header a[href='/devices']").count() == 0
        page.locator("main form[action='/export'] button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator(".flash-success").count() == 1
        shot(page, "5-export-ckb")
        bundle = download(page, "a[href='/export/1/download']", tmp_path / "1.fieldsync")
        assert page.requested_hosts == {urlsplit(url).netloc}

    with headoffice.session():
        keys.register(keys.read_public_key(laptop_pub))
    [summary] = headoffice.merge(bundle)
    assert summary.ok, summary.error
    assert summary.device_name == "لاپتۆپی دهۆک ٣"


def test_a_head_office_from_first_start_to_merging_a_laptop_in_arabic(tmp_path):
    """First account, head office, name, its public key file for the field; then Devices
    registers the laptop's key file, Import merges its export, the device's page shows it."""
    with serving(tmp_path / "ho") as url, chromium_page() as page:
        first_account(page, url, "العربية", "ar")
        shot(page, "2-role-ar")
        page.check("input[name=role][value=headoffice]")
        page.click("#setup-role button[type=submit]")
        page.wait_for_url("**/setup/installation?role=headoffice")
        assert page.locator("input[type=file]").count() == 0
        page.fill("#name", "المكتب الرئيسي في أربيل")
        shot(page, "3-name-ar")
        page.click("#setup-installation button[type=submit]")
        page.wait_for_url(url + "/setup/done")
        shot(page, "4-done-ar")
        ho_pub = download(page, "main a[href='/keys/public']", tmp_path / "erbil.pub")

        carried = SimpleNamespace(public=keys.read_public_key(ho_pub))
        laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Sinjar laptop", (carried,))
        with laptop.session():
            demo.fill(consultations=1, submissions=8, seed=5)
        bundle = laptop.export(tmp_path)
        laptop_pub = tmp_path / "sinjar.pub"
        laptop_pub.write_bytes(keys.public_key_bytes(laptop.public))

        page.click("header a[href='/devices']")
        page.wait_for_url(url + "/devices")
        assert "sinjar.pub" in choose_files(page, "#keys", [laptop_pub])
        shot(page, "5-devices-chosen-ar")
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        assert "Sinjar laptop" in page.inner_text("main table")
        shot(page, "6-devices-registered-ar")

        page.click("header a[href='/import']")
        page.wait_for_url(url + "/import")
        choose_files(page, "#bundles", [bundle])
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        assert "Sinjar laptop" in page.inner_text("main table")

        page.goto(url + "/devices")
        page.click(f"a[href='/devices/{laptop.public.device_id}']")
        page.wait_for_load_state()
        assert page.inner_text("p.numbers") == "1"
        shot(page, "7-device-ar")
        assert page.requested_hosts == {urlsplit(url).netloc}
