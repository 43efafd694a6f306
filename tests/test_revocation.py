"""Revoking a lost or seized laptop at head office: later exports refused, earlier ones merge."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from fieldapp.cli import cli
from fieldapp.extensions import db
from fieldapp.models import AuditEvent, Device, DeviceRole, Role
from fieldapp.services import demo

from .conftest import add_user, login
from .sync_world import Installation, clone, site


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """A head office and a registered laptop that wrote exports 1, 2 and 3; 1 and 2 merged."""
    files = tmp_path / "files"
    files.mkdir()
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    ho.register(laptop)
    exports = []
    for seed in (1, 2, 3):
        with laptop.session():
            demo.fill(consultations=1, submissions=3, seed=seed)
        exports.append(laptop.export(files))
    assert all(s.ok for s in ho.merge(exports[0]))
    return {"ho": ho, "laptop": laptop, "exports": exports, "id": laptop.public.device_id}


def test_revoked_after_2_export_2_merges_and_export_3_is_refused(world):
    """Revoke after export 2: export 2 (on a stick when the laptop was lost) still merges,
    export 3 is refused saying the device was revoked, when, and up to which number; head
    office's data stays exactly as it was."""
    ho, (_one, two, three) = world["ho"], world["exports"]
    result = run(
        "--instance", str(ho.folder), "devices", "revoke", world["id"][:8], "--after-seq", "2"
    )
    assert result.exit_code == 0, result.output
    assert "above 2 are refused" in result.output
    assert "Exports 2 to 2 have not been merged here yet" in result.output

    [merged] = ho.merge(two)
    assert merged.ok
    assert merged.export_seq == 2
    before = ho.stats()
    [refused] = ho.merge(three)
    assert not refused.ok
    assert "export 3 of “Bashiqa laptop”, whose key was revoked here on" in refused.error
    assert "Only its exports up to number 2 are still accepted" in refused.error
    assert ho.stats() == before
    with ho.session():
        device = db.session.execute(
            select(Device).where(Device.device_id == world["id"])
        ).scalar_one()
        assert device.revoked
        assert device.revoked_after_seq == 2
        assert device.revoked_at
        logged = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "device.revoked")
        ).scalar_one()
        assert json.loads(logged.detail)["after_seq"] == 2


