"""Creating, editing and deleting synced records on this installation.

Every edit is a new version whose parent is the version the person was looking at; if that is no
longer the current version (a colleague saved first, or a merge brought a newer one), the edit
is refused with :class:`StaleRecord` so nobody is silently overwritten.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..database import content_changed, database_key, writing
from ..extensions import db
from ..models import RecordHead, RecordVersion, Submission
from . import contributions
from .errors import FieldappError
from .sync import schema
from .sync.keys import self_device
from .sync.revisions import Version, canonical_json, first_version, next_version, resolve


class RecordError(FieldappError):
    """A record could not be saved; ``message`` says why."""


class StaleRecord(RecordError):
    """The record changed since the form was opened.

    ``current`` and ``current_rev`` are the record now; ``mine`` is what the form tried to save;
    ``kind`` is the record's kind, so that screens can name its fields as its form does.
    """

    def __init__(
        self,
        current: Mapping[str, Any] | None,
        current_rev: str = "",
        mine: Mapping[str, Any] | None = None,
        kind: str = "",
    ) -> None:
        super().__init__(
            _l("Someone else changed this record since you opened it. Check the changes below.")
        )
        self.current = current
        self.current_rev = current_rev
        self.mine = mine or {}
        self.kind = kind

    def differences(self, ignore: Iterable[str] = ()) -> list[tuple[str, Any, Any]]:
        """The fields whose saved value differs from the form's: (name, saved now, in the form)."""
        now, mine = self.current or {}, self.mine
        names = sorted((set(now) | set(mine)) - set(ignore))
        return [(n, now.get(n), mine.get(n)) for n in names if now.get(n) != mine.get(n)]


def utc_stamp(moment: datetime | None = None) -> str:
    """A display timestamp YYYY-MM-DDTHH:MM:SSZ (never used to decide anything)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# A device's id never changes once it has one: kept per database, read once.
_device_ids: dict[str, str] = {}


def this_device_id() -> str:
    """The device id of this installation; records cannot be made before it has one."""
    key = database_key()
    known = _device_ids.get(key)
    if known is not None:
        return known
    device = self_device()
    if device is None:
        raise RecordError(
            _l("This installation has no keys yet. Run “fieldapp init --role ... --name ...”.")
        )
    _device_ids[key] = device.device_id
    return device.device_id


def body_text(body: Mapping[str, Any]) -> str:
    """The stored form of a body: canonical JSON."""
    return canonical_json(body).decode("utf-8")


def load_versions(record_id: str) -> list[Version]:
    """All versions of one record."""
    rows = db.session.execute(
        select(RecordVersion).where(RecordVersion.record_id == record_id)
    ).scalars()
    return [Version(r.rev, r.parent_rev, json.loads(r.body), r.deleted) for r in rows]


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def refresh_heads(kind_by_id: Mapping[str, str]) -> int:
    """Recompute the winner of each record; return how many records now have conflicts.

    Versions and heads are read in batches, so a merge touching many records stays fast.
    """
    content_changed()
    with_conflicts = 0
    changed: list[RecordHead] = []
    retyped: dict[str, str] = {}
    for chunk in _chunks(list(kind_by_id)):
        versions: dict[str, list[Version]] = {record_id: [] for record_id in chunk}
        for row in db.session.execute(
            select(
                RecordVersion.record_id,
                RecordVersion.rev,
                RecordVersion.parent_rev,
                RecordVersion.body,
                RecordVersion.deleted,
            ).where(RecordVersion.record_id.in_(chunk))
        ):
            versions[row.record_id].append(
                Version(row.rev, row.parent_rev, json.loads(row.body), row.deleted)
            )
        heads = {
            head.record_id: head
            for head in db.session.execute(
                select(RecordHead).where(RecordHead.record_id.in_(chunk))
            ).scalars()
        }
        for record_id in chunk:
            resolution = resolve(versions[record_id])
            winner = resolution.winner
            head = heads.get(record_id)
            if head is None:
                head = RecordHead(record_id=record_id, kind=kind_by_id[record_id])
                db.session.add(head)
            elif head.kind == "question" and not winner.deleted:
                was = json.loads(head.body).get("type")
                if was is not None and was != winner.body.get("type"):
                    retyped[record_id] = winner.body["type"]
            head.winner_rev = winner.rev
            head.deleted = winner.deleted
            head.conflicts = len(resolution.conflicts)
            head.body = body_text(winner.body)
            consultation = winner.body.get("consultation")
            if consultation is not None:  # a deletion's body has none: keep the link
                head.consultation_id = consultation
            with_conflicts += bool(resolution.conflicts)
            changed.append(head)
    db.session.flush()
    contributions.heads_changed(changed, retyped)
    return with_conflicts


def store_versions(kind: str, record_id: str, versions: Iterable[Version]) -> None:
    """Add versions of one record and recompute its winner (call inside ``writing()``)."""
    for version in versions:
        db.session.add(
            RecordVersion(
                record_id=record_id,
                rev=version.rev,
                kind=kind,
                parent_rev=version.parent,
                deleted=version.deleted,
                body=body_text(version.body),
            )
        )
    db.session.flush()
    refresh_heads({record_id: kind})


def _store(kind: str, record_id: str, version: Version) -> None:
    store_versions(kind, record_id, [version])


@dataclass(frozen=True)
class Actor:
    """The account making changes: stamped on every version and on the activity log."""

    user_id: int | None
    username: str
    name: str

    def stamp(self) -> dict[str, str]:
        """The ``account`` field of a version body (never a secret)."""
        return {"username": self.username[:40], "name": self.name[:80]}


_actor: ContextVar[Actor | None] = ContextVar("fieldapp_actor", default=None)


def set_actor(actor: Actor | None) -> None:
    """Say who is acting for the rest of this request or command (None: nobody signed in)."""
    _actor.set(actor)


def current_actor() -> Actor | None:
    """The account acting now, if any."""
    return _actor.get()


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    """Act as ``actor`` inside the block (tests, commands), then as before."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def _stamped(body: Mapping[str, Any]) -> dict[str, Any]:
    stamped = {k: v for k, v in body.items() if k != "account"}
    stamped.update(updated_at=utc_stamp(), updated_by=this_device_id())
    actor = _actor.get()
    if actor is not None:
        stamped["account"] = actor.stamp()
    return stamped


