"""The shared codebook: themes and their sub-themes, and the signed file that carries them.

Codes are versioned ``code`` records like every other, so they sync upward and conflict and
resolve by the same rules. Nothing is ever thrown away: a code is *retired* (kept for history,
no longer offered) or *merged* into another (retired, with ``merged_into`` naming the code that
survives). Codings keep naming the code they were made with; the read model counts them for
the surviving code (``contributions._code_map`` follows ``merged_into``), so a laptop that
codes with an old id after the merge still counts where head office expects.

The codebook travels as a signed file, as question templates do: head office writes it with
:func:`codebook_file`, a laptop reads it with :func:`import_codebook_file`. The file carries
every version of every code, and importing stores the versions not yet held under the same
record ids, so codings from every laptop agree, a second import changes nothing, and a later
edit at head office wins after the next import.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..database import writing
from ..extensions import db
from ..models import ContributionCode, Device, RecordHead, RecordVersion
from . import audit, records
from .errors import FieldappError
from .sync import schema, signed
from .sync.merge import _insert_versions, _version_from
from .sync.revisions import canonical_json
from .sync.signed import SignedFormat, read_signed_file, signed_file
from .workspace import STAMPS, missing_translations

KIND = "code"
CODEBOOK_FORMAT = "fieldapp-codebook"
CODEBOOK_VERSION = 1
# A codebook of a few hundred codes with their histories is well under 1 MB; the limits leave
# room for growth and keep a hostile file from tying up a laptop.
MAX_CODEBOOK_BYTES = 4 * 1024 * 1024
MAX_CODEBOOK_VERSIONS = 20_000
EDITABLE = frozenset({"name", "description", "colour", "original_language"})
# A short palette that stays distinguishable with the common colour-vision deficiencies
# (Okabe and Ito, "Color Universal Design", 2008).
PALETTE = (
    ("#e69f00", "orange"),
    ("#56b4e9", "sky_blue"),
    ("#009e73", "bluish_green"),
    ("#f0e442", "yellow"),
    ("#0072b2", "blue"),
    ("#d55e00", "vermillion"),
    ("#cc79a7", "reddish_purple"),
    ("#000000", "black"),
)


class CodebookError(FieldappError):
    """A change to the codebook, or a codebook file, was refused; ``message`` says why."""


class FileRefused(signed.FileRefused, CodebookError):
    """A codebook file was refused; ``reason`` names why in the activity log's own words
    (damaged, unknown_installation, revoked_installation, altered, invalid)."""


CODEBOOK_FILE = SignedFormat(
    name=CODEBOOK_FORMAT,
    version=CODEBOOK_VERSION,
    fields=frozenset({"codes"}),
    max_bytes=MAX_CODEBOOK_BYTES,
    damaged=_l("This codebook file is damaged or is not a fieldapp codebook."),
    unknown_installation=_l(
        "This codebook comes from an installation that is not registered here."
    ),
    revoked_installation=_l(
        "This codebook comes from an installation whose registration was revoked."
    ),
    altered=_l(
        "The signature of this codebook does not match its installation: "
        "the file was changed after it was written."
    ),
    refused=FileRefused,
)


# ---- reading the codebook -------------------------------------------------------------------


@dataclass
class Code:
    """One theme or sub-theme as screens and commands use it."""

    id: str
    rev: str
    name: dict[str, str]
    description: dict[str, str]
    colour: str
    parent: str | None
    status: str
    merged_into: str | None
    position: int
    original_language: str = "en"
    conflicts: int = 0
    body: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, record_id: str, rev: str, body: Mapping[str, Any], conflicts: int = 0) -> Code:
        """A code from its record's current body."""
        return cls(
            id=record_id,
            rev=rev,
            name=dict(body.get("name") or {}),
            description=dict(body.get("description") or {}),
            colour=str(body.get("colour") or "#000000"),
            parent=body.get("parent"),
            status=str(body.get("status") or "active"),
            merged_into=body.get("merged_into"),
            position=int(body.get("position") or 0),
            original_language=str(body.get("original_language") or "en"),
            conflicts=conflicts,
            body=dict(body),
        )

    @property
    def is_theme(self) -> bool:
        """True for a theme, False for a sub-theme."""
        return self.parent is None

    @property
    def active(self) -> bool:
        """True while the code is offered for coding."""
        return self.status == "active" and self.merged_into is None

    def editable(self) -> dict[str, Any]:
        """The body without the display stamps."""
        return {k: v for k, v in self.body.items() if k not in STAMPS}

    def missing(self) -> list[str]:
        """The languages this code's name has no text in yet."""
        return missing_translations(self.name, schema.LANGS)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        data = asdict(self)
        del data["body"]
        return data


