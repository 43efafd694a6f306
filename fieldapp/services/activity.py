"""The Activity page's reading of the audit log, and the sync events it records.

The log is append-only from the app: entries are added inside the unit of work of the change
they describe and never edited or deleted. Reading is keyset-paged by id (newest first), so
the thousandth page costs what the first does.

Every entry gets a *type*: the table's action, refined by the kind of record for record
changes (a review state saved is ``record.updated`` on a ``review:...`` subject). Types are
grouped into categories for the filter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any

from flask import has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, not_, or_, select

from ..database import writing
from ..extensions import db
from ..models import AuditEvent, Device, RecordHead, RecordVersion, User
from . import audit, records

if TYPE_CHECKING:
    from .sync.export import ExportResult
    from .sync.merge import MergeSummary

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# Fields of a record body that say who and where, shown in their own columns, not as changes.
STAMPS = ("updated_at", "updated_by", "account")
# No record kind has such a field (tests/test_activity.py checks the schemas); should one ever
# get one, the Activity page still never shows its value.
SECRET_MARKS = ("password", "secret", "token", "private", "hash")

RECORD_CHANGES = ("record.created", "record.updated", "record.deleted")
# Record kinds whose changes are review and coding work rather than workspace records.
REVIEW_KINDS = ("review", "coding", "code")

CATEGORIES: dict[str, Any] = {
    "accounts": _l("Accounts"),
    "records": _l("Records"),
    "review": _l("Review and coding"),
    "conflicts": _l("Conflicts"),
    "sync": _l("Exports and imports"),
    "kiosk": _l("Kiosk"),
    "analysis": _l("Analysis"),
}


@dataclass(frozen=True)
class EntryType:
    """One kind of entry the filter offers: its label, category and table condition."""

    key: str
    label: Any
    category: str
    actions: tuple[str, ...]
    kinds: tuple[str, ...] = ()  # record kinds (subject prefix); empty: any subject
    other_kinds: bool = False  # any kind except REVIEW_KINDS

    def condition(self) -> ColumnElement[bool]:
        """The SQL condition selecting this type's entries."""
        found: ColumnElement[bool] = AuditEvent.action.in_(self.actions)
        if self.kinds:
            found = and_(found, or_(*(_of_kind(kind) for kind in self.kinds)))
        if self.other_kinds:
            found = and_(found, not_(or_(*(_of_kind(kind) for kind in REVIEW_KINDS))))
        return found


def _of_kind(kind: str) -> ColumnElement[bool]:
    # A record change's subject is "kind:id"; a bulk change's is the kind alone.
    return or_(AuditEvent.subject.like(f"{kind}:%"), AuditEvent.subject == kind)


