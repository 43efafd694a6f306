"""Revoking a device at head office: its later exports are refused, earlier ones still merge.

A lost or seized laptop keeps its signing key, so whoever holds it could sign new exports.
The coordinator revokes the device *after* an export number N: the exports numbered up to N
were made while the laptop was in its facilitator's hands (and may still be on a stick on its
way), so they still merge; every export numbered above N is refused with a message saying the
device was revoked, when, and up to which number files are accepted. N is confirmed by the
coordinator, who is shown the highest number merged so far. A revocation can be tightened
(a lower N) but never loosened: a key once distrusted stays distrusted.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ...database import writing
from ...extensions import db
from ...models import BundleImport, Device, DeviceRole
from ...models.types import utcnow
from .. import activity
from ..errors import FieldappError
from . import keys
from .bundle import MAX_EXPORT_SEQ

# Shorter prefixes of a device id are too easy to mistype into another device's.
MIN_PREFIX = 4


class RevocationRefused(FieldappError):
    """A revocation that was not made; ``message`` says why."""


@dataclass(frozen=True)
class Revocation:
    """A device revoked here: exports numbered up to ``after_seq`` still merge."""

    device_id: str
    name: str
    after_seq: int
    last_merged: int | None


def find_device(reference: str) -> Device:
    """The registered device whose id is ``reference`` or starts with it (at least 4
    characters, and only one device may match)."""
    wanted = reference.strip().lower()
    if len(wanted) < MIN_PREFIX:
        raise RevocationRefused(
            _l(
                "Give the device id, or at least its first %(min)s characters, as "
                "“fieldapp devices list” prints it.",
                min=MIN_PREFIX,
            )
        )
    found = [
        device
        for device in db.session.execute(select(Device).order_by(Device.device_id)).scalars()
        if device.device_id.startswith(wanted)
    ]
    if not found:
        raise RevocationRefused(
            _l(
                "No device registered here has the id %(id)s. “fieldapp devices list” shows them.",
                id=reference,
            )
        )
    if len(found) > 1:
        raise RevocationRefused(
            _l("Several devices have ids starting with %(id)s: give more of the id.", id=reference)
        )
    if found[0].is_self:
        raise RevocationRefused(_l("This is this installation itself; it cannot revoke itself."))
    return found[0]


def last_merged(device_id: str) -> int | None:
    """The highest export number of ``device_id`` merged here, or None."""
    return db.session.execute(
        select(func.max(BundleImport.export_seq)).where(BundleImport.device_id == device_id)
    ).scalar()


def _at_headoffice() -> None:
    device = keys.self_device()
    if device is None or device.role != DeviceRole.HEADOFFICE:
        raise RevocationRefused(
            _l(
                "Devices are revoked at head office, which merges their files. A laptop stops "
                "using a head-office key only when it is set up again."
            )
        )


def revoke(reference: str, after_seq: int) -> Revocation:
    """Revoke a device: its exports numbered above ``after_seq`` are refused from now on.

    Revoking again may lower the number (refuse more), never raise it.
    """
    if not 0 <= after_seq <= MAX_EXPORT_SEQ:
        raise RevocationRefused(
            _l("The export number must be between 0 and %(max)s.", max=MAX_EXPORT_SEQ)
        )
    with writing():
        _at_headoffice()
        device = find_device(reference)
        if device.revoked and after_seq > (device.revoked_after_seq or 0):
            raise RevocationRefused(
                _l(
                    "“%(name)s” is already revoked after export %(seq)s. A revocation can only "
                    "refuse more exports, never accept more again.",
                    name=device.name,
                    seq=device.revoked_after_seq or 0,
                )
            )
        device.revoked = True
        device.revoked_after_seq = after_seq
        device.revoked_at = utcnow()
        activity.device_revoked(device, after_seq)
        return Revocation(device.device_id, device.name, after_seq, last_merged(device.device_id))
