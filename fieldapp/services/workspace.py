"""The facilitator's workspace: consultations, questions, attendance, action points, templates.

Plain functions over the versioned records of ``services.records``; the web pages, the command
line (demo data) and the tests all use them. Every change is a new version that syncs; every
edit names the version it was made on, so a stale form is refused instead of overwriting.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select

from .. import textnorm
from ..database import writing
from ..extensions import db
from ..models import RecordHead, Submission
from . import consent, places, records, results
from .errors import FieldappError
from .sync import schema, signed

STAMPS = ("updated_at", "updated_by", "account")
OPEN_ACTION_STATUSES = ("proposed", "agreed", "in_progress")
TEMPLATE_FORMAT = "fieldapp-template"
TEMPLATE_VERSION = 1
MAX_TEMPLATE_BYTES = 2 * 1024 * 1024


class WorkspaceError(FieldappError):
    """A change was refused; ``message`` says why."""


@dataclass
class Item:
    """The current state of one record, as screens use it."""

    id: str
    rev: str
    kind: str
    body: dict[str, Any]
    conflicts: int = 0

    def __post_init__(self) -> None:
        """Show a consultation where the current list places it: a meeting saved with an older
        list (Halabja as a district of Sulaymaniyah) shows, filters and searches under the
        governorate its district is in now. The stored versions stay as they were synced."""
        if self.kind == "consultation" and self.body.get("district"):
            governorate, district = places.placement(
                self.body.get("governorate"), self.body["district"]
            )
            self.body.update(governorate=governorate, district=district)

    @classmethod
    def of(cls, head: RecordHead) -> Item:
        """Wrap a record head."""
        return cls(
            head.record_id, head.winner_rev, head.kind, json.loads(head.body), head.conflicts
        )

    def editable(self) -> dict[str, Any]:
        """The body without the display stamps."""
        return {k: v for k, v in self.body.items() if k not in STAMPS}


def get(record_id: str, kind: str) -> Item:
    """A live record of ``kind``, or WorkspaceError."""
    head = records.current(record_id)
    if head is None or head.kind != kind or head.deleted:
        raise WorkspaceError(_l("This record does not exist."))
    return Item.of(head)


HEAD_COLUMNS = (
    RecordHead.record_id,
    RecordHead.winner_rev,
    RecordHead.kind,
    RecordHead.body,
    RecordHead.conflicts,
)


# Built once: participants' pages read the questions on every view, and building and caching a
# statement costs ten times more than running it.
_LIVE = select(*HEAD_COLUMNS).where(
    RecordHead.kind == bindparam("kind"), RecordHead.deleted.is_(False)
)
_LIVE_OF_CONSULTATION = _LIVE.where(RecordHead.consultation_id == bindparam("consultation"))


def _items(kind: str, consultation_id: str | None = None) -> list[Item]:
    """Live records of a kind (of one consultation), read as plain rows."""
    if consultation_id is None:
        rows = db.session.connection().execute(_LIVE, {"kind": kind})
    else:
        rows = db.session.connection().execute(
            _LIVE_OF_CONSULTATION, {"kind": kind, "consultation": consultation_id}
        )
    return [
        Item(record_id, rev, kind_, json.loads(body), conflicts)
        for record_id, rev, kind_, body, conflicts in rows
    ]


# ---- consultations --------------------------------------------------------------------------


def consultation_text(body: Mapping[str, Any]) -> str:
    """Everything searchable about a consultation, in every language (place names included)."""
    parts: list[str] = []
    for name in ("title", "description"):
        parts.extend(str(v) for v in (body.get(name) or {}).values())
    parts.extend(str(body.get(name) or "") for name in ("place", "programme"))
    parts.extend(str(v) for v in body.get("facilitators", []))
    parts.extend(places.all_names(body.get("governorate"), body.get("district")))
    return " ".join(parts)


def list_consultations(
    query: str = "",
    status: str | None = None,
    kind: str | None = None,
    governorate: str | None = None,
) -> list[Item]:
    """Consultations matching a search (Arabic/Kurdish-normalised) and filters, newest first."""
    found = []
    for item in _items("consultation"):
        body = item.body
        if status and body.get("status") != status:
            continue
        if kind and body.get("kind") != kind:
            continue
        if governorate and body.get("governorate") != governorate:
            continue
        if query and not textnorm.matches(query, consultation_text(body)):
            continue
        found.append(item)
    found.sort(
        key=lambda i: (i.body.get("starts_on") or "", i.body.get("updated_at")), reverse=True
    )
    return found


def _checked(kind: str, body: Mapping[str, Any]) -> None:
    stamped = {**body, "updated_at": "2000-01-01T00:00:00Z", "updated_by": str(uuid.UUID(int=0))}
    try:
        schema.check_body(kind, stamped)
    except schema.RecordInvalid as exc:
        raise WorkspaceError(_l("The record is not valid: %(problem)s", problem=str(exc))) from None


def save_consultation(
    body: Mapping[str, Any], record_id: str | None = None, base_rev: str | None = None
) -> str:
    """Create a consultation or save a new version of one; return its id."""
    _checked("consultation", body)
    if record_id is None:
        new_id, _rev = records.create("consultation", body)
        return new_id
    records.update(record_id, body, base_rev or "")
    return record_id


def update_fields(item: Item, changes: Mapping[str, Any], base_rev: str) -> str:
    """Save a record with some fields changed, on top of ``base_rev``."""
    body = {**item.editable(), **changes}
    _checked(item.kind, body)
    return records.update(item.id, body, base_rev)


# ---- questions ------------------------------------------------------------------------------


def questions_of(consultation_id: str) -> list[Item]:
    """The questions of a consultation in their order."""
    return sorted(_items("question", consultation_id), key=lambda q: q.body["position"])


def add_question(consultation_id: str, body: Mapping[str, Any]) -> str:
    """Add a question at the end of the sheet."""
    existing = questions_of(consultation_id)
    position = max((q.body["position"] for q in existing), default=-1) + 1
    full = {**body, "consultation": consultation_id, "position": position}
    _checked("question", full)
    record_id, _rev = records.create("question", full)
    return record_id


def move(items: list[Item], record_id: str, step: int) -> None:
    """Move one item up (-1) or down (+1) in its list; all positions renumbered in one go."""
    order = [i.id for i in items]
    index = order.index(record_id)
    target = index + step
    if not 0 <= target < len(order):
        return
    order[index], order[target] = order[target], order[index]
    by_id = {i.id: i for i in items}
    with writing():
        for position, item_id in enumerate(order):
            item = by_id[item_id]
            if item.body.get("position") != position:
                records.update(item.id, {**item.editable(), "position": position}, item.rev)


def delete(item: Item, base_rev: str) -> None:
    """Delete a record (a version too, so the deletion syncs)."""
    records.delete(item.id, base_rev)


def missing_translations(texts: Mapping[str, str], languages: Iterable[str]) -> list[str]:
    """The meeting languages that have no text yet."""
    return [lang for lang in languages if not str(texts.get(lang) or "").strip()]


# ---- attendance -----------------------------------------------------------------------------


def attendance_of(consultation_id: str) -> Item | None:
    """The attendance record of a consultation, if counted yet."""
    items = _items("attendance", consultation_id)
    return items[0] if items else None


def save_attendance(
    consultation_id: str,
    counts: list[dict[str, Any]],
    group_counts: list[dict[str, Any]],
    base_rev: str | None,
) -> None:
    """Save the attendance counts (a new version of the one attendance record)."""
    body = {"consultation": consultation_id, "counts": counts, "group_counts": group_counts}
    _checked("attendance", body)
    current = attendance_of(consultation_id)
    if current is None:
        records.create("attendance", body)
    else:
        records.update(current.id, body, base_rev or "")


def attendance_total(item: Item | None) -> int:
    """Everyone counted."""
    return sum(c["count"] for c in item.body["counts"]) if item else 0


# ---- action points --------------------------------------------------------------------------


def actions_of(consultation_id: str) -> list[Item]:
    """The action points agreed at (or added to) a consultation, in their order."""
    return sorted(_items("action_point", consultation_id), key=lambda a: a.body.get("position", 0))


def open_actions() -> list[Item]:
    """Every action point not yet done or dropped, across consultations."""
    items = [a for a in _items("action_point") if a.body["status"] in OPEN_ACTION_STATUSES]
    return sorted(items, key=lambda a: (a.body.get("due_on") or "9999", a.body["priority"]))


def add_action(consultation_id: str, body: Mapping[str, Any]) -> str:
    """Add an action point at the end of the consultation's plan."""
    position = max((a.body.get("position", 0) for a in actions_of(consultation_id)), default=-1)
    full = {**body, "consultation": consultation_id, "position": position + 1}
    _checked("action_point", full)
    record_id, _rev = records.create("action_point", full)
    return record_id


