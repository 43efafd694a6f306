"""Receipts from head office: written after a merge, applied on the laptop, refused when they
cannot be trusted (unknown head office, altered, for another device, damaged)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from fieldapp.cli import cli
from fieldapp.extensions import db
from fieldapp.models import AuditEvent, DeviceRole, Receipt, Role, Submission
from fieldapp.services import purge
from fieldapp.services.sync import receipts

from .conftest import add_user, login, set_language, translated
from .sync_world import Installation, clone, site
from .test_purge import _answer, _receipt, _world

ALTERED = (
    "The signature of this receipt does not match its head office: the file was changed "
    "after it was written. Nothing was changed; ask head office for a new receipt."
)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _counts(laptop: Installation) -> tuple[int, int]:
    """Receipts applied and submissions held on the laptop."""
    with laptop.session():
        return (
            db.session.execute(select(func.count()).select_from(Receipt)).scalar_one(),
            db.session.execute(select(func.count()).select_from(Submission)).scalar_one(),
        )


def _refusals(laptop: Installation) -> list[str]:
    with laptop.session():
        return [
            json.loads(e.detail)["reason"]
            for e in db.session.execute(
                select(AuditEvent).where(AuditEvent.action == "receipt.refused")
            ).scalars()
        ]


@pytest.fixture
def merged(tmp_path: Path):
    """Head office has merged the laptop's first export (two answers)."""
    ho, laptop, consultation, question = _world(tmp_path)
    _answer(laptop, consultation, question, "one")
    _answer(laptop, consultation, question, "two")
    assert ho.merge(laptop.export(tmp_path))[0].ok
    return ho, laptop, consultation, question


