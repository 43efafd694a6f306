"""Merging bundles at head office: a set union of versions, in one transaction per file.

Any failure (a bad file, a record that fails validation, a database error) rolls the whole
file back, so the database is exactly as it was, and the file's summary says why.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyrage
from flask_babel import lazy_gettext as _l
from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from ...database import writing
from ...extensions import db
from ...models import BundleImport, Device, DeviceRole, RecordHead, RecordVersion, Submission
from .. import contributions
from ..errors import FieldappError
from ..records import refresh_heads
from . import history, keys, rotation, schema, strictjson
from .bundle import BundleRefused, Limits, OpenedBundle, open_bundle, record_too_large
from .revisions import InvalidRevision, Version, canonical_json

BATCH = 5000
SUBMISSION_BATCH = 20_000
VERSION_FIELDS = {"id", "rev", "parent", "deleted", "body"}
DELETED_BODY = schema.obj(
    {"updated_at": schema.timestamp, "updated_by": schema.uuid_text},
    {"account": schema.BODY_ACCOUNT},
)


@dataclass
class MergeSummary:
    """What merging one file did (or why it was refused)."""

    file: str
    ok: bool = False
    error: str | None = None
    device_id: str | None = None
    device_name: str | None = None
    export_seq: int | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    already_merged: bool = False
    # Export numbers of this device not merged here yet, as inclusive ranges (first, last).
    missing_exports: list[tuple[int, int]] = field(default_factory=list)
    # This export number of this device was merged before with other content (a laptop
    # restored from a backup numbers its exports again). Merging is still safe: the union
    # counts nothing twice. Shown loudly, since the device's exports need looking at.
    export_reused: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain data for --json and the import page."""
        return asdict(self)


def _dialect_insert(table: Table) -> Any:
    dialect = db.session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


