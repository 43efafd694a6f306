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

import base64
import contextlib
import hashlib
import os
import re
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
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
# Version 2 is version 1 with "key_rotations" in the manifest: written only by a laptop that
# rotated its key, so a head office too old to follow a rotation says "update fieldapp"
# instead of refusing the new key as unknown.
ROTATION_FORMAT_VERSION = 2
ROTATION_FORMAT = "fieldapp-key-rotation"
MAX_ROTATIONS = 100
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUFFIX = ".fieldsync"
AGE_MAGIC = b"age-encryption.org/v1\n"
DEVICE_ROLES = ("field", "headoffice")


def member_name(kind: str) -> str:
    """The zip member that holds the records of ``kind``."""
    return f"records/{kind}.jsonl"


RECORD_MEMBERS = {member_name(kind): kind for kind in schema.ALL_KINDS}
ALLOWED_MEMBERS = frozenset({MANIFEST, SIGNATURE, *RECORD_MEMBERS})


# The highest export sequence number a device may use: a laptop exporting a hundred times a
# day reaches it in 27 years. Bounding it bounds everything that is computed from it.
MAX_EXPORT_SEQ = 1_000_000
# The most recipients (stanzas) an age header may name before head office even tries a key:
# a laptop encrypts to each head-office key it was given (two or three) plus one "grease"
# stanza that age adds. Decrypting grows quadratically with the stanzas (8,000 took 15 s).
MAX_RECIPIENTS = 20
MAX_AGE_HEADER = 16 * 1024
# A central-directory entry of a fieldapp member is under 200 bytes (46 fixed, a name of at
# most 28, a zip64 extra of 28); this bounds what zipfile parses whatever the entry count says.
MAX_DIRECTORY_ENTRY = 1024
# A version line is its body plus id, rev, parent and deleted (about 250 bytes).
LINE_ENVELOPE = 4096


@dataclass(frozen=True)
class Limits:
    """Caps applied before anything is decompressed or parsed (SECURITY.md I-02).

    ``max_line`` admits the largest record the schema allows (:data:`schema.MAX_RECORD_BYTES`
    and the version envelope), so a record this app would save is never refused as too large.

    The file, entry count, total and ratio caps are SECURITY.md's. The part cap is not: 100 MB
    is below what an office's export holds. A submission line is about 670 bytes (measured:
    10,000 submissions, 6.7 MB uncompressed), so an office that merged 20 busy laptops of
    10,000 submissions each (bench/merge.py) exports a 134 MB submissions part. Parts are read
    line by line (each line at most ``max_line``), never held whole, so a part's size costs
    time, not memory; the total bounds that time, and a part may be as large as the total.
    A busy laptop's export is far below every cap: 10,000 submissions are 0.64 MB encrypted
    and 6.8 MB unpacked; the 200 MB file cap holds about 800 MB of records even for text that
    deflates only 4:1 (Arabic, Sorani and Kurmanji sentences measured 3.3-4.6:1).
    """

    max_file: int = 200 * 1000 * 1000
    max_entries: int = 1000
    max_member: int = 1000 * 1000 * 1000
    max_total: int = 1000 * 1000 * 1000
    max_ratio: int = 100
    ratio_floor: int = 100 * 1024
    max_manifest: int = 1024 * 1024
    max_line: int = schema.MAX_RECORD_BYTES + LINE_ENVELOPE
    max_recipients: int = MAX_RECIPIENTS


class BundleRefused(FieldappError):
    """A bundle was refused; ``message`` says why in words a coordinator can act on."""


