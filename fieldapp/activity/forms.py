"""The Activity page's filters, read from the URL (a filtered view can be bookmarked)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l

from ..services.activity import FilterInvalid, Filters

# The query-string names of the filters, in the order the form shows them.
FILTER_NAMES = ("account", "action", "from", "to")


@dataclass(frozen=True)
class ActivityQuery:
    """The filters and the paging position asked for in the URL."""

    filters: Filters
    before: int | None = None
    after: int | None = None

    def args(self) -> dict[str, str]:
        """The filters as query-string values (for paging links that keep them)."""
        values = {
            "account": self.filters.account or "",
            "action": self.filters.action or "",
            "from": self.filters.date_from.isoformat() if self.filters.date_from else "",
            "to": self.filters.date_to.isoformat() if self.filters.date_to else "",
        }
        return {name: value for name, value in values.items() if value}


def _day(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterInvalid(
            _l("“%(value)s” is not a date. Write it as 2026-03-12 (year-month-day).", value=value)
        ) from None


def _position(value: str) -> int | None:
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise FilterInvalid(_l("This page of the activity log does not exist."))
    return int(value)


def read_query(args: Mapping[str, str]) -> ActivityQuery:
    """The filters in ``args``; raises FilterInvalid with a message for a value that is wrong."""
    text = {
        name: (args.get(name) or "").strip()[:100] for name in (*FILTER_NAMES, "before", "after")
    }
    return ActivityQuery(
        Filters(
            account=text["account"] or None,
            action=text["action"] or None,
            date_from=_day(text["from"]),
            date_to=_day(text["to"]),
        ),
        before=_position(text["before"]),
        after=_position(text["after"]),
    )
