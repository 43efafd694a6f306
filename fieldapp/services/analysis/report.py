"""What the printed report of a filter set holds, in the order it prints (issue #11).

The report is a document that leaves the office (a donor, a ministry), so it is **always
suppressed**: the dashboard is built with ``exact=False`` whatever the reader's session says,
and every count this module adds (the consultations by kind and governorate) goes through
:func:`~fieldapp.services.analysis.suppression.suppress` as well.

Consultations are public meetings, not people, and the report lists every one of them by name,
so their count is no secret; they are suppressed all the same, so that every count cell of the
report follows one rule and a reader (or a test) never has to know which counts are "safe".

Shared by the web page (``analysis.report``) and, later, a command line; nothing here renders
HTML. Texts in several languages stay mappings (the template picks the reader's language).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ...consultations.labels import LABELS, place_name
from ...extensions import db
from ...labels import REVIEW_STATE_LABELS
from ...models import Device
from .. import action_plans
from .. import contribution_query as query
from . import dashboard as dashboards
from . import suppression
from .tables import Row, Table, table

__all__ = ["ConsultationLine", "Report", "ThemeSection", "build", "filter_words"]


@dataclass(frozen=True)
class ConsultationLine:
    """One consultation of the report's list."""

    id: str
    title: Mapping[str, str]
    original_language: str | None
    kind: str
    governorate: str | None
    district: str | None
    place: str
    held_on: str | None
    programme: str = ""


@dataclass(frozen=True)
class ThemeSection:
    """One theme: its contributions (published rows), quotes, and what was done."""

    code_id: str
    name: Mapping[str, str]  # the theme's name in every language it has
    original_language: str | None
    colour: str
    counts: Sequence[Row]  # published rows of the dashboard's codes table: theme, sub-codes
    quotes: Sequence[dashboards.Quote]
    actions: Sequence[action_plans.ActionRow]


@dataclass(frozen=True)
class Report:
    """Everything the printed report shows, every count already published (suppressed)."""

    filters: query.Filters
    k: int
    generated_on: date
    installation: str
    first_day: str | None
    last_day: str | None
    dashboard: dashboards.Dashboard
    consultation_list: Sequence[ConsultationLine]
    consultations: Table  # kinds x governorates, published
    themes: Sequence[ThemeSection]
    actions: Sequence[action_plans.ActionRow]

    @property
    def programmes(self) -> list[str]:
        """The programmes of the listed consultations, each once, in order of first meeting."""
        return list(
            dict.fromkeys(line.programme for line in self.consultation_list if line.programme)
        )

    def tables(self) -> list[Table]:
        """Every table of counts the report prints (all published)."""
        return [self.consultations, *self.dashboard.tables()]


def _installation_name() -> str:
    """The name this installation was given at ``fieldapp init``."""
    name = db.session.execute(select(Device.name).where(Device.is_self.is_(True))).scalar()
    return str(name or "")


def _in_dates(day: str | None, filters: query.Filters) -> bool:
    """Whether a consultation held on ``day`` falls in the filter's dates (as rows do)."""
    if filters.date_from and (day is None or day < filters.date_from):
        return False
    return not (filters.date_to and (day is None or day > filters.date_to))


def consultation_lines(filters: query.Filters) -> list[ConsultationLine]:
    """The consultations the filter's consultation-level fields allow, oldest first."""
    allowed = query._consultations_for(filters)
    lines = []
    for record_id, body in query._consultation_bodies():
        if allowed is not None and record_id not in allowed:
            continue
        if filters.consultations and record_id not in filters.consultations:
            continue
        day = body.get("starts_on")
        if not _in_dates(day, filters):
            continue
        lines.append(
            ConsultationLine(
                record_id,
                body.get("title") or {},
                body.get("original_language"),
                str(body.get("kind") or ""),
                body.get("governorate"),
                body.get("district"),
                str(body.get("place") or ""),
                day,
                str(body.get("programme") or "")[:200],
            )
        )
    lines.sort(key=lambda line: (line.held_on or "", line.id))
    return lines


def consultation_table(lines: Sequence[ConsultationLine], k: int) -> Table:
    """Consultations by kind (rows) and governorate (columns), with totals, suppressed."""
    governorates = sorted({line.governorate or "" for line in lines})
    kinds = [kind for kind in LABELS["kinds"] if any(line.kind == kind for line in lines)]
    kinds += sorted({line.kind for line in lines} - set(kinds))
    rows = [
        Row(
            LABELS["kinds"].get(kind, kind),
            tuple(
                sum(1 for line in lines if line.kind == kind and (line.governorate or "") == gov)
                for gov in governorates
            ),
            key=kind,
        )
        for kind in kinds
    ]
    raw = table(
        "consultations_by_kind",
        _l("Consultations by kind and governorate"),
        [place_name(gov) if gov else _l("No governorate") for gov in governorates],
        rows,
        totals=True,
    )
    return suppression.suppress(raw, k)


