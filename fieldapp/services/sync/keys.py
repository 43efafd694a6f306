"""Keys of an installation, and the public key files that devices exchange.

A field laptop has an Ed25519 signing key only: it signs its exports and encrypts them to the
head office's age recipients, so it can never read its own exports. A head office has a signing
key and an age identity. Secret keys are files under ``instance/keys/`` readable only by their
owner; they never leave the machine and never enter the database.

A public key file is small JSON: format and version, device id, name, role, the Ed25519 public
key (base64) and, for a head office, its age recipient.
"""

from __future__ import annotations

import base64
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ...database import writing
from ...extensions import db
from ...models import Device, DeviceRole
from ..errors import FieldappError
from . import strictjson

KEY_DIR = "keys"
SIGNING_KEY_FILE = "device-ed25519.pem"
AGE_IDENTITY_FILE = "headoffice-age-identity.txt"
PUBLIC_KEY_FORMAT = "fieldapp-public-key"
PUBLIC_KEY_VERSION = 1
MAX_PUBLIC_KEY_BYTES = 16 * 1024
NAME_MAX = 80


class DeviceKeyError(FieldappError):
    """A key file or device registration was refused; ``message`` says why."""


@dataclass(frozen=True)
class PublicKeyInfo:
    """What a public key file says about a device."""

    device_id: str
    name: str
    role: DeviceRole
    signing_public_key: str
    age_recipient: str | None

    def document(self) -> dict[str, Any]:
        """The JSON object written to a public key file."""
        data: dict[str, Any] = {
            "format": PUBLIC_KEY_FORMAT,
            "version": PUBLIC_KEY_VERSION,
            "device_id": self.device_id,
            "name": self.name,
            "role": self.role.value,
            "ed25519_public_key": self.signing_public_key,
        }
        if self.age_recipient:
            data["age_recipient"] = self.age_recipient
        return data


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable only by its owner, durably.

    Only called by :func:`initialise` while this installation has no identity yet, inside the
    unit of work that records it: a key file already there is then a leftover of an attempt
    that never committed (nothing was ever signed with it) and is replaced whole, never
    written into.
    """
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)
    if hasattr(os, "O_DIRECTORY"):  # make the new name durable too (POSIX only)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret key file that nothing has used yet (0600, temp+fsync+rename).

    A key rotation writes the next key beside the current one with it
    (services/sync/rotation.py), under the rotation's unit of work.
    """
    _write_private(path, data)


def key_dir(instance_path: Path) -> Path:
    """The private folder of this installation's secret keys."""
    folder = instance_path / KEY_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def self_device() -> Device | None:
    """This installation's own device record, once ``init --role`` has run."""
    return db.session.execute(select(Device).where(Device.is_self.is_(True))).scalar_one_or_none()


