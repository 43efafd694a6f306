"""Hostile files at head office (issue #9): built as an attacker would, with a real laptop's key.

Every file here is encrypted to head office and, unless the test says otherwise, signed by
laptop A's own key. Each refusal leaves the database byte-identical (counts, digest and the
import log) and says why in words a coordinator can act on.
"""

from __future__ import annotations

import io
import json
import random
import stat
import struct
import time
import uuid
import zipfile
from pathlib import Path

import pyrage
import pytest

from fieldapp.models import Role
from fieldapp.services import records
from fieldapp.services.sync import history, schema
from fieldapp.services.sync.bundle import (
    MANIFEST,
    MAX_EXPORT_SEQ,
    MAX_RECIPIENTS,
    SIGNATURE,
    Limits,
    member_name,
)
from fieldapp.services.sync.revisions import canonical_json, compute_rev, first_version

from .conftest import add_user, login
from .sync_world import build_world, clone, opened, site
from .test_sync_refusals import decrypted, rebuild, rebuild_zip, seal, snapshot

TEMPLATE = member_name("template")
SUBMISSIONS = member_name("submission")
CONSULTATIONS = member_name("consultation")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("hostile"))


def attempt(world, tmp_path: Path, data: bytes, first: tuple[str, ...] = ("B1",)):
    """Merge ``data`` at a head office holding ``first``; return the summary, the database
    before and after, and the seconds the merge took."""
    ho = clone(world["ho"], tmp_path / "ho")
    for name in first:
        assert ho.merge(world["files"][name])[0].ok
    before = snapshot(ho)
    path = tmp_path / "suspect.fieldsync"
    path.write_bytes(data)
    started = time.perf_counter()
    [summary] = ho.merge(path)
    return summary, before, snapshot(ho), time.perf_counter() - started


def refused(world, tmp_path, data: bytes, expected: str, first=("B1",)) -> float:
    """The file is refused with ``expected`` in its message, and nothing changed."""
    summary, before, after, seconds = attempt(world, tmp_path, data, first)
    assert not summary.ok, "the hostile file was accepted"
    assert expected in summary.error
    assert after == before
    return seconds


def version_line(record_id: str, version) -> bytes:
    return canonical_json(
        {
            "id": record_id,
            "rev": version.rev,
            "parent": version.parent,
            "deleted": version.deleted,
            "body": dict(version.body),
        }
    )


def template_line(world) -> bytes:
    """A valid first version of a new template, stamped by laptop A."""
    body = {
        "name": {"en": "Planted template"},
        "original_language": "en",
        "questions": [],
        "updated_at": "2026-01-01T00:00:00Z",
        "updated_by": world["a"].public.device_id,
    }
    return version_line(str(uuid.uuid4()), first_version(body)) + b"\n"


def submission_lines(world, name: str = "A1") -> list[dict]:
    return [json.loads(line) for line in decrypted(world, name)[SUBMISSIONS].splitlines()]


def with_submissions(members: dict[str, bytes], records_: list[dict]) -> dict[str, bytes]:
    members[SUBMISSIONS] = b"".join(canonical_json(r) + b"\n" for r in records_)
    return members


def patch(data: bytes, old: bytes, new: bytes, count: int | None = None) -> bytes:
    assert len(old) == len(new)
    if count is not None:
        assert data.count(old) == count
    return data.replace(old, new)


# ---- device history (for the Devices page and the missing-exports report) -----------------


def test_runs_and_gaps_are_ranges():
    assert history.runs([5, 1, 2, 3, 9, 2]) == [(1, 3), (5, 5), (9, 9)]
    assert history.gaps([(1, 3), (5, 5), (9, 9)]) == [(4, 4), (6, 8)]
    assert history.gaps([(3, 4)]) == [(1, 2)]
    assert history.gaps([]) == []
    assert history.format_ranges([(1, 1), (3, 7)]) == "1, 3-7"