def _insert_ignore(table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for the session's database."""
    return _dialect_insert(table).on_conflict_do_nothing()


def _insert_versions(table: Table) -> Insert:
    """Insert versions; for a rev already known keep the smaller body (only its display time
    can differ), so every installation keeps the same text whatever order files came in."""
    statement = _dialect_insert(table)
    return statement.on_conflict_do_update(
        index_elements=["record_id", "rev"],
        set_={"body": statement.excluded.body},
        where=statement.excluded.body < table.c.body,
    )


def decode_line(line: bytes, kind: str = "") -> str:
    """A line as text; only UTF-8 is accepted."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise schema.RecordInvalid(kind, _l("a line is not UTF-8 text")) from None


def parse_record(text: str, kind: str = "") -> Any:
    """Parse one line strictly: no NaN or Infinity, no duplicate keys, bounded depth, no lone
    surrogates."""
    try:
        record = strictjson.DECODER.decode(text)
    except (ValueError, RecursionError):
        raise schema.RecordInvalid(kind, _l("a line is not valid JSON")) from None
    try:
        strictjson.refuse_lone_surrogates(text, record)
    except ValueError:
        raise schema.RecordInvalid(
            kind, _l("contains a character that is not valid text")
        ) from None
    return record


def _version_from(record: Any, kind: str) -> tuple[str, Version]:
    if not isinstance(record, dict) or set(record) != VERSION_FIELDS:
        raise schema.RecordInvalid(
            kind, _l("a version needs exactly id, rev, parent, deleted, body")
        )
    schema.uuid_text(record["id"], f"{kind}.id")
    schema.boolean(record["deleted"], f"{kind}.deleted")
    if record["parent"] is not None and not isinstance(record["parent"], str):
        raise schema.RecordInvalid(f"{kind}.parent", _l("must be a rev or null"))
    if not isinstance(record["rev"], str):
        raise schema.RecordInvalid(f"{kind}.rev", _l("must be a rev"))
    if record["deleted"]:
        DELETED_BODY(record["body"], f"{kind}.body")
    else:
        schema.check_body(kind, record["body"])
        schema.check_record_id(kind, record["id"], record["body"])
    version = Version(record["rev"], record["parent"], record["body"], record["deleted"])
    try:
        version.verify()
    except InvalidRevision as exc:
        raise schema.RecordInvalid(kind, exc.message) from None
    return record["id"], version


def _two_kinds(kind: str) -> schema.RecordInvalid:
    return schema.RecordInvalid(kind, _l("one id is used for two kinds of record"))


def _count(model: Any) -> int:
    return int(db.session.execute(select(func.count()).select_from(model)).scalar_one())


def _merge_versions(bundle: OpenedBundle, limits: Limits) -> tuple[dict[str, str], int]:
    """Insert every version not yet known; return the touched records and the lines read.

    A file's history must be closed: every parent a version names is in the same file (an
    export holds every version its installation has). Otherwise a device could invent a
    parent of generation 999,999,998 and win over every real version; now each generation
    costs one real version in the file, which is what editing costs anyway. The rule depends
    only on the file, so every head office accepts or refuses it alike.
    """
    touched: dict[str, str] = {}
    revs: set[tuple[str, str]] = set()
    parents: list[tuple[str, str, str, str]] = []
    seen = 0
    statement = _insert_versions(RecordVersion.__table__)
    for kind in schema.VERSIONED_KINDS:
        rows: list[dict[str, Any]] = []
        for line in bundle.lines(kind, limits):
            record_id, version = _version_from(parse_record(decode_line(line, kind), kind), kind)
            if touched.setdefault(record_id, kind) != kind:
                raise _two_kinds(kind)
            revs.add((record_id, version.rev))
            if version.parent is not None:
                parents.append((kind, record_id, version.rev, version.parent))
            rows.append(
                {
                    "record_id": record_id,
                    "rev": version.rev,
                    "kind": kind,
                    "parent_rev": version.parent,
                    "deleted": version.deleted,
                    "body": canonical_json(version.body).decode("utf-8"),
                }
            )
            seen += 1
            if len(rows) >= BATCH:
                db.session.execute(statement, rows)
                rows = []
        if rows:
            db.session.execute(statement, rows)
    for kind, record_id, rev, parent in parents:
        if (record_id, parent) not in revs:
            raise schema.RecordInvalid(
                f"{kind} {record_id}",
                _l(
                    "version %(rev)s names a parent that is not in this file (%(parent)s)",
                    rev=rev[:80],
                    parent=parent[:80],
                ),
            )
    return touched, seen


SUBMISSION_COLUMNS = ("uuid", "consultation_id", "device_id", "channel", "language", "body")


def _submission_writer() -> Callable[[list[tuple[Any, ...]]], int]:
    """Insert-if-absent of submission rows, as directly as the database driver allows.

    The writer returns how many rows it inserted, or -1 when the driver cannot say. On SQLite
    the rows go straight to the driver's executemany (SQLAlchemy's per-row parameter
    processing was a third of the merge time); PostgreSQL keeps SQLAlchemy's batched VALUES.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        sql = (
            "INSERT INTO submission (uuid, consultation_id, device_id, channel, language, body) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )

        def write_sqlite(rows: list[tuple[Any, ...]]) -> int:
            return int(connection.exec_driver_sql(sql, rows).rowcount)

        return write_sqlite
    statement = _insert_ignore(Submission.__table__)

    def write_other(rows: list[tuple[Any, ...]]) -> int:
        db.session.execute(
            statement, [dict(zip(SUBMISSION_COLUMNS, row, strict=True)) for row in rows]
        )
        return -1

    return write_other


def _changed_submission(uuid: str) -> BundleRefused:
    return BundleRefused(
        _l(
            "Submission %(id)s is already held here with different content. A submission "
            "never changes once made, so nothing from this file was merged. Ask for a new "
            "export and check the laptop it came from.",
            id=uuid,
        )
    )


def _check_unchanged(rows: list[tuple[Any, ...]]) -> None:
    """Refuse rows whose uuid is already stored with other bytes (M-02: merging files in
    any order must end with the same data, so a submission can never have two bodies)."""
    offered: dict[str, str] = {}
    for row in rows:
        if offered.setdefault(row[0], row[5]) != row[5]:
            raise _changed_submission(row[0])
    ids = list(offered)
    connection = db.session.connection()
    found: Iterable[Any]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        if connection.dialect.name == "sqlite":  # the driver directly: half the time
            marks = ",".join("?" * len(chunk))
            found = connection.exec_driver_sql(
                f"SELECT uuid, body FROM submission WHERE uuid IN ({marks})",  # noqa: S608 (only ? marks)
                tuple(chunk),
            )
        else:
            found = db.session.execute(
                select(Submission.uuid, Submission.body).where(Submission.uuid.in_(chunk))
            )
        for uuid, body in found:
            if offered[uuid] != body:
                raise _changed_submission(uuid)


