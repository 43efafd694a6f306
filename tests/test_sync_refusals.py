"""Bad files are refused, each with a reason a coordinator can act on, and change nothing."""

from __future__ import annotations

import io
import json
import sqlite3
import warnings
import zipfile
from pathlib import Path

import pyrage
import pytest

from fieldapp.extensions import db
from fieldapp.models import BundleImport, DeviceRole
from fieldapp.services.sync import keys
from fieldapp.services.sync.bundle import MANIFEST, SIGNATURE
from fieldapp.services.sync.revisions import canonical_json

from .sync_world import Installation, build_world, clone, opened


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("refusals")
    world = build_world(root)
    world["stranger"] = Installation(
        root / "stranger", DeviceRole.FIELD, "Unregistered laptop", (world["ho"],)
    )
    world["other_ho"] = Installation(root / "other", DeviceRole.HEADOFFICE, "Another office")
    return world


def decrypted(world, name: str) -> dict[str, bytes]:
    """The members of a laptop's bundle, as head office sees them."""
    identity = keys.load_age_identity(world["ho"].folder)
    plain = pyrage.decrypt(world["files"][name].read_bytes(), [identity])
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def signing_key(installation):
    return keys.load_signing_key(installation.folder)


def rebuild(world, members: dict[str, bytes], *, recipient: str | None = None, **options) -> bytes:
    """A bundle built by hand: members, manifest (re-hashed), signature, age encryption."""
    return seal(world, rebuild_zip(world, members, **options), recipient)


def seal(world, plain: bytes, recipient: str | None = None) -> bytes:
    """Encrypt a hand-built zip to head office, as a laptop would."""
    target = recipient or world["ho"].public.age_recipient
    return pyrage.encrypt(plain, [pyrage.x25519.Recipient.from_str(target)])


def rebuild_zip(
    world,
    members: dict[str, bytes],
    *,
    manifest_changes: dict | None = None,
    sign_with=None,
    rehash: bool = True,
    extra: list[tuple[str | zipfile.ZipInfo, bytes]] = (),
    omit: tuple[str, ...] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """The zip inside a hand-built bundle: members, manifest (re-hashed) and its signature.

    Members named in ``omit`` are listed in the manifest but not written (``extra`` can then
    plant them under a crafted entry).
    """
    import hashlib

    manifest = json.loads(members[MANIFEST])
    if rehash:
        for name in manifest["members"]:
            data = members[name]
            manifest["members"][name] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "length": len(data),
            }
    manifest.update(manifest_changes or {})
    manifest_bytes = canonical_json(manifest)
    key = sign_with or signing_key(world["a"])
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we plant
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in members.items():
                if name not in (MANIFEST, SIGNATURE, *omit):
                    archive.writestr(name, data)
            for name, data in extra:
                archive.writestr(name, data)
            archive.writestr(MANIFEST, manifest_bytes)
            archive.writestr(SIGNATURE, key.sign(manifest_bytes))
    return buffer.getvalue()


def database_dump(folder: Path) -> str:
    """Every row and schema statement of an installation's database, as SQL text (I-08).

    Read through SQLite, so what the WAL holds is included: two equal dumps mean the database
    is byte-identical in content, not only in the counts and digest that ``stats`` compares.
    """
    from fieldapp.config import DATABASE_FILE

    path = folder / DATABASE_FILE
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


def snapshot(ho) -> tuple:
    """What a refused file must leave unchanged: counts, digest, import log and the dump."""
    with opened(ho.folder):
        from fieldapp.services.sync.stats import stats

        imports = db.session.query(BundleImport).count()
        counted = stats(), imports
    return (*counted, database_dump(ho.folder))


def refused(world, tmp_path: Path, data: bytes, expected: str) -> None:
    """Merging ``data`` at a head office that already holds B1 is refused and changes nothing."""
    ho = clone(world["ho"], tmp_path / "ho")
    assert ho.merge(world["files"]["B1"])[0].ok
    before = snapshot(ho)
    path = tmp_path / "suspect.fieldsync"
    path.write_bytes(data)
    [summary] = ho.merge(path)
    assert not summary.ok
    assert expected in summary.error
    assert snapshot(ho) == before


def test_a_sound_rebuilt_bundle_is_accepted(world, tmp_path):
    """The hand-built bundles below differ from a real one only by what each test changes."""
    ho = clone(world["ho"], tmp_path / "ho")
    path = tmp_path / "rebuilt.fieldsync"
    path.write_bytes(rebuild(world, decrypted(world, "A1")))
    [summary] = ho.merge(path)
    assert summary.ok, summary.error