def test_device_history_from_what_was_merged(world, tmp_path):
    """Which export numbers arrived, which are missing, which came twice with other content."""
    ho = clone(world["ho"], tmp_path / "ho")
    a = world["a"].public.device_id
    with ho.session():
        assert history.device_history(a) == history.DeviceHistory([], [], [], None)
    assert ho.merge(world["files"]["A2"])[0].ok
    with ho.session():
        seen = history.device_history(a)
    assert (seen.received, seen.missing, seen.reused) == ([(2, 2)], [(1, 1)], [])
    assert seen.last_import is not None
    assert seen.last_import.tzinfo is not None
    # Export 1 again, from a laptop restored from a backup: same number, other content.
    restored = tmp_path / "restored.fieldsync"
    restored.write_bytes(
        rebuild(
            world,
            decrypted(world, "A1"),
            manifest_changes={"created_at": "2026-05-01T10:00:00Z"},
        )
    )
    assert ho.merge(world["files"]["A1"], restored, world["files"]["A1"])[1].ok
    with ho.session():
        seen = history.device_history(a)
    assert (seen.received, seen.missing, seen.reused) == ([(1, 2)], [], [1])


# ---- accepted, and the database changed ----------------------------------------------------


def test_a_member_name_with_a_nul_byte(world, tmp_path):
    """zipfile cuts ``records/template.jsonl\\0../../x`` at the NUL: the raw name is checked."""
    members = decrypted(world, "A1")
    members[TEMPLATE] = template_line(world)
    crafted = b"records/template.jsonl\0../../x"
    placeholder = crafted.replace(b"\0", b"X")
    plain = rebuild_zip(
        world, members, omit=(TEMPLATE,), extra=[(placeholder.decode(), members[TEMPLATE])]
    )
    plain = patch(plain, placeholder, crafted, count=2)  # local header and central directory
    refused(world, tmp_path, seal(world, plain), "damaged or is not a fieldapp export")


def test_a_symlink_entry(world, tmp_path):
    members = decrypted(world, "A1")
    members[TEMPLATE] = template_line(world)
    link = zipfile.ZipInfo(TEMPLATE)
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = rebuild(world, members, omit=(TEMPLATE,), extra=[(link, members[TEMPLATE])])
    refused(world, tmp_path, data, "damaged or is not a fieldapp export")


def test_a_laptop_file_holding_another_laptops_submission(world, tmp_path):
    """Laptop A signs a submission that says it was made on laptop B."""
    planted = submission_lines(world)[0]
    planted.update(uuid=str(uuid.uuid4()), device=world["b"].public.device_id)
    members = decrypted(world, "A1")
    members[SUBMISSIONS] += canonical_json(planted) + b"\n"
    message = "Submission {} says it was made on device {}".format(
        planted["uuid"],
        world["b"].public.device_id,
    )
    refused(world, tmp_path, rebuild(world, members), message)


def test_an_office_file_carries_the_laptops_submissions_it_merged(world, tmp_path):
    """The regional office's export holds A's and B's submissions: that is not planting."""
    summary, _before, after, _seconds = attempt(world, tmp_path, world["files"]["R1"].read_bytes())
    assert summary.ok, summary.error
    assert after[0]["counts"]["submissions"] > 0


def test_a_known_submission_with_other_answers(world, tmp_path):
    """The first body would win silently and two head offices would disagree (M-02)."""
    lines = submission_lines(world)
    changed = dict(lines[5], answers={k: "changed" for k in lines[5]["answers"]})
    members = with_submissions(decrypted(world, "A1"), [*lines[:5], changed, *lines[6:]])
    data = rebuild(world, members, manifest_changes={"export_seq": 3})
    refused(
        world, tmp_path, data, "Submission {} is already held here".format(changed["uuid"]), ("A1",)
    )


def test_one_submission_twice_in_a_file_with_two_bodies(world, tmp_path):
    lines = submission_lines(world)
    twin = dict(lines[0], consent=not lines[0]["consent"])
    members = with_submissions(decrypted(world, "A1"), [*lines, twin])
    refused(world, tmp_path, rebuild(world, members), "Submission {}".format(twin["uuid"]))


def test_the_same_submission_again_is_merged_quietly(world, tmp_path):
    """Identical bytes are the normal case (every export repeats the earlier ones)."""
    summary, *_ = attempt(world, tmp_path, world["files"]["A2"].read_bytes(), ("A1",))
    assert summary.ok, summary.error