class HashingWriter:
    """A file wrapper that hashes and counts what is written through it.

    It also keeps the first write error: pyrage swallows an error raised by the last write
    of an encryption (a USB stick that is full just then) and returns as if all went well,
    leaving an empty or cut file whose read-back matches what was "written".
    :func:`write_checked` raises it again.
    """

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.length = 0
        self.error: BaseException | None = None

    def write(self, data: bytes) -> int:
        """Write and account for ``data``."""
        try:
            written = self.target.write(data)
        except BaseException as exc:
            self.error = self.error or exc
            raise
        self.sha256.update(data)
        self.length += len(data)
        return written

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

    def encrypt(writer: HashingWriter) -> None:
        with plain.open("rb") as source:
            pyrage.encrypt_io(source, writer, parsed)

    refusal = _l("The export file could not be written correctly. Try another disk or USB stick.")
    try:
        return write_checked(destination, encrypt, refusal)
    except (OSError, pyrage.EncryptError) as exc:
        # A full USB stick (ENOSPC), which pyrage reports as its own EncryptError: a message
        # in the facilitator's language, not a traceback; write_checked left no file behind.
        raise BundleRefused(refusal) from exc


def write_checked(
    destination: Path, write: Callable[[HashingWriter], None], refusal: Any
) -> tuple[str, int]:
    """Write a file durably with ``write`` and check it on disk; return its SHA-256 and size.

    Exports and backups (services/backup.py) are written this way: under a temporary name in
    the destination's folder, fsynced, renamed, the folder fsynced, then read back from disk
    and compared with what was written (E-06). A failed write leaves no temporary file; a
    read-back that differs deletes the file and raises :class:`BundleRefused` with
    ``refusal``.
    """
    folder = destination.parent
    fd, temp_name = tempfile.mkstemp(prefix=".fieldsync-", suffix=".part", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            writer = HashingWriter(raw)
            write(writer)
            if writer.error is not None:  # swallowed by the encryption library
                raise writer.error
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
        raise BundleRefused(refusal)
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


def _damaged() -> BundleRefused:
    return BundleRefused(_l("This file is damaged or is not a fieldapp export."))


def record_too_large() -> BundleRefused:
    """The refusal of a record over :data:`schema.MAX_RECORD_BYTES`, naming the limit."""
    return BundleRefused(
        _l(
            "A record in this file is larger than %(megabytes)s MB, the most one record may "
            "hold. Nothing from this file was merged.",
            megabytes=schema.MAX_RECORD_BYTES // 1_000_000,
        )
    )


# Errors that reading a damaged member raises: bad CRC, corrupt deflate data, a local header
# that disagrees with the central directory, a truncated stream.
MEMBER_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,  # zipfile's "password required" for an entry flagged as encrypted
)


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
        rest = b""
        try:
            with self.zip.open(name) as member:
                while chunk := member.read(1024 * 1024):
                    lines = (rest + chunk).split(b"\n")
                    rest = lines.pop()
                    if len(rest) > limits.max_line:
                        raise record_too_large()
                    for line in lines:
                        if len(line) > limits.max_line:
                            raise record_too_large()
                        if line:
                            yield line
        except MEMBER_ERRORS:
            raise _damaged() from None
        if rest:
            yield rest


def check_age_header(fh: IO[bytes], limits: Limits) -> None:
    """Refuse an age header naming more recipients than any export has, before decrypting.

    The header is ``age-encryption.org/v1``, then one stanza per recipient (a line starting
    ``-> `` and base64 body lines), then a line starting ``---``.
    """
    header = fh.read(MAX_AGE_HEADER)
    if not header.startswith(AGE_MAGIC):
        raise BundleRefused(_l("This file is not an encrypted fieldapp export."))
    too_many = BundleRefused(
        _l(
            "This file is encrypted to more than %(max)s keys; no fieldapp export is. "
            "It was not opened.",
            max=limits.max_recipients,
        )
    )
    stanzas = 0
    for line in header[len(AGE_MAGIC) :].split(b"\n")[:-1]:  # the last piece may be cut off
        if line.startswith(b"---"):
            return
        if line.startswith(b"-> "):
            stanzas += 1
            if stanzas > limits.max_recipients:
                raise too_many
    if len(header) == MAX_AGE_HEADER:
        raise too_many  # no end of header in 16 KiB: far more stanzas than the cap
    raise BundleRefused(
        _l(
            "This file cannot be decrypted with this head office's key: it is damaged, "
            "or it was made for another head office."
        )
    )