def _write_batch(
    rows: list[tuple[Any, ...]], write: Callable[[list[tuple[Any, ...]]], int]
) -> None:
    rows.sort()  # neighbouring keys land on the same index pages
    if write(rows) != len(rows):  # some were known already (or the driver cannot tell)
        _check_unchanged(rows)


def _merge_submissions(bundle: OpenedBundle, limits: Limits, own_only: str | None) -> int:
    """Insert every submission not yet known; return the lines read.

    ``own_only`` is the signing device's id when it is a laptop: a laptop only ever holds
    submissions made on itself, so one that names another device was planted.
    """
    write = _submission_writer()
    known_ids: set[str] = set()
    rows: list[tuple[Any, ...]] = []
    indexer = contributions.Indexer()
    seen = 0
    with _no_cyclic_gc():
        seen = _parse_submissions(bundle, limits, write, known_ids, rows, own_only, indexer)
        indexer.finish()
    return seen


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cycle collector: parsing makes many short-lived acyclic objects (~15% faster)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _foreign_submission(uuid: str, device: str, signer: str) -> BundleRefused:
    return BundleRefused(
        _l(
            "Submission %(id)s says it was made on device %(device)s, but this file was signed "
            "by the laptop %(laptop)s, which only holds its own submissions. Nothing from this "
            "file was merged.",
            id=uuid,
            device=device,
            laptop=signer,
        )
    )


def _parse_submissions(
    bundle: OpenedBundle,
    limits: Limits,
    write: Callable[[list[tuple[Any, ...]]], int],
    known_ids: set[str],
    rows: list[tuple[Any, ...]],
    own_only: str | None,
    indexer: contributions.Indexer,
) -> int:
    seen = 0
    for line in bundle.lines("submission", limits):
        if len(line) > schema.MAX_RECORD_BYTES:
            raise record_too_large()
        text = decode_line(line, "submission")
        record = parse_record(text, "submission")
        schema.check_submission(record, known_ids)
        if own_only is not None and record["device"] != own_only:
            raise _foreign_submission(record["uuid"], record["device"], own_only)
        # Stored as received: what the device signed, byte for byte.
        rows.append(
            (
                record["uuid"],
                record["consultation"],
                record["device"],
                record["channel"],
                record["language"],
                text,
            )
        )
        indexer.add(record)  # its answers' rows in the read model (a known one's: ignored)
        seen += 1
        if len(rows) >= SUBMISSION_BATCH:
            _write_batch(rows, write)
            rows = []
    if rows:
        _write_batch(rows, write)
    return seen