def add_note(item: Item, on: str, text: str, base_rev: str, status: str | None = None) -> str:
    """Add a dated progress note (and maybe a new status) at a follow-up meeting."""
    notes = [*item.body.get("notes", []), {"on": on, "text": text}]
    changes: dict[str, Any] = {"notes": notes}
    if status:
        changes["status"] = status
    return update_fields(item, changes, base_rev)


# ---- overview -------------------------------------------------------------------------------


@dataclass
class Overview:
    """What a consultation produced, for its overview page and printed summary."""

    attendance: int = 0
    by_gender: dict[str, int] = field(default_factory=dict)
    contributions: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    by_language: dict[str, int] = field(default_factory=dict)
    by_question: dict[str, int] = field(default_factory=dict)
    choices: dict[str, Counter[str]] = field(default_factory=dict)
    free_text: dict[str, list[str]] = field(default_factory=dict)
    # Per ranking question: first choices and points, highest priority first.
    rankings: dict[str, results.Priorities] = field(default_factory=dict)
    # How consent was given (consent.SHOWN order): "not asked" must be seen, not inferred.
    by_consent: dict[str, int] = field(default_factory=dict)


def overview(consultation_id: str, quotes: int = 8) -> Overview:
    """Counts of attendance and input for one consultation, up to ``quotes`` free-text answers
    per question and the priorities of each ranking question (:func:`results.priorities`),
    from one pass over its submissions."""
    result = Overview()
    attendance = attendance_of(consultation_id)
    if attendance:
        for row in attendance.body["counts"]:
            result.attendance += row["count"]
            result.by_gender[row["gender"]] = result.by_gender.get(row["gender"], 0) + row["count"]
    channels: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    consents: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    choices: dict[str, Counter[str]] = {}
    ranked = {
        q.id: [o["id"] for o in q.body.get("options", [])]
        for q in questions_of(consultation_id)
        if q.body["type"] == "ranking"
    }
    rankings: dict[str, list[Any]] = {question: [] for question in ranked}
    for row in db.session.execute(
        select(Submission.body).where(Submission.consultation_id == consultation_id)
    ).scalars():
        submission = json.loads(row)
        channels[submission["channel"]] += 1
        languages[submission["language"]] += 1
        consents[consent.method_of(submission)] += 1
        for question, answer in submission["answers"].items():
            if answer in ("", [], None):
                continue
            answered[question] += 1
            if question in rankings:
                rankings[question].append(answer)
            if isinstance(answer, str) and answer.strip():
                texts = result.free_text.setdefault(question, [])
                if len(texts) < quotes:
                    texts.append(answer)
            values = answer if isinstance(answer, list) else [answer]
            for value in values:
                if not isinstance(value, str) or len(value) <= 40:
                    choices.setdefault(question, Counter())[str(value)] += 1
    result.contributions = sum(channels.values())
    result.by_channel, result.by_language = dict(channels), dict(languages)
    result.by_question, result.choices = dict(answered), choices
    result.rankings = {q: results.priorities(ranked[q], given) for q, given in rankings.items()}
    result.by_consent = {m: consents[m] for m in consent.SHOWN if consents[m]}
    return result