@dataclass(frozen=True)
class _Entry:
    """One central-directory entry as its raw bytes say (before zipfile interprets it)."""

    name: bytes
    flag_bits: int
    external_attr: int


def _too_many_parts(limits: Limits) -> BundleRefused:
    return BundleRefused(
        _l(
            "This file has more than %(max)s parts; no fieldapp export has. It was not opened.",
            max=limits.max_entries,
        )
    )


def _central_directory(raw: IO[bytes], size: int, limits: Limits) -> list[_Entry]:
    """Read the end record and the central directory ourselves, before zipfile does (I-02).

    zipfile parses the whole directory, whatever its size, before anyone can count entries (a
    million entries took 15 s and 568 MB), and it cuts names at a NUL byte. fieldapp writes no
    archive comment, no data before the first entry and at most one zip64 end record, so the
    end record is the last 22 bytes, which is also where zipfile looks first.
    """
    damaged = _damaged()
    if size < 22:
        raise damaged
    raw.seek(size - 22)
    sig, disk, cd_disk, _here, entries, cd_size, cd_offset, comment = struct.unpack(
        "<4s4H2LH", raw.read(22)
    )
    if sig != b"PK\x05\x06" or comment != 0 or disk != 0 or cd_disk != 0:
        raise damaged
    end = size - 22
    if size >= 22 + 20:
        raw.seek(size - 22 - 20)
        locator = raw.read(20)
        if locator[:4] == b"PK\x06\x07":
            # zipfile reads the zip64 end record right before the locator, whatever the
            # locator says: read the same place, so both see the same directory.
            if size < 22 + 20 + 56:
                raise damaged
            raw.seek(size - 22 - 20 - 56)
            record = struct.unpack("<4sQ2H2L4Q", raw.read(56))
            if record[0] != b"PK\x06\x06" or record[4] != 0 or record[5] != 0:
                raise damaged
            entries, cd_size, cd_offset = record[7], record[8], record[9]
            end = size - 22 - 20 - 56
    if entries > limits.max_entries:
        raise _too_many_parts(limits)
    if cd_size > limits.max_entries * MAX_DIRECTORY_ENTRY:
        raise _too_many_parts(limits)
    if cd_offset + cd_size != end:  # data before the archive, or a directory out of place
        raise damaged
    raw.seek(cd_offset)
    directory = raw.read(cd_size)
    found: list[_Entry] = []
    position = 0
    while position < len(directory):
        fixed = directory[position : position + 46]
        if len(fixed) != 46 or fixed[:4] != b"PK\x01\x02":
            raise damaged
        flags = struct.unpack("<H", fixed[8:10])[0]
        name_len, extra_len, comment_len = struct.unpack("<3H", fixed[28:34])
        external_attr = struct.unpack("<L", fixed[38:42])[0]
        name = directory[position + 46 : position + 46 + name_len]
        found.append(_Entry(name, flags, external_attr))
        position += 46 + name_len + extra_len + comment_len
        if len(found) > limits.max_entries:
            raise _too_many_parts(limits)
    if position != len(directory) or len(found) != entries:
        raise damaged
    return found


ALLOWED_RAW_NAMES = frozenset(name.encode("ascii") for name in ALLOWED_MEMBERS)


def _is_regular_file(external_attr: int) -> bool:
    """True unless the entry's attributes say directory, symlink, device or pipe."""
    mode = external_attr >> 16
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return False
    return not external_attr & 0x10  # the MS-DOS directory attribute


