"""Views of the conflicts blueprint (thin: parse, call a service, render or redirect)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.wrappers import Response

from .. import textnorm
from ..consultations.forms import fill_language_fields, language_values, parse_date
from ..consultations.labels import field_label as workspace_field_label
from ..consultations.labels import shown as workspace_shown
from ..i18n import list_of, multilingual
from ..services import conflicts
from ..services.errors import FieldappError
from . import bp
from .forms import (
    CODE_STATUS_LABELS,
    COMBINATION_FORMS,
    EXCLUSION_REASON_LABELS,
    RECORD_KIND_LABELS,
    REVIEW_STATE_LABELS,
    KeepForm,
    split_revs,
)

Page = tuple[str, int]

# What the review, coding and codebook screens call their fields; the workspace's kinds take
# the labels of the workspace forms, as a stale edit there shows them.
FIELD_LABELS: dict[str, dict[str, Any]] = {
    "review": {
        "state": _l("Review state"),
        "reason": _l("Reason for excluding"),
        "note": _l("Note"),
    },
    "coding": {"codes": _l("Codes"), "note": _l("Note")},
    "code": {
        "name": _l("Name"),
        "description": _l("Description"),
        "colour": _l("Colour"),
        "status": _l("Status"),
        "parent": _l("Theme"),
        "merged_into": _l("Merged into"),
        "original_language": _l("Language the text was first written in"),
    },
    "template": {
        "name": _l("Name of the template"),
        "description": _l("Description"),
        "questions": _l("Questions"),
        "kind": _l("Kind of meeting"),
        "original_language": _l("Language the text was first written in"),
    },
}
POSITION_LABEL = _l("Place in the list")


def field_label(kind: str, name: str) -> Any:
    """What the screens of a ``kind`` record call its field ``name``."""
    label = FIELD_LABELS.get(kind, {}).get(name)
    if label is not None:
        return label
    if name == "position":
        return POSITION_LABEL
    return workspace_field_label(kind, name)


def shown(kind: str, name: str, value: Any, codes: dict[str, conflicts.Title]) -> Any:
    """A stored value as the reader knows it: choices by their labels, codes by their names."""
    if value is None or value in ("", [], {}):
        return ""
    if kind == "review" and name == "state":
        return REVIEW_STATE_LABELS.get(value, value)
    if kind == "review" and name == "reason":
        return EXCLUSION_REASON_LABELS.get(value, value)
    if kind == "code" and name == "status":
        return CODE_STATUS_LABELS.get(value, value)
    if kind == "code" and name == "colour" and isinstance(value, str):
        return Markup('<bdi dir="ltr">{}</bdi>').format(value)
    if name in ("parent", "merged_into") and isinstance(value, str):
        return _code_name(value, codes)
    if kind == "coding" and name == "codes" and isinstance(value, list):
        return list_of(_code_name(str(code), codes) for code in value)
    if kind == "template" and name == "questions" and isinstance(value, list):
        return list_of(
            multilingual(q.get("text"), q.get("original_language"))
            for q in value
            if isinstance(q, dict)
        )
    return workspace_shown(kind, name, value)


def _code_name(code_id: str, codes: dict[str, conflicts.Title]) -> Any:
    title = codes.get(code_id)
    if title is None:
        return Markup('<bdi dir="ltr">{}</bdi>').format(code_id)
    return multilingual(title.texts, title.original)


@bp.route("/conflicts")
def index() -> Page:
    """Every record with more than one live version, a page at a time."""
    kind = request.args.get("kind") or None
    after = request.args.get("after") or None
    status = 200
    try:
        page, next_after = conflicts.list_conflicts(kind, after)
        total = conflicts.count_conflicts(kind)
    except FieldappError as exc:
        flash(str(exc.message), "error")
        kind, status = None, 400
        page, next_after = conflicts.list_conflicts(None, after)
        total = conflicts.count_conflicts()
    return (
        render_template(
            "conflicts/index.html",
            page=page,
            next_after=next_after,
            after=after,
            kind=kind,
            total=total,
            kind_labels=RECORD_KIND_LABELS,
        ),
        status,
    )


def _fill(form: FlaskForm, kind: str, body: dict[str, Any]) -> None:
    """Prefill a combination form from a body (the winner's, on first view)."""
    if kind == "action_point":
        fill_language_fields(form, "text", body.get("text"))
        form.original_language.data = body.get("original_language")
        form.responsible.data = body.get("responsible", "")
        form.due_on.data = body.get("due_on") or ""
        form.priority.data, form.status.data = body.get("priority"), body.get("status")
    elif kind == "consultation":
        fill_language_fields(form, "title", body.get("title"))
        fill_language_fields(form, "minutes", body.get("minutes"))
        form.status.data = body.get("status")
    elif kind == "review":
        form.state.data = body.get("state")
        form.reason.data = body.get("reason") or ""
        form.note.data = body.get("note", "")
    elif kind == "coding":
        form.codes.data = list(body.get("codes", []))
        form.note.data = body.get("note", "")


def _code_choices(view: conflicts.ConflictView, codes: dict[str, conflicts.Title]) -> list[Any]:
    """The codes any version of a coding applied, by name."""
    offered: list[str] = []
    for version in view.versions:
        for code in version.body.get("codes", []) or []:
            if code not in offered:
                offered.append(code)
    return [(code, _code_name(code, codes)) for code in offered]


def combination_body(kind: str, form: FlaskForm, base: dict[str, Any]) -> dict[str, Any]:
    """The body a combination form describes, on top of ``base`` (the winner's other fields)."""
    body = dict(base)
    if kind == "action_point":
        text = language_values(form, "text")
        if not text:
            raise conflicts.ConflictError(_l("Write the action point in at least one language."))
        body.update(
            text=text,
            original_language=form.original_language.data,
            responsible=textnorm.storage_form(form.responsible.data or ""),
            due_on=parse_date(form.due_on.data),
            priority=form.priority.data,
            status=form.status.data,
        )
    elif kind == "consultation":
        title = language_values(form, "title")
        if not title:
            raise conflicts.ConflictError(_l("Write the title in at least one language."))
        body.update(title=title, status=form.status.data)
        minutes = language_values(form, "minutes")
        if minutes:
            body["minutes"] = minutes
        else:
            body.pop("minutes", None)
    elif kind == "review":
        body["state"] = form.state.data
        body["reason"] = (form.reason.data or None) if form.state.data == "excluded" else None
        if body["reason"] is None:
            body.pop("reason")
        note = textnorm.storage_form(form.note.data or "")
        if note:
            body["note"] = note
        else:
            body.pop("note", None)
    elif kind == "coding":
        body["codes"] = list(form.codes.data or [])
        note = textnorm.storage_form(form.note.data or "")
        if note:
            body["note"] = note
        else:
            body.pop("note", None)
    return body


def _render_record(record_id: str, combination: FlaskForm | None = None, status: int = 200) -> Page:
    """The versions of one record side by side, with the forms that end the conflict."""
    try:
        view = conflicts.versions_of(record_id)
    except conflicts.UnknownRecord as exc:
        return render_template("conflicts/none.html", message=exc.message, record_id=None), 404
    except conflicts.NoConflict as exc:
        return render_template("conflicts/none.html", message=exc.message, record_id=record_id), 200
    kind = view.summary.kind
    codes = conflicts.code_titles(view)
    form_class = COMBINATION_FORMS.get(kind)
    if form_class is not None and combination is None:
        combination = form_class(formdata=None)
        _fill(combination, kind, view.winner.editable())
    if combination is not None:
        combination.base_revs.data = " ".join(view.base_revs)
        if kind == "coding":
            combination.codes.choices = _code_choices(view, codes)
    rows = [
        (
            name,
            field_label(kind, name),
            view.differs(name),
            [shown(kind, name, v.body.get(name), codes) for v in view.versions],
        )
        for name in view.fields
    ]
    return (
        render_template(
            "conflicts/record.html",
            view=view,
            rows=rows,
            combination=combination,
            kind_label=RECORD_KIND_LABELS.get(kind, kind),
            codes=codes,
        ),
        status,
    )


@bp.route("/conflicts/<record_id>")
def record(record_id: str) -> Page:
    """One record's live versions side by side, the differences marked."""
    return _render_record(record_id)


@bp.route("/conflicts/<record_id>/keep", methods=["POST"])
def keep(record_id: str) -> Page | Response:
    """Keep one version: it becomes the record's value on every installation."""
    form = KeepForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        conflicts.resolve(record_id, split_revs(form.base_revs.data), keep=form.keep.data or "")
    except (conflicts.UnknownRecord, conflicts.NoConflict):
        page, status = _render_record(record_id)  # the page says why
        return page, 409 if status == 200 else status
    except FieldappError as exc:
        flash(str(exc.message), "error")
        page, status = _render_record(record_id)
        return page, 409 if status == 200 else status
    flash(
        _("The conflict is resolved: the version you chose is now the record's value."), "success"
    )
    return redirect(url_for("conflicts.index"))


@bp.route("/conflicts/<record_id>/combine", methods=["POST"])
def combine(record_id: str) -> Page | Response:
    """Save an edited combination of the versions as the record's value."""
    try:
        view = conflicts.versions_of(record_id)
    except conflicts.ConflictError:
        page, status = _render_record(record_id)  # unknown, or no conflict (any more): says why
        return page, 409 if status == 200 else status
    kind = view.summary.kind
    form_class = COMBINATION_FORMS.get(kind)
    if form_class is None:
        abort(400)
    form = form_class()
    if kind == "coding":
        form.codes.choices = _code_choices(view, conflicts.code_titles(view))
    if not form.validate_on_submit():
        return _render_record(record_id, form, 400)
    try:
        body = combination_body(kind, form, conflicts.combination_base(view))
        conflicts.resolve(record_id, split_revs(form.base_revs.data), body=body)
    except conflicts.StaleConflict as exc:
        flash(str(exc.message), "error")
        return _render_record(record_id, form, 409)  # the input kept, the new versions shown
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return _render_record(record_id, form, 400)
    flash(_("The conflict is resolved: your combination is now the record's value."), "success")
    return redirect(url_for("conflicts.index"))
