"""The bundle file: a signed zip of JSON Lines, encrypted with age to the head office.

Layout inside the zip (names are fixed; nothing else is accepted on import)::

    records/consultation.jsonl   one version per line: {"id", "rev", "parent", "deleted", "body"}
    records/question.jsonl       (same)
    records/attendance.jsonl     (same)
    records/action_point.jsonl   (same)
    records/submission.jsonl     one submission per line
    manifest.json                format, versions, device, export sequence, counts, and the
                                 SHA-256 and length of every records member
    manifest.sig                 Ed25519 signature of manifest.json by the device key

Every line is canonical JSON (sorted keys, no spaces), so the same data is the same bytes on
every machine. Reading a bundle checks, in order: the file size, decryption into a private
temporary folder, the zip structure (allowlisted names, no duplicates, no encryption, STORED or
DEFLATED only, no overlapping entries, size and ratio caps), the manifest and its signature
against the registered device, then every member's length and hash. Records are parsed and
validated by :mod:`merge` inside the database transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask_babel import lazy_gettext as _l

from ..errors import FieldappError
from . import schema, strictjson

FORMAT = "fieldapp-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUFFIX = ".fieldsync"
AGE_MAGIC = b"age-encryption.org/v1\n"


def member_name(kind: str) -> str:
    """The zip member that holds the records of ``kind``."""
    return f"records/{kind}.jsonl"


RECORD_MEMBERS = {member_name(kind): kind for kind in schema.ALL_KINDS}
ALLOWED_MEMBERS = frozenset({MANIFEST, SIGNATURE, *RECORD_MEMBERS})


@dataclass(frozen=True)
class Limits:
    """Caps applied before anything is decompressed or parsed (SECURITY.md I-02)."""

    max_file: int = 1024 * 1024 * 1024
    max_entries: int = 1000
    max_member: int = 1024 * 1024 * 1024
    max_total: int = 4 * 1024 * 1024 * 1024
    max_ratio: int = 100
    ratio_floor: int = 100 * 1024
    max_manifest: int = 1024 * 1024
    max_line: int = 1024 * 1024


class BundleRefused(FieldappError):
    """A bundle was refused; ``message`` says why in words a coordinator can act on."""


class HashingWriter:
    """A file wrapper that hashes and counts what is written through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.length = 0

    def write(self, data: bytes) -> int:
        """Write and account for ``data``."""
        self.sha256.update(data)
        self.length += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        """Flush the underlying file."""
        self.target.flush()


def private_tempdir(parent: Path | None = None) -> Path:
    """A new folder only this user can enter (E-07)."""
    return Path(tempfile.mkdtemp(prefix="fieldapp-", dir=parent))


def encrypt_to_file(plain: Path, recipients: list[str], destination: Path) -> tuple[str, int]:
    """Encrypt ``plain`` to ``destination`` durably; return the SHA-256 and size written.

    The file is written under a temporary name, fsynced, renamed, the folder fsynced, and then
    read back from disk and compared with what was written (E-06).
    """
    parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
    folder = destination.parent
    fd, temp_name = tempfile.mkstemp(prefix=".fieldsync-", suffix=".part", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as raw, plain.open("rb") as source:
            writer = HashingWriter(raw)
            pyrage.encrypt_io(source, writer, parsed)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, destination)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    expected = writer.sha256.hexdigest()
    if file_sha256(destination) != expected or destination.stat().st_size != writer.length:
        destination.unlink(missing_ok=True)
        raise BundleRefused(
            _l("The export file could not be written correctly. Try another disk or USB stick.")
        )
    return expected, writer.length


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- reading ------------------------------------------------------------------------------


@dataclass
class OpenedBundle:
    """A decrypted bundle whose structure, signature and member hashes have been checked."""

    zip: zipfile.ZipFile
    manifest: dict[str, Any]
    manifest_sha256: str

    @property
    def device_id(self) -> str:
        """The device that signed the bundle."""
        return str(self.manifest["device"]["id"])

    @property
    def export_seq(self) -> int:
        """The device's export sequence number of this bundle."""
        return int(self.manifest["export_seq"])

    def lines(self, kind: str, limits: Limits) -> Iterator[bytes]:
        """The raw lines of one kind's member (absent members have none)."""
        name = member_name(kind)
        if name not in self.manifest["members"]:
            return
        too_large = BundleRefused(_l("A record in this file is too large."))
        rest = b""
        with self.zip.open(name) as member:
            while chunk := member.read(1024 * 1024):
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                if len(rest) > limits.max_line:
                    raise too_large
                for line in lines:
                    if len(line) > limits.max_line:
                        raise too_large
                    if line:
                        yield line
        if rest:
            yield rest