@dataclass
class Theme:
    """A theme and its sub-themes, in their order."""

    code: Code
    subthemes: list[Code] = field(default_factory=list)


def _all() -> dict[str, Code]:
    """Every live (not deleted) code record, by id."""
    rows = db.session.execute(
        select(
            RecordHead.record_id, RecordHead.winner_rev, RecordHead.body, RecordHead.conflicts
        ).where(RecordHead.kind == KIND, RecordHead.deleted.is_(False))
    )
    return {
        r.record_id: Code.of(r.record_id, r.winner_rev, json.loads(r.body), r.conflicts)
        for r in rows
    }


def _order(code: Code) -> tuple[int, str]:
    return (code.position, code.id)


def _shown_parent(code: Code, codes: Mapping[str, Code]) -> str | None:
    """The theme a sub-theme is listed under: its parent, or the code its parent was merged
    into (a sub-theme added on a laptop while head office merged its theme). None when that
    is no theme: the sub-theme is then listed as a theme of its own, never hidden."""
    target, seen = code.parent, set()
    while target is not None and target in codes and target not in seen:
        seen.add(target)
        found = codes[target]
        if found.merged_into is None:
            return target if found.is_theme else None
        target = found.merged_into
    return None


def tree(include_retired: bool = True, include_merged: bool = False) -> list[Theme]:
    """The codebook as two levels: themes by position, each with its sub-themes by position.

    A sub-theme whose theme is left out (retired, when retired codes are not wanted) is left
    out with it; one whose theme is gone is listed as a theme of its own.
    """
    codes = _all()

    def wanted(code: Code) -> bool:
        if code.merged_into is not None:
            return include_merged
        return include_retired or code.status == "active"

    themes: dict[str, Theme] = {}
    orphans: list[Theme] = []
    children: list[tuple[str, Code]] = []
    for code in sorted(codes.values(), key=_order):
        if code.parent is None:
            if wanted(code):
                themes[code.id] = Theme(code)
            continue
        parent = _shown_parent(code, codes)
        if parent is not None:
            children.append((parent, code))
        elif wanted(code):
            orphans.append(Theme(code))
    for parent, code in children:
        if parent in themes and wanted(code):
            themes[parent].subthemes.append(code)
    return [*themes.values(), *orphans]


def all_codes(include_retired: bool = True, include_merged: bool = False) -> list[Code]:
    """Every code, each theme followed by its sub-themes, in the codebook's order."""
    return [
        code
        for theme in tree(include_retired, include_merged)
        for code in (theme.code, *theme.subthemes)
    ]


def active_codes() -> list[Code]:
    """The codes offered for coding (not retired, not merged, and their theme neither)."""
    return all_codes(include_retired=False, include_merged=False)


def get(code_id: str) -> Code:
    """A live code, or :class:`CodebookError`."""
    head = records.current(code_id) if isinstance(code_id, str) and len(code_id) <= 64 else None
    if head is None or head.kind != KIND or head.deleted:
        raise CodebookError(_l("This code does not exist."))
    return Code.of(head.record_id, head.winner_rev, json.loads(head.body), head.conflicts)


def suggested_colour() -> str:
    """The first colour of the palette no active code has yet (the first one if all have)."""
    taken = {code.colour for code in active_codes()}
    for colour, _name in PALETTE:
        if colour not in taken:
            return colour
    return PALETTE[0][0]


