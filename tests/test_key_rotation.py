"""A field laptop rotates its signing key; head office follows it without a visit."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from fieldapp.cli import cli
from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import AuditEvent, Device, DeviceKey, DeviceRole, Role
from fieldapp.services import demo
from fieldapp.services.sync import keys, rotation

from .conftest import add_user, login
from .sync_world import Installation, clone, site


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def public_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """A head office and a registered laptop with some data; export 1 merged."""
    files = tmp_path / "files"
    files.mkdir()
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    ho.register(laptop)
    with laptop.session():
        demo.fill(consultations=1, submissions=3, seed=1)
    assert all(s.ok for s in ho.merge(laptop.export(files)))
    return {"ho": ho, "laptop": laptop, "files": files, "id": laptop.public.device_id}


def registered_key(installation: Installation, device_id: str) -> str:
    with installation.session():
        return db.session.execute(
            select(Device.signing_public_key).where(Device.device_id == device_id)
        ).scalar_one()


def fill(laptop: Installation, seed: int) -> None:
    with laptop.session():
        demo.fill(consultations=1, submissions=2, seed=seed)


def test_rotate_export_merge_head_office_lists_the_new_key(world, tmp_path):
    """``fieldapp keys rotate`` on the laptop: a new 0600 key file, the public key file shows
    the new key; the next export merges at head office, which now holds the new key, logs it,
    and refuses a file signed with the old key numbered after the rotation."""
    ho, laptop, files = world["ho"], world["laptop"], world["files"]
    old_key = registered_key(ho, world["id"])
    result = run("--instance", str(laptop.folder), "keys", "rotate")
    assert result.exit_code == 0, result.output
    assert "from export 2 on" in result.output
    key_file = laptop.folder / "keys" / keys.SIGNING_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (laptop.folder / "keys" / rotation.NEXT_KEY_FILE).exists()
    public = tmp_path / "laptop.pub"
    assert (
        run("--instance", str(laptop.folder), "keys", "public", "--output", str(public)).exit_code
        == 0
    )
    new_key = json.loads(public.read_text())["ed25519_public_key"]
    assert new_key != old_key
    with laptop.session():
        assert public_text(keys.load_signing_key(laptop.folder)) == new_key

    fill(laptop, 2)
    [merged] = ho.merge(laptop.export(files))
    assert merged.ok, merged.error
    assert merged.export_seq == 2
    assert registered_key(ho, world["id"]) == new_key
    with site(ho.folder, WTF_CSRF_ENABLED=False) as app:
        add_user(app, "amira", Role.COORDINATOR)
        client = app.test_client()
        login(client, "amira")
        page = client.get(f"/devices/{world['id']}").get_data(as_text=True)
        assert new_key in page
        assert old_key not in page
        assert "(from export 2 on)" in page
    with ho.session():
        accepted = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "key.rotation_accepted")
        ).scalar_one()
        assert json.loads(accepted.detail)["new_key"] == new_key
        [past] = db.session.execute(select(DeviceKey)).scalars()
        assert (past.public_key, past.first_seq, past.until_seq) == (old_key, 1, 2)


def test_two_rotations_in_a_row_head_office_knew_only_the_first_key(world):
    """K1 -> K2 -> K3 with no export between: head office, which only knew K1, follows the
    chain and records K3; a later export (still carrying both statements) merges too."""
    ho, laptop, files = world["ho"], world["laptop"], world["files"]
    assert run("--instance", str(laptop.folder), "keys", "rotate").exit_code == 0
    assert run("--instance", str(laptop.folder), "keys", "rotate").exit_code == 0
    k3 = registered_key(laptop, world["id"])
    fill(laptop, 3)
    [merged] = ho.merge(laptop.export(files))
    assert merged.ok, merged.error
    assert registered_key(ho, world["id"]) == k3
    with ho.session():
        assert len(db.session.execute(select(DeviceKey)).scalars().all()) == 2
    fill(laptop, 4)
    [again] = ho.merge(laptop.export(files))
    assert again.ok, again.error


def test_an_export_made_before_the_rotation_still_merges_after_it(world):
    """Export 2 (old key) arrives after export 3 (new key): it is checked with the old key,
    which head office keeps for the numbers before the rotation."""
    ho, laptop, files = world["ho"], world["laptop"], world["files"]
    fill(laptop, 2)
    two = laptop.export(files)
    assert run("--instance", str(laptop.folder), "keys", "rotate").exit_code == 0
    fill(laptop, 3)
    three = laptop.export(files)
    assert ho.merge(three)[0].ok
    [late] = ho.merge(two)
    assert late.ok, late.error


def forge(laptop: Installation, statement_signer: Ed25519PrivateKey | None, alter: bool) -> None:
    """Make the laptop's newest rotation a fake: signed by ``statement_signer`` instead of the
    old key, or altered after signing (``alter``)."""
    with laptop.session(), writing():
        row = db.session.execute(select(DeviceKey).order_by(DeviceKey.id.desc())).scalars().first()
        signed = json.loads(row.statement)
        if alter:
            # A field no other check looks at: only the signature can tell.
            signed["statement"]["created_at"] = "2026-01-01T00:00:00Z"
        if statement_signer is not None:
            signed["signature"] = base64.b64encode(
                statement_signer.sign(
                    rotation.DOMAIN + rotation.canonical_json(signed["statement"])
                )
            ).decode("ascii")
        row.statement = json.dumps(signed)


@pytest.mark.parametrize("how", ["another key", "altered"])
def test_a_forged_or_altered_statement_is_refused(world, how, tmp_path):
    """A statement signed by a key that is not the registered one, or altered after signing,
    is refused with a message; head office keeps the old key and its data is unchanged."""
    ho, laptop, files = world["ho"], world["laptop"], world["files"]
    old_key = registered_key(ho, world["id"])
    assert run("--instance", str(laptop.folder), "keys", "rotate").exit_code == 0
    if how == "another key":
        forge(laptop, Ed25519PrivateKey.generate(), alter=False)
    else:
        forge(laptop, None, alter=True)
    fill(laptop, 5)
    before = ho.stats()
    [refused] = ho.merge(laptop.export(files))
    assert not refused.ok
    assert "that change is not signed by the key registered here" in refused.error
    assert ho.stats() == before
    assert registered_key(ho, world["id"]) == old_key
    # The advice works: revoke the device, set the laptop up again, register its new key file
    # (registering the rotated key under the old device id would be refused).
    assert "in person" not in refused.error
    assert "revoke the device here, set the laptop up as a new installation" in refused.error
    assert (
        run("--instance", str(ho.folder), "devices", "revoke", world["id"], "--yes").exit_code == 0
    )
    again = Installation(tmp_path / "again", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    ho.register(again)
    with again.session():
        demo.fill(consultations=1, submissions=2, seed=8)
    [merged] = ho.merge(again.export(files))
    assert merged.ok, merged.error


def test_a_rotation_made_before_the_revocation_merges_with_its_export(world: dict) -> None:
    """The laptop rotates and writes export 2 (new key), then is lost; head office, which has
    not seen export 2 yet, revokes it after 2. Export 2 still merges, rotation included (exports
    up to 2 still merge); export 3 is refused as revoked, whatever key signed it."""
    ho, laptop, files = world["ho"], world["laptop"], world["files"]
    assert run("--instance", str(laptop.folder), "keys", "rotate").exit_code == 0
    fill(laptop, 6)
    two = laptop.export(files)
    new_key = public_text(keys.load_signing_key(laptop.folder))
    revoked = run(
        "--instance", str(ho.folder), "devices", "revoke", world["id"], "--after-seq", "2"
    )
    assert revoked.exit_code == 0, revoked.output
    [merged] = ho.merge(two)
    assert merged.ok, merged.error
    assert registered_key(ho, world["id"]) == new_key
    fill(laptop, 7)
    [refused] = ho.merge(laptop.export(files))
    assert not refused.ok
    assert "Only its exports up to number 2 are still accepted" in refused.error


def test_head_office_refuses_to_rotate(world):
    """A head office's key signs codebooks and receipts: rotation is refused with a message."""
    result = run("--instance", str(world["ho"].folder), "keys", "rotate")
    assert result.exit_code == 1
    assert "Only a field laptop rotates its key this way" in result.output