_T = EntryType
TYPES: tuple[EntryType, ...] = (
    _T("account.created", _l("Account created"), "accounts", ("account.created",)),
    _T("account.role_changed", _l("Role changed"), "accounts", ("account.role_changed",)),
    _T("account.disabled", _l("Account disabled"), "accounts", ("account.disabled",)),
    _T("account.enabled", _l("Account enabled"), "accounts", ("account.enabled",)),
    _T(
        "account.password_changed",
        _l("Password changed"),
        "accounts",
        ("account.password_changed",),
    ),
    _T("account.password_reset", _l("Password reset"), "accounts", ("account.password_reset",)),
    _T("session.started", _l("Signed in"), "accounts", ("session.started",)),
    _T("session.ended", _l("Signed out"), "accounts", ("session.ended",)),
    _T(
        "installation.setup_started",
        _l("Installation set up"),
        "accounts",
        ("installation.setup_started",),
    ),
    _T("record.created", _l("Record created"), "records", ("record.created",), other_kinds=True),
    _T("record.updated", _l("Record changed"), "records", ("record.updated",), other_kinds=True),
    _T("record.deleted", _l("Record deleted"), "records", ("record.deleted",), other_kinds=True),
    _T(
        "record.bulk", _l("Records changed together"), "records", ("record.bulk",), other_kinds=True
    ),
    _T("review.state", _l("Review state set"), "review", RECORD_CHANGES, ("review",)),
    _T(
        "review.bulk",
        _l("Review of a selection"),
        "review",
        ("review.bulk", "record.bulk"),
        ("review",),
    ),
    _T("coding.saved", _l("Coding saved"), "review", RECORD_CHANGES, ("coding",)),
    _T(
        "coding.bulk",
        _l("Coding of a selection"),
        "review",
        ("coding.bulk", "record.bulk"),
        ("coding",),
    ),
    _T(
        "code.saved",
        _l("Codebook changed"),
        "review",
        (*RECORD_CHANGES, "record.bulk", "code.bulk", "code.merged"),
        ("code",),
    ),
    _T("record.resolved", _l("Conflict resolved"), "conflicts", ("record.resolved",)),
    _T("export.written", _l("Export written"), "sync", ("export.written",)),
    _T("export.downloaded", _l("Export downloaded"), "sync", ("export.downloaded",)),
    _T("import.ended", _l("File imported"), "sync", ("import.ended",)),
    _T("device.revoked", _l("Device revoked"), "sync", ("device.revoked",)),
    _T("key.rotated", _l("Signing key changed"), "sync", ("key.rotated",)),
    _T("key.rotation_accepted", _l("New device key accepted"), "sync", ("key.rotation_accepted",)),
    _T("backup.written", _l("Backup written"), "sync", ("backup.written",)),
    _T("restore.done", _l("Restored from a backup"), "sync", ("restore.done",)),
    _T(
        "recover.done",
        _l("Copied from a damaged database"),
        "sync",
        ("recover.done",),
    ),
    _T("codebook.exported", _l("Codebook file written"), "sync", ("codebook.exported",)),
    _T("codebook.imported", _l("Codebook file imported"), "sync", ("codebook.imported",)),
    _T(
        "codebook.import_refused",
        _l("Codebook file refused"),
        "sync",
        ("codebook.import_refused",),
    ),
    _T("receipt.written", _l("Receipt written"), "sync", ("receipt.written",)),
    _T("receipt.applied", _l("Receipt applied"), "sync", ("receipt.applied",)),
    _T("receipt.refused", _l("Receipt refused"), "sync", ("receipt.refused",)),
    _T("purge.done", _l("Acknowledged answers removed"), "sync", ("purge.done",)),
    _T("analysis.exported", _l("Contributions exported"), "analysis", ("analysis.exported",)),
    _T(
        "analysis.tables_exported",
        _l("Dashboard tables exported"),
        "analysis",
        ("analysis.tables_exported",),
    ),
    _T(
        "analysis.exact_counts",
        _l("Exact counts switched on"),
        "analysis",
        ("analysis.exact_counts",),
    ),
    _T("kiosk.unlocked", _l("Kiosk unlocked"), "kiosk", ("kiosk.unlocked",)),
    _T("kiosk.unlock_failed", _l("Failed kiosk unlock"), "kiosk", ("kiosk.unlock_failed",)),
)
BY_KEY = {t.key: t for t in TYPES}
IMPORT_REFUSED = _l("File refused")


def type_of(action: str, subject: str | None) -> EntryType | None:
    """The entry type of one log row (None for an action this table does not know)."""
    kind = (subject or "").split(":", 1)[0]
    for entry_type in TYPES:
        if action not in entry_type.actions:
            continue
        if entry_type.kinds and kind not in entry_type.kinds:
            continue
        if entry_type.other_kinds and kind in REVIEW_KINDS:
            continue
        return entry_type
    return None


class FilterInvalid(ValueError):
    """A filter value that does not exist; ``message`` says which, in the reader's language."""

    def __init__(self, message: Any) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Filters:
    """What the Activity page is narrowed to (every field optional)."""

    account: str | None = None  # a username, or COMMAND_LINE for entries made by nobody
    action: str | None = None  # a category key or an entry type key
    date_from: date | None = None
    date_to: date | None = None


COMMAND_LINE = "-"


@dataclass
class Change:
    """One field of a record that a version changed: its old and new value."""

    name: str
    old: Any
    new: Any


@dataclass
class Entry:
    """One line of the Activity page."""

    id: int
    at: datetime
    action: str
    type: EntryType | None
    subject: str | None
    detail: dict[str, Any]
    username: str | None = None
    display_name: str | None = None
    installation: str | None = None
    kind: str | None = None  # for record changes
    record_id: str | None = None
    link: tuple[str, dict[str, str]] | None = None  # (endpoint, values) for url_for
    changes: list[Change] | None = None  # for record changes whose versions are here
    deleted: bool = False
    title: tuple[dict[str, str], str | None] | None = None  # (texts by language, original)

    @property
    def label(self) -> Any:
        """What happened, in the reader's language."""
        if self.action == "import.ended" and not self.detail.get("ok"):
            return IMPORT_REFUSED
        return self.type.label if self.type else self.action