def test_without_a_number_the_command_asks_and_changes_nothing(world):
    """``devices revoke ID`` alone prints the highest number merged and asks for it (exit 1);
    ``--yes`` then keeps exactly the exports merged so far (by then 1 and 2)."""
    ho = world["ho"]
    asked = run("--instance", str(ho.folder), "devices", "revoke", world["id"])
    assert asked.exit_code == 1
    assert "highest export number of “Bashiqa laptop” merged here is 1" in asked.output
    assert "--after-seq 1" in asked.output
    [still] = ho.merge(world["exports"][1])
    assert still.ok  # nothing was revoked by asking

    confirmed = run("--instance", str(ho.folder), "devices", "revoke", world["id"], "--yes")
    assert confirmed.exit_code == 0, confirmed.output
    assert "above 2 are refused" in confirmed.output
    [refused] = ho.merge(world["exports"][2])
    assert not refused.ok
    assert "revoked" in refused.error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["00000000-dead"], "No device registered here has the id 00000000-dead"),
        (["ab"], "at least its first 4 characters"),
        (["LAPTOP", "--after-seq", "-1"], "between 0 and 1000000"),
        (["LAPTOP", "--after-seq", "two"], "is not a valid integer"),
        (["HO"], "this installation itself"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_exit_code_1(world, args, message):
    """An unknown device, a too-short id, a bad number or the head office itself: a message,
    exit code 1 (2 for click's own usage error), no traceback, nothing revoked."""
    ho = world["ho"]
    own = ho.public.device_id
    args = [{"LAPTOP": world["id"], "HO": own}.get(a, a) for a in args]
    result = run("--instance", str(ho.folder), "devices", "revoke", *args)
    assert result.exit_code in (1, 2), result.output
    assert result.exit_code == (2 if "two" in args else 1)
    assert message in result.output
    assert "Traceback" not in result.output
    [merged] = ho.merge(world["exports"][2])
    assert merged.ok


def test_a_revocation_can_be_tightened_but_never_loosened(world):
    """Revoked after 2, then after 5 is refused (it would accept more); after 1 is taken."""
    folder = str(world["ho"].folder)
    assert (
        run("--instance", folder, "devices", "revoke", world["id"], "--after-seq", "2").exit_code
        == 0
    )
    looser = run("--instance", folder, "devices", "revoke", world["id"], "--after-seq", "5")
    assert looser.exit_code == 1
    assert "already revoked after export 2" in looser.output
    tighter = run("--instance", folder, "devices", "revoke", world["id"], "--after-seq", "1")
    assert tighter.exit_code == 0, tighter.output
    [refused] = world["ho"].merge(world["exports"][1])
    assert not refused.ok


def test_a_laptop_cannot_revoke(world):
    """Revocation is head office's: on a laptop it is refused with a message."""
    laptop = world["laptop"]
    ho_id = world["ho"].public.device_id
    result = run("--instance", str(laptop.folder), "devices", "revoke", ho_id, "--after-seq", "0")
    assert result.exit_code == 1
    assert "Devices are revoked at head office" in result.output


def test_devices_page_revoke_as_coordinator(world):
    """A coordinator opens the device's page, follows Revoke, sees the last number merged
    offered, confirms 2: export 2 still merges, export 3 is refused. An analyst or a viewer
    is refused the page (403) and revokes nothing."""
    ho, device_id = world["ho"], world["id"]
    with site(ho.folder, WTF_CSRF_ENABLED=False) as app:
        for role in Role:
            add_user(app, f"user-{role.value}", role)
        for role in (Role.ANALYST, Role.VIEWER, Role.FACILITATOR):
            client = app.test_client()
            login(client, f"user-{role.value}")
            assert client.get(f"/devices/{device_id}/revoke").status_code == 403
            assert (
                client.post(f"/devices/{device_id}/revoke", data={"after_seq": "0"}).status_code
                == 403
            )
        client = app.test_client()
        login(client, "user-coordinator")
        page = client.get(f"/devices/{device_id}").get_data(as_text=True)
        assert f'href="/devices/{device_id}/revoke"' in page
        form = client.get(f"/devices/{device_id}/revoke").get_data(as_text=True)
        assert "The highest export number of this device merged here is 1." in form
        assert 'name="after_seq"' in form
        assert 'value="1"' in form
        bad = client.post(
            f"/devices/{device_id}/revoke", data={"after_seq": "-4"}, follow_redirects=True
        )
        assert "A number from 0 to 1000000, please." in bad.get_data(as_text=True)
        done = client.post(
            f"/devices/{device_id}/revoke", data={"after_seq": "2"}, follow_redirects=True
        )
        text = done.get_data(as_text=True)
        assert "is revoked: its exports numbered above 2 are refused" in text
        assert "exports up to number 2 still merge; later ones are refused." in text
    [merged] = ho.merge(world["exports"][1])
    assert merged.ok
    [refused] = ho.merge(world["exports"][2])
    assert not refused.ok
    assert "revoked" in refused.error


def test_devices_page_revoke_in_sorani(world):
    """The confirmation after revoking is flashed in the coordinator's language."""
    from .conftest import set_language, translated

    ho, device_id = world["ho"], world["id"]
    with site(ho.folder, WTF_CSRF_ENABLED=False) as app:
        add_user(app, "amira", Role.COORDINATOR)
        client = app.test_client()
        login(client, "amira")
        set_language(client, "ckb")
        done = client.post(
            f"/devices/{device_id}/revoke", data={"after_seq": "2"}, follow_redirects=True
        )
        expected = translated(
            "ckb",
            "“%(name)s” is revoked: its exports numbered above %(seq)s are refused from now on; "
            "exports up to %(seq)s still merge.",
            name="Bashiqa laptop",
            seq=2,
        )
        assert expected in done.get_data(as_text=True)


def test_a_revocation_made_while_a_file_is_being_checked_still_refuses_it(world, monkeypatch):
    """The device is revoked after its file's signature was checked but before the merge
    writes: the merge checks again under the write lock and refuses the file."""
    from fieldapp.services.sync import revocation, rotation

    checked = rotation.KeyCheck.__call__

    def check_then_revoke(self, manifest):
        key = checked(self, manifest)
        revocation.revoke(world["id"], 1)  # the coordinator presses Revoke just now
        return key

    monkeypatch.setattr(rotation.KeyCheck, "__call__", check_then_revoke)
    ho = world["ho"]
    before = ho.stats()
    [refused] = ho.merge(world["exports"][1])
    assert not refused.ok
    assert "Only its exports up to number 1 are still accepted" in refused.error
    assert ho.stats() == before


def test_a_device_revoked_before_this_upgrade_keeps_refusing_everything(world):
    """A database from before revocation numbers (0007) with a revoked device: after the
    upgrade the device still refuses every file, export 1 included."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from fieldapp import MIGRATIONS_DIR

    ho = world["ho"]
    with ho.session():
        downgrade(directory=MIGRATIONS_DIR, revision="0007")
        db.session.execute(
            text("UPDATE device SET revoked = 1 WHERE device_id = :id"), {"id": world["id"]}
        )
        db.session.commit()
        upgrade(directory=MIGRATIONS_DIR)
        device = db.session.execute(
            select(Device).where(Device.device_id == world["id"])
        ).scalar_one()
        assert device.revoked_after_seq == 0
    [refused] = ho.merge(world["exports"][0])
    assert not refused.ok
    assert "whose key was revoked (Bashiqa laptop)" in refused.error


def forget_exports_from(installation: Installation, seq: int) -> None:
    """Make the next export of ``installation`` be numbered ``seq`` again (whoever holds a copy
    of the laptop's folder can do this with any SQLite tool)."""
    con = sqlite3.connect(installation.folder / "fieldapp.sqlite3")
    con.execute("DELETE FROM bundle_export WHERE export_seq >= ?", (seq,))
    con.execute("DELETE FROM export_manifest WHERE export_seq >= ?", (seq,))
    con.commit()
    con.close()


def test_a_copy_of_a_revoked_laptop_cannot_add_records_under_a_number_already_merged(
    world: dict, tmp_path: Path
) -> None:
    """Exports 1 and 2 merged, the laptop revoked after 2. A copy of its folder signs a new
    export numbered 2 again with new submissions: refused, saying the device is revoked and
    that number was already merged with other content; head office's data is unchanged. The
    genuine export 2 arriving again is still "merged before", and export 3 is refused."""
    ho, (_one, two, three) = world["ho"], world["exports"]
    assert ho.merge(two)[0].ok
    copy = clone(world["laptop"], tmp_path / "copy")
    revoked = run("--instance", str(ho.folder), "devices", "revoke", world["id"], "--yes")
    assert revoked.exit_code == 0, revoked.output
    assert "above 2 are refused" in revoked.output
    forget_exports_from(copy, 2)
    with copy.session():
        demo.fill(consultations=1, submissions=7, seed=99)
    forged = copy.export(tmp_path / "files")
    before = ho.stats()
    [refused] = ho.merge(forged)
    assert refused.export_seq == 2
    assert not refused.ok
    assert "a device revoked here, and export 2 of that device was already merged" in (
        refused.error
    )
    assert ho.stats() == before
    [again] = ho.merge(two)
    assert again.ok
    assert again.already_merged
    [late] = ho.merge(three)
    assert not late.ok
    assert "Only its exports up to number 2 are still accepted" in late.error