# ---- accepted silently: an export number reused with other content -------------------------


def restored_export(world) -> tuple[bytes, dict]:
    """Export 1 of laptop A again, with one more submission (a laptop restored from backup)."""
    extra = dict(submission_lines(world)[0], uuid=str(uuid.uuid4()), idempotency_key="again")
    members = decrypted(world, "A1")
    members[SUBMISSIONS] += canonical_json(extra) + b"\n"
    return rebuild(world, members), extra


def test_an_export_number_reused_with_other_content_is_merged_and_reported(world, tmp_path):
    data, _extra = restored_export(world)
    summary, before, after, _seconds = attempt(world, tmp_path, data, ("A1",))
    assert summary.ok, summary.error
    assert summary.export_reused
    assert summary.as_dict()["export_reused"] is True
    assert summary.new == 1  # the union counts nothing twice
    assert after[0]["counts"]["submissions"] == before[0]["counts"]["submissions"] + 1


def test_a_first_export_is_not_reported_as_reused(world, tmp_path):
    summary, *_ = attempt(world, tmp_path, world["files"]["A1"].read_bytes(), ())
    assert summary.ok
    assert not summary.export_reused


def test_the_import_page_says_loudly_that_an_export_number_was_reused(world, tmp_path):
    data, _extra = restored_export(world)
    ho = clone(world["ho"], tmp_path / "ho")
    assert ho.merge(world["files"]["A1"])[0].ok
    with site(ho.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "amira", Role.COORDINATOR)
        client = app.test_client()
        assert login(client).status_code == 302
        response = client.post(
            "/import",
            data={"bundles": [(io.BytesIO(data), "restored.fieldsync")]},
            content_type="multipart/form-data",
        )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'role="alert"' in page
    assert "Warning: export 1 of this device was merged before with other content." in page


def test_the_command_line_says_an_export_number_was_reused(world, tmp_path):
    from fieldapp.cli import cli

    data, _extra = restored_export(world)
    ho = clone(world["ho"], tmp_path / "ho")
    assert ho.merge(world["files"]["A1"])[0].ok
    path = tmp_path / "restored.fieldsync"
    path.write_bytes(data)
    result = (
        site(ho.folder)
        .__enter__()
        .test_cli_runner()
        .invoke(cli, ["--instance", str(ho.folder), "--lang", "en", "merge", str(path)])
    )
    assert result.exit_code == 0, result.output
    assert "WARNING: export 1 of Bashiqa laptop was merged before with other content" in (
        result.output
    )


# ---- tracebacks instead of a clear refusal -------------------------------------------------


def member_data_offset(plain: bytes, name: str) -> int:
    """Where a member's (compressed) data starts in a zip."""
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        offset = archive.getinfo(name).header_offset
    name_len, extra_len = struct.unpack("<HH", plain[offset + 26 : offset + 30])
    return offset + 30 + name_len + extra_len


@pytest.mark.parametrize("name", [MANIFEST, SIGNATURE])
def test_a_bad_crc_in_the_manifest_or_signature(world, tmp_path, name):
    plain = bytearray(rebuild_zip(world, decrypted(world, "A1"), compression=zipfile.ZIP_STORED))
    plain[member_data_offset(bytes(plain), name) + 3] ^= 0x20
    refused(world, tmp_path, seal(world, bytes(plain)), "damaged or is not a fieldapp export")


@pytest.mark.parametrize("name", [MANIFEST, SIGNATURE])
def test_a_corrupt_deflate_stream_in_the_manifest_or_signature(world, tmp_path, name):
    plain = bytearray(rebuild_zip(world, decrypted(world, "A1")))
    start = member_data_offset(bytes(plain), name)
    plain[start : start + 4] = b"\xff\xff\xff\xff"  # an invalid deflate block type
    refused(world, tmp_path, seal(world, bytes(plain)), "damaged or is not a fieldapp export")


def test_a_local_header_naming_another_member(world, tmp_path):
    plain = bytearray(rebuild_zip(world, decrypted(world, "A1")))
    with zipfile.ZipFile(io.BytesIO(bytes(plain))) as archive:
        offset = archive.getinfo(MANIFEST).header_offset
    assert plain[offset + 30 : offset + 43] == MANIFEST.encode()
    plain[offset + 30 : offset + 43] = b"manifest.jsoN"
    refused(world, tmp_path, seal(world, bytes(plain)), "damaged or is not a fieldapp export")


