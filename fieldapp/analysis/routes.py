"""Views of the dashboard (thin: parse the filter, call the services, render or send a file).

One :func:`fieldapp.services.analysis.dashboard.build` per request. Exact counts are only ever
asked for when the account's role is an office role *and* it switched them on in this session;
files and viewers' pages are always suppressed.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from babel.numbers import format_decimal, format_percent
from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from ..auth import access
from ..database import writing
from ..i18n import current_language
from ..services import audit
from ..services import contribution_query as query
from ..services.analysis import charts, exports
from ..services.analysis import dashboard as dashboards
from ..services.analysis.tables import Cell, Table
from . import bp
from .forms import FILE_LANGUAGES, ExactForm, ExportForm, TablesForm

EXACT_KEY = "analysis_exact"
BREAKDOWNS = ("gender", "age")
MAX_QUERY = 4000


@bp.record_once
def _template_globals(state: Any) -> None:
    state.app.jinja_env.globals.update(
        analysis_bar=bar_svg,
        analysis_line=line_svg,
        analysis_percent=percent,
        analysis_decimal=decimal,
    )


def _direction() -> charts.Direction:
    return "rtl" if current_language().direction == "rtl" else "ltr"


def bar_svg(table: Table, column: int = 0, stacked: bool = False) -> Markup:
    """A bar chart of ``table`` in the reader's language and direction."""
    return charts.bar_chart(
        table,
        locale=current_language().locale,
        direction=_direction(),
        column=column,
        stacked=stacked,
    )


def line_svg(table: Table) -> Markup:
    """A line chart (months) of ``table`` in the reader's language and direction."""
    return charts.line_chart(table, locale=current_language().locale, direction=_direction())


def percent(value: float | None) -> str:
    """A share as the reader's language writes a percentage ("—" when it is withheld)."""
    if value is None:
        return "—"
    return format_percent(value, locale=current_language().locale)


def decimal(value: float | None) -> str:
    """A mean (one decimal) as the reader's language writes it."""
    if value is None:
        return "—"
    return format_decimal(round(value, 1), format="#,##0.0", locale=current_language().locale)


def is_office() -> bool:
    """Whether the signed-in account may see exact counts and row-level files."""
    return current_user.is_authenticated and current_user.role in access.OFFICE


def exact_on() -> bool:
    """Exact counts for this request: only an office role that switched them on."""
    return is_office() and bool(session.get(EXACT_KEY))


def _filters_from(args: Any) -> tuple[query.Filters, list[Any]]:
    """The filter of a request; a viewer's never searches the words people said."""
    filters, problems = query.parse_filters(args)
    if not is_office() and filters.text:
        filters = replace(filters, text="")
    return filters, problems


def _breakdown(args: Any) -> str | None:
    value = args.get("by", "")
    return value if value in BREAKDOWNS else None


def _query_string(filters: query.Filters, breakdown: str | None = None) -> str:
    pairs = list(query.filter_args(filters))
    if breakdown:
        pairs.append(("by", breakdown))
    return urlencode(pairs)


def _with_query(url: str, qs: str) -> str:
    return f"{url}?{qs}" if qs else url


def _carried() -> MultiDict[str, str]:
    """The dashboard query a form was posted from (its ``query`` field)."""
    return MultiDict(parse_qsl(request.form.get("query", "")[:MAX_QUERY]))


def _total(table: Table | None) -> Cell | None:
    """The last cell of a table's total row: the grand total, or (without a total column) the
    total of its last column, e.g. the submissions of the participation table."""
    if table is None or not table.rows or not table.total_row:
        return None
    return table.rows[-1].cells[-1]


def _build(filters: query.Filters, exact: bool, breakdown: str | None) -> Any:
    return dashboards.build(
        filters,
        k=int(current_app.config["MIN_CELL_COUNT"]),
        exact=exact,
        breakdown=breakdown,
    )


