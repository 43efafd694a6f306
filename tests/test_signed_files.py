"""Signed JSON files (question templates, the codebook) through ``services.sync.signed``.

``tests/assets/template-v1.json`` was written by ``workspace.template_file`` before templates
and the codebook shared one module; ``template-v1-signer.pub`` and ``template-v1-signer.pem``
are the public key file and the signing key of the (throw-away, test-only) head office that
wrote it. A file already in the field must keep importing, and the same key must still write
the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import Device, DeviceRole
from fieldapp.services import codebook, records, workspace
from fieldapp.services.errors import FieldappError
from fieldapp.services.sync import keys, signed

from .sync_world import Installation

ASSETS = Path(__file__).parent / "assets"
OLD_FILE = (ASSETS / "template-v1.json").read_bytes()
OLD_DOCUMENT = json.loads(OLD_FILE)
SIGNER = keys.parse_public_key((ASSETS / "template-v1-signer.pub").read_bytes())

DAMAGED = "This template file is damaged or is not a fieldapp template."
UNKNOWN = "This template comes from an installation that is not registered here."
ALTERED = "The signature of this template does not match its installation."


@pytest.fixture
def laptop(tmp_path):
    """A field laptop that knows the head office which signed the old template file."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    with laptop.session():
        keys.register(SIGNER)
    return laptop


def test_a_template_file_written_before_the_shared_module_still_imports(laptop):
    with laptop.session():
        template_id = workspace.import_template_file(OLD_FILE)
        assert template_id == OLD_DOCUMENT["template_id"]
        [template] = workspace.templates()
        assert template.editable() == OLD_DOCUMENT["template"]
        # A second import updates the same record; nothing is duplicated.
        assert workspace.import_template_file(OLD_FILE) == template_id
        assert len(workspace.templates()) == 1


