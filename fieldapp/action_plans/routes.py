"""Views of the Action plans pages (thin: parse, call the service, render or redirect)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from ..consultations.labels import LABELS
from ..services import action_plans, records, review
from ..services import contribution_query as query
from ..services.errors import FieldappError
from ..services.sync import schema
from . import bp
from .forms import LinkForm

Redirect = WerkzeugResponse


def _status_problems(values: list[str]) -> tuple[tuple[str, ...], list[query.FilterProblem]]:
    """The statuses asked for, and a problem for each that does not exist."""
    kept, problems = [], []
    for value in dict.fromkeys(v.strip() for v in values if v.strip()):
        if value in schema.ACTION_STATUSES:
            kept.append(value)
        else:
            problems.append(
                query.FilterProblem(
                    "status",
                    value,
                    _("There is no status %(value)s; that filter was left out.", value=value),
                )
            )
    return tuple(kept), problems


@bp.get("/action-plans/")
def index() -> str:
    """Every action point across consultations, filtered, with counts per status and place."""
    filters, problems = query.parse_filters(request.args)
    statuses, status_problems = _status_problems(request.args.getlist("status"))
    overdue_only = request.args.get("overdue") == "1"
    today = date.today()
    found = action_plans.rows(filters, statuses=statuses, overdue_only=overdue_only, today=today)
    return render_template(
        "action_plans/index.html",
        filters=filters,
        problems=[*problems, *status_problems],
        statuses=statuses,
        overdue_only=overdue_only,
        actions=found,
        counts=action_plans.table_of(found),
        choices=query.choices(),
        status_labels=LABELS["action_statuses"],
        today=today,
    )


def _codes_shown() -> tuple[list[Any], dict[str, Any]]:
    """The codebook's active themes (with sub-themes) and every code by id, for the page."""
    return review.active_codes(), {code.id: code for code in query.choices().codes}


@bp.get("/action-plans/<action_id>")
def action(action_id: str) -> str:
    """One action point: its progress notes, consultation, and what it was linked to."""
    try:
        row = action_plans.get(action_id)
    except FieldappError:
        abort(404)
    themes, codes = _codes_shown()
    active_ids = {t.id for t in themes} | {s.id for t in themes for s in t.children}
    form = LinkForm(formdata=None)
    form.base_rev.data = row.rev
    return render_template(
        "action_plans/action.html",
        action=row,
        themes=themes,
        codes=codes,
        inactive_links=[c for c in row.codes if c not in active_ids],
        linked=[(pair, query.by_answer(*pair)) for pair in row.contributions],
        form=form,
        status_labels=LABELS["action_statuses"],
    )


def _pasted(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The contributions named in a pasted block, and the lines that name none."""
    found, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        ref = action_plans.parse_contribution_ref(line)
        if ref is None:
            bad.append(line.strip()[:80])
        else:
            found.append(ref)
    return found, bad


@bp.post("/action-plans/<action_id>/links")
def link(action_id: str) -> Redirect:
    """Save the codes and contributions an action point is linked to, on the version shown."""
    back = redirect(url_for("action_plans.action", action_id=action_id))
    try:
        row = action_plans.get(action_id)
    except FieldappError:
        abort(404)
    form = LinkForm()
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return back
    added, bad = _pasted(form.add.data or "")
    if bad:
        flash(
            _(
                "“%(value)s” is not a contribution key or a contribution's address; "
                "nothing was linked.",
                value=bad[0],
            ),
            "error",
        )
        return back
    removed = set(request.form.getlist("remove"))
    kept = [pair for pair in row.contributions if "/".join(pair) not in removed]
    try:
        action_plans.link(
            row.id, form.base_rev.data or "", request.form.getlist("code"), [*kept, *added]
        )
    except records.StaleRecord:
        flash(
            _(
                "Someone else changed this action point since you opened it; it is shown as "
                "it is now. Make your change again."
            ),
            "warning",
        )
        return back
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return back
    flash(_("Links saved."), "success")
    return back
