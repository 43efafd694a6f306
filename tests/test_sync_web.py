"""The Export page on a laptop and the Import page at head office, in four languages."""

from __future__ import annotations

import io
import re

import pytest

from fieldapp.models import DeviceRole, Role

from .conftest import UI_LANGUAGES, add_user, login, set_language, translated
from .sync_world import Installation, clone, site


@pytest.fixture
def offices(tmp_path):
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    ho.register(laptop)
    with laptop.session():
        from fieldapp.services import demo

        demo.fill(consultations=1, submissions=12, seed=3)
    return ho, laptop


def browser(installation, lang):
    """A signed-in browser on an installation's own app."""
    app = site(installation.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD="scrypt:1024:8:1")
    flask_app = app.__enter__()
    add_user(flask_app, "amira", Role.COORDINATOR)
    client = flask_app.test_client()
    set_language(client, lang)
    assert login(client).status_code == 302
    return app, client


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_facilitator_exports_and_downloads_the_file(offices, lang):
    """Export now, be told it is checked, download an attachment with a neutral name."""
    _ho, laptop = offices
    app, client = browser(laptop, lang)
    try:
        page = client.get("/export").get_data(as_text=True)
        assert "Bashiqa laptop" in page
        assert "/import" not in page  # a laptop has no Import page in its menu
        response = client.post("/export", follow_redirects=True)
        page = response.get_data(as_text=True)
        assert (
            translated(
                lang,
                "Export %(seq)s is written and checked. Download it and carry it to head office.",
                seq=1,
            )
            in page
        )
        link = re.search(r'href="(/export/1/download)"', page).group(1)
        with client.get(link) as download:
            assert download.status_code == 200
            disposition = download.headers["Content-Disposition"]
            assert disposition.startswith("attachment;")
            assert re.search(r"filename=[0-9a-f]{16}\.fieldsync", disposition)
            assert download.data.startswith(b"age-encryption.org/v1\n")
            assert download.headers["Cache-Control"] == "no-store"
        assert client.get("/import").status_code == 403
    finally:
        app.__exit__(None, None, None)


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_head_office_imports_several_files_at_once(offices, tmp_path, lang):
    """Two files (one of them twice) and a damaged one: a summary line for each."""
    ho, laptop = offices
    bundle = laptop.export(tmp_path).read_bytes()
    copy = clone(ho, tmp_path / f"ho-{lang}")
    app, client = browser(copy, lang)
    try:
        assert "/import" in client.get("/").get_data(as_text=True)
        response = client.post(
            "/import",
            data={
                "bundles": [
                    (io.BytesIO(bundle), "from-bashiqa.fieldsync"),
                    (io.BytesIO(bundle), "from-bashiqa (copy).fieldsync"),
                    (io.BytesIO(b"not an export"), "photo.jpg"),
                ]
            },
            content_type="multipart/form-data",
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "from-bashiqa.fieldsync" in page
        assert translated(lang, "Merged before; nothing changed.") in page
        assert translated(lang, "This file is not an encrypted fieldapp export.") in page
        assert "Bashiqa laptop" in page
    finally:
        app.__exit__(None, None, None)
    assert copy.stats()["counts"]["submissions"] == 12


def test_import_without_files_explains(offices):
    """Pressing Import with nothing chosen asks for files."""
    ho, _laptop = offices
    app, client = browser(ho, "ar")
    try:
        response = client.post("/import", data={}, content_type="multipart/form-data")
        assert translated("ar", "Choose one or more export files to import.") in response.get_data(
            as_text=True
        )
    finally:
        app.__exit__(None, None, None)


def test_installation_without_keys_explains_export(app, signed_in):
    """A laptop set up without keys says why it cannot export, instead of failing."""
    page = signed_in.get("/export").get_data(as_text=True)
    assert "has no keys yet" in page
    response = signed_in.post("/export", follow_redirects=True)
    assert "has no keys yet" in response.get_data(as_text=True)
