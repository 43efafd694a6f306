"""Receipts: head office says, signed, which exports of a laptop it has merged.

Head office writes a receipt for one device (``fieldapp receipt --device ID --output FILE`` or
the Import and Devices pages): the export numbers of that device merged there, as ranges, and
the SHA-256 of each merged file's manifest, signed with head office's device key as a
:mod:`signed` file. The laptop applies it (``fieldapp receipt apply FILE`` or its Export page)
and may then purge the answers head office holds (:mod:`fieldapp.services.purge`).

The laptop trusts a receipt only as far as it can check it: signed by a head office registered
here (the keys it encrypts its exports to), for this very device, and, for each export number,
naming the digest of the manifest this laptop signed for that number. A laptop restored from
a backup numbers its exports again; head office's "export 7" is then another file than this
laptop's export 7, and the digest keeps the two apart.

Every export carries every submission the laptop holds, so a submission first carried by
export N is in every later export as well: once head office has merged any export numbered N
or more, it holds the submission. :func:`record_export` keeps N for each submission.
"""

from __future__ import annotations

import hashlib
import json
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from ...database import writing
from ...extensions import db
from ...models import (
    BundleImport,
    Device,
    DeviceRole,
    ExportedSubmission,
    ExportManifest,
    Receipt,
)
from .. import audit, records
from ..errors import FieldappError
from . import keys, signed
from .bundle import MAX_EXPORT_SEQ
from .history import Range, device_history, format_ranges, runs
from .revisions import canonical_json

RECEIPT_FORMAT = "fieldapp-receipt"
RECEIPT_VERSION = 1
# A digest is 67 bytes in the file: 4 MiB holds the manifests of some 60,000 merged exports,
# more than a laptop makes in its life.
MAX_RECEIPT_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 60_000
_DIGEST = re.compile(r"^[0-9a-f]{64}$", re.ASCII)
BATCH = 500


class ReceiptError(FieldappError):
    """A receipt could not be written or applied; ``message`` says why."""


class ReceiptRefused(signed.FileRefused, ReceiptError):
    """A receipt file was refused; ``reason`` names why in the activity log's own words
    (damaged, unknown_installation, revoked_installation, altered, not_headoffice,
    other_device)."""


UNKNOWN_HEADOFFICE = _l(
    "This receipt comes from a head office that is not registered on this laptop. Only a "
    "receipt signed by the head office this laptop exports to is accepted; nothing was changed."
)

RECEIPT_FILE = signed.SignedFormat(
    name=RECEIPT_FORMAT,
    version=RECEIPT_VERSION,
    fields=frozenset({"for_device", "exports", "manifests", "written_at"}),
    max_bytes=MAX_RECEIPT_BYTES,
    damaged=_l(
        "This file is damaged or is not a fieldapp receipt; nothing was changed. Ask head "
        "office for a new receipt."
    ),
    unknown_installation=UNKNOWN_HEADOFFICE,
    revoked_installation=_l(
        "This receipt comes from a head office whose key was revoked on this laptop; nothing "
        "was changed."
    ),
    altered=_l(
        "The signature of this receipt does not match its head office: the file was changed "
        "after it was written. Nothing was changed; ask head office for a new receipt."
    ),
    ids=frozenset({"for_device"}),
    refused=ReceiptRefused,
)


# ---- what each export carried (the laptop) --------------------------------------------------


def _insert_ignore(table: Any) -> Any:
    module: Any = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def record_export(export_seq: int, manifest_sha256: str, carried: Sequence[str]) -> None:
    """Remember, inside the export's unit of work, its manifest digest and the submissions it
    carried for the first time (a submission keeps the number of the first export)."""
    db.session.add(ExportManifest(export_seq=export_seq, manifest_sha256=manifest_sha256))
    statement = _insert_ignore(ExportedSubmission.__table__)
    for start in range(0, len(carried), 5000):
        rows = [
            {"submission_uuid": uuid, "export_seq": export_seq}
            for uuid in carried[start : start + 5000]
        ]
        db.session.execute(statement, rows)


# ---- writing a receipt (head office) ---------------------------------------------------------