def test_a_lone_surrogate_in_a_consultation_title(world, tmp_path):
    members = decrypted(world, "A1")
    lines = members[CONSULTATIONS].splitlines()
    version = json.loads(lines[0])
    version["body"]["title"] = {"ar": "\ud800"}
    # ensure_ascii writes the lone surrogate as the escape \ud800, as an attacker would.
    lines[0] = json.dumps(version, sort_keys=True, separators=(",", ":")).encode()
    assert b"\\ud800" in lines[0]
    members[CONSULTATIONS] = b"\n".join(lines) + b"\n"
    refused(world, tmp_path, rebuild(world, members), "not valid text")


def test_a_lone_surrogate_in_an_answer(world, tmp_path):
    lines = submission_lines(world)
    question = next(iter(lines[0]["answers"]))
    planted = dict(lines[0], uuid=str(uuid.uuid4()), answers={question: "\udfff"})
    members = decrypted(world, "A1")
    members[SUBMISSIONS] += json.dumps(planted, sort_keys=True, separators=(",", ":")).encode()
    refused(world, tmp_path, rebuild(world, members), "not valid text")


@pytest.mark.parametrize(
    "changes",
    [
        {"counts": {"submission": "many"}},
        {"counts": {"submission": True}},
        {"counts": {"submission": 1.5}},
        {"counts": {"lorry": 1}},
        {"format_version": True},
        {"export_seq": True},
        {"device": {"id": "not-a-uuid", "name": "x", "role": "field"}},
        {"created_at": 7},
        {"surprise": 1},
    ],
    ids=[
        "count-text",
        "count-bool",
        "count-float",
        "count-kind",
        "format-bool",
        "seq-bool",
        "device-id",
        "created-at",
        "extra-field",
    ],
)
def test_manifest_types_are_checked_strictly(world, tmp_path, changes):
    """``int("many")`` used to fail on the second merge; ``true`` was read as version 1."""
    if "device" in changes:
        changes = {"device": {**json.loads(decrypted(world, "A1")[MANIFEST])["device"], "id": "x"}}
    data = rebuild(world, decrypted(world, "A1"), manifest_changes=changes)
    ho = clone(world["ho"], tmp_path / "ho")
    before = snapshot(ho)
    path = tmp_path / "suspect.fieldsync"
    path.write_bytes(data)
    first, second = ho.merge(path, path)
    assert not first.ok
    assert not second.ok
    assert "damaged or is not a fieldapp export" in first.error
    assert snapshot(ho) == before


# ---- denial of service ---------------------------------------------------------------------


def test_an_export_number_beyond_the_bound_is_refused_at_once(world, tmp_path):
    """10^9 used to build a list of 10^9 missing numbers (6 GB, MemoryError after 22 s)."""
    data = rebuild(world, decrypted(world, "A1"), manifest_changes={"export_seq": 10**9})
    seconds = refused(world, tmp_path, data, "export numbers stop at 1000000")
    assert seconds < 5


def test_the_highest_export_number_reports_its_gap_as_one_range(world, tmp_path):
    data = rebuild(world, decrypted(world, "A1"), manifest_changes={"export_seq": MAX_EXPORT_SEQ})
    summary, _before, _after, seconds = attempt(world, tmp_path, data, ("A1",))
    assert summary.ok, summary.error
    assert summary.missing_exports == [(2, MAX_EXPORT_SEQ - 1)]
    assert seconds < 5


def test_an_age_header_with_thousands_of_stanzas(world, tmp_path):
    """8,000 stanzas took pyrage 15 s before any key was tried; the header is counted first."""
    real = world["files"]["A1"].read_bytes()
    magic = b"age-encryption.org/v1\n"
    data = magic + b"-> X25519 a\n\n" * 8000 + real[len(magic) :]
    seconds = refused(world, tmp_path, data, "encrypted to more than 20 keys")
    assert seconds < 2


