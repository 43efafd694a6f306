"""Head office's Devices page: register laptops' public key files, see what each has sent."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import BundleImport, DeviceRole, Role
from fieldapp.services import demo
from fieldapp.services.sync import keys

from .conftest import PASSWORD, UI_LANGUAGES, add_user, login, set_language, translated
from .sync_world import Installation

ACCOUNT = {"username": "amira", "password": PASSWORD, "confirm": PASSWORD}


@pytest.fixture
def headoffice(app: Flask, client: FlaskClient) -> Flask:
    """A head office set up in the browser by its first account (signed in on ``client``)."""
    assert client.post("/setup", data=ACCOUNT).status_code == 302
    response = client.post(
        "/setup/installation", data={"role": "headoffice", "name": "Erbil head office"}
    )
    assert response.headers["Location"] == "/setup/done"
    return app


@pytest.fixture
def laptop(headoffice: Flask, client: FlaskClient, tmp_path: Path) -> Installation:
    """A field laptop set up with the public key file the head office's page offered."""
    with client.get("/keys/public") as download:
        carried = SimpleNamespace(public=keys.parse_public_key(download.data))
    return Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (carried,))


def upload(client: FlaskClient, *files: tuple[bytes, str]):
    """Send public key files with the Devices page's form."""
    return client.post(
        "/devices",
        data={"keys": [(io.BytesIO(data), name) for data, name in files]},
        content_type="multipart/form-data",
    )