def test_truncated_file(world, tmp_path):
    data = world["files"]["A1"].read_bytes()
    refused(world, tmp_path, data[: len(data) // 2], "cannot be decrypted")


def test_one_bit_flipped(world, tmp_path):
    data = bytearray(world["files"]["A1"].read_bytes())
    data[len(data) // 2] ^= 0x01
    refused(world, tmp_path, bytes(data), "cannot be decrypted")


def test_not_an_export_at_all(world, tmp_path):
    refused(
        world, tmp_path, "مرحبا، هذا ليس ملفاً".encode() * 50, "not an encrypted fieldapp export"
    )


def test_encrypted_to_another_head_office(world, tmp_path):
    data = rebuild(world, decrypted(world, "A1"), recipient=world["other_ho"].public.age_recipient)
    refused(world, tmp_path, data, "another head office")


def test_from_an_unregistered_device(world, tmp_path):
    stranger_file = world["stranger"].export(tmp_path)
    refused(world, tmp_path, stranger_file.read_bytes(), "fieldapp devices add")


def test_signed_by_a_different_key(world, tmp_path):
    data = rebuild(world, decrypted(world, "A1"), sign_with=signing_key(world["stranger"]))
    refused(world, tmp_path, data, "signature")


def test_wrong_format_version(world, tmp_path):
    # Version 2 is version 1 with key rotations (bundle.ROTATION_FORMAT_VERSION); 3 is unknown.
    data = rebuild(world, decrypted(world, "A1"), manifest_changes={"format_version": 3})
    refused(world, tmp_path, data, "different version of fieldapp")


def test_member_does_not_match_the_manifest(world, tmp_path):
    members = decrypted(world, "A1")
    members["records/submission.jsonl"] = members["records/submission.jsonl"][:-50] + b"\n"
    data = rebuild(world, members, rehash=False)
    refused(world, tmp_path, data, "table of contents")


@pytest.mark.parametrize(
    "name",
    ["records/evil.jsonl", "../../etc/cron.d/x", "records/submission.jsonl", "/abs/path", "C:\\x"],
    ids=["unexpected", "traversal", "duplicate", "absolute", "drive"],
)
def test_unexpected_duplicate_or_traversing_member_names(world, tmp_path, name):
    data = rebuild(world, decrypted(world, "A1"), extra=[(name, b"{}\n")])
    refused(world, tmp_path, data, "damaged or is not a fieldapp export")


def test_member_that_inflates_far_beyond_its_size(world, tmp_path):
    members = decrypted(world, "A1")
    members["records/submission.jsonl"] = b" " * (30 * 1024 * 1024)
    refused(world, tmp_path, rebuild(world, members), "more than 100 times its size")


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda r: r.update(channel="telepathy"), "channel"),
        (lambda r: r.update(consultation="not-a-uuid"), "consultation"),
        (lambda r: r["answers"].update({"x": 1}), "UUID"),
        (lambda r: r.update(created_at="yesterday"), "created_at"),
        (lambda r: r.update(extra="field"), "unexpected field"),
    ],
    ids=["enum", "uuid", "answer-key", "timestamp", "extra-field"],
)
def test_records_failing_validation(world, tmp_path, change, detail):
    members = decrypted(world, "A1")
    lines = members["records/submission.jsonl"].splitlines()
    record = json.loads(lines[3])
    change(record)
    lines[3] = canonical_json(record)
    members["records/submission.jsonl"] = b"\n".join(lines) + b"\n"
    refused(world, tmp_path, rebuild(world, members), detail)


@pytest.mark.parametrize(
    "line",
    [
        b'{"uuid":NaN}',
        b'{"a":1,"a":2}',
        b"[" * 50_000,
        b'{"uuid": "spaced"}',
        b"\xff\xfe",
    ],
    ids=["nan", "duplicate-key", "deep", "not-canonical", "not-utf8"],
)
def test_bad_json_lines(world, tmp_path, line):
    members = decrypted(world, "A1")
    members["records/submission.jsonl"] += line + b"\n"
    refused(world, tmp_path, rebuild(world, members), "not valid")


def test_a_version_whose_rev_does_not_match_its_content(world, tmp_path):
    members = decrypted(world, "A1")
    lines = members["records/consultation.jsonl"].splitlines()
    version = json.loads(lines[0])
    version["body"]["place"] = "Somewhere else"
    lines[0] = canonical_json(version)
    members["records/consultation.jsonl"] = b"\n".join(lines) + b"\n"
    refused(world, tmp_path, rebuild(world, members), "rev does not match")


def test_a_bad_file_among_good_ones_stops_only_itself(world, tmp_path):
    """Each file is merged on its own: the good ones go in, the bad one is reported."""
    ho = clone(world["ho"], tmp_path / "ho")
    bad = tmp_path / "bad.fieldsync"
    bad.write_bytes(b"age-encryption.org/v1\n" + b"x" * 100)
    good, broken, other = ho.merge(world["files"]["A1"], bad, world["files"]["B1"])
    assert good.ok
    assert other.ok
    assert not broken.ok