@dataclass(frozen=True)
class WrittenReceipt:
    """A receipt written for one device, and the file's bytes."""

    device_id: str
    device_name: str
    exports: list[Range]
    data: bytes = field(repr=False)

    def file_name(self) -> str:
        """A neutral file name: the receipt's kind and the start of the device id."""
        return f"receipt-{self.device_id[:8]}.json"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` (without the file's bytes)."""
        return {
            "device_id": self.device_id,
            "device_name": self.device_name,
            "exports": [list(r) for r in self.exports],
            "file": self.file_name(),
        }


def write_receipt(device_id: str, instance_path: Path) -> WrittenReceipt:
    """The signed receipt for ``device_id``: every export of it merged here (logged).

    Refused (:class:`ReceiptError`): this installation is no head office, the device is not
    registered here, or nothing of it has been merged yet. ``keys.DeviceKeyError`` when this
    installation has no keys.
    """
    me = keys.self_device()
    if me is None or me.role != DeviceRole.HEADOFFICE:
        raise ReceiptError(
            _l("Only a head office writes receipts, after merging a laptop's files.")
        )
    device = db.session.execute(
        select(Device).where(Device.device_id == device_id)
    ).scalar_one_or_none()
    if device is None or device.is_self:
        raise ReceiptError(
            _l(
                "No device %(device)s is registered here. “fieldapp devices list” shows the "
                "devices and their ids.",
                device=device_id,
            )
        )
    received = device_history(device.device_id).received
    if not received:
        raise ReceiptError(
            _l(
                "Nothing from “%(name)s” has been merged here yet, so there is nothing to "
                "acknowledge.",
                name=device.name,
            )
        )
    manifests = sorted(
        set(
            db.session.execute(
                select(BundleImport.manifest_sha256).where(
                    BundleImport.device_id == device.device_id
                )
            ).scalars()
        )
    )
    payload = {
        "for_device": device.device_id,
        "exports": [[first, last] for first, last in received],
        "manifests": manifests,
        "written_at": records.utc_stamp(),
    }
    data = signed.signed_file(RECEIPT_FILE, payload, instance_path)
    with writing():
        audit.record_detail(
            "receipt.written",
            _actor_id(),
            f"device:{device.device_id}",
            {
                "device": device.device_id,
                "device_name": device.name,
                "exports": format_ranges(received),
                "via": _via(),
            },
        )
    return WrittenReceipt(device.device_id, device.name, received, data)


# ---- applying a receipt (the laptop) ----------------------------------------------------------


@dataclass
class AppliedReceipt:
    """What applying a receipt did."""

    headoffice_id: str
    headoffice_name: str
    written_at: str
    exports: list[Range]  # what head office says it merged
    acknowledged: list[Range]  # this laptop's exports it confirms (digest matched)
    already_applied: bool = False
    purgeable: int = 0  # submissions a purge would now remove
    purged: int | None = None  # removed by the automatic purge (PURGE_AFTER_DAYS), if it ran

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        data = asdict(self)
        data["exports"] = [list(r) for r in self.exports]
        data["acknowledged"] = [list(r) for r in self.acknowledged]
        return data


def _damaged() -> ReceiptRefused:
    return ReceiptRefused(RECEIPT_FILE.damaged, "damaged")


def _integer(value: Any) -> int:
    if type(value) is not int or not 1 <= value <= MAX_EXPORT_SEQ:
        raise _damaged()
    return value


def parse_ranges(value: Any) -> list[Range]:
    """Export numbers as ranges ``[[first, last], ...]``: in order, not overlapping."""
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise _damaged()
    ranges: list[Range] = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise _damaged()
        first, last = _integer(item[0]), _integer(item[1])
        if first > last or (ranges and first <= ranges[-1][1]):
            raise _damaged()
        ranges.append((first, last))
    return ranges


def _manifests(value: Any) -> set[str]:
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise _damaged()
    if not all(isinstance(item, str) and _DIGEST.match(item) for item in value):
        raise _damaged()
    if len(set(value)) != len(value):
        raise _damaged()
    return set(value)


def covers(ranges: Sequence[Range], number: int) -> bool:
    """True when ``number`` lies in one of the ordered, disjoint ``ranges``."""
    index = bisect_right([first for first, _last in ranges], number) - 1
    return index >= 0 and number <= ranges[index][1]


def _confirmed(claimed: Sequence[Range], manifests: set[str]) -> list[Range]:
    """This laptop's export numbers that the receipt names with this laptop's own digest."""
    rows = db.session.execute(select(ExportManifest.export_seq, ExportManifest.manifest_sha256))
    return runs(seq for seq, digest in rows if digest in manifests and covers(claimed, seq))


def apply_receipt(data: bytes) -> AppliedReceipt:
    """Check a receipt and keep it; applying the same receipt again changes nothing.

    Refused (:class:`ReceiptRefused`, kept in the activity log, nothing else written): a file
    that is damaged or no receipt, signed by an installation that is not a head office
    registered here, altered after signing, or written for another device.
    """
    try:
        document, signer = signed.read_signed_file(RECEIPT_FILE, data)
        me = keys.self_device()
        if signer.role != DeviceRole.HEADOFFICE or signer.is_self:
            raise ReceiptRefused(UNKNOWN_HEADOFFICE, "not_headoffice")
        if me is None or document["for_device"] != me.device_id:
            raise ReceiptRefused(
                _l(
                    "This receipt is for another device (%(device)s), not for this laptop; "
                    "nothing was changed.",
                    device=str(document["for_device"]),
                ),
                "other_device",
            )
        claimed = parse_ranges(document["exports"])
        manifests = _manifests(document["manifests"])
        written_at = document["written_at"]
        if not isinstance(written_at, str) or len(written_at) > 40:
            raise _damaged()
    except ReceiptRefused as exc:
        _log_refusal(exc, data)
        raise
    return _store(document, signer, claimed, manifests)


def _store(
    document: Mapping[str, Any], signer: Device, claimed: list[Range], manifests: set[str]
) -> AppliedReceipt:
    digest = hashlib.sha256(canonical_json(dict(document))).hexdigest()
    with writing() as session:
        acknowledged = _confirmed(claimed, manifests)
        result = AppliedReceipt(
            signer.device_id,
            signer.name,
            str(document["written_at"]),
            claimed,
            acknowledged,
        )
        known = session.execute(select(Receipt.id).where(Receipt.digest == digest)).first()
        if known is not None:
            result.already_applied = True
        else:
            session.add(
                Receipt(
                    digest=digest,
                    headoffice_device_id=signer.device_id,
                    written_at=str(document["written_at"]),
                    exports=json.dumps(claimed),
                    acknowledged=json.dumps(acknowledged),
                )
            )
            audit.record_detail(
                "receipt.applied",
                _actor_id(),
                f"device:{signer.device_id}",
                {
                    "device": signer.device_id,
                    "device_name": signer.name,
                    "exports": format_ranges(claimed),
                    "acknowledged": format_ranges(acknowledged),
                    "via": _via(),
                },
            )
            session.flush()
        result.purgeable = purgeable_count()
    return result


def _log_refusal(error: ReceiptRefused, data: bytes) -> None:
    """Keep a refused receipt in the activity log (in a transaction of its own)."""
    with writing():
        audit.record_detail(
            "receipt.refused",
            _actor_id(),
            "receipt",
            {"reason": error.reason, "bytes": len(data), "via": _via()},
        )


# ---- what is acknowledged ----------------------------------------------------------------------


def acknowledged_through(applied_before: Any = None) -> int:
    """The highest export number of this laptop that an applied receipt confirmed (0: none).

    With ``applied_before`` (a datetime) only receipts applied before then count.
    """
    query = select(Receipt.acknowledged)
    if applied_before is not None:
        query = query.where(Receipt.applied_at < applied_before)
    highest = 0
    for text in db.session.execute(query).scalars():
        for _first, last in json.loads(text):
            highest = max(highest, int(last))
    return highest


def acknowledged_ranges() -> list[Range]:
    """Every export number of this laptop confirmed by an applied receipt."""
    numbers: set[int] = set()
    for text in db.session.execute(select(Receipt.acknowledged)).scalars():
        for first, last in json.loads(text):
            numbers.update(range(int(first), int(last) + 1))
    return runs(numbers)


def purgeable_count(applied_before: Any = None) -> int:
    """How many submissions held here head office has acknowledged (a purge would remove)."""
    through = acknowledged_through(applied_before)
    if not through:
        return 0
    return int(
        db.session.execute(
            select(func.count())
            .select_from(ExportedSubmission)
            .where(ExportedSubmission.export_seq <= through)
        ).scalar_one()
    )


def applied_receipts(limit: int = 20) -> list[tuple[Receipt, str]]:
    """The newest receipts applied here, each with its head office's name."""
    names = dict(db.session.execute(select(Device.device_id, Device.name)).all())
    rows = db.session.execute(
        select(Receipt).order_by(Receipt.applied_at.desc(), Receipt.id.desc()).limit(limit)
    ).scalars()
    return [(row, names.get(row.headoffice_device_id, row.headoffice_device_id)) for row in rows]


def stored_ranges(text: str) -> list[Range]:
    """Ranges kept as JSON in a :class:`Receipt` column."""
    return [(int(first), int(last)) for first, last in json.loads(text)]


def _via() -> str:
    from flask import has_request_context

    return "web" if has_request_context() else "command line"


def _actor_id() -> int | None:
    actor = records.current_actor()
    return actor.user_id if actor else None
