"""Action plans followed up at head office: every action point, its links, "you said, we did".

Action points are versioned records of kind ``action_point`` (agreed at a consultation, noted
on at follow-up meetings). Head office reads them across consultations with the
consultation-level filters of the Contributions page, counts them per status and governorate,
links each to the codes and contributions that led to it, and shows per theme what people said
and what was done about it. Links are saved as a new version of the action point (so they sync
and a stale page is refused), never as rows of their own.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, distinct, func, select, tuple_

from ..extensions import db
from ..i18n import LazyText
from ..models import Contribution, ContributionCode, RecordHead
from . import contribution_query, workspace
from .analysis.tables import Row, Table, table
from .errors import FieldappError
from .sync import schema

HEADS = RecordHead.__table__
TABLE = Contribution.__table__
CODES = ContributionCode.__table__
CLOSED_STATUSES = ("done", "dropped")
PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}
MAX_CODES = 50
MAX_CONTRIBUTIONS = 200
NO_GOVERNORATE = "__none__"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

__all__ = [
    "ActionPlanError",
    "ActionRow",
    "FollowUp",
    "get",
    "link",
    "parse_contribution_ref",
    "rows",
    "status_table",
    "table_of",
    "you_said_we_did",
]


class ActionPlanError(FieldappError):
    """Links were refused; ``message`` says why and nothing was changed."""


@dataclass(frozen=True)
class ActionRow:
    """One action point as the Action plans pages, the dashboard and the report show it."""

    id: str
    rev: str
    consultation_id: str
    consultation_title: Mapping[str, str]
    governorate: str | None
    district: str | None
    held_on: str | None
    text: Mapping[str, str]
    original_language: str
    responsible: str | None
    due_on: str | None
    priority: str
    status: str
    notes: Sequence[Mapping[str, str]]  # [{on, text}], oldest first as written
    overdue: bool
    codes: tuple[str, ...]
    contributions: tuple[tuple[str, str], ...]  # (submission, question)
    consultation_language: str | None = None  # the consultation title's original language

    @property
    def latest_note(self) -> Mapping[str, str] | None:
        """The most recent progress note (by its date, the later written on a tie)."""
        if not self.notes:
            return None
        dated = sorted(enumerate(self.notes), key=lambda n: (str(n[1].get("on") or ""), n[0]))
        return dated[-1][1]

    @property
    def notes_by_date(self) -> list[Mapping[str, str]]:
        """Every progress note, oldest first."""
        dated = sorted(enumerate(self.notes), key=lambda n: (str(n[1].get("on") or ""), n[0]))
        return [note for _i, note in dated]


@dataclass(frozen=True)
class FollowUp:
    """One theme: how many contributions in the filter were coded with it, and what was done."""

    code_id: str
    name: Mapping[str, str]
    colour: str
    contributions: int
    actions: Sequence[ActionRow]
    original_language: str | None = None


def is_overdue(body: Mapping[str, Any], today: date) -> bool:
    """Due before today and neither done nor dropped."""
    due = body.get("due_on")
    return bool(due) and str(due) < today.isoformat() and body.get("status") not in CLOSED_STATUSES


def _consultations() -> dict[str, workspace.Item]:
    """Every live consultation, placed as the current list of places says."""
    return {item.id: item for item in workspace.list_consultations()}


def _action_bodies() -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(id, rev, body) of every live action point."""
    for record_id, rev, body in db.session.execute(
        select(HEADS.c.record_id, HEADS.c.winner_rev, HEADS.c.body).where(
            HEADS.c.kind == "action_point", HEADS.c.deleted.is_(False)
        )
    ):
        yield record_id, rev, json.loads(body)


def _in_dates(filters: contribution_query.Filters, held_on: str | None) -> bool:
    """Whether a consultation held on ``held_on`` is within the filter's dates."""
    if not (filters.date_from or filters.date_to):
        return True
    if not held_on:
        return False
    if filters.date_from and held_on < filters.date_from:
        return False
    return not (filters.date_to and held_on > filters.date_to)


def _row(
    record_id: str, rev: str, body: Mapping[str, Any], consultation: workspace.Item, today: date
) -> ActionRow:
    c = consultation.body
    return ActionRow(
        id=record_id,
        rev=rev,
        consultation_id=consultation.id,
        consultation_title=c.get("title") or {},
        governorate=c.get("governorate"),
        district=c.get("district"),
        held_on=c.get("starts_on"),
        text=body.get("text") or {},
        original_language=str(body.get("original_language") or "en"),
        responsible=body.get("responsible") or None,
        due_on=body.get("due_on") or None,
        priority=str(body.get("priority") or "medium"),
        status=str(body.get("status") or "proposed"),
        notes=tuple(body.get("notes") or ()),
        overdue=is_overdue(body, today),
        codes=tuple(body.get("codes") or ()),
        contributions=tuple(
            (str(c["submission"]), str(c["question"])) for c in body.get("contributions") or ()
        ),
        consultation_language=c.get("original_language"),
    )


