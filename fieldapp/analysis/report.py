"""The printable report of a filter set (``analysis.report``): always suppressed.

Whatever the session says (an analyst may have exact counts on, on screen), the report is a
document meant to leave the office: :func:`fieldapp.services.analysis.report.build` never asks
for exact counts. Printed from the browser to PDF with ``static/css/report.css``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import access
from ..i18n import current_language, pick
from ..services import contribution_query as query
from ..services.analysis import report as reports
from . import bp


def _names(choices: query.Choices) -> dict[str, str]:
    """Display names (reader's language) of the ids a filter may name."""
    code = current_language().code
    names: dict[str, str] = {query.NOT_CODED: _("Not yet coded")}
    for c in choices.consultations:
        names[c.id] = pick(c.title, code, c.original_language)[0] or c.id
    for q in choices.questions:
        names[q.id] = pick(q.text, code, q.original_language)[0] or q.id
    for item in choices.codes:
        names[item.id] = pick(item.name, code, item.original_language)[0] or item.id
    for g in choices.groups:
        names[g.id] = pick(g.label, code, None)[0] or g.id
    return names


@bp.get("/report")
def report() -> str:
    """The report of the filter in the URL, in the reader's language, suppressed."""
    filters, problems = query.parse_filters(request.args)
    if filters.text and current_user.role not in access.OFFICE:
        filters = replace(filters, text="")  # a viewer never searches what people said
    built = reports.build(filters, k=int(current_app.config["MIN_CELL_COUNT"]))
    words: list[tuple[Any, list[str]]] = reports.filter_words(filters, _names(query.choices()))
    return render_template("analysis/report.html", report=built, words=words, problems=problems)