# ---- templates ------------------------------------------------------------------------------


def templates() -> list[Item]:
    """Question-set templates on this installation."""
    return sorted(_items("template"), key=lambda t: json.dumps(t.body["name"], sort_keys=True))


def _template_question(question: Item) -> dict[str, Any]:
    body = question.editable()
    keep = ("type", "text", "original_language", "options", "required")
    return {k: body[k] for k in keep if k in body}


def save_as_template(consultation_id: str, name: Mapping[str, str], original_language: str) -> str:
    """Keep a consultation's questions as a template for later meetings."""
    consultation = get(consultation_id, "consultation")
    body = {
        "name": dict(name),
        "original_language": original_language,
        "kind": consultation.body["kind"],
        "questions": [_template_question(q) for q in questions_of(consultation_id)],
    }
    _checked("template", body)
    record_id, _rev = records.create("template", body)
    return record_id


def start_from_template(template_id: str, consultation: Mapping[str, Any]) -> str:
    """A new consultation whose questions are copied from a template, in one transaction."""
    template = get(template_id, "template")
    with writing():
        consultation_id = save_consultation(consultation)
        for question in template.body["questions"]:
            add_question(consultation_id, question)
    return consultation_id


class TemplateFileRefused(signed.FileRefused, WorkspaceError):
    """A template file was refused; a :class:`WorkspaceError`, as it always was."""


TEMPLATE_FILE = signed.SignedFormat(
    name=TEMPLATE_FORMAT,
    version=TEMPLATE_VERSION,
    fields=frozenset({"template_id", "template"}),
    ids=frozenset({"template_id"}),
    max_bytes=MAX_TEMPLATE_BYTES,
    damaged=_l("This template file is damaged or is not a fieldapp template."),
    # As before, a revoked installation is told the same as an unknown one.
    unknown_installation=_l(
        "This template comes from an installation that is not registered here."
    ),
    altered=_l("The signature of this template does not match its installation."),
    refused=TemplateFileRefused,
)


def template_file(template_id: str, instance_path: Path) -> bytes:
    """A template as a file to send to the field, signed by this installation."""
    template = get(template_id, "template")
    payload = {"template_id": template.id, "template": template.editable()}
    return signed.signed_file(TEMPLATE_FILE, payload, instance_path)


def import_template_file(data: bytes) -> str:
    """Add a template from a file signed by this or a registered installation.

    Refused with :class:`TemplateFileRefused` (a :class:`WorkspaceError`): see
    ``signed.read_signed_file``; also a file naming a record that is not a template.
    """
    document, _device = signed.read_signed_file(TEMPLATE_FILE, data)
    body = document["template"]
    _checked("template", body)
    existing = records.current(document["template_id"])
    if existing is not None and not existing.deleted:
        if existing.kind != "template":
            raise TemplateFileRefused(TEMPLATE_FILE.damaged, "damaged")
        records.update(existing.record_id, body, existing.winner_rev)
        return existing.record_id
    record_id, _rev = records.create("template", body, record_id=document["template_id"])
    return record_id