def _sort_key(row: ActionRow) -> tuple[Any, ...]:
    return (
        row.due_on or "9999-12-31",
        PRIORITY_ORDER.get(row.priority, 3),
        row.held_on or "",
        row.consultation_id,
        row.id,
    )


def rows(
    filters: contribution_query.Filters,
    *,
    statuses: Sequence[str] = (),
    overdue_only: bool = False,
    today: date | None = None,
) -> list[ActionRow]:
    """Every action point of the consultations the filter allows, soonest due first.

    Only the consultation-level filters apply (programme, governorate, district, kind,
    consultation, questions' consultations, and the dates on the consultation's first day);
    the filters on answers say nothing about action points.
    """
    today = today or date.today()
    allowed = contribution_query._consultations_for(filters)  # noqa: SLF001 -- the shared rule
    consultations = _consultations()
    found = []
    for record_id, rev, body in _action_bodies():
        consultation = consultations.get(str(body.get("consultation")))
        if consultation is None:  # its consultation was deleted: nothing to follow up
            continue
        if allowed is not None and consultation.id not in allowed:
            continue
        if not _in_dates(filters, consultation.body.get("starts_on")):
            continue
        if statuses and body.get("status") not in statuses:
            continue
        if overdue_only and not is_overdue(body, today):
            continue
        found.append(_row(record_id, rev, body, consultation, today))
    found.sort(key=_sort_key)
    return found


def get(action_id: str, today: date | None = None) -> ActionRow:
    """One live action point of a live consultation, or :class:`ActionPlanError`."""
    try:
        item = workspace.get(action_id, "action_point")
        consultation = workspace.get(str(item.body.get("consultation")), "consultation")
    except workspace.WorkspaceError:
        raise ActionPlanError(_l("This action point does not exist.")) from None
    return _row(item.id, item.rev, item.body, consultation, today or date.today())


def _place_label(code: str | None) -> Any:
    """A governorate's name in the reader's language, looked up when it is shown."""
    if not code:
        return _l("No governorate")
    from ..consultations.labels import place_name  # the web layer's words, loaded on use

    return LazyText(place_name, code)


def status_table(filters: contribution_query.Filters, today: date | None = None) -> Table:
    """Action points per governorate (rows) and status (columns), with totals; exact counts.

    The dashboard publishes it through suppression; the Action plans page lists the same
    action points one by one, so it shows the exact counts.
    """
    return table_of(rows(filters, today=today))


def table_of(actions: Iterable[ActionRow]) -> Table:
    """Some action points counted per governorate (rows) and status (columns), with totals."""
    from ..consultations.labels import LABELS  # the web layer's words, loaded on use

    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in actions:
        counts[row.governorate or NO_GOVERNORATE][row.status] += 1
    governorates = sorted(
        counts, key=lambda g: (g == NO_GOVERNORATE, str(_place_label(g)).casefold(), g)
    )
    return table(
        "actions_by_status",
        _l("Action points by status"),
        [LABELS["action_statuses"][s] for s in schema.ACTION_STATUSES],
        [
            Row(
                _place_label(None if g == NO_GOVERNORATE else g),
                tuple(counts[g][s] for s in schema.ACTION_STATUSES),
                key=g,
            )
            for g in governorates
        ],
        totals=True,
    )


def parse_contribution_ref(text: str) -> tuple[str, str] | None:
    """(submission, question) from a pasted contribution key or a contribution page's address.

    A key is ``time|submission|question``, an address ends ``/contributions/<sub>/<question>``:
    both hold exactly two ids, the submission's first.
    """
    ids = _UUID.findall(text.strip().lower())
    if len(ids) != 2:
        return None
    return ids[0], ids[1]


def _missing_codes(code_ids: Sequence[str]) -> list[str]:
    present = set(
        db.session.execute(
            select(HEADS.c.record_id).where(
                HEADS.c.kind == "code",
                HEADS.c.deleted.is_(False),
                HEADS.c.record_id.in_(code_ids),
            )
        ).scalars()
    )
    return [c for c in code_ids if c not in present]