def load_signing_key(instance_path: Path) -> Ed25519PrivateKey:
    """This installation's Ed25519 signing key."""
    path = instance_path / KEY_DIR / SIGNING_KEY_FILE
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError):
        raise DeviceKeyError(
            _l("The signing key of this installation is missing or damaged.")
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DeviceKeyError(_l("The signing key of this installation is missing or damaged."))
    return key


def load_age_identity(instance_path: Path) -> pyrage.x25519.Identity:
    """The head office's age identity (only a head office has one)."""
    path = instance_path / KEY_DIR / AGE_IDENTITY_FILE
    try:
        return pyrage.x25519.Identity.from_str(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, pyrage.IdentityError):
        raise DeviceKeyError(_l("This installation has no head-office decryption key.")) from None


def _public_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def clean_name(name: str) -> str:
    """An installation name: NFC, single spaces, 1 to 80 characters."""
    cleaned = " ".join(unicodedata.normalize("NFC", name).split())
    if not 1 <= len(cleaned) <= NAME_MAX:
        raise DeviceKeyError(_l("A name has 1 to %(max)s characters.", max=NAME_MAX))
    return cleaned


def check_headoffice_keys(headoffice_keys: list[PublicKeyInfo]) -> None:
    """Refuse a key file that is not a head office's: exports cannot be encrypted to it."""
    for info in headoffice_keys:
        if info.role != DeviceRole.HEADOFFICE:
            raise DeviceKeyError(
                _l(
                    "“%(name)s” is the public key file of a field laptop, not of a head office. "
                    "Ask head office for its public key file.",
                    name=info.name,
                )
            )


def initialise(
    instance_path: Path, role: DeviceRole, name: str, headoffice_keys: list[PublicKeyInfo]
) -> Device:
    """Give this installation its identity and keys, or return the identity it has.

    A field installation must be given at least one head-office public key: it encrypts every
    export to those. Running it again with the same role changes nothing (more head-office
    keys are registered); a different role is refused. Everything is checked before anything
    is kept: a refused key file leaves no identity, no key file and no registration behind.
    """
    cleaned = clean_name(name)
    check_headoffice_keys(headoffice_keys)
    with writing() as session:
        existing = self_device()
        if existing is not None:
            if existing.role != role:
                raise DeviceKeyError(
                    _l(
                        "This installation already has keys for another role; "
                        "it cannot change role."
                    )
                )
            for info in headoffice_keys:
                register(info)
            return existing
        if role == DeviceRole.FIELD and not headoffice_keys:
            raise DeviceKeyError(
                _l(
                    "A field installation needs the head office's public key file "
                    "(--headoffice-key)."
                )
            )
        signing_key = Ed25519PrivateKey.generate()
        identity = pyrage.x25519.Identity.generate() if role == DeviceRole.HEADOFFICE else None
        device = Device(
            device_id=str(uuid.uuid4()),
            name=cleaned,
            role=role,
            signing_public_key=_public_text(signing_key.public_key()),
            age_recipient=str(identity.to_public()) if identity else None,
            is_self=True,
        )
        session.add(device)
        for info in headoffice_keys:
            register(info)
        session.flush()
        # The secret keys are written last, when nothing is left to refuse; the unit of work
        # holds the write lock, so two first starts at once cannot both make an identity.
        folder = key_dir(instance_path)
        if identity is not None:
            _write_private(folder / AGE_IDENTITY_FILE, (str(identity) + "\n").encode("ascii"))
        _write_private(
            folder / SIGNING_KEY_FILE,
            signing_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    return device


def public_key_info(device: Device) -> PublicKeyInfo:
    """The public facts of a device."""
    return PublicKeyInfo(
        device.device_id, device.name, device.role, device.signing_public_key, device.age_recipient
    )


def write_public_key(path: Path) -> PublicKeyInfo:
    """Write this installation's public key file to ``path``."""
    device = self_device()
    if device is None:
        raise DeviceKeyError(
            _l("This installation has no keys yet. Run “fieldapp init --role ... --name ...”.")
        )
    info = public_key_info(device)
    path.write_bytes(public_key_bytes(info))
    return info


def public_key_bytes(info: PublicKeyInfo) -> bytes:
    """The content of a public key file, as ``fieldapp keys public`` writes it."""
    return (json.dumps(info.document(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def public_key_file_name(name: str) -> str:
    """A file name for an installation's public key file: its name, safe on any system."""
    stem = "".join(ch if ch.isalnum() else "-" for ch in unicodedata.normalize("NFC", name))
    stem = "-".join(part for part in stem.split("-") if part)[:60]
    return f"{stem or 'fieldapp'}.pub"


def parse_public_key(data: bytes) -> PublicKeyInfo:
    """Validate a public key file strictly and return what it says."""
    invalid = DeviceKeyError(_l("This is not a fieldapp public key file, or it is damaged."))
    if len(data) > MAX_PUBLIC_KEY_BYTES:
        raise invalid
    try:
        doc = strictjson.loads(data)
    except ValueError:
        raise invalid from None
    if not isinstance(doc, dict) or doc.get("format") != PUBLIC_KEY_FORMAT:
        raise invalid
    if doc.get("version") != PUBLIC_KEY_VERSION:
        raise DeviceKeyError(
            _l("This public key file was made by another version of fieldapp; update both.")
        )
    allowed = {"format", "version", "device_id", "name", "role", "ed25519_public_key"}
    allowed |= {"age_recipient"}
    if set(doc) - allowed:
        raise invalid
    try:
        device_id = str(uuid.UUID(str(doc["device_id"])))
        role = DeviceRole(doc["role"])
        name = clean_name(str(doc["name"]))
        raw = base64.b64decode(str(doc["ed25519_public_key"]), validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
        recipient = doc.get("age_recipient")
        if role == DeviceRole.HEADOFFICE:
            recipient = str(pyrage.x25519.Recipient.from_str(str(recipient)))
        elif recipient is not None:
            raise ValueError("a field device has no age recipient")
    except (KeyError, ValueError, TypeError, pyrage.RecipientError):
        raise invalid from None
    return PublicKeyInfo(device_id, name, role, base64.b64encode(raw).decode("ascii"), recipient)


def read_public_key(path: Path) -> PublicKeyInfo:
    """Read and validate a public key file."""
    try:
        with path.open("rb") as fh:
            return read_public_key_stream(fh)
    except OSError:
        raise DeviceKeyError(_l("The file %(path)s cannot be read.", path=str(path))) from None


def read_public_key_stream(stream: IO[bytes]) -> PublicKeyInfo:
    """Read and validate a public key file from an open file or an upload.

    The web's uploads and the command line's files are checked by this same function, so a
    file one refuses the other refuses too. At most one byte more than the limit is read.
    """
    return parse_public_key(stream.read(MAX_PUBLIC_KEY_BYTES + 1))


def register(info: PublicKeyInfo) -> tuple[Device, bool]:
    """Register another installation; return it and whether it is new.

    Registering the same key again changes nothing. A known device id with a different key is
    refused: a device's key is never silently replaced.
    """
    with writing() as session:
        device = session.execute(
            select(Device).where(Device.device_id == info.device_id)
        ).scalar_one_or_none()
        if device is not None:
            if device.is_self:
                raise DeviceKeyError(_l("This is the public key of this installation itself."))
            if device.signing_public_key != info.signing_public_key or device.role != info.role:
                raise DeviceKeyError(
                    _l(
                        "A device with this id is registered with a different key. "
                        "Check where the file came from."
                    )
                )
            return device, False
        device = Device(
            device_id=info.device_id,
            name=info.name,
            role=info.role,
            signing_public_key=info.signing_public_key,
            age_recipient=info.age_recipient,
        )
        session.add(device)
    return device, True


def headoffice_recipients() -> list[str]:
    """The age recipients every export of this installation is encrypted to."""
    rows = db.session.execute(
        select(Device.age_recipient).where(
            Device.role == DeviceRole.HEADOFFICE, Device.revoked.is_(False)
        )
    ).scalars()
    return [recipient for recipient in rows if recipient]


def list_devices() -> list[Device]:
    """This installation first, then registered devices by name."""
    return list(
        db.session.execute(select(Device).order_by(Device.is_self.desc(), Device.name)).scalars()
    )
