"""A damaged database file (SECURITY.md D-05): found at start, never written into, explained.

A copy of a real installation has one b-tree page of its submissions table overwritten, as a
failing disk or a power cut during a write could leave it. The app must start read-only, show
every visitor what happened and what to do, and leave every byte of the file as it was.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp.cli import cli
from fieldapp.config import DATABASE_FILE
from fieldapp.extensions import db
from fieldapp.models import DeviceRole
from fieldapp.services import demo, health

from .damage import corrupt
from .serving import serving
from .sync_world import Installation, site

ADVICE_COMMAND = "restore"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _catalogue_has(lang: str, msgid: str) -> bool:
    from babel.support import Translations

    from fieldapp.i18n import BY_CODE, TRANSLATIONS_DIR

    catalogue = Translations.load(str(TRANSLATIONS_DIR), [BY_CODE[lang].locale])
    return catalogue.gettext(msgid) != msgid


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installation folder whose database file quick_check finds damaged."""
    root = tmp_path_factory.mktemp("damaged")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Laptop", (ho,))
    with laptop.session():
        demo.fill(consultations=1, submissions=120, seed=3)
        db.session.remove()
    folder = root / "copy"
    shutil.copytree(laptop.folder, folder)  # every connection is closed: the WAL is merged
    database = folder / DATABASE_FILE
    assert not (folder / (DATABASE_FILE + "-wal")).exists()
    assert health.quick_check(database) == []
    corrupt(database)
    assert health.quick_check(database), "quick_check must notice the damage"
    return folder


def test_the_app_starts_read_only_and_every_page_explains(damaged: Path) -> None:
    """Sign-in, the start page, a POST, in English and Arabic: the damage page each time, and
    the file's bytes are the same afterwards."""
    database = damaged / DATABASE_FILE
    before = _sha(database)
    with site(damaged, WTF_CSRF_ENABLED=False) as app:
        assert health.is_damaged(app)
        client = app.test_client()
        for path in ("/", "/login", "/export", "/backup"):
            response = client.get(path)
            assert response.status_code == 503, path
            page = response.get_data(as_text=True)
            assert "The database is damaged" in page
            assert ADVICE_COMMAND in page
            assert "--instance" in page
        posted = client.post("/login", data={"username": "amira", "password": "x" * 12})
        assert posted.status_code == 503
        arabic = client.get("/", headers={"Accept-Language": "ar"})
        assert arabic.status_code == 503
        assert '<html lang="ar-IQ" dir="rtl">' in arabic.get_data(as_text=True)
        sorani = client.get("/", headers={"Accept-Language": "ckb"}).get_data(as_text=True)
        assert 'dir="rtl"' in sorani
        assert "The database is damaged" not in sorani  # in Sorani words
        assert _catalogue_has("ckb", "The database is damaged")
        style = client.get("/static/css/app.css")
        assert style.status_code == 200  # the page keeps its look
        style.close()
        with app.app_context():
            # Even a write that skipped the pages would be refused by SQLite itself.
            with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
                db.session.execute(db.text("CREATE TABLE intruder (x)"))
            db.session.rollback()
    assert _sha(database) == before


def test_commands_that_write_refuse_with_exit_code_2(damaged: Path) -> None:
    """create-user, export and db upgrade stop with the advice; the file is unchanged."""
    database = damaged / DATABASE_FILE
    before = _sha(database)
    runner = CliRunner()
    for args, stdin in (
        (["create-user", "karwan", "--password-stdin"], "olive grove at dawn\n"),
        (["export", "--output", str(damaged.parent)], None),
        (["backup", "--output", str(damaged.parent), "--passphrase-stdin"], "long passphrase\n"),
        (["db", "upgrade"], None),
    ):
        result = runner.invoke(cli, ["--instance", str(damaged), *args], input=stdin)
        assert result.exit_code == 2, (args, result.output)
        assert "damaged" in result.output
        assert ADVICE_COMMAND in result.output
        assert "Traceback" not in result.output
    assert _sha(database) == before


def test_the_facilitators_server_starts_and_shows_the_page(damaged: Path) -> None:
    """run.py on the damaged folder: it starts (no migration is run) and answers 503."""
    database = damaged / DATABASE_FILE
    before = _sha(database)
    with serving(damaged) as url:
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(url + "/login", timeout=5)  # noqa: S310 -- loopback
        assert answer.value.code == 503
        assert "The database is damaged" in answer.value.read().decode("utf-8")
    assert _sha(database) == before


def test_a_sound_database_is_not_flagged(tmp_path: Path) -> None:
    """The check finds nothing in a healthy installation, which starts as usual."""
    laptop = Installation(tmp_path / "ok", DeviceRole.HEADOFFICE, "Office")
    with site(laptop.folder) as app:
        assert not health.is_damaged(app)
        assert app.test_client().get("/login").status_code in (200, 302)


def test_the_server_starts_on_a_damaged_database_with_purge_after_days(tmp_path: Path) -> None:
    """PURGE_AFTER_DAYS = 0 and a receipt applied: the automatic purge at start would write into
    the damaged file; the server skips it, starts, and shows the page; the file is unchanged."""
    from fieldapp.services.sync import receipts

    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Laptop", (ho,))
    ho.register(laptop)
    with laptop.session():
        demo.fill(consultations=1, submissions=120, seed=3)
    assert ho.merge(laptop.export(tmp_path))[0].ok
    with ho.session():
        data = receipts.write_receipt(laptop.public.device_id, ho.folder).data
    with laptop.session():
        receipts.apply_receipt(data)
        db.session.remove()
    folder = tmp_path / "copy"
    shutil.copytree(laptop.folder, folder)
    corrupt(folder / DATABASE_FILE)
    assert health.quick_check(folder / DATABASE_FILE)
    with (folder / "config.py").open("a", encoding="utf-8") as settings:
        settings.write("\nPURGE_AFTER_DAYS = 0\n")
    before = _sha(folder / DATABASE_FILE)
    with serving(folder) as url:
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(url + "/login", timeout=5)  # noqa: S310 -- loopback
        assert answer.value.code == 503
        assert "The database is damaged" in answer.value.read().decode("utf-8")
    assert _sha(folder / DATABASE_FILE) == before