def _log_change(action: str, kind: str, record_id: str, rev: str, **extra: Any) -> None:
    """An activity entry for a change made here (inside the change's transaction)."""
    from . import audit

    actor = _actor.get()
    audit.record_detail(
        action,
        actor.user_id if actor else None,
        f"{kind}:{record_id}",
        {"kind": kind, "id": record_id, "rev": rev, **extra},
    )


def create(kind: str, body: Mapping[str, Any], record_id: str | None = None) -> tuple[str, str]:
    """Save a new record of ``kind``; return its id and rev."""
    full = _stamped(body)
    record_id = record_id or str(uuid.uuid4())
    try:
        schema.check_body(kind, full)
        schema.check_record_id(kind, record_id, full)
    except schema.RecordInvalid as exc:
        raise RecordError(_l("The record is not valid: %(problem)s", problem=str(exc))) from None
    version = first_version(full)
    with writing():
        if db.session.get(RecordHead, record_id) is not None:
            raise RecordError(_l("This record exists already."))
        _store(kind, record_id, version)
        _log_change("record.created", kind, record_id, version.rev)
    return record_id, version.rev


def current(record_id: str) -> RecordHead | None:
    """The current state of a record, if it exists."""
    return db.session.get(RecordHead, record_id)


def update(record_id: str, body: Mapping[str, Any], base_rev: str, deleted: bool = False) -> str:
    """Save a new version on top of ``base_rev``; refuse if the record moved on since."""
    with writing():
        head = db.session.get(RecordHead, record_id)
        if head is None:
            raise RecordError(_l("This record does not exist."))
        if head.winner_rev != base_rev:
            raise StaleRecord(json.loads(head.body), head.winner_rev, body, head.kind)
        parent = Version(head.winner_rev, None, json.loads(head.body), head.deleted)
        full = _stamped(body) if not deleted else _stamped({})
        if not deleted:
            try:
                schema.check_body(head.kind, full)
            except schema.RecordInvalid as exc:
                raise RecordError(
                    _l("The record is not valid: %(problem)s", problem=str(exc))
                ) from None
        version = next_version(parent, full, deleted=deleted)
        _store(head.kind, record_id, version)
        _log_change(
            "record.deleted" if deleted else "record.updated",
            head.kind,
            record_id,
            version.rev,
            parent=base_rev,
        )
    return version.rev