def usage() -> dict[str, int]:
    """How many contributions each code counts for in the read model."""
    rows = db.session.execute(
        select(ContributionCode.code_id, func.count()).group_by(ContributionCode.code_id)
    )
    return {code_id: int(count) for code_id, count in rows}


def codings_of(code_id: str) -> int:
    """How many contributions are coded with ``code_id`` now (what a merge moves)."""
    return int(
        db.session.execute(
            select(func.count())
            .select_from(ContributionCode)
            .where(ContributionCode.code_id == code_id)
        ).scalar_one()
    )


# ---- changing the codebook ------------------------------------------------------------------


def check_colour(value: Any) -> str:
    """A colour as stored: ``#rrggbb`` in lower case, or :class:`CodebookError`."""
    colour = value.strip().lower() if isinstance(value, str) else value
    try:
        schema.colour(colour, "colour")
    except schema.RecordInvalid:
        raise CodebookError(
            _l("A colour is written as # and six hexadecimal digits, e.g. #0072b2.")
        ) from None
    return str(colour)


def _texts(value: Mapping[str, str] | None) -> dict[str, str]:
    return {lang: str(text) for lang, text in (value or {}).items() if str(text or "").strip()}


def _checked(body: Mapping[str, Any]) -> None:
    stamped = {**body, "updated_at": "2000-01-01T00:00:00Z", "updated_by": str(uuid.UUID(int=0))}
    try:
        schema.check_body(KIND, stamped)
    except schema.RecordInvalid as exc:
        raise CodebookError(_l("The code is not valid: %(problem)s", problem=str(exc))) from None


def _live_theme(parent: str) -> Code:
    """The theme a new sub-theme goes under, or why it cannot."""
    try:
        theme = get(parent)
    except CodebookError:
        raise CodebookError(_l("The theme for this sub-theme does not exist.")) from None
    if not theme.is_theme:
        raise CodebookError(
            _l("A sub-theme cannot have sub-themes: the codebook has two levels only.")
        )
    if not theme.active:
        raise CodebookError(
            _l("This theme is retired or merged: restore it, or choose another theme.")
        )
    return theme


def add_code(
    name: Mapping[str, str],
    original_language: str,
    colour: str,
    description: Mapping[str, str] | None = None,
    parent: str | None = None,
) -> str:
    """Add a theme (or, with ``parent``, a sub-theme of that theme) at the end; return its id."""
    texts = _texts(name)
    if not texts:
        raise CodebookError(_l("Give the code a name in at least one language."))
    body: dict[str, Any] = {
        "name": texts,
        "original_language": original_language,
        "colour": check_colour(colour),
        "status": "active",
    }
    if description and _texts(description):
        body["description"] = _texts(description)
    with writing():
        if parent is not None:
            body["parent"] = _live_theme(parent).id
        siblings = [c for c in _all().values() if c.parent == body.get("parent")]
        body["position"] = max((c.position for c in siblings), default=-1) + 1
        _checked(body)
        record_id, _rev = records.create(KIND, body)
    return record_id


