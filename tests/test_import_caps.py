"""Import caps and hostile archives at head office (SECURITY.md I-02 to I-08, E-07).

Each cap is tried with a real laptop's file and limits set just below and exactly at what the
file needs: one byte (or one part) over refuses it, at the cap it merges. Every refusal leaves
the database's SQL dump identical (``snapshot`` of tests/test_sync_refusals.py compares it).
Tests elsewhere that already prove a line of SECURITY.md are named in SECURITY-TESTS.md and
not repeated here: NUL in a name, symlinks, nested archives and the encryption flag are in
tests/test_sync_hostile.py; NaN, duplicate keys and 50,000 brackets in a record line, the
truncated file's message and the 30 MB zip bomb are in tests/test_sync_refusals.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import stat
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import pyrage
import pytest

from fieldapp.services.sync import bundle, keys
from fieldapp.services.sync.bundle import (
    MANIFEST,
    RECORD_MEMBERS,
    SIGNATURE,
    Limits,
    member_name,
)
from fieldapp.services.sync.merge import merge_files
from fieldapp.services.sync.revisions import canonical_json

from .sync_world import build_world, clone
from .test_sync_refusals import decrypted, rebuild, seal, signing_key, snapshot

SUBMISSIONS = member_name("submission")
TEMPLATE = member_name("template")
DAMAGED = "damaged or is not a fieldapp export"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("caps"))


@pytest.fixture(scope="module")
def a1(world) -> dict:
    """Laptop A's first export as head office sees it: the file and its zip's entries."""
    data = world["files"]["A1"].read_bytes()
    plain = pyrage.decrypt(data, [keys.load_age_identity(world["ho"].folder)])
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        infos = archive.infolist()
    return {"data": data, "infos": infos}


class Office:
    """A head office (a copy of the world's) that merges one file at a time with given limits."""

    def __init__(self, world, folder: Path) -> None:
        self.ho = clone(world["ho"], folder)
        self.folder = folder

    def merge(self, data: bytes, limits: Limits | None = None):
        path = self.folder.parent / f"{self.folder.name}-suspect.fieldsync"
        path.write_bytes(data)
        with self.ho.session():
            [summary] = merge_files([path], self.ho.folder, limits)
        return summary

    def refuses(self, data: bytes, expected: str, limits: Limits | None = None) -> None:
        """The file is refused with ``expected`` in its message and nothing changed."""
        before = snapshot(self.ho)
        summary = self.merge(data, limits)
        assert not summary.ok, "the file was accepted"
        assert expected in summary.error
        assert snapshot(self.ho) == before


# ---- I-02: every cap, one over and exactly at ----------------------------------------------


def test_the_caps_are_security_md_s_and_the_part_cap_is_the_total():
    """200 MB file, 1000 parts, 1 GB unpacked, 100:1 above 100 KiB; a part may be as large as
    the total (an office's export of 200,000 submissions has a 134 MB part; see Limits)."""
    limits = Limits()
    assert limits.max_file == 200_000_000
    assert limits.max_entries == 1000
    assert limits.max_total == 1_000_000_000
    assert limits.max_member == limits.max_total
    assert (limits.max_ratio, limits.ratio_floor) == (100, 100 * 1024)


def _caps(a1: dict) -> dict[str, tuple[Limits, Limits, str]]:
    """Per cap: limits one below what A1 needs, limits exactly at it, and the refusal."""
    infos = a1["infos"]
    largest = max(i.file_size for i in infos)
    total = sum(i.file_size for i in infos)
    ratio = max(i.file_size / max(1, i.compress_size) for i in infos)
    size = len(a1["data"])
    return {
        "file": (
            Limits(max_file=size - 1),
            Limits(max_file=size),
            "larger than any fieldapp export may be",
        ),
        "entries": (
            Limits(max_entries=len(infos) - 1),
            Limits(max_entries=len(infos)),
            f"more than {len(infos) - 1} parts",
        ),
        "entry-size": (
            Limits(max_member=largest - 1),
            Limits(max_member=largest),
            "A part of this file would unpack to more than",
        ),
        "total": (
            Limits(max_total=total - 1),
            Limits(max_total=total),
            "This file would unpack to more than",
        ),
        "ratio": (
            Limits(ratio_floor=0, max_ratio=math.ceil(ratio) - 1),
            Limits(ratio_floor=0, max_ratio=math.ceil(ratio)),
            f"more than {math.ceil(ratio) - 1} times its size",
        ),
        # Above the floor every part is judged; at the floor none is (here: 1:1 allowed).
        "ratio-floor": (
            Limits(ratio_floor=largest - 1, max_ratio=1),
            Limits(ratio_floor=largest, max_ratio=1),
            "more than 1 times its size",
        ),
    }


@pytest.mark.parametrize("cap", ["file", "entries", "entry-size", "total", "ratio", "ratio-floor"])
def test_one_over_a_cap_is_refused_and_exactly_at_it_merges(world, a1, tmp_path, cap):
    over, at, expected = _caps(a1)[cap]
    office = Office(world, tmp_path / "ho")
    office.refuses(a1["data"], expected, over)
    summary = office.merge(a1["data"], at)
    assert summary.ok, summary.error


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_only_stored_and_deflated_parts(world, tmp_path, method):
    """zipfile would happily inflate bzip2 and LZMA (other code, other bombs): refused."""
    data = rebuild(world, decrypted(world, "A1"), compression=method)
    Office(world, tmp_path / "ho").refuses(data, DAMAGED)


# ---- hand-built archives: fixed timestamps, so the same members are the same bytes ---------


def _entry(name: str, data: bytes, method: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = method
    return info


def archive(
    world,
    members: dict[str, bytes],
    manifest: bytes | None = None,
    method: int = zipfile.ZIP_STORED,
) -> bytes:
    """A zip of ``members`` with the manifest (re-hashed unless given as bytes) and its
    signature by laptop A, in a fixed order with fixed timestamps."""
    if manifest is None:
        fields = json.loads(members[MANIFEST])
        for name in fields["members"]:
            fields["members"][name] = {
                "sha256": hashlib.sha256(members[name]).hexdigest(),
                "length": len(members[name]),
            }
        manifest = canonical_json(fields)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, data in members.items():
            if name not in (MANIFEST, SIGNATURE):
                out.writestr(_entry(name, data, method), data)
        out.writestr(_entry(MANIFEST, manifest, method), manifest)
        out.writestr(_entry(SIGNATURE, b"", method), signing_key(world["a"]).sign(manifest))
    return buffer.getvalue()


def _central_entry(plain: bytes, name: str) -> int:
    """Where the central-directory entry of ``name`` starts."""
    position = plain.index(b"PK\x01\x02")
    while plain[position + 46 : position + 46 + len(name)] != name.encode():
        position = plain.index(b"PK\x01\x02", position + 4)
    return position


def test_a_sound_hand_built_archive_merges(world, tmp_path):
    """The archives below differ from this one only by what each test changes."""
    summary = Office(world, tmp_path / "ho").merge(
        seal(world, archive(world, decrypted(world, "A1")))
    )
    assert summary.ok, summary.error


# ---- I-03: a lying size header -------------------------------------------------------------


def test_a_part_that_inflates_beyond_its_declared_size(world, tmp_path):
    """The directory and local header say 1,000 bytes; the deflate stream holds 20 MB of
    records. Only the declared bytes are ever inflated, and the file is refused."""
    members = decrypted(world, "A1")
    lines = members[SUBMISSIONS].splitlines(keepends=True)
    members[SUBMISSIONS] = b"".join(lines * (20_000_000 // len(members[SUBMISSIONS]) + 1))
    plain = bytearray(archive(world, members, method=zipfile.ZIP_DEFLATED))
    with zipfile.ZipFile(io.BytesIO(bytes(plain))) as real:
        info = real.getinfo(SUBMISSIONS)
    assert info.file_size > 20_000_000
    assert info.compress_size * 100 > 1000  # a 1,000-byte claim passes the ratio cap
    central = _central_entry(bytes(plain), SUBMISSIONS)
    plain[central + 24 : central + 28] = struct.pack("<L", 1000)  # uncompressed size
    plain[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<L", 1000)
    Office(world, tmp_path / "ho").refuses(
        seal(world, bytes(plain)), "does not match its table of contents"
    )


# ---- I-06: overlapping entries -------------------------------------------------------------


def test_overlapping_entries_are_refused_before_any_part_is_read(world, tmp_path):
    """The empty template part is stretched over the next entry's local header, with a CRC, a
    length and a hash that match those bytes (gh-109858): our own overlap check refuses it
    before any part is read. Without it the bytes would be read as records."""
    members = decrypted(world, "A1")
    assert members[TEMPLATE] == b""
    plain = archive(world, members)
    with zipfile.ZipFile(io.BytesIO(plain)) as real:
        infos = real.infolist()
    names = [i.filename for i in infos]
    template = infos[names.index(TEMPLATE)]
    following = infos[names.index(TEMPLATE) + 1]
    start = template.header_offset + 30 + len(TEMPLATE)
    stolen = plain[start : following.header_offset + 30]  # the next entry's local header
    members[TEMPLATE] = b""  # the archive still holds no template bytes of its own
    fields = json.loads(members[MANIFEST])
    fields["members"] = {
        name: {"sha256": hashlib.sha256(members[name]).hexdigest(), "length": len(members[name])}
        for name in fields["members"]
    }
    fields["members"][TEMPLATE] = {
        "sha256": hashlib.sha256(stolen).hexdigest(),
        "length": len(stolen),
    }
    plain = bytearray(archive(world, members, manifest=canonical_json(fields)))
    assert plain[start : following.header_offset + 30] == stolen  # the records did not move
    central = _central_entry(bytes(plain), TEMPLATE)
    crc = zlib.crc32(stolen)
    plain[central + 16 : central + 28] = struct.pack("<3L", crc, len(stolen), len(stolen))
    local = template.header_offset
    plain[local + 14 : local + 26] = struct.pack("<3L", crc, len(stolen), len(stolen))
    with zipfile.ZipFile(io.BytesIO(bytes(plain))) as crafted:  # zipfile reads it happily
        assert crafted.read(TEMPLATE) == stolen
    Office(world, tmp_path / "ho").refuses(seal(world, bytes(plain)), DAMAGED)


# ---- I-07: JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [b'{"uuid":Infinity}', b'{"uuid":-Infinity}', b'{"a":' * 200 + b"1" + b"}" * 200],
    ids=["infinity", "minus-infinity", "200-deep"],
)
def test_more_json_a_record_line_may_not_hold(world, tmp_path, line):
    members = decrypted(world, "A1")
    members[SUBMISSIONS] += line + b"\n"
    Office(world, tmp_path / "ho").refuses(seal(world, archive(world, members)), "not valid")


@pytest.mark.parametrize(
    "manifest",
    [
        lambda m: m.replace(b'"export_seq":1', b'"export_seq":NaN'),
        lambda m: m.replace(b'"export_seq":1', b'"export_seq":1,"export_seq":1'),
        lambda m: b"[" * 50_000 + b"]" * 50_000,
        lambda m: m[:-1] + b" " * (1024 * 1024) + b"}",  # valid, signed, and too long
        lambda m: m.replace(b'"export_seq":1', b'"export_seq":1e400'),
    ],
    ids=["nan", "duplicate-key", "deep", "over-1-MiB", "infinite-number"],
)
def test_a_manifest_that_is_not_strict_json(world, tmp_path, manifest):
    """The signed manifest is parsed strictly too: a valid signature proves nothing about it."""
    members = decrypted(world, "A1")
    original = members[MANIFEST]
    assert b'"export_seq":1,' in original
    data = seal(world, archive(world, members, manifest=manifest(original)))
    Office(world, tmp_path / "ho").refuses(data, DAMAGED)


def test_the_line_cap_refuses_a_record_line_over_it(world, a1, tmp_path):
    """The JSON size cap: a line longer than ``max_line`` is refused naming the record cap,
    before it is parsed (here the cap is lowered below laptop A's longest line)."""
    members = decrypted(world, "A1")
    longest = max(
        len(line) for name in RECORD_MEMBERS for line in members.get(name, b"").splitlines()
    )
    office = Office(world, tmp_path / "ho")
    office.refuses(a1["data"], "the most one record may hold", Limits(max_line=longest - 1))
    summary = office.merge(a1["data"], Limits(max_line=longest))
    assert summary.ok, summary.error


# ---- E-07: a truncated file leaves nothing behind ------------------------------------------


def test_a_truncated_file_leaves_no_decrypted_bytes_behind(world, tmp_path, monkeypatch):
    """Decryption writes what it could read before failing, into a folder only head office's
    user may enter (0700); the refusal deletes it, and the temporary place is empty again."""
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    folders, partial = [], []
    real_tempdir, real_decrypt = bundle.private_tempdir, bundle.pyrage.decrypt_io

    def watched_tempdir(parent=None):
        folder = real_tempdir(parent)
        folders.append((folder, stat.S_IMODE(folder.stat().st_mode)))
        return folder

    def watched_decrypt(source, target, identities):
        try:
            return real_decrypt(source, target, identities)
        finally:
            target.flush()
            partial.append(Path(target.name).stat().st_size)

    monkeypatch.setattr(bundle, "private_tempdir", watched_tempdir)
    monkeypatch.setattr(bundle.pyrage, "decrypt_io", watched_decrypt)
    # 300 KB of plain text is five age chunks of 64 KiB: cut in the fourth, three decrypt.
    data = seal(world, bytes(range(256)) * 1200)
    office = Office(world, tmp_path / "ho")
    office.refuses(data[: 3 * 65_536 + 20_000], "cannot be decrypted")
    [(folder, mode)] = folders
    assert mode == 0o700
    assert partial
    assert partial[0] >= 3 * 65_536  # decrypted bytes were on disk for a moment
    assert not folder.exists()
    assert list(temp_root.iterdir()) == []