def _check_structure(archive: zipfile.ZipFile, raw: IO[bytes], limits: Limits) -> None:
    """Refuse archives that are not exactly what fieldapp writes (I-01 to I-06)."""
    damaged = BundleRefused(_l("This file is damaged or is not a fieldapp export."))
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise damaged
    names = [info.filename for info in infos]
    if len(set(names)) != len(names) or not set(names) <= ALLOWED_MEMBERS:
        raise damaged
    total = 0
    spans = []
    for info in infos:
        if info.flag_bits & 0x1 or info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
        ):
            raise damaged
        if info.file_size > limits.max_member or info.is_dir():
            raise damaged
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            1, info.compress_size
        ):
            raise damaged
        total += info.file_size
        raw.seek(info.header_offset)
        header = raw.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise damaged
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        spans.append((info.header_offset, end))
    if total > limits.max_total:
        raise damaged
    spans.sort()
    for (_start, end), (next_start, _next_end) in zip(spans, spans[1:], strict=False):
        if end > next_start:  # overlapping entries: a zip bomb trick (gh-109858)
            raise damaged


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise BundleRefused(_l("This file is damaged or is not a fieldapp export."))
    return data


def _check_manifest(manifest: Any) -> None:
    damaged = BundleRefused(_l("This file is damaged or is not a fieldapp export."))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise damaged
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleRefused(
            _l(
                "This file was written by a different version of fieldapp (format %(version)s). "
                "Update fieldapp on both machines.",
                version=str(manifest.get("format_version"))[:20],
            )
        )
    try:
        device = manifest["device"]
        schema.uuid_text(device["id"], "device.id")
        schema.integer(1, 10**9)(manifest["export_seq"], "export_seq")
        members = manifest["members"]
        if not isinstance(members, dict) or not set(members) <= set(RECORD_MEMBERS):
            raise ValueError("members")
        for entry in members.values():
            schema.integer(0, 10**13)(entry["length"], "length")
            if not isinstance(entry["sha256"], str) or len(entry["sha256"]) != 64:
                raise ValueError("sha256")
    except (KeyError, TypeError, ValueError):
        raise damaged from None


@contextlib.contextmanager
def open_bundle(
    path: Path,
    identities: list[pyrage.x25519.Identity],
    signing_key_of: Any,
    limits: Limits,
    workdir: Path | None = None,
) -> Iterator[OpenedBundle]:
    """Decrypt and verify a bundle; yield it open; always delete the decrypted copy.

    ``signing_key_of(device_id)`` returns the registered Ed25519 public key (base64) of a
    device, or raises :class:`BundleRefused` saying how to register it.
    """
    try:
        size = path.stat().st_size
    except OSError:
        raise BundleRefused(_l("The file cannot be read.")) from None
    if size > limits.max_file:
        raise BundleRefused(_l("This file is larger than any fieldapp export may be."))
    with path.open("rb") as fh:
        magic = fh.read(len(AGE_MAGIC))
    if magic != AGE_MAGIC:
        raise BundleRefused(_l("This file is not an encrypted fieldapp export."))
    folder = private_tempdir(workdir)
    plain = folder / "bundle.zip"
    try:
        try:
            with path.open("rb") as source, plain.open("wb") as target:
                pyrage.decrypt_io(source, target, identities)
        except (pyrage.DecryptError, ValueError, OSError):
            raise BundleRefused(
                _l(
                    "This file cannot be decrypted with this head office's key: it is damaged, "
                    "or it was made for another head office."
                )
            ) from None
        with plain.open("rb") as raw:
            try:
                archive = zipfile.ZipFile(raw)
            except (zipfile.BadZipFile, OSError, ValueError):
                raise BundleRefused(
                    _l("This file is damaged or is not a fieldapp export.")
                ) from None
            with archive:
                _check_structure(archive, raw, limits)
                if MANIFEST not in archive.NameToInfo or SIGNATURE not in archive.NameToInfo:
                    raise BundleRefused(_l("This file is damaged or is not a fieldapp export."))
                manifest_bytes = _read_member(archive, MANIFEST, limits.max_manifest)
                signature = _read_member(archive, SIGNATURE, 1024)
                try:
                    manifest = strictjson.loads(manifest_bytes)
                except ValueError:
                    raise BundleRefused(
                        _l("This file is damaged or is not a fieldapp export.")
                    ) from None
                _check_manifest(manifest)
                public = signing_key_of(manifest["device"]["id"])
                try:
                    Ed25519PublicKey.from_public_bytes(public).verify(signature, manifest_bytes)
                except (InvalidSignature, ValueError):
                    raise BundleRefused(
                        _l(
                            "The signature of this file does not match the registered key of "
                            "its device. It may have been altered; ask for a new export."
                        )
                    ) from None
                _check_members(archive, manifest, limits)
                yield OpenedBundle(archive, manifest, hashlib.sha256(manifest_bytes).hexdigest())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_members(archive: zipfile.ZipFile, manifest: dict[str, Any], limits: Limits) -> None:
    """Every listed member exists with its declared length and hash; no unlisted records."""
    damaged = BundleRefused(
        _l("Part of this file does not match its table of contents. Ask for a new export.")
    )
    members = manifest["members"]
    present = {name for name in archive.NameToInfo if name in RECORD_MEMBERS}
    if present != set(members):
        raise damaged
    for name, entry in members.items():
        digest = hashlib.sha256()
        length = 0
        try:
            with archive.open(name) as member:
                while chunk := member.read(1024 * 1024):
                    length += len(chunk)
                    if length > entry["length"] or length > limits.max_member:
                        raise damaged
                    digest.update(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError):
            raise damaged from None
        if length != entry["length"] or digest.hexdigest() != entry["sha256"]:
            raise damaged