def _check_structure(
    archive: zipfile.ZipFile, raw: IO[bytes], entries: list[_Entry], limits: Limits
) -> None:
    """Refuse archives that are not exactly what fieldapp writes (I-01 to I-06)."""
    damaged = _damaged()
    infos = archive.infolist()
    if len(infos) != len(entries):
        raise damaged
    names = [entry.name for entry in entries]
    # Raw bytes, not zipfile's names: zipfile cuts a name at a NUL byte
    # ("records/template.jsonl\0../../x" would pass as records/template.jsonl).
    if len(set(names)) != len(names) or not set(names) <= ALLOWED_RAW_NAMES:
        raise damaged
    total = 0
    spans = []
    for info, entry in zip(infos, entries, strict=True):
        if info.filename.encode("ascii", "replace") != entry.name:
            raise damaged
        if entry.flag_bits & 0x1 or info.flag_bits & 0x1:  # encrypted entry
            raise damaged
        if not _is_regular_file(entry.external_attr) or info.is_dir():
            raise damaged
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise damaged
        if info.file_size > limits.max_member:
            raise BundleRefused(
                _l(
                    "A part of this file would unpack to more than %(megabytes)s MB, more than "
                    "any fieldapp export holds. It was not opened.",
                    megabytes=limits.max_member // 1_000_000,
                )
            )
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            1, info.compress_size
        ):
            raise BundleRefused(
                _l(
                    "A part of this file would unpack to more than %(ratio)s times its size, "
                    "which no fieldapp export does (a zip bomb). It was not opened.",
                    ratio=limits.max_ratio,
                )
            )
        total += info.file_size
        raw.seek(info.header_offset)
        header = raw.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise damaged
        local_flags = struct.unpack("<H", header[6:8])[0]
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        if local_flags & 0x1 or raw.read(name_len) != entry.name:
            raise damaged  # the local header must name the same member, unencrypted
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        spans.append((info.header_offset, end))
    if total > limits.max_total:
        raise BundleRefused(
            _l(
                "This file would unpack to more than %(megabytes)s MB, more than any fieldapp "
                "export holds. It was not opened.",
                megabytes=limits.max_total // 1_000_000,
            )
        )
    spans.sort()
    for (_start, end), (next_start, _next_end) in zip(spans, spans[1:], strict=False):
        if end > next_start:  # overlapping entries: a zip bomb trick (gh-109858)
            raise damaged


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        with archive.open(name) as member:
            data = member.read(limit + 1)
    except MEMBER_ERRORS:
        raise _damaged() from None
    if len(data) > limit:
        raise _damaged()
    return data


MANIFEST_FIELDS = frozenset(
    ("format", "format_version", "app_version", "schema_revision", "device", "export_seq")
    + ("created_at", "counts", "members")
)
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


def _sha256_text(value: Any, path: str) -> None:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise schema.RecordInvalid(path, "sha256")


_DEVICE = schema.obj(
    {"id": schema.uuid_text, "name": schema.text(80), "role": schema.one_of(DEVICE_ROLES)}
)
_MEMBER = schema.obj({"sha256": _sha256_text, "length": schema.integer(0, 2**63 - 1)})


def _public_key_text(value: Any, path: str) -> None:
    """An Ed25519 public key in base64, as key files and the device table hold it."""
    try:
        if isinstance(value, str) and len(base64.b64decode(value, validate=True)) == 32:
            return
    except ValueError:
        pass
    raise schema.RecordInvalid(path, "key")


def _signature_text(value: Any, path: str) -> None:
    try:
        if isinstance(value, str) and len(base64.b64decode(value, validate=True)) == 64:
            return
    except ValueError:
        pass
    raise schema.RecordInvalid(path, "signature")


_ROTATION = schema.obj(
    {
        "statement": schema.obj(
            {
                "format": schema.one_of((ROTATION_FORMAT,)),
                "version": schema.integer(1, 1),
                "device_id": schema.uuid_text,
                "old_key": _public_key_text,
                "new_key": _public_key_text,
                "from_seq": schema.integer(1, MAX_EXPORT_SEQ),
                "created_at": schema.timestamp,
            }
        ),
        "signature": _signature_text,
    }
)