def _theme_sections(
    dashboard: dashboards.Dashboard, follow_ups: Sequence[action_plans.FollowUp]
) -> list[ThemeSection]:
    """One section per theme of "you said, we did": published counts, quotes, actions.

    The counts are the rows of the dashboard's published codes table (the theme's own and its
    sub-codes'), never ``FollowUp.contributions``: that raw figure (theme and sub-codes
    together) would let a reader work a withheld sub-code's count out of the difference.
    Quotes are the theme's own, then its sub-codes', at most three.
    """
    codes = dashboard.codes
    rows = codes.rows[:-1] if codes.total_row else codes.rows
    by_key = {row.key: row for row in rows if row.key and row.cells}
    bodies = action_plans._code_bodies()
    sections = []
    for follow_up in follow_ups:
        family = [follow_up.code_id] + sorted(
            code_id
            for code_id in bodies
            if code_id != follow_up.code_id
            and action_plans.theme_of(code_id, bodies) == follow_up.code_id
        )
        quotes: dict[str, dashboards.Quote] = {}
        for code_id in family:
            for quote in dashboard.quotes.get(code_id, ()):
                quotes.setdefault(quote.key, quote)
        counted = [by_key[code_id] for code_id in family if code_id in by_key]
        sections.append(
            ThemeSection(
                follow_up.code_id,
                follow_up.name,
                follow_up.original_language,
                follow_up.colour,
                tuple(counted),
                tuple(quotes.values())[:3],
                tuple(follow_up.actions),
            )
        )
    return sections


def build(filters: query.Filters, *, k: int, today: date | None = None) -> Report:
    """The report of ``filters``: always suppressed (never the session's exact counts)."""
    today = today or date.today()
    dashboard = dashboards.build(filters, k=k, exact=False, today=today)
    lines = consultation_lines(filters)
    days = [line.held_on for line in lines if line.held_on]
    return Report(
        filters=filters,
        k=k,
        generated_on=today,
        installation=_installation_name(),
        first_day=filters.date_from or (min(days) if days else None),
        last_day=filters.date_to or (max(days) if days else None),
        dashboard=dashboard,
        consultation_list=lines,
        consultations=consultation_table(lines, k),
        themes=_theme_sections(dashboard, action_plans.you_said_we_did(filters, today=today)),
        actions=action_plans.rows(filters, today=today),
    )


# Filters field -> (label, how a value reads), for the title page's "filters in words".
_WORDS: dict[str, tuple[Any, Any]] = {
    "programmes": (_l("Programme"), None),
    "governorates": (_l("Governorate"), place_name),
    "districts": (_l("District"), place_name),
    "kinds": (_l("Kind of meeting"), LABELS["kinds"].get),
    "genders": (_l("Gender"), LABELS["genders"].get),
    "age_bands": (_l("Age band"), LABELS["ages"].get),
    "channels": (_l("Channel"), LABELS["channels"].get),
    "states": (_l("Review state"), REVIEW_STATE_LABELS.get),
}


def filter_words(
    filters: query.Filters, names: Mapping[str, str] | None = None
) -> list[tuple[Any, list[str]]]:
    """The filters as (label, values) in the reader's language; empty for "everything".

    ``names`` gives display names of ids (consultations, questions, codes, groups) when known.
    """
    names = names or {}
    words: list[tuple[Any, list[str]]] = []
    for field, (label, show) in _WORDS.items():
        values = getattr(filters, field)
        if values:
            words.append((label, [str((show(v) if show else None) or v) for v in values]))
    for field, label in (
        ("consultations", _l("Consultation")),
        ("questions", _l("Question")),
        ("codes", _l("Code")),
        ("groups", _l("Group")),
        ("languages", _l("Language of the answer")),
    ):
        values = getattr(filters, field)
        if values:
            words.append((label, [names.get(v, v) for v in values]))
    if filters.text:
        words.append((_l("Search the typed contributions"), [filters.text]))
    if filters.include_excluded:
        words.append((_l("Include excluded contributions"), [str(_l("Yes"))]))
    return words
