"""Signed JSON files: a document signed by this installation's key, read where it is registered.

Question templates and the codebook travel this way (``services.workspace``,
``services.codebook``). A file is one pretty-printed JSON object with ``format``, ``version``,
``device_id`` (the installation that wrote it), the fields of its kind and ``signature``: the
Ed25519 signature of the canonical JSON of everything else, so the file can be read by people
and still be checked byte for byte. Each kind is a :class:`SignedFormat` naming its fields,
its size limit, its refusal messages and the error class its callers catch.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ...extensions import db
from ...models import Device
from ..errors import FieldappError
from . import keys, schema, strictjson
from .revisions import canonical_json

ENVELOPE = frozenset({"format", "version", "device_id"})


class FileRefused(FieldappError):
    """A signed file was refused; ``message`` says why, ``reason`` names why in the activity
    log's own words (damaged, unknown_installation, revoked_installation, altered, invalid).

    Each format raises a subclass that is also its area's error (``codebook.FileRefused`` is a
    ``CodebookError``), so callers keep catching the error they always caught.
    """

    def __init__(self, message: Any, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedFormat:
    """A kind of signed JSON file.

    ``fields`` are the fields it carries besides ``format``, ``version`` and ``device_id``;
    ``ids`` those of them that must be UUIDs (checked with the format, before the signature).
    The messages are what a refused file is told; ``revoked_installation`` defaults to
    ``unknown_installation``. ``refused`` is the class raised.
    """

    name: str
    version: int
    fields: frozenset[str]
    max_bytes: int
    damaged: Any
    unknown_installation: Any
    altered: Any
    revoked_installation: Any = None
    ids: frozenset[str] = frozenset()
    refused: type[FileRefused] = FileRefused


def signed_file(kind: SignedFormat, payload: Mapping[str, Any], instance_path: Path) -> bytes:
    """``payload`` (exactly the fields of ``kind``) as a file of ``kind``, signed here.

    Raises ``keys.DeviceKeyError`` when this installation has no keys, and ``ValueError`` (a
    bug in the caller, not a person's mistake) when ``payload`` has other fields.
    """
    if set(payload) != kind.fields:
        raise ValueError(f"a {kind.name} file carries {sorted(kind.fields)}, not {sorted(payload)}")
    device = keys.self_device()
    if device is None:
        raise keys.DeviceKeyError(
            _l("This installation has no keys yet. Run “fieldapp init --role ... --name ...”.")
        )
    document = {
        **payload,
        "format": kind.name,
        "version": kind.version,
        "device_id": device.device_id,
    }
    signature = keys.load_signing_key(instance_path).sign(canonical_json(document))
    document["signature"] = base64.b64encode(signature).decode("ascii")
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def read_signed_file(kind: SignedFormat, data: bytes) -> tuple[dict[str, Any], Device]:
    """The document in a file of ``kind`` (without its signature) and the installation that
    signed it.

    Refused (``kind.refused`` with the format's own messages): a file over the size limit,
    not strict JSON, of another format or version, with missing or extra fields or an id that
    is no UUID; one signed by an installation not registered here or revoked; one altered
    after signing. Nothing is written: the caller checks the contents, then stores them.
    """
    damaged = kind.refused(kind.damaged, "damaged")
    if len(data) > kind.max_bytes:
        raise damaged
    try:
        document = strictjson.loads(data)
        if not isinstance(document, dict) or document.get("format") != kind.name:
            raise ValueError("format")
        signature = base64.b64decode(str(document.pop("signature")), validate=True)
        if document.get("version") != kind.version or set(document) != kind.fields | ENVELOPE:
            raise ValueError("fields")
        for name in sorted({"device_id", *kind.ids}):
            schema.uuid_text(document[name], name)
    except (KeyError, ValueError, TypeError):
        raise damaged from None
    device = db.session.execute(
        select(Device).where(Device.device_id == document["device_id"])
    ).scalar_one_or_none()
    if device is None:
        raise kind.refused(kind.unknown_installation, "unknown_installation")
    if device.revoked:
        raise kind.refused(
            kind.revoked_installation or kind.unknown_installation, "revoked_installation"
        )
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(device.signing_public_key)).verify(
            signature, canonical_json(document)
        )
    except (InvalidSignature, ValueError):
        raise kind.refused(kind.altered, "altered") from None
    return document, device
