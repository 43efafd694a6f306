"""The Activity page: who did what, where, for coordinators (read only: GET routes only)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from ..consultations.labels import field_label, shown
from ..i18n import list_of as joined
from ..i18n import multilingual
from ..labels import CODE_STATUS_LABELS, EXCLUSION_REASON_LABELS, REVIEW_STATE_LABELS
from ..services import activity
from . import bp
from .forms import read_query

# Fields of the review, coding and codebook records, as their screens call them.
REVIEW_FIELDS: dict[str, Any] = {
    "state": _l("Review state"),
    "reason": _l("Reason"),
    "note": _l("Note"),
    "codes": _l("Codes"),
    "submission": _l("Submission"),
    "question": _l("Question"),
    "consultation": _l("Consultation"),
    "name": _l("Name"),
    "colour": _l("Colour"),
    "status": _l("Status"),
    "description": _l("Description"),
    "parent": _l("Theme"),
    "merged_into": _l("Merged into"),
    "position": _l("Position"),
}
REVIEW_VALUES: dict[str, dict[str, Any]] = {
    "state": REVIEW_STATE_LABELS,
    "reason": EXCLUSION_REASON_LABELS,
    "status": CODE_STATUS_LABELS,
}


# Each kind of record as the Activity page names it, and its count in an export.
KIND_LABELS: dict[str, Any] = {
    "consultation": _l("Consultation"),
    "question": _l("Question"),
    "attendance": _l("Attendance"),
    "action_point": _l("Action point"),
    "template": _l("Template"),
    "code": _l("Code"),
    "review": _l("Review"),
    "coding": _l("Coding"),
}
COUNT_LABELS: dict[str, Any] = {
    "consultation": _l("Consultations"),
    "question": _l("Questions"),
    "attendance": _l("Attendance"),
    "action_point": _l("Action points"),
    "template": _l("Templates"),
    "code": _l("Codes"),
    "review": _l("Review states"),
    "coding": _l("Codings"),
    "submission": _l("Submissions"),
}


def _label(kind: str, name: str) -> Any:
    if kind in activity.REVIEW_KINDS:
        return REVIEW_FIELDS.get(name, name)
    label = field_label(kind, name)
    return REVIEW_FIELDS.get(name, name) if label == name else label  # e.g. "position"


def _value(kind: str, name: str, value: Any, codes: dict[str, Any]) -> Any:
    """A stored value as the reader knows it from the record's own screen."""
    if kind in activity.REVIEW_KINDS:
        if name == "codes" and isinstance(value, list):
            return joined(multilingual(*codes[c]) if c in codes else c for c in value)
        choices = REVIEW_VALUES.get(name)
        if choices is not None and isinstance(value, str):
            return choices.get(value, value)
    return shown(kind, name, value)


def _url(link: tuple[str, dict[str, str]] | None) -> str | None:
    """The address of a link target (None while its page does not exist in this build)."""
    if link is None:
        return None
    values: dict[str, Any] = dict(link[1])
    try:
        return url_for(link[0], **values)
    except BuildError:
        return None


def _rows(page: activity.Page) -> list[dict[str, Any]]:
    """Each entry with its link address and its changes in the words of the forms."""
    codes = activity.code_names(page.entries)
    rows = []
    for entry in page.entries:
        kind = entry.kind or ""
        changes = [
            (
                _label(kind, c.name),
                _value(kind, c.name, c.old, codes),
                _value(kind, c.name, c.new, codes),
            )
            for c in entry.changes or ()
        ]
        rows.append({"entry": entry, "url": _url(entry.link), "changes": changes})
    return rows


@bp.route("/activity")
def index() -> tuple[str, int] | str:
    """The activity log, newest first, filtered by account, kind of activity and dates."""
    error = None
    page = activity.Page()
    query = None
    try:
        query = read_query(request.args)
        page = activity.events(query.filters, before_id=query.before, after_id=query.after)
    except activity.FilterInvalid as exc:
        error = exc.message
    html = render_template(
        "activity/index.html",
        rows=_rows(page),
        page=page,
        error=error,
        chosen={name: request.args.get(name, "") for name in ("account", "action", "from", "to")},
        kept=query.args() if query else {},
        kind_labels=KIND_LABELS,
        count_labels=COUNT_LABELS,
        accounts=activity.accounts(),
        command_line=activity.COMMAND_LINE,
        categories=activity.CATEGORIES,
        types=activity.TYPES,
    )
    return (html, 400) if error else html
