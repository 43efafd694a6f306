"""Halabja became Iraq's 19th governorate: records saved with the old list show it everywhere.

A consultation a laptop saved as Sulaymaniyah / district Halabja (``IQ-SU`` /
``IQ-SU-HALABJA``) keeps those codes in its synced versions; screens, the governorate filter
and search place it in Halabja governorate, after an upgrade and after a merge alike.
"""

from __future__ import annotations

import json
import re

from flask_migrate import upgrade
from sqlalchemy import select, text

from fieldapp import MIGRATIONS_DIR, create_app
from fieldapp.config import create_secret_key
from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import DeviceRole, RecordHead, RecordVersion, Role
from fieldapp.services import records, workspace
from fieldapp.services.sync import schema
from fieldapp.services.sync.revisions import first_version
from fieldapp.services.sync.stats import digest

from .conftest import add_user, login, make_app
from .sync_world import Installation

RECORD_ID = "0b6f3c1e-5d2a-4e8f-9a41-2c7d8e9f0a1b"
DEVICE_ID = "7e1d2c3b-4a59-4687-8f9e-0a1b2c3d4e5f"
OLD_LIST_BODY = {
    "kind": "town_hall",
    "title": {"ckb": "کۆبوونەوەی گشتی، هەڵەبجە", "en": "Town hall, Halabja"},
    "original_language": "ckb",
    "status": "open",
    "governorate": "IQ-SU",
    "district": "IQ-SU-HALABJA",
    "place": "Halabja cultural centre",
    "languages": ["ckb", "en"],
    "updated_at": "2026-03-01T09:00:00Z",
    "updated_by": DEVICE_ID,
}


def place_shown(client, record_id: str) -> str:
    """The text of the consultation page's "Place" entry."""
    page = client.get(f"/consultations/{record_id}").get_data(as_text=True)
    match = re.search(r"<dt>Place</dt><dd>(.*?)</dd>", page, re.S)
    assert match, page[-2000:]
    return re.sub(r"<[^>]+>", "", match.group(1))


def test_old_record_shows_halabja_governorate_after_db_upgrade(instance):
    """A database at revision 0004 holding an old-list consultation, upgraded to the newest
    schema: the consultation is in Halabja governorate and its synced version is unchanged."""
    instance.mkdir(parents=True)
    create_secret_key(instance)
    old = create_app({"TESTING": True}, instance_path=instance)
    with old.app_context():
        upgrade(directory=MIGRATIONS_DIR, revision="0004")
        # Written as the code of that schema wrote it: a version and its head, nothing else.
        version = first_version(OLD_LIST_BODY)
        with writing() as session:
            session.add(
                RecordVersion(
                    record_id=RECORD_ID,
                    rev=version.rev,
                    kind="consultation",
                    parent_rev=None,
                    deleted=False,
                    body=records.body_text(version.body),
                )
            )
            session.add(
                RecordHead(
                    record_id=RECORD_ID,
                    kind="consultation",
                    winner_rev=version.rev,
                    deleted=False,
                    conflicts=0,
                    body=records.body_text(version.body),
                )
            )
        before = digest()
        db.session.remove()
        db.engine.dispose()

    app = make_app(instance)  # what `fieldapp db upgrade` and every start do
    add_user(app, "amira", Role.COORDINATOR)
    with app.app_context():
        assert db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        stored = db.session.execute(select(RecordVersion.body)).scalar_one()
        assert json.loads(stored)["governorate"] == "IQ-SU"  # no version was rewritten
        assert digest() == before
        item = workspace.get(RECORD_ID, "consultation")
        assert (item.body["governorate"], item.body["district"]) == ("IQ-HA", "IQ-HA-HALABJA")
        assert [i.id for i in workspace.list_consultations(governorate="IQ-HA")] == [RECORD_ID]
        assert workspace.list_consultations(governorate="IQ-SU") == []
        assert [i.id for i in workspace.list_consultations("Helebce")] == [RECORD_ID]
        assert workspace.list_consultations("Silêmanî") == []
    client = app.test_client()
    assert login(client).status_code == 302
    assert place_shown(client, RECORD_ID).split(" · ")[:2] == ["Halabja", "Halabja"]
    listing = client.get("/consultations?governorate=IQ-HA").get_data(as_text=True)
    assert "Town hall, Halabja" in listing
    assert '<option value="IQ-HA" selected>Halabja</option>' in listing
    with app.app_context():
        db.engine.dispose()


def test_old_list_bundle_merges_at_head_office_and_shows_halabja(tmp_path):
    """A laptop's export carrying the old form merges at head office: same digest on both,
    and head office shows, filters and searches the meeting under Halabja governorate."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Halabja laptop", (ho,))
    ho.register(laptop)
    with laptop.session():
        body = {k: v for k, v in OLD_LIST_BODY.items() if k not in workspace.STAMPS}
        record_id, _rev = records.create("consultation", body)
    carried = laptop.export(tmp_path / "stick")
    (summary,) = ho.merge(carried)
    assert summary.ok, summary.error
    assert summary.new == 1
    assert ho.stats()["digest"] == laptop.stats()["digest"]
    with ho.session():
        stored = json.loads(records.current(record_id).body)
        assert (stored["governorate"], stored["district"]) == ("IQ-SU", "IQ-SU-HALABJA")
        found = workspace.list_consultations(governorate="IQ-HA")
        assert [i.id for i in found] == [record_id]
        assert found[0].body["governorate"] == "IQ-HA"
        assert [i.id for i in workspace.list_consultations("حلبجة")] == [record_id]
        assert workspace.list_consultations(governorate="IQ-SU") == []


def test_schema_accepts_the_old_and_the_new_place_forms():
    """An old laptop's bundle (Sulaymaniyah / Halabja) and a new one (Halabja / Khurmal)."""
    schema.check_body("consultation", OLD_LIST_BODY)
    schema.check_body(
        "consultation", {**OLD_LIST_BODY, "governorate": "IQ-HA", "district": "IQ-HA-KHURMAL"}
    )


def test_editing_an_old_record_saves_the_new_place(tmp_path):
    """The next edit of an old-list consultation is an ordinary new version in the new form."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Halabja laptop", (ho,))
    with laptop.session():
        body = {k: v for k, v in OLD_LIST_BODY.items() if k not in workspace.STAMPS}
        record_id, rev = records.create("consultation", body)
        item = workspace.get(record_id, "consultation")
        workspace.update_fields(item, {"status": "closed"}, rev)
        stored = json.loads(records.current(record_id).body)
        assert (stored["governorate"], stored["district"]) == ("IQ-HA", "IQ-HA-HALABJA")
        assert stored["status"] == "closed"