def test_head_office_registers_a_laptop_and_sees_its_exports(headoffice, client, laptop, tmp_path):
    """Register the laptop's .pub on the Devices page, import two of its exports (1 and 3),
    and the device's page shows what arrived and which number is missing."""
    home = client.get("/").get_data(as_text=True)
    assert 'href="/devices"' in home  # the menu entry at head office
    page = client.get("/devices").get_data(as_text=True)
    assert 'class="file-input"' in page
    assert "js/file-picker." in page
    assert "Erbil head office" in page

    response = upload(client, (keys.public_key_bytes(laptop.public), "bashiqa.pub"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Registered: Bashiqa laptop" in page
    assert laptop.public.device_id in page
    again = upload(client, (keys.public_key_bytes(laptop.public), "bashiqa (copy).pub"))
    assert "Registered already: Bashiqa laptop. Nothing changed." in again.get_data(as_text=True)
    with headoffice.app_context():
        assert [d.name for d in keys.list_devices()] == ["Erbil head office", "Bashiqa laptop"]
        db.session.remove()

    with laptop.session():
        demo.fill(consultations=1, submissions=5, seed=4)
    files = tmp_path / "carried"
    files.mkdir()
    first = laptop.export(files)
    laptop.export(files)  # export 2 never reaches head office
    third = laptop.export(files)
    response = client.post(
        "/import",
        data={"bundles": [(io.BytesIO(first.read_bytes()), "1.fieldsync")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    response = client.post(
        "/import",
        data={"bundles": [(io.BytesIO(third.read_bytes()), "3.fieldsync")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200

    listing = client.get("/devices").get_data(as_text=True)
    assert "export 3" in listing
    device = client.get(f"/devices/{laptop.public.device_id}")
    assert device.status_code == 200
    page = device.get_data(as_text=True)
    assert "Bashiqa laptop" in page
    assert '<p class="numbers"><bdi dir="ltr">1, 3</bdi></p>' in page
    assert '<p class="numbers"><bdi dir="ltr">2</bdi></p>' in page
    assert "arrived with different content" not in page


def test_an_export_number_reused_with_other_content_is_shown(headoffice, client, laptop):
    """A laptop restored from a backup numbers two exports alike: its page warns."""
    upload(client, (keys.public_key_bytes(laptop.public), "bashiqa.pub"))
    with headoffice.app_context(), writing() as session:
        for number, digest in ((1, "a"), (2, "b"), (2, "c"), (5, "d")):
            session.add(
                BundleImport(
                    manifest_sha256=digest * 64,
                    device_id=laptop.public.device_id,
                    export_seq=number,
                    summary="{}",
                )
            )
    with headoffice.app_context():
        db.session.remove()
    page = client.get(f"/devices/{laptop.public.device_id}").get_data(as_text=True)
    assert "these export numbers arrived with different content: 2." in page
    assert '<p class="numbers"><bdi dir="ltr">1-2, 5</bdi></p>' in page
    assert '<p class="numbers"><bdi dir="ltr">3-4</bdi></p>' in page


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_bad_key_files_are_refused_one_by_one(headoffice, client, laptop, lang):
    """A damaged file is refused with the reason; the good file beside it is registered."""
    set_language(client, lang)
    response = upload(
        client,
        (b'{"format": "fieldapp-public-key", "version": 1}', "broken.pub"),
        (keys.public_key_bytes(laptop.public), "bashiqa.pub"),
    )
    page = response.get_data(as_text=True)
    assert translated(lang, "This is not a fieldapp public key file, or it is damaged.") in page
    assert "broken.pub" in page
    with headoffice.app_context():
        assert [d.name for d in keys.list_devices()] == ["Erbil head office", "Bashiqa laptop"]
        db.session.remove()


def test_a_changed_key_for_a_known_device_is_refused(headoffice, client, laptop):
    """A file claiming a registered laptop's id with another key never replaces the key."""
    upload(client, (keys.public_key_bytes(laptop.public), "bashiqa.pub"))
    other = Installation(
        Path(laptop.folder).parent / "impostor", DeviceRole.HEADOFFICE, "Bashiqa laptop"
    )
    forged = keys.PublicKeyInfo(
        laptop.public.device_id,
        "Bashiqa laptop",
        DeviceRole.FIELD,
        other.public.signing_public_key,
        None,
    )
    page = upload(client, (keys.public_key_bytes(forged), "new.pub")).get_data(as_text=True)
    assert "registered with a different key" in page
    with headoffice.app_context():
        [device] = [d for d in keys.list_devices() if not d.is_self]
        assert device.signing_public_key == laptop.public.signing_public_key
        db.session.remove()


def test_nothing_chosen_asks_for_files(headoffice, client):
    """Pressing Register with no file asks for one."""
    page = client.post("/devices", data={}, content_type="multipart/form-data")
    assert "Choose one or more public key files" in page.get_data(as_text=True)


def test_only_a_coordinator_sees_the_devices_page(headoffice, client, laptop):
    """A facilitator at head office has no Devices page and cannot register a device."""
    add_user(headoffice, "hawre", Role.FACILITATOR)
    facilitator = headoffice.test_client()
    assert login(facilitator, "hawre").status_code == 302
    assert 'href="/devices"' not in facilitator.get("/").get_data(as_text=True)
    assert facilitator.get("/devices").status_code == 403
    response = upload(facilitator, (keys.public_key_bytes(laptop.public), "bashiqa.pub"))
    assert response.status_code == 403
    with headoffice.app_context():
        assert [d.name for d in keys.list_devices()] == ["Erbil head office"]
        db.session.remove()
    assert facilitator.get(f"/devices/{laptop.public.device_id}").status_code == 403
    # Its public key file is no secret: any account may download it.
    assert facilitator.get("/keys/public").status_code == 200


def test_a_laptop_has_no_devices_page(app, client, tmp_path):
    """A field laptop registers no devices: no menu entry, the page is refused."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    assert client.post("/setup", data=ACCOUNT).status_code == 302
    response = client.post(
        "/setup/installation",
        data={
            "role": "field",
            "name": "Bashiqa laptop",
            "headoffice_keys": [(io.BytesIO(keys.public_key_bytes(ho.public)), "erbil.pub")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert 'href="/devices"' not in client.get("/").get_data(as_text=True)
    assert client.get("/devices").status_code == 403
    export = client.get("/export").get_data(as_text=True)
    assert 'href="/keys/public"' in export


def test_an_unknown_device_is_not_found(headoffice, client):
    """A device id nobody registered has no page."""
    assert client.get("/devices/00000000-0000-4000-8000-000000000000").status_code == 404
