"""Views of the codebook blueprint (thin: parse, call a service, render or redirect)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response as WerkzeugResponse

from ..forms import ActionForm
from ..i18n import BY_CODE, counted, current_language, list_of, pick
from ..services import codebook, records
from ..services.errors import FieldappError
from ..services.workspace import STAMPS
from . import bp
from .forms import CodebookImportForm, CodeForm, MergeForm

Redirect = WerkzeugResponse
INDEX = "codebook.index"


def _code(code_id: str) -> codebook.Code:
    try:
        return codebook.get(code_id)
    except codebook.CodebookError:
        abort(404)


def code_name(code: codebook.Code | None) -> str:
    """A code's name in the reader's language (or the nearest it has), as plain text."""
    if code is None:
        return ""
    return pick(code.name, current_language().code, code.original_language)[0]


def _attempt(
    action: Callable[[], object], success: str | Callable[[], str], form: bool = True
) -> bool:
    """Run one service call; flash what happened; True when it was saved.

    A stale form keeps the person's input and leaves the differences on ``g.changes`` and
    the version to save on top of on ``g.current_rev``; a stale button (``form`` false) says
    to look at the code as it is now.
    """
    try:
        action()
    except records.StaleRecord as exc:
        if not form:
            flash(
                _(
                    "This code was changed since you opened the page. Check it as it is now, "
                    "then try again."
                ),
                "warning",
            )
            return False
        flash(str(exc.message), "warning")
        g.changes = [
            (_field_label(name), _shown(now), _shown(mine))
            for name, now, mine in exc.differences(ignore=STAMPS)
        ]
        g.current_rev = exc.current_rev
        return False
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return False
    flash(success() if callable(success) else success, "success")
    return True


def _field_label(name: str) -> str:
    labels = {
        "name": _("Name"),
        "description": _("Description"),
        "colour": _("Colour"),
        "status": _("Status"),
        "original_language": _("Language the texts were first written in"),
        "parent": _("Theme"),
        "merged_into": _("Merged into"),
        "position": _("Place in the list"),
    }
    return labels.get(name, name)


def _shown(value: Any) -> Any:
    """A stored value as the reader knows it from the form."""
    if value is None or value in ("", {}, []):
        return ""
    if isinstance(value, dict):
        return list_of(
            (counted(BY_CODE[c].native_name, t) for c, t in value.items() if c in BY_CODE), "unit"
        )
    if value in BY_CODE:
        return BY_CODE[value].native_name
    if value in ("active", "retired"):
        return _("Active") if value == "active" else _("Retired")
    return str(value)


@bp.route("/codebook")
def index() -> str:
    """The codebook as two levels, with its file and the import of one."""
    themes = codebook.tree(include_retired=True, include_merged=True)
    return render_template(
        "codebook/index.html",
        themes=themes,
        codes={c.id: c for theme in themes for c in (theme.code, *theme.subthemes)},
        usage=codebook.usage(),
        import_form=CodebookImportForm(),
        action_form=ActionForm(),
        code_name=code_name,
    )


@bp.route("/codebook/new", methods=["GET", "POST"])
def new() -> str | Redirect:
    """Add a theme, or a sub-theme of the theme given as ``parent``."""
    form = CodeForm()
    parent_id = request.values.get("parent") or None
    parent = _code(parent_id) if parent_id else None
    if request.method == "GET":
        form.original_language.data = current_language().code
        form.show_colour(codebook.suggested_colour())
    if form.validate_on_submit() and _attempt(
        lambda: codebook.add_code(
            form.names(),
            form.original_language.data or current_language().code,
            form.chosen_colour(),
            form.descriptions(),
            parent.id if parent else None,
        ),
        _("The code has been added."),
    ):
        return redirect(url_for(INDEX))
    return render_template(
        "codebook/form.html", form=form, code=None, parent=parent, changes=[], code_name=code_name
    )


@bp.route("/codebook/<code_id>", methods=["GET", "POST"])
def edit(code_id: str) -> str | Redirect:
    """Rename a code in four languages, describe it, change its colour."""
    code = _code(code_id)
    form = CodeForm()
    if request.method == "GET":
        form.show_code(code)
    elif form.validate_on_submit() and _attempt(
        lambda: codebook.edit_code(code.id, form.changes(), form.base_rev.data or ""),
        _("The code has been saved."),
    ):
        return redirect(url_for(INDEX))
    if getattr(g, "current_rev", None):
        form.base_rev.data = g.current_rev
    parent = _maybe(code.parent) if code.parent else None
    return render_template(
        "codebook/form.html",
        form=form,
        code=code,
        parent=parent,
        changes=list(getattr(g, "changes", [])),
        code_name=code_name,
    )


def _status_change(code_id: str, change: Callable[[str, str], object], done: str) -> Redirect:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    code = _code(code_id)
    _attempt(lambda: change(code.id, request.form.get("base_rev", "")), done, form=False)
    return redirect(url_for(INDEX))


@bp.route("/codebook/<code_id>/retire", methods=["POST"])
def retire(code_id: str) -> Redirect:
    """Stop offering a code (kept for history; its codings still count)."""
    return _status_change(code_id, codebook.retire, _("The code has been retired."))


@bp.route("/codebook/<code_id>/restore", methods=["POST"])
def restore(code_id: str) -> Redirect:
    """Offer a retired code again."""
    return _status_change(code_id, codebook.restore, _("The code is offered again."))


@bp.route("/codebook/<code_id>/merge", methods=["GET", "POST"])
def merge(code_id: str) -> str | Redirect:
    """Choose the code to merge into, see what moves, confirm."""
    source = _code(code_id)
    form = MergeForm()
    if request.method == "POST":
        if form.validate_on_submit():
            target_id = form.into.data or ""
            if _attempt(
                lambda: codebook.merge(source.id, target_id, form.base_rev.data or ""),
                lambda: (
                    _("“%(source)s” has been merged into “%(target)s”.")
                    % {"source": code_name(source), "target": code_name(_maybe(target_id))}
                ),
                form=False,
            ):
                return redirect(url_for(INDEX))
        return redirect(url_for("codebook.merge", code_id=source.id))
    subthemes = [c for c in codebook.all_codes() if c.parent == source.id]
    target = None
    into = request.args.get("into")
    if into:
        target = _maybe(into)
        if target is None:
            flash(_("The code to merge into does not exist."), "error")
    form.base_rev.data = source.rev
    if target is not None:
        form.into.data = target.id
    candidates = [
        c
        for c in codebook.active_codes()
        if c.id != source.id and c.parent != source.id and (c.is_theme or not subthemes)
    ]
    return render_template(
        "codebook/merge.html",
        source=source,
        target=target,
        candidates=candidates,
        subthemes=subthemes,
        moving=codebook.codings_of(source.id),
        form=form,
        code_name=code_name,
    )


def _maybe(code_id: str) -> codebook.Code | None:
    try:
        return codebook.get(code_id)
    except codebook.CodebookError:
        return None


@bp.route("/codebook/file")
def download() -> Response | Redirect:
    """The signed codebook file to send to the laptops."""
    try:
        data = codebook.codebook_file(Path(current_app.instance_path))
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for(INDEX))
    name = f"codebook-{records.utc_stamp()[:10]}.json"
    return Response(
        data,
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


@bp.route("/codebook/import", methods=["POST"])
def import_file() -> Redirect:
    """Import a codebook file head office sent (everything or nothing)."""
    request.max_content_length = codebook.MAX_CODEBOOK_BYTES + 64 * 1024
    form = CodebookImportForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for(INDEX))
    summary: list[codebook.ImportSummary] = []

    def done() -> str:
        result = summary[0]
        return _(
            "Codebook from “%(device)s” imported: %(new)s new, %(updated)s updated, "
            "%(unchanged)s unchanged."
        ) % {
            "device": result.device_name,
            "new": result.new,
            "updated": result.updated,
            "unchanged": result.unchanged,
        } + (
            " "
            + ngettext(
                "%(num)s code has conflicting versions.",
                "%(num)s codes have conflicting versions.",
                result.conflicts,
            )
            if result.conflicts
            else ""
        )

    _attempt(
        lambda: summary.append(
            codebook.import_codebook_file(form.file.data.read(codebook.MAX_CODEBOOK_BYTES + 1))
        ),
        done,
    )
    return redirect(url_for(INDEX))