def live_leaves(record_id: str) -> list[Version]:
    """The winner first, then every conflicting live version of a record."""
    resolution = resolve(load_versions(record_id))
    return [resolution.winner, *resolution.conflicts]


def resolve_conflict(record_id: str, body: Mapping[str, Any], base_revs: Iterable[str]) -> str:
    """End a conflict: save ``body`` as the record's value, built on every conflicting version.

    ``base_revs`` are the live versions the person compared; if the record has others now
    (a merge brought one), the resolution is refused with :class:`StaleRecord`. The result is
    a new version on the winner plus a deletion on top of each other live version, CouchDB's
    way: the deletions make the losers leaves that are no longer live, so after the next
    export and merge the resolution wins on every installation, whatever order files come in,
    and the bundle format needs no second parent.
    """
    with writing():
        head = db.session.get(RecordHead, record_id)
        if head is None:
            raise RecordError(_l("This record does not exist."))
        leaves = live_leaves(record_id)
        if sorted(v.rev for v in leaves) != sorted(set(base_revs)):
            raise StaleRecord(json.loads(head.body), head.winner_rev, body, head.kind)
        full = _stamped(body)
        try:
            schema.check_body(head.kind, full)
            schema.check_record_id(head.kind, record_id, full)
        except schema.RecordInvalid as exc:
            raise RecordError(
                _l("The record is not valid: %(problem)s", problem=str(exc))
            ) from None
        winner, losers = leaves[0], leaves[1:]
        made = [next_version(winner, full)]
        made += [next_version(loser, _stamped({}), deleted=True) for loser in losers]
        store_versions(head.kind, record_id, made)
        _log_change(
            "record.resolved",
            head.kind,
            record_id,
            made[0].rev,
            parents=[v.rev for v in leaves],
        )
    return made[0].rev