def _heads(record_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Kind and winning rev of each existing record among ``record_ids``."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(record_ids), 500):
        chunk = record_ids[start : start + 500]
        for record_id, kind, rev in db.session.execute(
            select(RecordHead.record_id, RecordHead.kind, RecordHead.winner_rev).where(
                RecordHead.record_id.in_(chunk)
            )
        ):
            found[record_id] = (kind, rev)
    return found


def _own_submissions_only(device_id: str) -> str | None:
    """``device_id`` if the signer is registered as a laptop (it holds only its own
    submissions); None for an office, whose exports carry the submissions it merged."""
    role = db.session.execute(
        select(Device.role).where(Device.device_id == device_id)
    ).scalar_one_or_none()
    return device_id if role == DeviceRole.FIELD else None


def _merge_opened(
    bundle: OpenedBundle, summary: MergeSummary, limits: Limits, key_check: rotation.KeyCheck
) -> None:
    summary.export_seq = bundle.export_seq
    known = db.session.execute(
        select(BundleImport.id).where(BundleImport.manifest_sha256 == bundle.manifest_sha256)
    ).first()
    if known is not None:
        summary.already_merged = True
        summary.unchanged = sum(bundle.manifest["counts"].values())  # integers (checked)
        _report_history(bundle, summary)
        summary.ok = True
        return
    with writing() as session:
        # A new key its rotation statements gave the device; a revoked device's checks again.
        key_check.record(summary.file, bundle.manifest_sha256)
        summary.export_reused = (
            session.execute(
                select(BundleImport.id).where(
                    BundleImport.device_id == bundle.device_id,
                    BundleImport.export_seq == bundle.export_seq,
                )
            ).first()
            is not None
        )
        versions_before, submissions_before = _count(RecordVersion), _count(Submission)
        touched, version_lines = _merge_versions(bundle, limits)
        heads_before = _heads(list(touched))
        for record_id, (kind, _rev) in heads_before.items():
            if touched[record_id] != kind:
                raise _two_kinds(kind)
        summary.conflicts = refresh_heads(touched)
        session.flush()
        summary.updated = sum(
            1
            for record_id, (_kind, rev) in _heads(list(touched)).items()
            if record_id in heads_before and heads_before[record_id][1] != rev
        )
        submission_lines = _merge_submissions(
            bundle, limits, _own_submissions_only(bundle.device_id)
        )
        new_versions = _count(RecordVersion) - versions_before
        new_submissions = _count(Submission) - submissions_before
        summary.new = new_versions + new_submissions
        summary.unchanged = version_lines + submission_lines - summary.new
        session.add(
            BundleImport(
                manifest_sha256=bundle.manifest_sha256,
                device_id=bundle.device_id,
                export_seq=bundle.export_seq,
                summary=json.dumps(
                    {"new": summary.new, "updated": summary.updated, "conflicts": summary.conflicts}
                ),
            )
        )
        session.flush()
        _report_history(bundle, summary)
    summary.ok = True


def _report_history(bundle: OpenedBundle, summary: MergeSummary) -> None:
    """Gaps in the device's export numbers; whether this number came with other content."""
    seen = history.device_history(bundle.device_id)
    summary.missing_exports = seen.missing
    summary.export_reused = summary.export_reused or bundle.export_seq in seen.reused


def unregistered(device_id: str) -> BundleRefused:
    """The refusal of a file from a device not registered here, saying how to register it."""
    return BundleRefused(
        _l(
            "This file comes from a device that is not registered here (device %(device)s). "
            "Ask for its public key file and run: fieldapp devices add FILE",
            device=device_id,
        )
    )


def merge_file(
    path: Path,
    identities: list[pyrage.x25519.Identity],
    limits: Limits,
    translate: Callable[[Any], str] = str,
) -> MergeSummary:
    """Merge one bundle; the summary says what changed, or why nothing did."""
    summary = MergeSummary(file=path.name)
    # The device's registered key for the file's export number, or a new key its rotation
    # statements lead to; revoked devices' later exports are refused here (rotation.py).
    key_check = rotation.KeyCheck(unregistered)
    try:
        with open_bundle(path, identities, key_check, limits) as bundle:
            summary.device_id = bundle.device_id
            summary.device_name = str(bundle.manifest["device"].get("name", ""))[:80]
            _merge_opened(bundle, summary, limits, key_check)
    except rotation.RotationConflict as conflict:
        # Two statements retiring one key: refused, and the device revoked (after rollback).
        db.session.rollback()
        summary.error = translate(rotation.revoke_for_conflict(conflict, path.name))
    except FieldappError as exc:
        db.session.rollback()
        summary.error = translate(exc.message)
    except schema.RecordInvalid as exc:
        db.session.rollback()
        summary.error = translate(
            _l(
                "A record in this file is not valid (%(problem)s). Nothing from this file was "
                "merged; ask for a new export.",
                problem=exc.message,
            )
        )
    return summary


def merge_files(
    paths: Iterable[Path],
    instance_path: Path,
    limits: Limits | None = None,
    translate: Callable[[Any], str] = str,
) -> list[MergeSummary]:
    """Merge several bundles, each on its own: one bad file does not stop the others."""
    identities = [keys.load_age_identity(instance_path)]
    return [merge_file(p, identities, limits or Limits(), translate) for p in paths]