def edit_code(code_id: str, changes: Mapping[str, Any], base_rev: str) -> str:
    """Rename a code, change its description, colour or original language; return the rev.

    Refused with ``records.StaleRecord`` when the code changed since ``base_rev``.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise CodebookError(_l("Only the name, description and colour of a code can be edited."))
    with writing():
        return _edit(get(code_id), changes, base_rev)


def _edit(code: Code, changes: Mapping[str, Any], base_rev: str) -> str:
    body = code.editable()
    if "name" in changes:
        body["name"] = _texts(changes["name"])
        if not body["name"]:
            raise CodebookError(_l("Give the code a name in at least one language."))
    if "description" in changes:
        body["description"] = _texts(changes["description"])
        if not body["description"]:
            del body["description"]
    if "colour" in changes:
        body["colour"] = check_colour(changes["colour"])
    if "original_language" in changes:
        body["original_language"] = changes["original_language"]
    _checked(body)
    return records.update(code.id, body, base_rev)


def _children(code_id: str, codes: Iterable[Code]) -> list[Code]:
    return sorted((c for c in codes if c.parent == code_id and c.merged_into is None), key=_order)


def retire(code_id: str, base_rev: str) -> str:
    """Stop offering a code; it stays in the codebook and every coding with it still counts."""
    with writing():
        code = get(code_id)
        if code.merged_into is not None:
            raise CodebookError(_l("This code was merged into another; it is retired already."))
        if code.status == "retired":
            raise CodebookError(_l("This code is retired already."))
        if any(c.active for c in _children(code.id, _all().values())):
            raise CodebookError(
                _l(
                    "This theme still has active sub-themes: retire them, or merge them into "
                    "another code, first."
                )
            )
        return records.update(code_id, {**code.editable(), "status": "retired"}, base_rev)


def restore(code_id: str, base_rev: str) -> str:
    """Offer a retired code again."""
    with writing():
        code = get(code_id)
        if code.merged_into is not None:
            raise CodebookError(
                _l(
                    "This code was merged into another; its codings count there. It cannot be "
                    "restored."
                )
            )
        if code.status == "active":
            raise CodebookError(_l("This code is active already."))
        if code.parent is not None:
            _live_theme(code.parent)
        return records.update(code_id, {**code.editable(), "status": "active"}, base_rev)


def merge(source_id: str, target_id: str, base_rev: str) -> str:
    """Merge the code ``source_id`` into ``target_id``; return the source's new rev.

    The source is retired with ``merged_into`` naming the target; its codings keep its id and
    count for the target from now on (nothing is rewritten, nothing lost). A theme's
    sub-themes move under the target theme, in the same transaction. Refused: merging a code
    into itself, into a code that is merged, retired or does not exist, a theme that has
    sub-themes into a sub-theme, and a stale ``base_rev`` (``records.StaleRecord``).
    """
    with writing():
        source = get(source_id)
        if target_id == source.id:
            raise CodebookError(_l("A code cannot be merged into itself."))
        try:
            target = get(target_id)
        except CodebookError:
            raise CodebookError(_l("The code to merge into does not exist.")) from None
        if source.merged_into is not None:
            raise CodebookError(_l("This code was merged into another already."))
        if target.merged_into is not None:
            raise CodebookError(
                _l("The code to merge into was itself merged into another: merge into that one.")
            )
        if target.status != "active":
            raise CodebookError(_l("The code to merge into is retired: restore it first."))
        codes = _all().values()
        subthemes = _children(source.id, codes)
        if subthemes and not target.is_theme:
            raise CodebookError(
                _l(
                    "This theme has sub-themes and cannot become part of a sub-theme. Merge it "
                    "into a theme (its sub-themes move there), or first merge its sub-themes "
                    "into other codes."
                )
            )
        rev = records.update(
            source.id,
            {**source.editable(), "status": "retired", "merged_into": target.id},
            base_rev,
        )
        position = max((c.position for c in _children(target.id, codes)), default=-1) + 1
        for offset, sub in enumerate(subthemes):
            records.update(
                sub.id,
                {**sub.editable(), "parent": target.id, "position": position + offset},
                sub.rev,
            )
    return rev


# ---- the signed codebook file ---------------------------------------------------------------


def codebook_file(instance_path: Path) -> bytes:
    """Every version of every code (retired, merged and deleted ones too), signed here."""
    rows = db.session.execute(
        select(RecordVersion)
        .where(RecordVersion.kind == KIND)
        .order_by(RecordVersion.record_id, RecordVersion.rev)
    ).scalars()
    versions = [
        {
            "id": row.record_id,
            "rev": row.rev,
            "parent": row.parent_rev,
            "deleted": row.deleted,
            "body": json.loads(row.body),
        }
        for row in rows
    ]
    data = signed_file(CODEBOOK_FILE, {"codes": versions}, instance_path)
    with writing():
        actor = records.current_actor()
        audit.record_detail(
            "codebook.exported",
            actor.user_id if actor else None,
            "codebook",
            {"codes": len({v["id"] for v in versions}), "versions": len(versions)},
        )
    return data


@dataclass
class ImportSummary:
    """What importing a codebook file did."""

    device_id: str
    device_name: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


def _versions_of(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The file's versions by record and rev, each checked as a merge checks a bundle line."""
    entries = document["codes"]
    if not isinstance(entries, list) or len(entries) > MAX_CODEBOOK_VERSIONS:
        raise FileRefused(CODEBOOK_FILE.damaged, "damaged")
    by_record: dict[str, dict[str, Any]] = {}
    try:
        for entry in entries:
            record_id, version = _version_from(entry, KIND)
            by_record.setdefault(record_id, {})[version.rev] = version
        for record_id, versions in by_record.items():
            for version in versions.values():
                if version.parent is not None and version.parent not in versions:
                    raise schema.RecordInvalid(
                        f"{KIND} {record_id}",
                        _l(
                            "version %(rev)s names a parent that is not in this file (%(parent)s)",
                            rev=version.rev[:80],
                            parent=version.parent[:80],
                        ),
                    )
    except schema.RecordInvalid as exc:
        raise FileRefused(
            _l("A code in this file is not valid: %(problem)s", problem=str(exc))
        ) from None
    return by_record