def save_many(
    kind: str, bodies: Mapping[str, Mapping[str, Any]], action: str = "record.bulk"
) -> int:
    """Create or update many records of ``kind`` at once, each on its current winner.

    For bulk actions (review of a filter's selection): a record whose current body already
    equals the new one (apart from stamps) is left alone. Returns how many changed; the
    activity log gets one ``action`` entry with the count, not one per record.
    """
    changed = 0
    with writing():
        for chunk in _chunks(list(bodies)):
            heads = {
                h.record_id: h
                for h in db.session.execute(
                    select(RecordHead).where(RecordHead.record_id.in_(chunk))
                ).scalars()
            }
            made: dict[str, list[Version]] = {}
            for record_id in chunk:
                full = _stamped(bodies[record_id])
                try:
                    schema.check_body(kind, full)
                    schema.check_record_id(kind, record_id, full)
                except schema.RecordInvalid as exc:
                    raise RecordError(
                        _l("The record is not valid: %(problem)s", problem=str(exc))
                    ) from None
                head = heads.get(record_id)
                if head is None:
                    made[record_id] = [first_version(full)]
                    continue
                if head.kind != kind:
                    raise RecordError(_l("This record does not exist."))
                now = json.loads(head.body)
                if not head.deleted and _same(now, full):
                    continue
                parent = Version(head.winner_rev, None, now, head.deleted)
                made[record_id] = [next_version(parent, full)]
            for record_id, versions in made.items():
                for version in versions:
                    db.session.add(
                        RecordVersion(
                            record_id=record_id,
                            rev=version.rev,
                            kind=kind,
                            parent_rev=version.parent,
                            deleted=version.deleted,
                            body=body_text(version.body),
                        )
                    )
            db.session.flush()
            refresh_heads({record_id: kind for record_id in made})
            changed += len(made)
        if changed:
            from . import audit

            actor = _actor.get()
            audit.record_detail(
                action, actor.user_id if actor else None, kind, {"kind": kind, "count": changed}
            )
    return changed


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal apart from the display-only stamps."""
    from .sync.revisions import DISPLAY_ONLY

    return {k: v for k, v in a.items() if k not in DISPLAY_ONLY} == {
        k: v for k, v in b.items() if k not in DISPLAY_ONLY
    }


def delete(record_id: str, base_rev: str) -> str:
    """Delete a record (a deletion is a version too, so it syncs)."""
    return update(record_id, {}, base_rev, deleted=True)


def submission_row(record: Mapping[str, Any], canonical: str | None = None) -> dict[str, Any]:
    """The database row of a valid submission record (``canonical``: its stored text, if known)."""
    return {
        "uuid": record["uuid"],
        "consultation_id": record["consultation"],
        "device_id": record["device"],
        "channel": record["channel"],
        "language": record["language"],
        "body": canonical if canonical is not None else body_text(record),
    }


def submission_id_for(idempotency_key: str) -> str:
    """The id a submission made here with this idempotency key has (or will have)."""
    return str(uuid.uuid5(uuid.UUID(this_device_id()), idempotency_key))


def submission_count(consultation_id: str) -> int:
    """How many submissions a consultation has."""
    return int(
        db.session.execute(
            select(func.count())
            .select_from(Submission)
            .where(Submission.consultation_id == consultation_id)
        ).scalar_one()
    )


def new_submission(
    consultation_id: str,
    answers: Mapping[str, Any],
    language: str,
    channel: str,
    idempotency_key: str,
    demographics: Mapping[str, Any] | None = None,
    consent: bool = True,
    consent_method: str | None = None,
) -> dict[str, Any]:
    """A checked submission record made on this device, not yet saved.

    ``consent_method`` says how consent was given (``schema.CONSENT_METHODS``); it must agree
    with ``consent`` ("not asked" is no consent) and the channel, or the record is refused.
    """
    device = this_device_id()
    record: dict[str, Any] = {
        "uuid": submission_id_for(idempotency_key),
        "consultation": consultation_id,
        "device": device,
        "created_at": utc_stamp(),
        "language": language,
        "channel": channel,
        "consent": consent,
        "idempotency_key": idempotency_key,
        "answers": dict(answers),
    }
    if demographics:
        record["demographics"] = dict(demographics)
    if consent_method is not None:
        record["consent_method"] = consent_method
    try:
        schema.check_submission(record)
    except schema.RecordInvalid as exc:
        raise RecordError(_l("The record is not valid: %(problem)s", problem=str(exc))) from None
    return record


def store_submission(record: Mapping[str, Any]) -> str:
    """Save a record of :func:`new_submission` once: a second save of its id changes nothing."""
    with writing() as session:
        if session.get(Submission, record["uuid"]) is None:
            session.add(Submission(**submission_row(record)))
            session.flush()
            contributions.index_submissions([record])
    return str(record["uuid"])


def add_submission(
    consultation_id: str,
    answers: Mapping[str, Any],
    language: str,
    channel: str,
    idempotency_key: str,
    demographics: Mapping[str, Any] | None = None,
    consent: bool = True,
    consent_method: str | None = None,
) -> str:
    """Save one participant's input once: the same idempotency key never makes a second row."""
    return store_submission(
        new_submission(
            consultation_id,
            answers,
            language,
            channel,
            idempotency_key,
            demographics,
            consent,
            consent_method,
        )
    )


def submissions(consultation_id: str) -> Iterable[Submission]:
    """The submissions of a consultation."""
    return db.session.execute(
        select(Submission).where(Submission.consultation_id == consultation_id)
    ).scalars()