@bp.get("/")
def dashboard() -> str:
    """Figures, charts and tables for the filtered consultations (suppressed unless exact)."""
    filters, problems = _filters_from(request.args)
    breakdown = _breakdown(request.args)
    exact = exact_on()
    board = _build(filters, exact, breakdown)
    qs = _query_string(filters, breakdown)
    lang = current_language().code
    export_form = ExportForm(formdata=None, lang=lang)
    tables_form = TablesForm(formdata=None, lang=lang)
    exact_form = ExactForm(formdata=None, on="0" if exact else "1", query=qs)
    return render_template(
        "analysis/dashboard.html",
        board=board,
        filters=filters,
        problems=problems,
        breakdown=breakdown,
        choices=query.choices(),
        office=is_office(),
        exact=exact,
        qs=qs,
        filter_args=query.filter_args(filters),
        filter_qs=_query_string(filters),
        people=_total(board.attendance),
        submissions=_total(board.participation),
        report_url=_with_query(url_for("analysis.report"), _query_string(filters))
        if "analysis.report" in current_app.view_functions
        else None,
        plans_url=url_for("action_plans.index")
        if "action_plans.index" in current_app.view_functions
        else None,
        contributions_url=_with_query(url_for("review.contributions"), _query_string(filters)),
        export_form=export_form,
        tables_form=tables_form,
        exact_form=exact_form,
    )


@bp.post("/exact")
def exact_counts() -> Response:
    """Switch exact counts on screen on or off for this session, and log it."""
    on = request.form.get("on") == "1"
    session[EXACT_KEY] = on
    with writing():
        audit.record_detail(
            "analysis.exact_counts", current_user.id, None, {"on": on, "via": "web"}
        )
    if on:
        flash(_("Exact counts are on, on this screen only. Files and reports stay suppressed."))
    else:
        k = charts.count_text(int(current_app.config["MIN_CELL_COUNT"]), current_language().locale)
        flash(_("Exact counts are off: small counts are shown as “<%(k)s” again.", k=k))
    filters, _problems = query.parse_filters(_carried())
    return redirect(
        _with_query(url_for("analysis.dashboard"), _query_string(filters, _breakdown(_carried())))
    )


def _send(write: Any, fallback: str) -> Response:
    """Write a file into a private temporary file (gone once closed) and send it."""
    out = tempfile.TemporaryFile(prefix="fieldapp-analysis-")  # noqa: SIM115 -- send_file closes it
    try:
        done = write(out)
    except exports.ExportRefused as refused:
        out.close()
        flash(str(refused), "error")
        return redirect(fallback)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    response = send_file(
        out,
        mimetype=done.media_type,
        as_attachment=True,
        download_name=done.file_name,
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _file_language(form: Any) -> str:
    lang = form.lang.data
    return lang if lang in FILE_LANGUAGES else current_language().code


@bp.post("/export")
def export() -> Response:
    """A row-level file (CSV, XLSX or REFI-QDA) of the contributions the filter shows."""
    filters, _problems = query.parse_filters(request.form)
    back = _with_query(url_for("analysis.dashboard"), _query_string(filters))
    form = ExportForm()
    if not form.validate():
        flash(_("Choose a format and a language for the file."), "error")
        return redirect(back)
    order = exports.ExportRequest(
        filters=filters,
        format=form.format.data,
        lang=_file_language(form),
        hxl=bool(form.hxl.data),
    )
    return _send(lambda out: exports.write(order, out), back)


@bp.post("/tables")
def tables_export() -> Response:
    """The dashboard's tables as CSV or XLSX: always suppressed, whoever asks."""
    filters, _problems = _filters_from(request.form)
    breakdown = _breakdown(request.form)
    back = _with_query(url_for("analysis.dashboard"), _query_string(filters, breakdown))
    form = TablesForm()
    if not form.validate():
        flash(_("Choose a format and a language for the file."), "error")
        return redirect(back)
    board = _build(filters, False, breakdown)
    lang = _file_language(form)
    return _send(lambda out: exports.write_tables(board, form.format.data, out, lang), back)