@dataclass
class Page:
    """One page of entries and the ids to page on."""

    entries: list[Entry] = field(default_factory=list)
    older: int | None = None  # pass as before_id for the next older page
    newer: int | None = None  # pass as after_id for the next newer page


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.account == COMMAND_LINE:
        found.append(AuditEvent.actor_id.is_(None))
    elif filters.account:
        user_id = db.session.execute(
            select(User.id).where(User.username == filters.account)
        ).scalar_one_or_none()
        if user_id is None:
            raise FilterInvalid(_l("There is no account “%(name)s”.", name=filters.account))
        found.append(AuditEvent.actor_id == user_id)
    if filters.action:
        if filters.action in CATEGORIES:
            chosen = [t for t in TYPES if t.category == filters.action]
        elif filters.action in BY_KEY:
            chosen = [BY_KEY[filters.action]]
        else:
            raise FilterInvalid(_l("There is no kind of activity “%(name)s”.", name=filters.action))
        found.append(or_(*(t.condition() for t in chosen)))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise FilterInvalid(_l("The first day is after the last day."))
    if filters.date_from:
        found.append(AuditEvent.at >= datetime.combine(filters.date_from, time(), UTC))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), UTC)
        found.append(AuditEvent.at < end)
    return found


def events(
    filters: Filters | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of the log, newest first, narrowed by ``filters``.

    ``before_id`` gives the page older than that entry, ``after_id`` the page newer than it
    (keyset paging on the id, never OFFSET). Raises :class:`FilterInvalid` for a filter value
    that does not exist.
    """
    filters = filters or Filters()
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    conditions = _conditions(filters)
    query = select(AuditEvent, User.username, User.display_name).outerjoin(
        User, User.id == AuditEvent.actor_id
    )
    if conditions:
        query = query.where(*conditions)
    if after_id is not None:
        query = query.where(AuditEvent.id > after_id).order_by(AuditEvent.id.asc())
    else:
        if before_id is not None:
            query = query.where(AuditEvent.id < before_id)
        query = query.order_by(AuditEvent.id.desc())
    rows = list(db.session.execute(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if after_id is not None:
        rows.reverse()
    page = Page(entries=[_entry(event, username, name) for event, username, name in rows])
    if not page.entries:
        return page
    first, last = page.entries[0].id, page.entries[-1].id
    if after_id is not None:
        page.newer = first if more else None
        page.older = last if _exists(conditions, AuditEvent.id < last) else None
    else:
        page.older = last if more else None
        page.newer = first if _exists(conditions, AuditEvent.id > first) else None
    _describe(page.entries)
    return page


def _exists(conditions: list[ColumnElement[bool]], bound: ColumnElement[bool]) -> bool:
    query = select(AuditEvent.id).where(*conditions, bound).limit(1)
    return db.session.execute(query).first() is not None


def _entry(event: AuditEvent, username: str | None, name: str | None) -> Entry:
    try:
        detail = json.loads(event.detail) if event.detail else {}
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    entry = Entry(
        id=event.id,
        at=event.at,
        action=event.action,
        type=type_of(event.action, event.subject),
        subject=event.subject,
        detail=detail,
        username=username,
        display_name=name or None,
    )
    if event.action.startswith("record.") and isinstance(detail.get("id"), str):
        entry.kind = str(detail.get("kind") or "")
        entry.record_id = detail["id"]
    return entry


def _describe(entries: Sequence[Entry]) -> None:
    """Fill in installations, link targets and diffs for one page (a few queries in all)."""
    changed = [e for e in entries if e.record_id]
    ids = sorted({e.record_id for e in changed if e.record_id})
    versions: dict[tuple[str, str], RecordVersion] = {}
    heads: dict[str, RecordHead] = {}
    if ids:
        for row in db.session.execute(
            select(RecordVersion).where(RecordVersion.record_id.in_(ids))
        ).scalars():
            versions[(row.record_id, row.rev)] = row
        heads = {
            h.record_id: h
            for h in db.session.execute(
                select(RecordHead).where(RecordHead.record_id.in_(ids))
            ).scalars()
        }
    devices = {d.device_id: d for d in db.session.execute(select(Device)).scalars()}
    here = next((d.name for d in devices.values() if d.is_self), None)
    for entry in entries:
        entry.installation = here
        if entry.action in (
            "import.ended",
            "codebook.imported",
            "device.revoked",
            "key.rotation_accepted",
        ):
            entry.installation = entry.detail.get("device_name") or None
        if not entry.record_id:
            continue
        version = versions.get((entry.record_id, str(entry.detail.get("rev"))))
        body = _body(version)
        if version is not None:
            device = devices.get(str(body.get("updated_by")))
            entry.installation = device.name if device else entry.installation
            entry.deleted = version.deleted
            parents = entry.detail.get("parents") or [entry.detail.get("parent")]
            parent = versions.get((entry.record_id, str(parents[0]))) if parents[0] else None
            entry.changes = [] if version.deleted else diff(_body(parent), body)
        head = heads.get(entry.record_id)
        entry.link = _link(entry.kind or "", entry.record_id, head, body)
        # A deletion's body has no name: the head's or an earlier version's has (parsed lazily).
        record_id = entry.record_id
        entry.title = _title(
            chain(
                (body, json.loads(head.body) if head else {}),
                (_body(v) for (rid, _rev), v in versions.items() if rid == record_id),
            )
        )


TITLE_FIELDS = ("title", "name", "text")


def _title(bodies: Iterable[Mapping[str, Any]]) -> tuple[dict[str, str], str | None] | None:
    """A record's name in its languages, from the first body that has one (a deletion has none)."""
    for body in bodies:
        for name in TITLE_FIELDS:
            texts = body.get(name)
            if isinstance(texts, dict) and texts:
                original = body.get("original_language")
                return texts, original if isinstance(original, str) else None
    return None


def _body(version: RecordVersion | None) -> dict[str, Any]:
    if version is None:
        return {}
    body = json.loads(version.body)
    return body if isinstance(body, dict) else {}


def _secret(name: str) -> bool:
    return any(mark in name.lower() for mark in SECRET_MARKS)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The fields ``new`` changed from ``old`` (stamps and anything secret-looking left out)."""
    names = sorted((set(old) | set(new)) - set(STAMPS))
    return [
        Change(name, old.get(name), new.get(name))
        for name in names
        if not _secret(name) and old.get(name) != new.get(name)
    ]


def _link(
    kind: str, record_id: str, head: RecordHead | None, body: Mapping[str, Any]
) -> tuple[str, dict[str, str]] | None:
    """Where a record change leads: the contribution, the conflict, or the consultation."""
    if head is not None and not body:
        body = json.loads(head.body)
    if kind in ("review", "coding"):
        submission, question = body.get("submission"), body.get("question")
        if isinstance(submission, str) and isinstance(question, str):
            return "review.contribution", {"submission": submission, "question": question}
        return None
    if head is not None and head.conflicts:
        return "conflicts.record", {"record_id": record_id}
    if kind == "code":
        return "codebook.index", {}
    if head is not None and head.deleted:
        return None
    consultation = record_id if kind == "consultation" else body.get("consultation")
    if isinstance(consultation, str):
        return "consultations.consultation_view", {"record_id": consultation}
    return None


# ---- what the sync services add to the log --------------------------------------------------


def _via() -> str:
    return "web" if has_request_context() else "command line"


def _actor_id() -> int | None:
    actor = records.current_actor()
    return actor.user_id if actor else None


def export_written(result: ExportResult, file_name: str) -> None:
    """Log an export written here (call inside the export's ``writing()``)."""
    audit.record_detail(
        "export.written",
        _actor_id(),
        f"export:{result.export_seq}",
        {
            "seq": result.export_seq,
            "file": file_name,
            "counts": dict(result.counts),
            "via": _via(),
        },
    )


def backup_written(detail: dict[str, Any]) -> None:
    """Log a backup written here (services/backup.py; never a passphrase or a key)."""
    with writing():
        audit.record_detail("backup.written", _actor_id(), "backup", {**detail, "via": _via()})


def restore_done(detail: dict[str, Any]) -> None:
    """Log, in the restored installation, that it was restored from a backup (inside the
    restore's ``writing()``; ``detail`` holds the export number it continues from)."""
    audit.record_detail("restore.done", None, "backup", {**detail, "via": _via()})


def recover_done(detail: dict[str, Any]) -> None:
    """Log, in an installation made by ``fieldapp recover``, that its data was copied from a
    damaged database (inside the recovery's ``writing()``; ``detail`` holds the export number
    it continues from and the tables that could not be read whole)."""
    audit.record_detail("recover.done", None, "backup", {**detail, "via": _via()})


def device_revoked(device: Device, after_seq: int, **reason: Any) -> None:
    """Log a device revoked here (inside the revocation's ``writing()``): its exports numbered
    above ``after_seq`` are refused from now on. ``reason`` details a revocation fieldapp made
    itself (``reason="conflicting_rotations"``, the keys and numbers, the file)."""
    audit.record_detail(
        "device.revoked",
        _actor_id(),
        f"device:{device.device_id}",
        {
            **reason,
            "device_id": device.device_id,
            "device_name": device.name,
            "after_seq": after_seq,
            "via": _via(),
        },
    )


def key_rotated(old_key: str, new_key: str, from_seq: int) -> None:
    """Log that this laptop changed its signing key (inside the rotation's ``writing()``).
    Public keys only: the secret keys never leave the key files."""
    audit.record_detail(
        "key.rotated",
        _actor_id(),
        "key",
        {"old_key": old_key, "new_key": new_key, "from_seq": from_seq, "via": _via()},
    )


def rotated_key_accepted(
    device: Device, old_key: str, new_key: str, from_seq: int, file_name: str
) -> None:
    """Log that a merged file's rotation statement gave ``device`` a new key (inside the
    merge's ``writing()``)."""
    audit.record_detail(
        "key.rotation_accepted",
        _actor_id(),
        f"device:{device.device_id}",
        {
            "device_id": device.device_id,
            "device_name": device.name,
            "old_key": old_key,
            "new_key": new_key,
            "from_seq": from_seq,
            "file": file_name,
            "via": _via(),
        },
    )


def export_downloaded(seq: int, file_name: str) -> None:
    """Log that export ``seq`` was downloaded from this installation."""
    with writing():
        audit.record_detail(
            "export.downloaded",
            _actor_id(),
            f"export:{seq}",
            {"seq": seq, "file": file_name, "via": _via()},
        )


def imports_ended(summaries: Iterable[MergeSummary]) -> None:
    """Log each merged or refused file with its outcome (after the merges, one unit of work)."""
    with writing():
        for summary in summaries:
            audit.record_detail(
                "import.ended",
                _actor_id(),
                summary.file,
                {
                    "file": summary.file,
                    "ok": summary.ok,
                    "error": str(summary.error) if summary.error else None,
                    "device_id": summary.device_id,
                    "device_name": summary.device_name,
                    "export_seq": summary.export_seq,
                    "new": summary.new,
                    "updated": summary.updated,
                    "unchanged": summary.unchanged,
                    "conflicts": summary.conflicts,
                    "already_merged": summary.already_merged,
                    "via": _via(),
                },
            )


def code_names(entries: Iterable[Entry]) -> dict[str, tuple[dict[str, str], str | None]]:
    """The names (texts by language, original language) of the codes a page's codings name."""
    ids: set[str] = set()
    for entry in entries:
        for change in entry.changes or ():
            if change.name == "codes":
                for value in (change.old, change.new):
                    if isinstance(value, list):
                        ids.update(v for v in value if isinstance(v, str))
    if not ids:
        return {}
    found: dict[str, tuple[dict[str, str], str | None]] = {}
    for head in db.session.execute(
        select(RecordHead).where(RecordHead.record_id.in_(sorted(ids)), RecordHead.kind == "code")
    ).scalars():
        body = json.loads(head.body)
        if isinstance(body.get("name"), dict):
            found[head.record_id] = (body["name"], body.get("original_language"))
    return found


def accounts() -> list[tuple[str, str]]:
    """Every account as (username, display name), for the account filter."""
    rows = db.session.execute(select(User.username, User.display_name).order_by(User.username))
    return [(username, name or "") for username, name in rows]