def test_a_file_really_encrypted_to_too_many_keys(world, tmp_path):
    plain = rebuild_zip(world, decrypted(world, "A1"))
    recipients = [pyrage.x25519.Identity.generate().to_public() for _ in range(MAX_RECIPIENTS)]
    ho = pyrage.x25519.Recipient.from_str(world["ho"].public.age_recipient)
    data = pyrage.encrypt(plain, [ho, *recipients])
    refused(world, tmp_path, data, "encrypted to more than 20 keys")


def test_two_head_office_keys_are_well_within_the_cap(world, tmp_path):
    """Laptops encrypt to every head-office key (here two) plus age's grease stanza."""
    summary, *_ = attempt(world, tmp_path, world["files"]["A1"].read_bytes(), ())
    assert summary.ok


def tiny_zip(entries: int, claimed: int | None = None) -> bytes:
    """A zip of ``entries`` empty STORED members, its end record claiming ``claimed``."""
    local, central = [], []
    offset = 0
    for number in range(entries):
        name = b"%07d" % number
        header = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0)
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                len(name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + name
        )
        local.append(header + name)
        offset += len(header) + len(name)
    directory = b"".join(central)
    count = entries if claimed is None else claimed
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
        len(directory), offset, 0,
    )  # fmt: skip
    return b"".join(local) + directory + end


@pytest.mark.parametrize("claimed", [None, 1], ids=["honest-count", "lying-count"])
def test_a_zip_with_too_many_entries_is_refused_before_zipfile_parses_it(world, tmp_path, claimed):
    """A million entries took zipfile 15 s and 568 MB; the end record is read first (I-02)."""
    plain = tiny_zip(30_000, claimed)
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:  # a zip zipfile would open
        assert len(archive.infolist()) == 30_000
    expected = "more than 1000 parts" if claimed is None else "more than 1000 parts"
    seconds = refused(world, tmp_path, seal(world, plain), expected)
    assert seconds < 2


def test_1001_real_entries_are_too_many(world, tmp_path):
    extra = [(f"records/x{n}.jsonl", b"") for n in range(1001)]
    data = rebuild(world, decrypted(world, "A1"), extra=extra)
    refused(world, tmp_path, data, "more than 1000 parts")


# ---- refused though legitimate: the largest records the schema allows ----------------------


def test_minutes_of_200000_characters_in_every_language_are_merged(world, tmp_path):
    """The line cap used to be 1 MiB, below what the schema allows (and called it damaged)."""
    laptop = clone(world["a"], tmp_path / "laptop")
    words = [
        "ڕاوێژ",
        "کۆبوونەوە",
        "ئاو",
        "کارەبا",
        "قوتابخانە",
        "ڕێگا",
        "نەخۆشخانە",
        "گوند",
        "شار",
        "پرسیار",
        "وەڵام",
    ]
    chooser = random.Random(9)  # varied text: real minutes do not compress 100:1
    minutes = {
        lang: " ".join(chooser.choice(words) + str(chooser.randrange(1000)) for _ in range(40_000))[
            : schema.MINUTES
        ]
        for lang in schema.LANGS
    }
    assert all(len(text) == schema.MINUTES for text in minutes.values())
    with laptop.session():
        record_id, _rev = records.create(
            "consultation",
            {
                "kind": "town_hall",
                "title": {"ckb": "کۆبوونەوەی گشتی"},
                "original_language": "ckb",
                "status": "closed",
                "governorate": "IQ-AR",
                "minutes": minutes,
            },
        )
    bundle = laptop.export(tmp_path)
    summary, _before, after, _seconds = attempt(world, tmp_path, bundle.read_bytes(), ())
    assert summary.ok, summary.error
    ho = clone(world["ho"], tmp_path / "ho2")
    ho.merge(bundle)
    with opened(ho.folder):
        assert json.loads(records.current(record_id).body)["minutes"] == minutes