def test_an_older_head_office_says_to_update(world, monkeypatch):
    """A head office that only reads format 1 refuses a rotated laptop's export clearly
    ("update fieldapp"), not as a damaged file and not with a crash."""
    from fieldapp.services.sync import bundle

    ho, laptop, files = world["ho"], world["laptop"], world["files"]
    assert run("--instance", str(laptop.folder), "keys", "rotate").exit_code == 0
    path = laptop.export(files)
    monkeypatch.setattr(bundle, "ROTATION_FORMAT_VERSION", 1)  # as before this change
    [refused] = ho.merge(path)
    assert not refused.ok
    assert "written by a different version of fieldapp (format 2)" in refused.error


def test_a_rotation_cut_short_by_a_power_cut_is_finished_at_the_next_export(world):
    """Recorded in the database but the new key file not yet in place: the next export
    finishes the rotation, and head office accepts it."""
    ho, laptop, files = world["ho"], world["laptop"], world["files"]
    folder = laptop.folder / "keys"
    saved_old = (folder / keys.SIGNING_KEY_FILE).read_bytes()
    assert run("--instance", str(laptop.folder), "keys", "rotate").exit_code == 0
    # Put the state back to "recorded, not renamed": new key beside the old one.
    os.replace(folder / keys.SIGNING_KEY_FILE, folder / rotation.NEXT_KEY_FILE)
    (folder / keys.SIGNING_KEY_FILE).write_bytes(saved_old)
    fill(laptop, 7)
    [merged] = ho.merge(laptop.export(files))
    assert merged.ok, merged.error
    assert not (folder / rotation.NEXT_KEY_FILE).exists()