def import_codebook_file(data: bytes) -> ImportSummary:
    """Add the codes of a codebook file signed by a registered installation.

    Everything or nothing: the signature and every version are checked before anything is
    written, and the versions not held yet are stored in one transaction under the file's
    record ids. A refused file changes nothing (its refusal is kept in the activity log).
    """
    try:
        document, device = read_signed_file(CODEBOOK_FILE, data)
        versions = _versions_of(document)
        return _store(versions, device)
    except FileRefused as exc:
        _log_refusal(exc, data)
        raise


def _store(by_record: Mapping[str, Mapping[str, Any]], device: Device) -> ImportSummary:
    summary = ImportSummary(device.device_id, device.name)
    with writing():
        ids = list(by_record)
        held: dict[str, set[str]] = {record_id: set() for record_id in ids}
        kinds: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for record_id, rev, kind in db.session.execute(
                select(RecordVersion.record_id, RecordVersion.rev, RecordVersion.kind).where(
                    RecordVersion.record_id.in_(chunk)
                )
            ):
                held[record_id].add(rev)
                kinds[record_id] = kind
        if any(kind != KIND for kind in kinds.values()):
            raise FileRefused(
                _l(
                    "A code in this file is not valid: %(problem)s",
                    problem=_l("one id is used for two kinds of record"),
                )
            )
        rows = []
        for record_id, versions in by_record.items():
            fresh = [v for rev, v in versions.items() if rev not in held[record_id]]
            if not held[record_id]:
                summary.new += 1
            elif fresh:
                summary.updated += 1
            else:
                summary.unchanged += 1
            rows += [
                {
                    "record_id": record_id,
                    "rev": v.rev,
                    "kind": KIND,
                    "parent_rev": v.parent,
                    "deleted": v.deleted,
                    "body": canonical_json(v.body).decode("utf-8"),
                }
                for v in versions.values()
            ]
        # As a merge does: a rev held already keeps the smaller body (only its display stamps
        # can differ), so every installation ends with the same text whatever the order.
        for start in range(0, len(rows), 1000):
            db.session.execute(
                _insert_versions(RecordVersion.__table__), rows[start : start + 1000]
            )
        db.session.flush()
        if ids:
            summary.conflicts = records.refresh_heads(dict.fromkeys(ids, KIND))
        actor = records.current_actor()
        audit.record_detail(
            "codebook.imported",
            actor.user_id if actor else None,
            f"device:{device.device_id}",
            {"device": device.device_id, "device_name": device.name, **summary.as_dict()},
        )
    return summary


def _log_refusal(error: FileRefused, data: bytes) -> None:
    """Keep a refused import in the activity log (in a transaction of its own)."""
    actor = records.current_actor()
    with writing():
        audit.record_detail(
            "codebook.import_refused",
            actor.user_id if actor else None,
            "codebook",
            {"reason": error.reason, "bytes": len(data)},
        )