def test_receipt_and_purge_from_the_command_line(merged, tmp_path) -> None:
    """Head office writes the receipt, the laptop applies it; purge asks for --yes first."""
    ho, laptop, _c, _q = merged
    file = tmp_path / "receipt.json"
    written = run(
        "--instance", str(ho.folder), "receipt", "--device", laptop.public.device_id,
        "--output", str(file), "--json",
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    assert json.loads(written.output)["exports"] == [[1, 1]]
    document = json.loads(file.read_text("utf-8"))
    assert document["for_device"] == laptop.public.device_id
    assert document["device_id"] == ho.public.device_id
    assert document["signature"]

    applied = run("--instance", str(laptop.folder), "receipt", "apply", str(file))
    assert applied.exit_code == 0, applied.output
    assert "Erbil head office" in applied.output
    assert "2 submissions" in applied.output
    again = run("--instance", str(laptop.folder), "receipt", "apply", str(file), "--json")
    assert json.loads(again.output)["already_applied"] is True
    assert _counts(laptop) == (1, 2)

    asked = run("--instance", str(laptop.folder), "purge", "--acknowledged")
    assert asked.exit_code == 1
    assert "would remove 2 submissions" in asked.output
    assert "--yes" in asked.output
    assert _counts(laptop) == (1, 2)
    done = run("--instance", str(laptop.folder), "purge", "--acknowledged", "--yes", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["removed"] == 2
    assert _counts(laptop) == (1, 0)
    nothing = run("--instance", str(laptop.folder), "purge", "--acknowledged", "--yes")
    assert nothing.exit_code == 0
    assert "Nothing to remove" in nothing.output


def test_bad_command_lines_get_a_message_and_exit_code_1(merged, tmp_path) -> None:
    ho, laptop, _c, _q = merged
    for args, words in (
        (("receipt",), "fieldapp receipt apply FILE"),
        (("receipt", "--device", "x", "apply", "f"), "not both"),
        (("purge",), "--acknowledged"),
        (
            ("receipt", "--device", "00000000-0000-4000-8000-000000000000", "--output", "r"),
            "fieldapp devices list",
        ),
        (("receipt", "apply", str(tmp_path / "missing.json")), "Cannot read"),
    ):
        folder = ho.folder if "--device" in args and "apply" not in args else laptop.folder
        result = run("--instance", str(folder), *args)
        assert result.exit_code == 1, (args, result.output)
        assert words in result.output
        assert "Traceback" not in result.output
    from_laptop = run(
        "--instance", str(laptop.folder), "receipt", "--device", ho.public.device_id,
        "--output", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert from_laptop.exit_code == 1
    assert "Only a head office" in from_laptop.output


def _signed_by(installation: Installation, for_device: str) -> bytes:
    """A well-formed receipt for export 1 of ``for_device``, signed by ``installation``."""
    from fieldapp.services.sync.signed import signed_file

    document = {
        "for_device": for_device,
        "exports": [[1, 1]],
        "manifests": [],
        "written_at": "2026-12-07T10:00:00Z",
    }
    with installation.session():
        return signed_file(receipts.RECEIPT_FILE, document, installation.folder)


def _altered(data: bytes) -> bytes:
    document = json.loads(data)
    document["exports"] = [[1, 99]]
    return json.dumps(document).encode()


@pytest.mark.parametrize("case", ["unknown_headoffice", "altered", "other_device", "damaged"])
def test_an_untrustworthy_receipt_is_refused_and_changes_nothing(merged, tmp_path, case) -> None:
    """Refused with a message, logged, and neither receipts nor submissions change; the
    command line exits with 1."""
    ho, laptop, consultation, question = merged
    good = _receipt(ho, laptop)
    if case == "unknown_headoffice":
        stranger = Installation(tmp_path / "stranger", DeviceRole.HEADOFFICE, "Unknown office")
        data, words = _signed_by(stranger, laptop.public.device_id), "not registered on this"
    elif case == "altered":
        data, words = _altered(good), "was changed after it was written"
    elif case == "other_device":
        other = Installation(tmp_path / "other", DeviceRole.FIELD, "Other laptop", (ho,))
        ho.register(other)
        _answer(other, *_meeting(other), "x")
        assert ho.merge(other.export(tmp_path))[0].ok
        data, words = _receipt(ho, other), "for another device"
    else:
        data, words = b'{"format": "fieldapp-receipt", "exports": [[1,', "damaged"
    before = _counts(laptop)
    with laptop.session(), pytest.raises(receipts.ReceiptRefused) as refused:
        purge.apply_receipt(data)
    assert words in str(refused.value.message)
    assert _counts(laptop) == before
    file = tmp_path / "bad.json"
    file.write_bytes(data)
    result = run("--instance", str(laptop.folder), "receipt", "apply", str(file))
    assert result.exit_code == 1, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert _counts(laptop) == before
    expected = {"unknown_headoffice": "unknown_installation"}.get(case, case)
    assert _refusals(laptop) == [expected, expected]


def _meeting(installation: Installation) -> tuple[str, str]:
    from fieldapp.services import workspace

    with installation.session():
        consultation = workspace.save_consultation(
            {"kind": "town_hall", "title": {"ar": "اجتماع"}, "original_language": "ar",
             "status": "open", "governorate": "IQ-NI", "languages": ["ar"]}
        )  # fmt: skip
        question = workspace.add_question(
            consultation,
            {"type": "free_text", "text": {"ar": "سؤال"}, "original_language": "ar"},
        )
    return consultation, question


def test_a_receipt_from_a_field_laptop_is_refused(merged, tmp_path) -> None:
    """Even a registered installation must be a head office to acknowledge anything."""
    ho, laptop, _c, _q = merged
    peer = Installation(tmp_path / "peer", DeviceRole.FIELD, "Peer laptop", (ho,))
    laptop.register(peer)
    data = _signed_by(peer, laptop.public.device_id)
    with laptop.session(), pytest.raises(receipts.ReceiptRefused) as refused:
        purge.apply_receipt(data)
    assert refused.value.reason == "not_headoffice"


def test_a_restored_laptop_is_not_acknowledged_for_exports_it_numbered_again(
    merged, tmp_path
) -> None:
    """A copy of the laptop from before its export writes its own export 1: head office's
    receipt names another file as export 1, so the copy's answers stay."""
    ho, laptop, consultation, question = merged
    copy = clone(laptop, tmp_path / "copy")
    with copy.session():
        from fieldapp.database import writing
        from fieldapp.models import BundleExport, ExportedSubmission, ExportManifest

        with writing() as session:  # as if copied before its first export
            for model in (BundleExport, ExportManifest, ExportedSubmission):
                session.query(model).delete()
    _answer(copy, consultation, question, "only on the copy")
    copy.export(tmp_path / "copy")
    with copy.session():
        applied = purge.apply_receipt(_receipt(ho, laptop))
        assert applied.exports == [(1, 1)]
        assert applied.acknowledged == []
        assert purge.plan().submissions == 0


def test_head_office_downloads_a_receipt_after_an_import_and_the_laptop_applies_it_on_the_web(
    merged, tmp_path
) -> None:
    """Import page: a download per merged device; Export page: the picker, then the purge
    button, which asks for confirmation first."""
    ho, laptop, _c, _q = merged
    second = laptop.export(tmp_path)
    with site(ho.folder, WTF_CSRF_ENABLED=False) as app:
        add_user(app, "amira", Role.ANALYST)
        client = app.test_client()
        login(client)
        page = client.post(
            "/import", data={"bundles": (second.open("rb"), "laptop.fieldsync")},
            content_type="multipart/form-data",
        )  # fmt: skip
        html = page.get_data(as_text=True)
        assert "Download a receipt for “Bashiqa laptop”" in html
        action = re.search(r'action="(/devices/[^"]+/receipt)"', html).group(1)
        download = client.post(action)
        assert download.status_code == 200
        assert "attachment" in download.headers["Content-Disposition"]
        data = download.get_data()
    assert json.loads(data)["exports"] == [[1, 2]]
    with site(laptop.folder, WTF_CSRF_ENABLED=False) as app:
        add_user(app, "dilan", Role.FACILITATOR)
        client = app.test_client()
        login(client, "dilan")
        set_language(client, "ar")
        bad = client.post(
            "/export/receipt", data={"file": (__import__("io").BytesIO(_altered(data)), "r.json")},
            content_type="multipart/form-data", follow_redirects=True,
        )  # fmt: skip
        assert translated("ar", ALTERED) in bad.get_data(as_text=True)
        set_language(client, "en")
        good = client.post(
            "/export/receipt", data={"file": (__import__("io").BytesIO(data), "r.json")},
            content_type="multipart/form-data", follow_redirects=True,
        )  # fmt: skip
        html = good.get_data(as_text=True)
        assert "head office holds exports 1-2 of this laptop" in html
        assert "Head office holds 2 submissions of this laptop" in html
        unconfirmed = client.post("/export/purge", data={}, follow_redirects=True)
        assert "Tick the box to confirm the removal." in unconfirmed.get_data(as_text=True)
        assert _counts(laptop)[1] == 2
        done = client.post("/export/purge", data={"confirm": "y"}, follow_redirects=True)
        assert "2 submissions that head office holds were removed" in done.get_data(as_text=True)
    assert _counts(laptop) == (1, 0)


def test_a_head_office_refuses_receipt_apply_and_purge_and_offers_neither(merged, tmp_path) -> None:
    """On a head office: exit 1 with a sentence from the command line, and the Export page
    shows neither the receipt form nor the purge."""
    ho, laptop, _c, _q = merged
    peer = Installation(tmp_path / "peer", DeviceRole.HEADOFFICE, "Baghdad head office")
    ho.register(peer)
    peer.register(ho)
    assert peer.merge(ho.export(tmp_path))[0].ok
    file = tmp_path / "receipt.json"
    with peer.session():  # a real receipt, from a head office registered here
        file.write_bytes(receipts.write_receipt(ho.public.device_id, peer.folder).data)
    before = _counts(ho)
    for args in (("receipt", "apply", str(file)), ("purge", "--acknowledged", "--yes")):
        result = run("--instance", str(ho.folder), *args)
        assert result.exit_code == 1, (args, result.output)
        assert "This installation is a head office" in result.output
        assert "Traceback" not in result.output
    assert _counts(ho) == before
    with site(ho.folder, WTF_CSRF_ENABLED=False) as app:
        add_user(app, "amira", Role.COORDINATOR)
        client = app.test_client()
        login(client)
        page = client.get("/export").get_data(as_text=True)
        assert "/export/receipt" not in page
        assert "/export/purge" not in page
        done = client.post("/export/purge", data={"confirm": "y"}, follow_redirects=True)
        assert "This installation is a head office" in done.get_data(as_text=True)
        upload = {"file": (__import__("io").BytesIO(file.read_bytes()), "r.json")}
        applied = client.post(
            "/export/receipt", data=upload, content_type="multipart/form-data",
            follow_redirects=True,
        )  # fmt: skip
        assert "This installation is a head office" in applied.get_data(as_text=True)
    assert _counts(ho) == before


def test_receipt_output_never_replaces_a_file_or_writes_into_the_instance_folder(
    merged, tmp_path
) -> None:
    """--output onto the live database, a key, or an existing file: exit 1, nothing changed."""
    ho, laptop, _c, _q = merged
    existing = tmp_path / "old.json"
    existing.write_text("an older receipt")
    targets = [ho.folder / "fieldapp.sqlite3", ho.folder / "secret_key", existing]
    before = [path.read_bytes() for path in targets]
    for output, words in zip(
        targets, ["inside the instance folder"] * 2 + ["already exists"], strict=True
    ):
        result = run(
            "--instance", str(ho.folder), "receipt", "--device", laptop.public.device_id,
            "--output", str(output),
        )  # fmt: skip
        assert result.exit_code == 1, (output, result.output)
        assert words in result.output
    assert [path.read_bytes() for path in targets] == before
    assert not list(ho.folder.glob("*.partial"))
