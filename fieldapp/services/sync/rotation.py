"""A field laptop changes its own signing key; head office follows without a visit.

``fieldapp keys rotate`` makes a new Ed25519 key K2 and a *rotation statement*, "device X
signs its exports from number N on with K2", signed by the key it replaces (K1). The laptop
keeps every statement it made and puts them all in the manifest of each later export
(format version 2, see bundle.py). Head office, meeting a file signed by a key it does not
know, walks the statements from the key it has registered for that device: each step must be
signed by the key before it, so K1 -> K2 -> K3 is followed even if head office only knew K1.
It then records the new key in the same transaction as the merge.

Each key is valid for a range of export numbers: K1 for the numbers before N, K2 from N on.
A copy of K1 that someone kept can therefore sign nothing numbered N or later, and a file
numbered below N must be signed by K1.

The old secret key is replaced, not kept: it has no use once the statement is signed (the
statement travels in every later export until head office has it), and a laptop that is
searched or seized should hold as few keys as possible. The new key is written beside the old
one first, the database then records the change, and only then does the new file replace the
old one; :func:`signing_key` finishes a rotation that a power cut interrupted in between.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ...database import writing
from ...extensions import db
from ...models import BundleExport, BundleImport, Device, DeviceKey, DeviceRole
from ...models.types import utcnow
from .. import activity
from ..records import utc_stamp
from . import keys
from .bundle import MAX_EXPORT_SEQ, MAX_ROTATIONS, ROTATION_FORMAT, BundleRefused
from .revisions import canonical_json

NEXT_KEY_FILE = keys.SIGNING_KEY_FILE + ".next"
# Signed bytes start with this, so a rotation signature can never pass for another document's.
DOMAIN = b"fieldapp-key-rotation\n"


@dataclass(frozen=True)
class RotationResult:
    """What ``fieldapp keys rotate`` did."""

    device_id: str
    old_key: str
    new_key: str
    from_seq: int


def _public_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _signed_bytes(statement: dict[str, Any]) -> bytes:
    return DOMAIN + canonical_json(statement)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX only)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def signing_key(instance_path: Path) -> Ed25519PrivateKey:
    """This installation's signing key, the one its device record names.

    A rotation interrupted after the database recorded the new key but before the new key
    file replaced the old one is finished here. A key file that matches neither is refused:
    exports signed with it would be refused at head office anyway.
    """
    device = keys.self_device()
    key = keys.load_signing_key(instance_path)
    folder = keys.key_dir(instance_path)
    pending = folder / NEXT_KEY_FILE
    if device is None or _public_text(key) == device.signing_public_key:
        # A next key left by a rotation that never committed is not removed here: a rotation
        # may be committing right now. The next rotation overwrites it; it signed nothing.
        return key
    try:
        candidate = serialization.load_pem_private_key(pending.read_bytes(), password=None)
    except (OSError, ValueError):
        candidate = None
    if (
        isinstance(candidate, Ed25519PrivateKey)
        and _public_text(candidate) == device.signing_public_key
    ):
        os.replace(pending, folder / keys.SIGNING_KEY_FILE)
        _fsync_dir(folder)
        return candidate
    raise keys.DeviceKeyError(
        _l(
            "The signing key file of this installation is not the key its records name. "
            "Restore the keys folder from the backup made with this database."
        )
    )


def rotate(instance_path: Path) -> RotationResult:
    """Give this laptop a new signing key and a statement, signed by the old one, saying so.

    Refused at head office: its key signs codebooks and receipts that every laptop checks
    against the key it was set up with, so a new head-office key is handed out in person.
    """
    with writing():
        device = keys.self_device()
        if device is None:
            raise keys.DeviceKeyError(
                _l("This installation has no keys yet. Run “fieldapp init --role ... --name ...”.")
            )
        if device.role != DeviceRole.FIELD:
            raise keys.DeviceKeyError(
                _l(
                    "Only a field laptop rotates its key this way. A head office's key signs "
                    "the codebooks and receipts every laptop checks: give laptops a new "
                    "head-office key in person instead."
                )
            )
        old = signing_key(instance_path)
        made = db.session.execute(
            select(func.count())
            .select_from(DeviceKey)
            .where(DeviceKey.device_id == device.device_id)
        ).scalar_one()
        if made >= MAX_ROTATIONS:
            raise keys.DeviceKeyError(
                _l(
                    "This laptop has changed its key %(max)s times, the most it can. "
                    "Set up a new installation instead.",
                    max=MAX_ROTATIONS,
                )
            )
        last = db.session.execute(select(func.max(BundleExport.export_seq))).scalar()
        from_seq = min((last or 0) + 1, MAX_EXPORT_SEQ)
        new = Ed25519PrivateKey.generate()
        new_key = _public_text(new)
        statement: dict[str, Any] = {
            "format": ROTATION_FORMAT,
            "version": 1,
            "device_id": device.device_id,
            "old_key": device.signing_public_key,
            "new_key": new_key,
            "from_seq": from_seq,
            "created_at": utc_stamp(),
        }
        signed = {
            "statement": statement,
            "signature": base64.b64encode(old.sign(_signed_bytes(statement))).decode("ascii"),
        }
        result = RotationResult(device.device_id, device.signing_public_key, new_key, from_seq)
        folder = keys.key_dir(instance_path)
        keys.write_private(
            folder / NEXT_KEY_FILE,
            new.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        db.session.add(
            DeviceKey(
                device_id=device.device_id,
                public_key=device.signing_public_key,
                first_seq=device.key_from_seq,
                until_seq=from_seq,
                statement=canonical_json(signed).decode("ascii"),
            )
        )
        device.signing_public_key = result.new_key
        device.key_from_seq = from_seq
        activity.key_rotated(result.old_key, result.new_key, from_seq)
    # Recorded: now the new key replaces the old one (signing_key() does it after a power cut).
    signing_key(instance_path)
    return result


def statements() -> list[dict[str, Any]]:
    """Every rotation statement this installation made, oldest first, for its exports."""
    device = keys.self_device()
    if device is None:
        return []
    rows = db.session.execute(
        select(DeviceKey.statement)
        .where(DeviceKey.device_id == device.device_id)
        .order_by(DeviceKey.first_seq, DeviceKey.until_seq, DeviceKey.id)
    ).scalars()
    return [json.loads(row) for row in rows]


# ---- head office: following a device's key -------------------------------------------------


def _not_signed(name: str) -> BundleRefused:
    return BundleRefused(
        _l(
            "This file says that the device “%(name)s” now signs with a new key, but that change "
            "is not signed by the key registered here for it. It may be forged: nothing from "
            "this file was merged. Check the laptop. If it needs a new key, revoke the device "
            "here, set the laptop up as a new installation and register its new public key file.",
            name=name,
        )
    )


def _conflicting(name: str) -> BundleRefused:
    return BundleRefused(
        _l(
            "This file says that the device “%(name)s” changed its key differently from what "
            "head office recorded before. Its old key may be in other hands: nothing from this "
            "file was merged. Check the laptop and consider revoking it.",
            name=name,
        )
    )


class RotationConflict(BundleRefused):
    """A signed statement retiring a key differently from one recorded here.

    Both statements are signed by the same old key, so two copies of that key exist (two
    copies of one laptop, or a thief's). Which statement came first depends on the order in
    which files arrived, so neither wins: the merge refuses the file and revokes the device
    from ``after_seq`` on (:func:`revoke_for_conflict`), the same at every head office.
    """

    def __init__(self, device: Device, recorded: dict[str, Any], offered: dict[str, Any]) -> None:
        super().__init__(_conflicting(device.name).message)
        self.device_id = device.device_id
        self.old_key = str(offered["old_key"])
        self.new_keys = sorted({str(recorded["new_key"]), str(offered["new_key"])})
        self.from_seqs = sorted({int(recorded["from_seq"]), int(offered["from_seq"])})
        # Exports the old key signed before either rotation were made before the copies
        # parted; from the earlier rotation on, no one can tell which copy made them.
        self.after_seq = max(0, self.from_seqs[0] - 1)


def _differs(recorded: dict[str, Any], offered: dict[str, Any]) -> bool:
    """Whether two statements retiring one key disagree on the new key or its first export."""
    return (recorded["new_key"], recorded["from_seq"]) != (offered["new_key"], offered["from_seq"])


def revoke_for_conflict(conflict: RotationConflict, file_name: str) -> Any:
    """Revoke the device of ``conflict`` (in its own unit of work, after the merge's rollback)
    and return the refusal message of the file.

    The revocation only tightens: a device already revoked at a lower number keeps it. The
    Activity page records it with the keys and numbers of both statements.
    """
    with writing():
        device = db.session.execute(
            select(Device).where(Device.device_id == conflict.device_id)
        ).scalar_one()
        after = conflict.after_seq
        if device.revoked:
            after = min(after, device.revoked_after_seq or 0)
        if not device.revoked or after != (device.revoked_after_seq or 0):
            device.revoked = True
            device.revoked_after_seq = after
            device.revoked_at = utcnow()
        activity.device_revoked(
            device,
            after,
            reason="conflicting_rotations",
            old_key=conflict.old_key,
            new_keys=conflict.new_keys,
            from_seqs=conflict.from_seqs,
            file=file_name,
        )
        name = device.name
    return _l(
        "This file says that the device “%(name)s” changed its key differently from a change "
        "head office recorded before, both signed by its old key: a copy of the laptop's key "
        "exists. Head office has revoked the device, so only its exports up to number "
        "%(after)s are accepted, and nothing from this file was merged. Find out who holds the "
        "copy; to use the laptop again, set it up as a new installation and register its new "
        "public key file.",
        name=name,
        after=after,
    )


def _reused_after_revocation(device: Device, export_seq: int) -> BundleRefused:
    return BundleRefused(
        _l(
            "This file is export %(seq)s of “%(name)s”, a device revoked here, and export "
            "%(seq)s of that device was already merged here with other content. A revoked "
            "device cannot add to an export number it already used: nothing from this file "
            "was merged. Someone may hold a copy of the laptop's key.",
            seq=export_seq,
            name=device.name,
        )
    )


def revoked(device: Device, export_seq: int) -> BundleRefused:
    """The refusal of export ``export_seq`` of a revoked device, saying when and up to what."""
    if device.revoked_at is None:  # revoked before the date and number were recorded
        return BundleRefused(
            _l("This file comes from a device whose key was revoked (%(name)s).", name=device.name)
        )
    return BundleRefused(
        _l(
            "This file is export %(seq)s of “%(name)s”, whose key was revoked here on %(date)s. "
            "Only its exports up to number %(after)s are still accepted: nothing from this file "
            "was merged.",
            seq=export_seq,
            name=device.name,
            date=device.revoked_at.strftime("%Y-%m-%d %H:%M UTC"),
            after=device.revoked_after_seq or 0,
        )
    )


@dataclass(frozen=True)
class _Step:
    """One accepted rotation: ``old`` (valid from ``first_seq``) retired at ``from_seq``."""

    old: str
    new: str
    first_seq: int
    from_seq: int
    signed: dict[str, Any]


def _verify(key: str, signed: dict[str, Any]) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key)).verify(
            base64.b64decode(signed["signature"]), _signed_bytes(signed["statement"])
        )
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class KeyCheck:
    """The ``signing_key_of`` of :func:`bundle.open_bundle` at head office.

    Called with a bundle's manifest, it returns the key that must have signed it: the key
    registered for the device and export number, or the end of a chain of rotation statements
    that starts there. The rotations it followed are kept in ``accepted`` for :meth:`record`,
    which the merge calls inside its transaction; nothing is written before.
    """

    unknown: Callable[[str], BundleRefused]
    accepted: list[_Step] = field(default_factory=list)
    device_id: str = ""
    export_seq: int = 0

    def __call__(self, manifest: dict[str, Any]) -> bytes:
        """The public key (raw bytes) that must verify this manifest's signature."""
        self.accepted = []
        self.device_id = device_id = str(manifest["device"]["id"])
        self.export_seq = seq = int(manifest["export_seq"])
        device = db.session.execute(
            select(Device).where(Device.device_id == device_id)
        ).scalar_one_or_none()
        if device is None:
            raise self.unknown(device_id)
        if device.refuses(seq):
            raise revoked(device, seq)
        past = {
            row.public_key: row
            for row in db.session.execute(
                select(DeviceKey).where(DeviceKey.device_id == device_id)
            ).scalars()
        }
        key, start = device.signing_public_key, device.key_from_seq
        if seq < start:  # made before the newest rotation head office knows
            for row in past.values():
                if row.first_seq <= seq < row.until_seq:
                    key, start = row.public_key, row.first_seq
        self.accepted = self._walk(device, past, key, start, seq, manifest.get("key_rotations"))
        if self.accepted:
            key = self.accepted[-1].new
        return base64.b64decode(key)

    def _walk(
        self,
        device: Device,
        past: dict[str, DeviceKey],
        key: str,
        start: int,
        seq: int,
        rotations: list[dict[str, Any]] | None,
    ) -> list[_Step]:
        """Follow the statements from ``key``; refuse any that head office cannot trust."""
        by_old: dict[str, dict[str, Any]] = {}
        for signed in rotations or []:
            statement = signed["statement"]
            if statement["device_id"] != device.device_id or statement["from_seq"] > seq:
                raise _not_signed(device.name)  # about another device, or a later export
            if by_old.setdefault(statement["old_key"], signed) != signed:
                raise _conflicting(device.name)  # one key retired twice, differently
        known = {device.signing_public_key, *past}
        steps: list[_Step] = []
        used: set[str] = set()
        while key in by_old and key not in used:
            used.add(key)
            signed = by_old[key]
            statement = signed["statement"]
            if not _verify(key, signed):
                raise _not_signed(device.name)
            recorded = past.get(key)
            if recorded is not None:
                self._same_as_recorded(device, recorded, statement)
            elif statement["from_seq"] < start:
                raise _not_signed(device.name)  # a key cannot be retired before it began
            else:
                # A revoked device's rotation is accepted too: the file is numbered up to the
                # revocation's number (checked above) and the statement no later than the
                # file, so the laptop made it before it was lost, like the file itself.
                steps.append(_Step(key, statement["new_key"], start, statement["from_seq"], signed))
            key, start = statement["new_key"], statement["from_seq"]
        for old, signed in by_old.items():
            if old in used:
                continue
            # A statement off the path is about keys older than head office's knowledge (the
            # laptop rotated before it was registered here): harmless if it ends at a key
            # known here, checked if its signer is known, refused if it connects to nothing.
            if old in known:
                if not _verify(old, signed):
                    raise _not_signed(device.name)
                if old in past:  # head office has a statement retiring this key: the same?
                    self._same_as_recorded(device, past[old], signed["statement"])
            elif signed["statement"]["new_key"] not in known | used:
                raise _not_signed(device.name)
        return steps

    @staticmethod
    def _same_as_recorded(device: Device, recorded: DeviceKey, offered: dict[str, Any]) -> None:
        """Raise :class:`RotationConflict` if a verified ``offered`` statement retires the key
        of ``recorded`` differently."""
        before = json.loads(recorded.statement)["statement"]
        if _differs(before, offered):
            raise RotationConflict(device, before, offered)

    def record(self, file_name: str, manifest_sha256: str) -> None:
        """Record the rotations this check accepted (inside the merge's unit of work).

        The revocation is checked again here, under the write lock: a device revoked while
        its file was being decrypted and checked is refused all the same. A revoked device's
        file numbered up to the revocation's number is refused too if that number was already
        merged with another manifest: whoever holds a copy of the key could otherwise add new
        records under an old number.
        """
        device = db.session.execute(
            select(Device).where(Device.device_id == self.device_id)
        ).scalar_one()
        if device.refuses(self.export_seq):
            raise revoked(device, self.export_seq)
        if device.revoked and (
            db.session.execute(
                select(BundleImport.id).where(
                    BundleImport.device_id == self.device_id,
                    BundleImport.export_seq == self.export_seq,
                    BundleImport.manifest_sha256 != manifest_sha256,
                )
            ).first()
            is not None
        ):
            raise _reused_after_revocation(device, self.export_seq)
        for step in self.accepted:
            if device.signing_public_key != step.old:  # another merge recorded it meanwhile
                row = db.session.execute(
                    select(DeviceKey).where(
                        DeviceKey.device_id == device.device_id, DeviceKey.public_key == step.old
                    )
                ).scalar_one_or_none()
                if row is None:
                    raise _conflicting(device.name)
                self._same_as_recorded(device, row, step.signed["statement"])
                continue
            db.session.add(
                DeviceKey(
                    device_id=device.device_id,
                    public_key=step.old,
                    first_seq=step.first_seq,
                    until_seq=step.from_seq,
                    statement=canonical_json(step.signed).decode("ascii"),
                )
            )
            device.signing_public_key = step.new
            device.key_from_seq = step.from_seq
            activity.rotated_key_accepted(device, step.old, step.new, step.from_seq, file_name)
