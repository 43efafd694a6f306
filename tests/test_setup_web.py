"""The first start in the browser: first account, field laptop or head office, name, keys."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from fieldapp.cli import cli
from fieldapp.extensions import db
from fieldapp.models import Device, DeviceRole, Role
from fieldapp.services.sync import keys

from .conftest import PASSWORD, UI_LANGUAGES, add_user, login, set_language, translated
from .sync_world import Installation

ACCOUNT = {
    "username": "amira",
    "display_name": "Amira Saleh",
    "password": PASSWORD,
    "confirm": PASSWORD,
}


@pytest.fixture
def headoffice(tmp_path: Path) -> Installation:
    """A real head office, set up as ``fieldapp init --role headoffice`` sets one up."""
    return Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")


def pub_file(info: keys.PublicKeyInfo) -> bytes:
    """The public key file ``fieldapp keys public`` writes for ``info``."""
    return keys.public_key_bytes(info)


def first_account(client: FlaskClient) -> None:
    """Create the first account on the setup page; it goes on to the installation step."""
    response = client.post("/setup", data=ACCOUNT)
    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/installation"


def set_up_laptop(client: FlaskClient, *files: tuple[bytes, str], name: str = "Duhok laptop 3"):
    """Send the installation step for a field laptop with these head-office key files."""
    return client.post(
        "/setup/installation",
        data={
            "role": "field",
            "name": name,
            "headoffice_keys": [(io.BytesIO(data), filename) for data, filename in files],
        },
        content_type="multipart/form-data",
    )


def installation_state(app: Flask) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """The devices this installation knows and the files in its key folder."""
    with app.app_context():
        devices = [
            (d.name, d.role.value, d.is_self)
            for d in db.session.execute(select(Device).order_by(Device.id)).scalars()
        ]
        db.session.remove()
    folder = Path(app.instance_path) / keys.KEY_DIR
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    return devices, files


def test_laptop_set_up_in_the_browser_exports_a_file_head_office_merges(
    app, client, headoffice, tmp_path
):
    """First account, field laptop, name, head office's .pub: then Export works, the CLI's
    demo-data works, and head office merges the file once it has registered the laptop."""
    assert client.get("/").headers["Location"] == "/setup"
    first_account(client)
    # Until the installation step is done, every page sends the coordinator back to it.
    for path in ("/", "/consultations", "/export", "/admin/users"):
        assert client.get(path).headers["Location"] == "/setup/installation", path
    choice = client.get("/setup/installation").get_data(as_text=True)
    assert 'name="role"' in choice
    assert 'value="field"' in choice
    assert 'value="headoffice"' in choice
    form = client.get("/setup/installation?role=field").get_data(as_text=True)
    assert 'type="file"' in form
    assert 'name="headoffice_keys"' in form
    assert 'class="file-input"' in form
    assert "js/file-picker." in form

    response = set_up_laptop(client, (pub_file(headoffice.public), "erbil.pub"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/setup/done"
    done = client.get("/setup/done").get_data(as_text=True)
    assert "Duhok laptop 3" in done
    assert "Erbil head office" in done
    assert client.get("/").status_code == 200  # no longer sent to the setup step

    # The laptop's own public key file, exactly as ``fieldapp keys public`` writes it.
    with client.get("/keys/public") as download:
        assert download.status_code == 200
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert "Duhok-laptop-3.pub" in download.headers["Content-Disposition"]
        laptop_pub = download.data
    written = tmp_path / "duhok3.pub"
    result = CliRunner().invoke(
        cli, ["--instance", app.instance_path, "keys", "public", "--output", str(written)]
    )
    assert result.exit_code == 0, result.output
    assert written.read_bytes() == laptop_pub

    # The command line's demo data works on the installation the browser set up.
    result = CliRunner().invoke(
        cli, ["--instance", app.instance_path, "demo-data", "--consultations", "1"]
    )
    assert result.exit_code == 0, result.output

    page = client.post("/export", follow_redirects=True).get_data(as_text=True)
    assert "Export 1 is written and checked." in page
    link = re.search(r'href="(/export/1/download)"', page).group(1)
    bundle = tmp_path / "carried.fieldsync"
    with client.get(link) as download:
        bundle.write_bytes(download.data)

    with headoffice.session():
        keys.register(keys.parse_public_key(laptop_pub))
    [summary] = headoffice.merge(bundle)
    assert summary.ok, summary.error
    assert summary.device_name == "Duhok laptop 3"
    assert summary.new > 0
    assert headoffice.stats()["counts"]["consultations"] == 1


def test_a_backup_head_office_key_is_a_second_file(app, client, headoffice, tmp_path):
    """Two head-office files chosen at once: exports are encrypted to both."""
    backup = Installation(tmp_path / "backup", DeviceRole.HEADOFFICE, "Escrow office")
    first_account(client)
    response = set_up_laptop(
        client,
        (pub_file(headoffice.public), "erbil.pub"),
        (pub_file(backup.public), "escrow.pub"),
    )
    assert response.status_code == 302
    with app.app_context():
        assert len(keys.headoffice_recipients()) == 2
        db.session.remove()


def test_head_office_set_up_in_the_browser_offers_its_public_key(app, client, tmp_path):
    """A head office needs no key file; its done page offers the file for the field."""
    first_account(client)
    form = client.get("/setup/installation?role=headoffice").get_data(as_text=True)
    assert 'type="file"' not in form
    response = client.post(
        "/setup/installation", data={"role": "headoffice", "name": "Erbil head office"}
    )
    assert response.headers["Location"] == "/setup/done"
    done = client.get("/setup/done").get_data(as_text=True)
    assert 'href="/keys/public"' in done
    assert 'href="/devices"' in done
    with client.get("/keys/public") as download:
        info = keys.parse_public_key(download.data)
    assert info.role == DeviceRole.HEADOFFICE
    assert info.name == "Erbil head office"
    assert info.age_recipient
    assert info.age_recipient.startswith("age1")
    devices, files = installation_state(app)
    assert devices == [("Erbil head office", "headoffice", True)]
    assert files == sorted([keys.AGE_IDENTITY_FILE, keys.SIGNING_KEY_FILE])


BAD_FILES = {
    "not-json": b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB",
    "empty": b"",
    "too-big": b"{" + b" " * (keys.MAX_PUBLIC_KEY_BYTES + 10) + b"}",
}


@pytest.mark.parametrize("lang", UI_LANGUAGES)
@pytest.mark.parametrize("content", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_key_file_is_refused_and_nothing_is_written(app, client, headoffice, lang, content):
    """A file that is not a public key file is refused in the person's language, and the
    installation is left exactly as it was: no identity, no key file, no registration, even
    when a good head-office file was chosen with it."""
    set_language(client, lang)
    first_account(client)
    response = set_up_laptop(
        client, (pub_file(headoffice.public), "erbil.pub"), (content, "photo.jpg")
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert translated(lang, "This is not a fieldapp public key file, or it is damaged.") in page
    assert "photo.jpg" in page
    assert installation_state(app) == ([], [])
    assert client.get("/").headers["Location"] == "/setup/installation"


def test_a_field_laptops_key_is_not_a_head_office_key(app, client, headoffice, tmp_path):
    """A laptop's own .pub chosen by mistake is refused: exports could not be encrypted to it."""
    other = Installation(tmp_path / "other", DeviceRole.FIELD, "Sinjar laptop", (headoffice,))
    first_account(client)
    response = set_up_laptop(
        client, (pub_file(headoffice.public), "erbil.pub"), (pub_file(other.public), "sinjar.pub")
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "is the public key file of a field laptop, not of a head office" in page
    assert "Sinjar laptop" in page
    assert installation_state(app) == ([], [])


def test_the_command_line_refuses_the_same_file(tmp_path, headoffice):
    """``fieldapp init --headoffice-key`` checks the files exactly as the browser does."""
    other = Installation(tmp_path / "other", DeviceRole.FIELD, "Sinjar laptop", (headoffice,))
    sinjar = tmp_path / "sinjar.pub"
    sinjar.write_bytes(pub_file(other.public))
    folder = tmp_path / "laptop"
    result = CliRunner().invoke(
        cli,
        ["--instance", str(folder), "init", "--role", "field", "--name", "x"]
        + ["--headoffice-key", str(sinjar)],
    )
    assert result.exit_code == 1
    assert "not of a head office" in result.output
    assert not (folder / keys.KEY_DIR / keys.SIGNING_KEY_FILE).exists()


def test_a_laptop_needs_a_head_office_key_file(app, client):
    """Pressing Finish without a file asks for one; nothing is made."""
    first_account(client)
    response = set_up_laptop(client)
    assert response.status_code == 400
    assert "Choose the head office&#39;s public key file" in response.get_data(as_text=True)
    assert installation_state(app) == ([], [])


def test_a_name_is_needed(app, client):
    """No name, no installation."""
    first_account(client)
    response = client.post("/setup/installation", data={"role": "headoffice", "name": "  "})
    assert response.status_code == 400
    assert installation_state(app) == ([], [])


def test_a_failure_while_writing_the_keys_leaves_nothing_half_made(
    app, client, headoffice, monkeypatch
):
    """If the signing key cannot be written (a full disk), no identity is recorded, and the
    next try succeeds over what the failed one left."""
    first_account(client)
    real = keys._write_private

    def disk_full(path: Path, data: bytes) -> None:
        if path.name == keys.SIGNING_KEY_FILE:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(keys, "_write_private", disk_full)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post(
        "/setup/installation", data={"role": "headoffice", "name": "Erbil head office"}
    )
    assert response.status_code == 500
    devices, _files = installation_state(app)
    assert devices == []
    monkeypatch.setattr(keys, "_write_private", real)
    response = client.post(
        "/setup/installation", data={"role": "headoffice", "name": "Erbil head office"}
    )
    assert response.headers["Location"] == "/setup/done"
    assert installation_state(app)[1] == sorted([keys.AGE_IDENTITY_FILE, keys.SIGNING_KEY_FILE])


def test_setup_cannot_be_done_twice(app, client, headoffice):
    """Once set up, the role, name and keys stay: a second setup is refused, nothing changes."""
    first_account(client)
    assert set_up_laptop(client, (pub_file(headoffice.public), "erbil.pub")).status_code == 302
    before = installation_state(app)
    signing_key = (Path(app.instance_path) / keys.KEY_DIR / keys.SIGNING_KEY_FILE).read_bytes()
    with app.app_context():
        device_id = keys.self_device().device_id
        db.session.remove()

    assert client.get("/setup/installation").headers["Location"] == "/setup/done"
    response = client.post(
        "/setup/installation", data={"role": "headoffice", "name": "Another office"}
    )
    assert response.status_code == 409
    assert "already set up" in response.get_data(as_text=True)
    response = set_up_laptop(client, (pub_file(headoffice.public), "erbil.pub"), name="Renamed")
    assert response.status_code == 409
    assert installation_state(app) == before
    assert (Path(app.instance_path) / keys.KEY_DIR / keys.SIGNING_KEY_FILE).read_bytes() == (
        signing_key
    )
    with app.app_context():
        assert keys.self_device().device_id == device_id
        db.session.remove()
    # The first account cannot be made again either.
    assert client.post("/setup", data=ACCOUNT).status_code == 404


def test_only_a_coordinator_sets_up_the_installation(app, client, headoffice):
    """A facilitator is neither sent to the setup step nor allowed to do it."""
    first_account(client)
    add_user(app, "hawre", Role.FACILITATOR)
    facilitator = app.test_client()
    assert login(facilitator, "hawre").status_code == 302
    assert facilitator.get("/").status_code == 200
    assert facilitator.get("/setup/installation").status_code == 403
    assert facilitator.get("/setup/done").status_code == 403
    response = set_up_laptop(facilitator, (pub_file(headoffice.public), "erbil.pub"))
    assert response.status_code == 403
    assert installation_state(app) == ([], [])
    page = facilitator.get("/export").get_data(as_text=True)
    assert "Ask a coordinator" in page


def test_the_setup_step_needs_a_signed_in_account(app, client):
    """Nobody reaches the installation step without signing in."""
    first_account(client)
    stranger = app.test_client()
    assert stranger.get("/setup/installation").headers["Location"].startswith("/login")
    response = stranger.post(
        "/setup/installation", data={"role": "headoffice", "name": "Erbil head office"}
    )
    assert response.status_code == 302
    assert installation_state(app) == ([], [])


def test_signing_in_again_still_leads_to_the_setup_step(app, client):
    """A coordinator who left after the first account is sent back to the setup step."""
    first_account(client)
    client.post("/logout")
    assert login(client).status_code == 302
    assert client.get("/").headers["Location"] == "/setup/installation"
    set_language(client, "ckb")  # the language can still be changed meanwhile
    page = client.get("/setup/installation").get_data(as_text=True)
    assert 'dir="rtl"' in page


def test_an_installation_made_on_the_command_line_is_offered_the_setup(app, client, headoffice):
    """A coordinator made with ``fieldapp create-user`` is not forced, but Export offers the
    setup step, which works the same way."""
    add_user(app, "amira", Role.COORDINATOR)
    assert login(client).status_code == 302
    assert client.get("/").status_code == 200
    page = client.get("/export").get_data(as_text=True)
    assert "has no keys yet" in page
    assert 'href="/setup/installation"' in page
    assert set_up_laptop(client, (pub_file(headoffice.public), "erbil.pub")).status_code == 302
    assert "Export now" in client.get("/export").get_data(as_text=True)