def _missing_contributions(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    present: set[tuple[str, str]] = set()
    for start in range(0, len(pairs), 100):
        chunk = pairs[start : start + 100]
        present.update(
            (s, q)
            for s, q in db.session.execute(
                select(TABLE.c.submission_uuid, TABLE.c.question_id).where(
                    tuple_(TABLE.c.submission_uuid, TABLE.c.question_id).in_(chunk)
                )
            )
        )
    return [p for p in pairs if p not in present]


def link(
    action_id: str,
    base_rev: str,
    codes: Sequence[str],
    contributions: Sequence[tuple[str, str]],
) -> str:
    """Set the codes and contributions an action point came from, on the version shown.

    Every code must be in the codebook and every contribution held here; otherwise, or when
    the action point changed since ``base_rev``, nothing is saved. Returns the new version.
    """
    try:
        item = workspace.get(action_id, "action_point")
    except workspace.WorkspaceError:
        raise ActionPlanError(_l("This action point does not exist.")) from None
    chosen_codes = list(dict.fromkeys(str(c) for c in codes))
    chosen_pairs = list(dict.fromkeys((str(s), str(q)) for s, q in contributions))
    if len(chosen_codes) > MAX_CODES:
        raise ActionPlanError(
            _l("An action point can be linked to at most %(max)s codes.", max=MAX_CODES)
        )
    if len(chosen_pairs) > MAX_CONTRIBUTIONS:
        raise ActionPlanError(
            _l(
                "An action point can be linked to at most %(max)s contributions.",
                max=MAX_CONTRIBUTIONS,
            )
        )
    missing = _missing_codes(chosen_codes) if chosen_codes else []
    if missing:
        raise ActionPlanError(
            _l("There is no code %(value)s in the codebook; nothing was linked.", value=missing[0])
        )
    gone = _missing_contributions(chosen_pairs) if chosen_pairs else []
    if gone:
        raise ActionPlanError(
            _l(
                "There is no contribution %(value)s here; nothing was linked.",
                value=f"{gone[0][0]} / {gone[0][1]}",
            )
        )
    changes = {
        "codes": chosen_codes,
        "contributions": [{"submission": s, "question": q} for s, q in chosen_pairs],
    }
    try:
        return workspace.update_fields(item, changes, base_rev)
    except workspace.WorkspaceError as exc:
        raise ActionPlanError(exc.message) from None


# ---- you said, we did -----------------------------------------------------------------------


def _code_bodies() -> dict[str, dict[str, Any]]:
    """Every live code record's body, by id."""
    return {
        record_id: json.loads(body)
        for record_id, body in db.session.execute(
            select(HEADS.c.record_id, HEADS.c.body).where(
                HEADS.c.kind == "code", HEADS.c.deleted.is_(False)
            )
        )
    }


def theme_of(code_id: str, codes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The top-level code a code counts under: merges followed to their target, sub-codes
    folded into their theme. None for a code this installation does not hold."""
    seen: set[str] = set()
    current: str | None = code_id
    while current is not None and current in codes and current not in seen:
        seen.add(current)
        body = codes[current]
        if body.get("merged_into"):
            current = body["merged_into"]
        elif body.get("parent"):
            current = body["parent"]
        else:
            return current
    return None


def _contribution_codes(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """The effective codes of some contributions, by (submission, question)."""
    wanted = list(dict.fromkeys(pairs))
    found: dict[tuple[str, str], list[str]] = {}
    for start in range(0, len(wanted), 100):
        chunk = wanted[start : start + 100]
        for submission, question, codes in db.session.execute(
            select(TABLE.c.submission_uuid, TABLE.c.question_id, TABLE.c.codes).where(
                tuple_(TABLE.c.submission_uuid, TABLE.c.question_id).in_(chunk)
            )
        ):
            found[(submission, question)] = (codes or "").split()
    return found


def you_said_we_did(
    filters: contribution_query.Filters, today: date | None = None
) -> list[FollowUp]:
    """Per theme: the contributions in the filter coded with it and the action points linked.

    An action point counts under a theme when it is linked to the theme, to one of its
    sub-codes, or to a contribution coded with either. Themes with neither contributions nor
    action points are left out; the rest come most-said first.
    """
    codes = _code_bodies()
    themes = {code_id: theme_of(code_id, codes) for code_id in codes}
    said: dict[str, int] = {}
    mapping = {code_id: theme for code_id, theme in themes.items() if theme is not None}
    if mapping:
        theme = case(mapping, value=CODES.c.code_id)
        query = (
            select(theme, func.count(distinct(CODES.c.contribution_key)))
            .select_from(CODES.join(TABLE, TABLE.c.key == CODES.c.contribution_key))
            .where(*contribution_query.conditions(filters), CODES.c.code_id.in_(sorted(mapping)))
            .group_by(theme)
        )
        said = {str(t): int(n) for t, n in db.session.execute(query) if t is not None}
    actions = rows(filters, today=today)
    coded = _contribution_codes(pair for a in actions for pair in a.contributions)
    done: dict[str, list[ActionRow]] = defaultdict(list)
    for action in actions:
        linked = {themes.get(c) for c in action.codes}
        for pair in action.contributions:
            linked.update(themes.get(c) for c in coded.get(pair, ()))
        for theme_id in sorted(t for t in linked if t is not None):
            done[theme_id].append(action)
    follow_ups = []
    for theme_id in set(said) | set(done):
        body = codes.get(theme_id, {})
        follow_ups.append(
            FollowUp(
                code_id=theme_id,
                name=body.get("name") or {},
                colour=str(body.get("colour") or "#777777"),
                contributions=said.get(theme_id, 0),
                actions=tuple(done.get(theme_id, ())),
                original_language=body.get("original_language"),
            )
        )
    follow_ups.sort(
        key=lambda f: (
            -f.contributions,
            -len(f.actions),
            int(codes.get(f.code_id, {}).get("position") or 0),
            f.code_id,
        )
    )
    return follow_ups