def test_the_same_key_still_writes_the_same_bytes(tmp_path):
    """An installation with the old file's key and device id writes that file byte for byte."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    (ho.folder / keys.KEY_DIR / keys.SIGNING_KEY_FILE).write_bytes(
        (ASSETS / "template-v1-signer.pem").read_bytes()
    )
    with ho.session():
        with writing():
            device = keys.self_device()
            device.device_id = SIGNER.device_id
            device.signing_public_key = SIGNER.signing_public_key
        records.create("template", OLD_DOCUMENT["template"], record_id=OLD_DOCUMENT["template_id"])
        assert workspace.template_file(OLD_DOCUMENT["template_id"], ho.folder) == OLD_FILE


def _document(**changes):
    return {**OLD_DOCUMENT, **changes}


def _bytes(document) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def _without(name):
    document = dict(OLD_DOCUMENT)
    del document[name]
    return _bytes(document)


REFUSED = {
    "not-json": (b"{not json", DAMAGED),
    "truncated": (OLD_FILE[: len(OLD_FILE) // 2], DAMAGED),
    "not-an-object": (b"[1, 2]", DAMAGED),
    "too-large": (OLD_FILE + b" " * workspace.MAX_TEMPLATE_BYTES, DAMAGED),
    "codebook": (_bytes(_document(format="fieldapp-codebook")), DAMAGED),
    "wrong-version": (_bytes(_document(version=2)), DAMAGED),
    "extra-field": (_bytes(_document(codes=[])), DAMAGED),
    "no-template": (_without("template"), DAMAGED),
    "no-signature": (_without("signature"), DAMAGED),
    "signature-not-base64": (_bytes(_document(signature="not base64!")), DAMAGED),
    "bad-device-id": (_bytes(_document(device_id="laptop-1")), DAMAGED),
    # The template id is checked with the format, before the installation is looked up.
    "bad-template-id": (
        _bytes(_document(template_id="x", device_id=str(SIGNER.device_id))),
        DAMAGED,
    ),
    "unknown": (_bytes(_document(device_id="00000000-0000-4000-8000-000000000000")), UNKNOWN),
    "altered": (OLD_FILE.replace("ماذا تقترح؟".encode(), "ماذا تريد؟".encode()), ALTERED),
    "other-id": (_bytes(_document(template_id="00000000-0000-4000-8000-000000000001")), ALTERED),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_bad_template_file_is_refused_with_the_same_message(laptop, case):
    data, message = REFUSED[case]
    with laptop.session():
        with pytest.raises(workspace.WorkspaceError) as refused:
            workspace.import_template_file(data)
        assert str(refused.value.message) == message
        assert isinstance(refused.value, signed.FileRefused)
        assert workspace.templates() == []


def test_a_template_from_a_revoked_installation_is_refused_as_unknown(laptop):
    """As before: a revoked installation is not told apart from an unknown one."""
    with laptop.session():
        with writing():
            device = db.session.execute(
                select(Device).where(Device.device_id == SIGNER.device_id)
            ).scalar_one()
            device.revoked = True
        with pytest.raises(workspace.WorkspaceError) as refused:
            workspace.import_template_file(OLD_FILE)
        assert str(refused.value.message) == UNKNOWN
        assert refused.value.reason == "revoked_installation"
        assert workspace.templates() == []


def test_a_template_file_naming_a_record_of_another_kind_is_refused(laptop):
    with laptop.session():
        with writing():
            records.create(
                "code",
                {
                    "name": {"en": "Water"},
                    "original_language": "en",
                    "colour": "#0072b2",
                    "status": "active",
                },
                record_id=OLD_DOCUMENT["template_id"],
            )
        with pytest.raises(workspace.WorkspaceError) as refused:
            workspace.import_template_file(OLD_FILE)
        assert str(refused.value.message) == DAMAGED
        assert workspace.templates() == []


# ---- the shared module itself ---------------------------------------------------------------

NOTE = signed.SignedFormat(
    name="fieldapp-test-note",
    version=3,
    fields=frozenset({"note", "note_id"}),
    ids=frozenset({"note_id"}),
    max_bytes=4096,
    damaged="damaged note",
    unknown_installation="unknown note",
    revoked_installation="revoked note",
    altered="altered note",
)


def test_a_signed_file_round_trips_and_names_its_installation(tmp_path):
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    payload = {"note": "سڵاو", "note_id": "00000000-0000-4000-8000-000000000002"}
    with ho.session():
        data = signed.signed_file(NOTE, payload, ho.folder)
        document, device = signed.read_signed_file(NOTE, data)
        assert document == {
            **payload,
            "format": NOTE.name,
            "version": 3,
            "device_id": device.device_id,
        }
        assert device.device_id == ho.public.device_id
        # A field missing is a bug in the caller, not a person's mistake.
        with pytest.raises(ValueError, match="carries"):
            signed.signed_file(NOTE, {"note": "x"}, ho.folder)
        bad = signed.signed_file(NOTE, {**payload, "note_id": "x"}, ho.folder)
        with pytest.raises(signed.FileRefused) as refused:
            signed.read_signed_file(NOTE, bad)
        assert (refused.value.message, refused.value.reason) == ("damaged note", "damaged")
        assert isinstance(refused.value, FieldappError)
        with writing():
            keys.self_device().revoked = True
        with pytest.raises(signed.FileRefused) as refused:
            signed.read_signed_file(NOTE, data)
        assert (refused.value.message, refused.value.reason) == (
            "revoked note",
            "revoked_installation",
        )


def test_codebook_refusals_are_codebook_errors_and_signed_refusals():
    """Callers of the codebook keep catching CodebookError; its names still work."""
    assert issubclass(codebook.FileRefused, codebook.CodebookError)
    assert issubclass(codebook.FileRefused, signed.FileRefused)
    assert codebook.CODEBOOK_FILE.refused is codebook.FileRefused
    assert codebook.signed_file is signed.signed_file
    assert codebook.read_signed_file is signed.read_signed_file
    assert codebook.SignedFormat is signed.SignedFormat
