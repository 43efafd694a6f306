"""Writing this installation's export bundle: everything it holds, streamed, signed, encrypted."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text

from ... import __version__
from ...database import writing
from ...extensions import db
from ...models import BundleExport, RecordVersion, Submission
from .. import activity, backup
from ..records import utc_stamp
from . import keys, receipts, rotation, schema
from .bundle import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MAX_EXPORT_SEQ,
    MAX_RECIPIENTS,
    ROTATION_FORMAT_VERSION,
    SIGNATURE,
    SUFFIX,
    BundleRefused,
    HashingWriter,
    encrypt_to_file,
    member_name,
    private_tempdir,
)
from .revisions import canonical_json

EXPORT_DIR = "exports"
BATCH = 2000


@dataclass(frozen=True)
class ExportResult:
    """What was written, for the person who carries the file."""

    path: str
    export_seq: int
    sha256: str
    size: int
    counts: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        """The result as plain data (for --json)."""
        return asdict(self)


def neutral_name() -> str:
    """A file name that reveals no place, date or title."""
    return secrets.token_hex(8) + SUFFIX


def schema_revision() -> str:
    """The database schema revision (Alembic head) of this installation."""
    return str(db.session.execute(text("SELECT version_num FROM alembic_version")).scalar())


def _write_versions(zf: zipfile.ZipFile, kind: str) -> tuple[int, str, int]:
    count = 0
    query = (
        select(
            RecordVersion.record_id,
            RecordVersion.rev,
            RecordVersion.parent_rev,
            RecordVersion.deleted,
            RecordVersion.body,
        )
        .where(RecordVersion.kind == kind)
        .order_by(RecordVersion.record_id, RecordVersion.rev)
        .execution_options(yield_per=BATCH)
    )
    with zf.open(member_name(kind), "w", force_zip64=True) as member:
        writer = HashingWriter(member)
        for record_id, rev, parent, deleted, body in db.session.execute(query):
            line = {
                "id": record_id,
                "rev": rev,
                "parent": parent,
                "deleted": deleted,
                "body": json.loads(body),
            }
            writer.write(canonical_json(line) + b"\n")
            count += 1
    return count, writer.sha256.hexdigest(), writer.length


def _write_submissions(zf: zipfile.ZipFile, carried: list[str]) -> tuple[int, str, int]:
    """Write every submission held; ``carried`` gets their ids (what a receipt acknowledges)."""
    count = 0
    query = (
        select(Submission.uuid, Submission.body)
        .order_by(Submission.uuid)
        .execution_options(yield_per=BATCH)
    )
    with zf.open(member_name("submission"), "w", force_zip64=True) as member:
        writer = HashingWriter(member)
        for uuid, body in db.session.execute(query):
            writer.write(body.encode("utf-8") + b"\n")  # stored in canonical form already
            carried.append(uuid)
            count += 1
    return count, writer.sha256.hexdigest(), writer.length


def export_bundle(instance_path: Path, output: Path | None = None) -> ExportResult:
    """Write one bundle with every version and submission this installation holds.

    Exporting never changes local data; it only records that an export was made. The export
    sequence number is taken when the file is safely written, so a failed export leaves no gap.
    """
    device = keys.self_device()
    if device is None:
        raise BundleRefused(
            _l("This installation has no keys yet. Run “fieldapp init --role ... --name ...”.")
        )
    recipients = keys.headoffice_recipients()
    if not recipients:
        raise BundleRefused(
            _l("No head-office key is registered, so the export could not be encrypted.")
        )
    if len(recipients) >= MAX_RECIPIENTS:  # age adds one stanza of its own; see bundle.py
        raise BundleRefused(
            _l(
                "More than %(max)s head-office keys are registered here; an export can be "
                "encrypted to at most that many. Revoke the keys no longer used.",
                max=MAX_RECIPIENTS - 1,
            )
        )
    signing_key = rotation.signing_key(instance_path)
    rotations = rotation.statements()  # every key change, until head office has them all
    last = db.session.execute(select(func.max(BundleExport.export_seq))).scalar()
    # A restored laptop continues above the number its restore recorded (services/backup.py).
    export_seq = max(last or 0, backup.export_seq_floor()) + 1
    if export_seq > MAX_EXPORT_SEQ:
        raise BundleRefused(
            _l("This installation has made %(max)s exports, the most it can.", max=MAX_EXPORT_SEQ)
        )
    if output is None:
        folder = instance_path / EXPORT_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        destination = folder / neutral_name()
    elif output.is_dir():
        destination = output / neutral_name()
    else:
        destination = output
    workdir = private_tempdir()
    try:
        plain = workdir / "bundle.zip"
        counts: dict[str, int] = {}
        members: dict[str, dict[str, object]] = {}
        carried: list[str] = []
        with zipfile.ZipFile(plain, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for kind in schema.VERSIONED_KINDS:
                count, sha, length = _write_versions(zf, kind)
                counts[kind], members[member_name(kind)] = count, {"sha256": sha, "length": length}
            count, sha, length = _write_submissions(zf, carried)
            counts["submission"] = count
            members[member_name("submission")] = {"sha256": sha, "length": length}
            manifest: dict[str, object] = {
                "format": FORMAT,
                "format_version": ROTATION_FORMAT_VERSION if rotations else FORMAT_VERSION,
                "app_version": __version__,
                "schema_revision": schema_revision(),
                "device": {"id": device.device_id, "name": device.name, "role": device.role.value},
                "export_seq": export_seq,
                "created_at": utc_stamp(),
                "counts": counts,
                "members": members,
            }
            if rotations:
                manifest["key_rotations"] = rotations
            manifest_bytes = canonical_json(manifest)
            zf.writestr(MANIFEST, manifest_bytes)
            zf.writestr(SIGNATURE, signing_key.sign(manifest_bytes))
        sha256, size = encrypt_to_file(plain, recipients, destination)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = ExportResult(str(destination), export_seq, sha256, size, counts)
    with writing() as session:
        session.add(
            BundleExport(
                export_seq=export_seq,
                file_name=destination.name[:100],
                sha256=sha256,
                size=size,
                summary=json.dumps(counts),
            )
        )
        activity.export_written(result, destination.name[:100])  # the Activity page's entry
        # What this export carried, so that a receipt for it lets the laptop purge exactly that.
        receipts.record_export(export_seq, hashlib.sha256(manifest_bytes).hexdigest(), carried)
    return result