def check_manifest(manifest: Any) -> None:
    """Refuse a manifest that is not exactly what fieldapp writes; every type is checked.

    Booleans are not numbers here: ``"format_version": true`` is refused, not read as 1.
    """
    damaged = _damaged()
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise damaged
    version = manifest.get("format_version")
    if type(version) is not int:
        raise damaged
    if version not in (FORMAT_VERSION, ROTATION_FORMAT_VERSION):
        raise BundleRefused(
            _l(
                "This file was written by a different version of fieldapp (format %(version)s). "
                "Update fieldapp on both machines.",
                version=str(version)[:20],
            )
        )
    seq = manifest.get("export_seq")
    if type(seq) is int and seq > MAX_EXPORT_SEQ:
        raise BundleRefused(
            _l(
                "This file says it is export %(seq)s of its device; export numbers stop at "
                "%(max)s, so it was not made by fieldapp.",
                seq=seq,
                max=MAX_EXPORT_SEQ,
            )
        )
    rotations = {"key_rotations"} if version == ROTATION_FORMAT_VERSION else set()
    if set(manifest) != MANIFEST_FIELDS | rotations:
        raise damaged
    try:
        schema.text(40)(manifest["app_version"], "app_version")
        schema.text(64)(manifest["schema_revision"], "schema_revision")
        _DEVICE(manifest["device"], "device")
        schema.integer(1, MAX_EXPORT_SEQ)(seq, "export_seq")
        schema.timestamp(manifest["created_at"], "created_at")
        counts, members = manifest["counts"], manifest["members"]
        if not isinstance(counts, dict) or not set(counts) <= set(schema.ALL_KINDS):
            raise schema.RecordInvalid("counts", "kinds")
        for kind, count in counts.items():
            schema.integer(0, 10**9)(count, f"counts.{kind}")
        if not isinstance(members, dict) or not set(members) <= set(RECORD_MEMBERS):
            raise schema.RecordInvalid("members", "names")
        for name, entry in members.items():
            _MEMBER(entry, name)
        if rotations:
            rotation_list = manifest["key_rotations"]
            if not isinstance(rotation_list, list) or not rotation_list:
                raise schema.RecordInvalid("key_rotations", "list")
            schema.list_of(_ROTATION, MAX_ROTATIONS)(rotation_list, "key_rotations")
    except schema.RecordInvalid:
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

    ``signing_key_of(manifest)`` returns the Ed25519 public key (raw bytes) that must have
    signed the checked manifest (its device's, for its export number), or raises
    :class:`BundleRefused` saying how to register it.
    """
    try:
        size = path.stat().st_size
    except OSError:
        raise BundleRefused(_l("The file cannot be read.")) from None
    if size > limits.max_file:
        raise BundleRefused(_l("This file is larger than any fieldapp export may be."))
    with path.open("rb") as fh:
        check_age_header(fh, limits)
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
            entries = _central_directory(raw, plain.stat().st_size, limits)
            try:
                archive = zipfile.ZipFile(raw)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError):
                raise _damaged() from None
            with archive:
                _check_structure(archive, raw, entries, limits)
                if MANIFEST not in archive.NameToInfo or SIGNATURE not in archive.NameToInfo:
                    raise _damaged()
                manifest_bytes = _read_member(archive, MANIFEST, limits.max_manifest)
                signature = _read_member(archive, SIGNATURE, 1024)
                try:
                    manifest = strictjson.loads(manifest_bytes)
                except ValueError:
                    raise _damaged() from None
                check_manifest(manifest)
                public = signing_key_of(manifest)
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
        except MEMBER_ERRORS:
            raise damaged from None
        if length != entry["length"] or digest.hexdigest() != entry["sha256"]:
            raise damaged