def test_a_record_over_the_record_cap_is_refused_naming_the_limit(world, tmp_path):
    members = decrypted(world, "A1")
    huge = dict(submission_lines(world)[0], uuid=str(uuid.uuid4()))
    question = next(iter(huge["answers"]))
    # 200 answers of 20,000 control characters: valid by field, 24 MB as JSON.
    huge["answers"] = {str(uuid.UUID(int=n)): "\x01" * schema.LONG for n in range(200)}
    huge["answers"][question] = "x"
    members[SUBMISSIONS] += canonical_json(huge) + b"\n"
    data = rebuild(world, members, compression=zipfile.ZIP_STORED)  # no zip-bomb ratio
    refused(world, tmp_path, data, "larger than 8 MB, the most one record may hold")


def test_the_line_cap_admits_the_largest_version_line(world):
    assert Limits().max_line >= schema.MAX_RECORD_BYTES + len(
        version_line(str(uuid.uuid4()), first_version({"x": ""})).replace(b'{"x":""}', b"")
    )


# ---- decisions: generations, format version, display fields --------------------------------


def test_a_made_up_generation_cannot_take_over_a_record(world, tmp_path):
    """A version whose parent is nowhere (generation 999999999) used to win."""
    members = decrypted(world, "A1")
    lines = members[CONSULTATIONS].splitlines()
    real = json.loads(lines[0])
    body = dict(real["body"], place="Taken over")
    parent = "999999998-" + "0" * 64
    fake = {
        "id": real["id"],
        "rev": compute_rev(parent, body, False),
        "parent": parent,
        "deleted": False,
        "body": body,
    }
    members[CONSULTATIONS] += canonical_json(fake) + b"\n"
    refused(world, tmp_path, rebuild(world, members), "names a parent that is not in this file")


def test_display_stamps_of_one_version_agree_whatever_the_order(world, tmp_path):
    """A later file can carry the same rev with other display stamps (the same change made
    on two laptops); every head office keeps the smaller body, so the order does not matter."""
    members = decrypted(world, "A1")
    lines = members[CONSULTATIONS].splitlines()
    version = json.loads(lines[0])
    version["body"]["updated_at"] = "1999-01-01T00:00:00Z"
    lines[0] = canonical_json(version)
    members[CONSULTATIONS] = b"\n".join(lines) + b"\n"
    restamped = tmp_path / "restamped.fieldsync"
    restamped.write_bytes(rebuild(world, members, manifest_changes={"export_seq": 5}))
    digests = []
    for order in ((world["files"]["A1"], restamped), (restamped, world["files"]["A1"])):
        ho = clone(world["ho"], tmp_path / f"ho-{len(digests)}")
        assert all(s.ok for s in ho.merge(*order))
        digests.append(ho.stats()["digest"])
    assert digests[0] == digests[1]


# ---- I-04/05: names, nesting, encryption flag ----------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["records\\submission.jsonl", "records/", "records/nested.zip", "./manifest.json"],
    ids=["backslash", "directory", "nested-archive-name", "dot-slash"],
)
def test_more_names_that_are_refused(world, tmp_path, name):
    data = rebuild(world, decrypted(world, "A1"), extra=[(name, b"")])
    refused(world, tmp_path, data, "damaged or is not a fieldapp export")


def test_a_nested_archive_as_a_member_is_refused(world, tmp_path):
    members = decrypted(world, "A1")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("records/submission.jsonl", members[SUBMISSIONS])
    members[SUBMISSIONS] = inner.getvalue()
    refused(world, tmp_path, rebuild(world, members), "not valid")


def test_an_entry_flagged_as_encrypted(world, tmp_path):
    plain = bytearray(rebuild_zip(world, decrypted(world, "A1")))
    with zipfile.ZipFile(io.BytesIO(bytes(plain))) as archive:
        info = archive.getinfo(SUBMISSIONS)
    central = bytes(plain).rindex(b"PK\x01\x02", 0, bytes(plain).index(b"PK\x05\x06"))
    # Find the submission member's central entry and set bit 0 in both headers.
    position = bytes(plain).index(b"PK\x01\x02")
    while bytes(plain)[position + 46 : position + 46 + len(SUBMISSIONS)] != SUBMISSIONS.encode():
        position = bytes(plain).index(b"PK\x01\x02", position + 4)
    assert position <= central
    plain[position + 8] |= 0x01
    plain[info.header_offset + 6] |= 0x01
    refused(world, tmp_path, seal(world, bytes(plain)), "damaged or is not a fieldapp export")