def test_a_key_file_that_matches_nothing_is_refused(world):
    """A signing key file that is not the key the database names: export refused, exit 1."""
    laptop = world["laptop"]
    (laptop.folder / "keys" / keys.SIGNING_KEY_FILE).write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    result = run("--instance", str(laptop.folder), "export")
    assert result.exit_code == 1
    assert "not the key its records name" in result.output


def test_two_copies_rotating_the_same_key_revoke_the_device_at_every_head_office(
    tmp_path: Path,
) -> None:
    """Two copies of one laptop (a disk image) retire its key K1 differently: one rotates from
    export 3, the other signs export 3 with K1 and rotates from 4. Two head offices merge the
    two files in opposite orders: each merges the first, refuses the second saying the device
    was revoked because a copy of its key exists, revokes it after export 2 (the earlier
    rotation minus one) and logs it. From then on they agree: export 2, signed by K1 before
    either rotation, merges at both, and every later export of either copy is refused."""
    files = tmp_path / "files"
    files.mkdir()
    ho1 = Installation(tmp_path / "ho1", DeviceRole.HEADOFFICE, "Erbil head office")
    ho2 = Installation(tmp_path / "ho2", DeviceRole.HEADOFFICE, "Duhok office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho1, ho2))
    ho1.register(laptop)
    ho2.register(laptop)
    device_id = laptop.public.device_id
    fill(laptop, 1)
    one = laptop.export(files)
    assert ho1.merge(one)[0].ok
    assert ho2.merge(one)[0].ok
    fill(laptop, 2)
    two = laptop.export(files)  # still on a stick
    copy = clone(laptop, tmp_path / "copy")
    assert run("--instance", str(laptop.folder), "keys", "rotate").exit_code == 0
    fill(laptop, 3)
    a = laptop.export(files)  # export 3, K1 -> K2 from 3
    fill(copy, 4)
    copy_three = copy.export(files)  # export 3 signed with K1
    assert run("--instance", str(copy.folder), "keys", "rotate").exit_code == 0
    fill(copy, 5)
    b = copy.export(files)  # export 4, K1 -> K3 from 4

    for seed, ho, order in ((6, ho1, (a, b)), (7, ho2, (b, a))):
        first, second = ho.merge(*order)
        assert first.ok, first.error
        assert not second.ok
        assert "a copy of the laptop's key exists" in str(second.error)
        assert "only its exports up to number 2 are accepted" in str(second.error)
        with ho.session():
            device = db.session.execute(
                select(Device).where(Device.device_id == device_id)
            ).scalar_one()
            assert device.revoked
            assert device.revoked_after_seq == 2
            [logged] = db.session.execute(
                select(AuditEvent).where(AuditEvent.action == "device.revoked")
            ).scalars()
            detail = json.loads(str(logged.detail))
            assert detail["reason"] == "conflicting_rotations"
            assert detail["after_seq"] == 2
            assert detail["from_seqs"] == [3, 4]
            assert detail["file"] == order[1].name
        [late] = ho.merge(two)
        assert late.ok, late.error
        for refused in ho.merge(copy_three, *order):
            assert not refused.ok
        fill(laptop, seed)
        [later] = ho.merge(laptop.export(files))
        assert not later.ok
        assert "Only its exports up to number 2 are still accepted" in str(later.error)


def test_a_conflicting_rotation_recorded_while_a_file_is_checked_revokes_too(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File A (K1 -> K2) passes its check; before it writes, file B of a copy (K1 -> K3) is
    merged. A's merge sees B's statement under the write lock: A is refused and the device
    revoked after export 1, as if the files had come one after the other."""
    from fieldapp.services.sync import merge

    ho, laptop, files = world["ho"], world["laptop"], world["files"]
    copy = clone(laptop, tmp_path / "copy")
    for installation, seed in ((laptop, 2), (copy, 3)):
        assert run("--instance", str(installation.folder), "keys", "rotate").exit_code == 0
        fill(installation, seed)
    a, b = laptop.export(files), copy.export(files)
    checked = rotation.KeyCheck.__call__
    meanwhile: list = []

    def check_then_merge_the_other(self: rotation.KeyCheck, manifest: dict) -> bytes:
        key = checked(self, manifest)
        if not meanwhile:
            meanwhile.append(None)  # the nested merge's own check goes straight through
            meanwhile.extend(merge.merge_files([b], ho.folder))
        return key

    monkeypatch.setattr(rotation.KeyCheck, "__call__", check_then_merge_the_other)
    [refused] = ho.merge(a)
    assert meanwhile[1].ok, meanwhile[1].error
    assert not refused.ok
    assert "only its exports up to number 1 are accepted" in refused.error
    with ho.session():
        device = db.session.execute(
            select(Device).where(Device.device_id == world["id"])
        ).scalar_one()
        assert device.revoked
        assert device.revoked_after_seq == 1
