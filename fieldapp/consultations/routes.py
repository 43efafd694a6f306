"""Workspace pages: each view parses its form, calls one service, and redirects or renders."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import segno
from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms.fields.choices import SelectChoice

from .. import lan, textnorm
from ..answers import read_answers
from ..auth import kiosk, sessions
from ..forms import ActionForm
from ..i18n import BY_CODE, Language, current_language, pick
from ..services import accounts, consent, intake, places, records, workspace
from ..services.errors import FieldappError
from . import bp
from .forms import (
    ACTION_STATUS_LABELS,
    AGE_LABELS,
    CHOICE_TYPES,
    GENDER_LABELS,
    KIND_LABELS,
    LANG_CODES,
    STATUS_LABELS,
    ActionPointForm,
    ConsultationForm,
    KioskUnlockForm,
    MinutesForm,
    NoteForm,
    QuestionForm,
    TemplateForm,
    TemplateImportForm,
    attendance_form,
    fill_language_fields,
    language_values,
    lines,
    parse_date,
    parse_time,
)
from .labels import FIELD_LABELS, LABELS, field_label, place_name, shown  # noqa: F401

Redirect = WerkzeugResponse


@bp.record_once
def _template_globals(state: Any) -> None:
    # Globals, so that macros imported into a template can use them too.
    state.app.jinja_env.globals.update(labels=LABELS, place_name=place_name)


def _consultation(record_id: str) -> workspace.Item:
    try:
        return workspace.get(record_id, "consultation")
    except workspace.WorkspaceError:
        abort(404)


def _item(record_id: str, kind: str, consultation: workspace.Item) -> workspace.Item:
    try:
        item = workspace.get(record_id, kind)
    except workspace.WorkspaceError:
        abort(404)
    if item.body.get("consultation") != consultation.id:
        abort(404)
    return item


def _attempt(action: Callable[[], object], success: str | Callable[[], str]) -> bool:
    """Run one service call for a form; flash what happened; True when it was saved.

    A stale form (someone saved first) keeps the person's input and leaves, on ``g``, the
    differences to show (``g.changes``) and the version to save on top of (``g.current_rev``).
    """
    try:
        action()
    except records.StaleRecord as exc:
        flash(str(exc.message), "warning")
        g.changes = [
            (field_label(exc.kind, name), shown(exc.kind, name, now), shown(exc.kind, name, mine))
            for name, now, mine in exc.differences(ignore=workspace.STAMPS)
        ]
        g.current_rev = exc.current_rev
        return False
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return False
    flash(success() if callable(success) else success, "success")
    return True


def _changes(form: Any) -> list[tuple[str, Any, Any]]:
    """The differences of a stale save, with the form moved onto the current version."""
    if getattr(g, "current_rev", None):
        form.base_rev.data = g.current_rev
    return list(getattr(g, "changes", []))


# ---- consultations --------------------------------------------------------------------------


def _place_choices(form: ConsultationForm) -> None:
    lang = current_language().code
    form.governorate.choices = [("", _("Choose a governorate"))] + [
        (g.code, g.name(lang)) for g in places.governorates()
    ]
    # Districts grouped under their governorate, so the list reads like the map.
    form.district.choices = [SelectChoice("", _("Choose a district"))] + [
        SelectChoice(d.code, d.name(lang), optgroup=g.name(lang))
        for g in places.governorates()
        for d in g.districts
    ]


def _groups(text: str | None, original: str) -> list[dict[str, Any]]:
    groups = []
    seen: set[str] = set()
    for label in lines(text):
        base = unicodedata.normalize("NFKD", textnorm.loose_key(label)).encode("ascii", "ignore")
        slug = re.sub(r"[^a-z0-9]+", "_", base.decode().lower()).strip("_")[:30] or "group"
        slug = slug if slug[0].isalpha() else f"g_{slug}"
        candidate, number = slug, 2
        while candidate in seen:
            candidate, number = f"{slug}_{number}", number + 1
        seen.add(candidate)
        groups.append({"id": candidate, "label": {original: label}})
    return groups


def consultation_body(form: ConsultationForm) -> dict[str, Any]:
    """The record a consultation form describes (raises WorkspaceError when incomplete)."""
    original = form.original_language.data or current_language().code
    title = language_values(form, "title")
    if not title:
        raise workspace.WorkspaceError(_("Give the consultation a title in at least one language."))
    governorate, district = form.governorate.data or "", form.district.data or None
    if not places.is_valid(governorate, district):
        raise workspace.WorkspaceError(
            _("Choose a governorate, and a district that belongs to it.")
        )
    body: dict[str, Any] = {
        "kind": form.kind.data,
        "title": title,
        "original_language": original,
        "status": form.status.data,
        "governorate": governorate,
        "district": district,
        "place": textnorm.storage_form(form.place.data or ""),
        "programme": textnorm.storage_form(form.programme.data or ""),
        "starts_on": parse_date(form.starts_on.data),
        "start_time": parse_time(form.start_time.data),
        "end_time": parse_time(form.end_time.data),
        "facilitators": lines(form.facilitators.data),
        "languages": [c for c in LANG_CODES if c in (form.languages.data or [])] or [original],
        "groups": _groups(form.groups.data, original),
        "description": language_values(form, "description"),
        "consent_text": language_values(form, "consent"),
    }
    if form.consent_method.data:  # left out when unset, so older installations read the body
        body["consent_method"] = form.consent_method.data
    return body


def _fill_consultation_form(form: ConsultationForm, item: workspace.Item) -> None:
    body = item.body
    for name in ("kind", "status", "governorate", "original_language"):
        getattr(form, name).data = body.get(name)
    form.district.data = body.get("district") or ""
    for name in ("place", "programme", "starts_on", "start_time", "end_time"):
        getattr(form, name).data = body.get(name) or ""
    form.facilitators.data = "\n".join(body.get("facilitators", []))
    lang = body.get("original_language", "en")
    form.groups.data = "\n".join(pick(g["label"], lang)[0] for g in body.get("groups", []))
    form.languages.data = body.get("languages", [])
    fill_language_fields(form, "title", body.get("title"))
    fill_language_fields(form, "description", body.get("description"))
    fill_language_fields(form, "consent", body.get("consent_text"))
    form.consent_method.data = body.get("consent_method") or ""
    form.base_rev.data = item.rev


@bp.route("/consultations")
def consultation_list() -> str:
    """All consultations, searchable in any script and filterable."""
    query = (request.args.get("q") or "").strip()[:200]
    status = request.args.get("status") or None
    kind = request.args.get("kind") or None
    governorate = request.args.get("governorate") or None
    items = workspace.list_consultations(
        query,
        status if status in STATUS_LABELS else None,
        kind if kind in KIND_LABELS else None,
        governorate,
    )
    lang = current_language().code
    return render_template(
        "consultations/list.html",
        items=items,
        query=query,
        status=status,
        kind=kind,
        governorate=governorate,
        governorates=[(g.code, g.name(lang)) for g in places.governorates()],
        templates=workspace.templates(),
    )


@bp.route("/consultations/new", methods=["GET", "POST"])
def consultation_new() -> str | Redirect:
    """Plan a new consultation, from scratch or from a template."""
    form = ConsultationForm()
    _place_choices(form)
    template_id = request.values.get("template") or ""
    template = None
    if template_id:
        try:
            template = workspace.get(template_id, "template")
        except workspace.WorkspaceError:
            abort(404)
    if request.method == "GET":
        form.original_language.data = current_language().code
        form.languages.data = [current_language().code]
        form.status.data = "draft"
        if template:
            form.kind.data = template.body.get("kind") or "lpc_meeting"
    saved: list[str] = []

    def save() -> None:
        body = consultation_body(form)
        if template:
            saved.append(workspace.start_from_template(template.id, body))
        else:
            saved.append(workspace.save_consultation(body))

    if form.validate_on_submit() and _attempt(save, _("The consultation has been saved.")):
        return redirect(url_for("consultations.consultation_view", record_id=saved[0]))
    return render_template(
        "consultations/form.html", form=form, item=None, template=template, changes=[]
    )


@bp.route("/consultations/<record_id>/edit", methods=["GET", "POST"])
def consultation_edit(record_id: str) -> str | Redirect:
    """Change a consultation; a stale form shows what changed instead of overwriting."""
    item = _consultation(record_id)
    form = ConsultationForm()
    _place_choices(form)
    if request.method == "GET":
        _fill_consultation_form(form, item)

    def save() -> None:
        body = {**consultation_body(form), "minutes": item.body.get("minutes", {})}
        workspace.save_consultation(body, record_id, form.base_rev.data)
        if body["status"] == "closed":  # a closed meeting takes no more input
            lan.stop(record_id)
            intake.close_intake(record_id)

    if form.validate_on_submit() and _attempt(save, _("The consultation has been saved.")):
        return redirect(url_for("consultations.consultation_view", record_id=record_id))
    return render_template(
        "consultations/form.html", form=form, item=item, template=None, changes=_changes(form)
    )


@bp.route("/consultations/<record_id>")
def consultation_view(record_id: str) -> str:
    """Overview: attendance, contributions by channel, language and question, action points."""
    item = _consultation(record_id)
    questions = workspace.questions_of(record_id)
    code = intake.open_code(record_id)
    listener = lan.running(record_id) if code else None
    phone_url = f"{listener.url}/p/{code}" if listener else None
    choosing = code and not listener and not current_app.config.get("LAN_ADDRESS")
    return render_template(
        "consultations/view.html",
        join_code=code,
        phone_url=phone_url,
        # The laptop's addresses phones could use, to choose from when there are several.
        phone_addresses=lan.network_addresses() if choosing else [],
        phone_qr=segno.make(phone_url, error="m").svg_data_uri(scale=6) if phone_url else None,
        item=item,
        questions=questions,
        summary=workspace.overview(record_id),
        actions=workspace.actions_of(record_id),
        attendance=workspace.attendance_of(record_id),
    )


# ---- questions ------------------------------------------------------------------------------


def question_body(form: QuestionForm) -> dict[str, Any]:
    """The question a form describes (raises WorkspaceError when incomplete)."""
    text = language_values(form, "text")
    if not text:
        raise workspace.WorkspaceError(_("Write the question in at least one language."))
    body: dict[str, Any] = {
        "type": form.type.data,
        "text": text,
        "original_language": form.original_language.data or current_language().code,
        "required": bool(form.required.data),
    }
    if form.type.data in CHOICE_TYPES:
        per_language = {code: lines(getattr(form, f"options_{code}").data) for code in LANG_CODES}
        count = max(len(v) for v in per_language.values())
        if count < 2:
            raise workspace.WorkspaceError(_("A choice question needs at least two options."))
        body["options"] = [
            {
                "id": f"o{number + 1}",
                "label": {c: v[number] for c, v in per_language.items() if number < len(v)},
            }
            for number in range(count)
        ]
    return body


@bp.route("/consultations/<record_id>/questions", methods=["GET", "POST"])
def questions(record_id: str) -> str | Redirect:
    """The question sheet: add, reorder, remove; missing translations are shown."""
    item = _consultation(record_id)
    form = QuestionForm()
    if request.method == "GET":
        form.original_language.data = item.body.get("original_language")
        form.type.data = "free_text"
    if form.validate_on_submit() and _attempt(
        lambda: workspace.add_question(record_id, question_body(form)),
        _("The question has been added."),
    ):
        return redirect(url_for("consultations.questions", record_id=record_id))
    return render_template(
        "consultations/questions.html",
        item=item,
        questions=workspace.questions_of(record_id),
        form=form,
        action_form=ActionForm(),
        missing=workspace.missing_translations,
        template_form=TemplateForm(),
    )


@bp.route("/consultations/<record_id>/questions/<question_id>", methods=["GET", "POST"])
def question_edit(record_id: str, question_id: str) -> str | Redirect:
    """Change one question."""
    item = _consultation(record_id)
    question = _item(question_id, "question", item)
    form = QuestionForm()
    if request.method == "GET":
        form.type.data = question.body["type"]
        form.original_language.data = question.body["original_language"]
        form.required.data = question.body.get("required", False)
        fill_language_fields(form, "text", question.body["text"])
        for code in LANG_CODES:
            getattr(form, f"options_{code}").data = "\n".join(
                o["label"].get(code, "") for o in question.body.get("options", [])
            )
        form.base_rev.data = question.rev
    elif form.validate_on_submit() and _attempt(
        lambda: workspace.update_fields(question, question_body(form), form.base_rev.data or ""),
        _("The question has been saved."),
    ):
        return redirect(url_for("consultations.questions", record_id=record_id))
    return render_template(
        "consultations/question_edit.html",
        item=item,
        question=question,
        form=form,
        changes=_changes(form),
    )


@bp.route("/consultations/<record_id>/questions/<question_id>/move/<direction>", methods=["POST"])
def question_move(record_id: str, question_id: str, direction: str) -> Redirect:
    """Move a question up or down the sheet."""
    item = _consultation(record_id)
    _item(question_id, "question", item)
    if not ActionForm().validate_on_submit() or direction not in ("up", "down"):
        abort(400)
    step = -1 if direction == "up" else 1
    _attempt(
        lambda: workspace.move(workspace.questions_of(record_id), question_id, step),
        _("The order has been saved."),
    )
    return redirect(url_for("consultations.questions", record_id=record_id))


@bp.route("/consultations/<record_id>/questions/<question_id>/delete", methods=["POST"])
def question_delete(record_id: str, question_id: str) -> Redirect:
    """Remove a question (its answers already given are kept)."""
    item = _consultation(record_id)
    question = _item(question_id, "question", item)
    if not ActionForm().validate_on_submit():
        abort(400)
    _attempt(
        lambda: workspace.delete(question, request.form.get("base_rev") or ""),
        _("The question has been removed."),
    )
    return redirect(url_for("consultations.questions", record_id=record_id))


@bp.route("/consultations/<record_id>/preview")
def preview(record_id: str) -> str:
    """The question sheet as a participant will see it, in any of the meeting's languages."""
    item = _consultation(record_id)
    sheet = _sheet_language(item)
    with force_locale(sheet.locale):
        return render_template(
            "consultations/preview.html",
            item=item,
            questions=workspace.questions_of(record_id),
            sheet_language=sheet,
        )


def _sheet_language(item: workspace.Item, for_reader: bool = False) -> Language:
    """The language asked for with ``?in=``, else the meeting's first language.

    ``for_reader``: without ``?in=``, the reader's own language when the meeting uses it,
    else the language the meeting was written in (a summary is read by the facilitator).
    """
    languages = item.body.get("languages") or ["en"]
    code = request.args.get("in")
    if not code and for_reader:
        original = item.body.get("original_language")
        reader = current_language().code
        code = reader if reader in languages else original if original in languages else None
    code = code or languages[0]
    if code not in BY_CODE:
        abort(400, description="unknown-language")
    return BY_CODE[code]


# ---- templates ------------------------------------------------------------------------------


@bp.route("/consultations/<record_id>/template", methods=["POST"])
def template_save(record_id: str) -> Redirect:
    """Save this consultation's questions as a template."""
    item = _consultation(record_id)
    form = TemplateForm()
    if form.validate_on_submit():
        name = language_values(form, "name")
        if not name:
            flash(_("Give the template a name in at least one language."), "error")
        else:
            _attempt(
                lambda: workspace.save_as_template(record_id, name, item.body["original_language"]),
                _("The questions have been saved as a template."),
            )
    return redirect(url_for("consultations.questions", record_id=record_id))


@bp.route("/templates", methods=["GET", "POST"])
def template_list() -> str | Redirect:
    """Templates on this laptop; import one from a file head office sent."""
    form = TemplateImportForm()
    if form.validate_on_submit() and _attempt(
        lambda: workspace.import_template_file(
            form.file.data.read(workspace.MAX_TEMPLATE_BYTES + 1)
        ),
        _("The template has been added."),
    ):
        return redirect(url_for("consultations.template_list"))
    return render_template(
        "consultations/templates.html", templates=workspace.templates(), form=form
    )


@bp.route("/templates/<template_id>/file")
def template_download(template_id: str) -> Response:
    """A signed template file to send to the field."""
    try:
        data = workspace.template_file(template_id, Path(current_app.instance_path))
    except workspace.WorkspaceError:
        abort(404)
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("consultations.template_list"))  # type: ignore[return-value]
    name = f"template-{template_id[:8]}.json"
    return Response(
        data,
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


# ---- attendance -----------------------------------------------------------------------------


@bp.route("/consultations/<record_id>/attendance", methods=["GET", "POST"])
def attendance(record_id: str) -> str | Redirect:
    """Attendance counts by gender and age band, and by the consultation's groups."""
    item = _consultation(record_id)
    groups = item.body.get("groups", [])
    current = workspace.attendance_of(record_id)
    form = attendance_form(groups)()
    if request.method == "GET" and current:
        for row in current.body["counts"]:
            field = getattr(form, f"c_{row['gender']}_{row['age_band']}", None)
            if field is not None:
                field.data = row["count"]
        for row in current.body.get("group_counts", []):
            field = getattr(form, f"g_{row['group']}", None)
            if field is not None:
                field.data = row["count"]
        form.base_rev.data = current.rev
    if form.validate_on_submit():
        counts = [
            {"gender": g, "age_band": a, "count": getattr(form, f"c_{g}_{a}").data}
            for g in GENDER_LABELS
            for a in AGE_LABELS
            if getattr(form, f"c_{g}_{a}").data
        ]
        group_counts = [
            {"group": g["id"], "count": getattr(form, f"g_{g['id']}").data}
            for g in groups
            if getattr(form, f"g_{g['id']}").data
        ]
        total = sum(c["count"] for c in counts)
        if _attempt(
            lambda: workspace.save_attendance(record_id, counts, group_counts, form.base_rev.data),
            _("Attendance has been saved: %(n)s people.", n=total),
        ):
            return redirect(url_for("consultations.consultation_view", record_id=record_id))
    return render_template(
        "consultations/attendance.html", item=item, form=form, groups=groups, changes=_changes(form)
    )


# ---- capture --------------------------------------------------------------------------------


@bp.route("/consultations/<record_id>/capture", methods=["GET", "POST"])
def capture(record_id: str) -> str | Redirect:
    """Type a spoken contribution or a paper form: save and next, all from the keyboard."""
    item = _consultation(record_id)
    questions = workspace.questions_of(record_id)
    form = ActionForm()
    missing: list[str] = []
    # What was typed, shown again when the page comes back with a message: nothing a
    # facilitator typed is lost because a choice was forgotten.
    answers: dict[str, Any] = {}
    demographics: dict[str, str] = {}
    if request.method == "POST" and form.validate_on_submit():
        answers, missing = read_answers(request.form, questions)
        channel = request.form.get("channel")
        language = request.form.get("language")
        demographics = {
            name: value
            for name in ("gender", "age_band", "group")
            if (value := request.form.get(name))
        }
        consent_method = request.form.get("consent_method")
        if channel not in ("spoken", "paper") or language not in LANG_CODES:
            flash(_("Choose how the contribution was given and its language."), "error")
        elif consent_method not in consent.TYPED_CONSENT_METHODS:
            # Never a silent default: consent was said aloud, given in writing, or not asked.
            flash(_("Choose how consent was given: said aloud, in writing, or not asked."), "error")
        elif missing:
            flash(_("Please answer the questions marked as required."), "error")
        elif not answers:
            flash(_("Nothing was typed, so nothing was saved."), "error")
        else:
            key = request.form.get("idempotency_key", "")[:64] or secrets.token_hex(16)
            saved = _attempt(
                lambda: records.add_submission(
                    record_id,
                    answers,
                    language,
                    channel,
                    key,
                    demographics or None,
                    consent=consent.given(consent_method),
                    consent_method=consent_method,
                ),
                lambda: _(
                    "Saved. %(n)s contributions so far.",
                    n=records.submission_count(record_id),
                ),
            )
            if saved:
                if consent_method == "not_asked":
                    flash(
                        _(
                            "Saved without consent: the printed summary and every file of "
                            "contributions say that consent was not asked."
                        ),
                        "warning",
                    )
                return redirect(
                    url_for(
                        "consultations.capture",
                        record_id=record_id,
                        channel=channel,
                        language=language,
                        consent_method=consent_method,
                    )
                )
    return render_template(
        "consultations/capture.html",
        item=item,
        questions=questions,
        form=form,
        missing=missing,
        given=answers,
        speaker=demographics,
        idempotency_key=secrets.token_hex(16),
        channel=request.values.get("channel", "spoken"),
        language=request.values.get("language") or _default_language(item),
        # The last choice (Save and next), else the consultation's setting, else none at all.
        consent_method=request.values.get("consent_method") or item.body.get("consent_method"),
    )


def _default_language(item: workspace.Item) -> str:
    """The facilitator's language if the meeting uses it, else the meeting's first language."""
    code = current_language().code
    return code if code in item.body["languages"] else item.body["languages"][0]


# ---- action points --------------------------------------------------------------------------


def action_body(form: ActionPointForm, keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """The action point a form describes."""
    text = language_values(form, "text")
    if not text:
        raise workspace.WorkspaceError(_("Write the action point in at least one language."))
    body = dict(keep or {})
    body.update(
        {
            "text": text,
            "original_language": form.original_language.data or current_language().code,
            "responsible": textnorm.storage_form(form.responsible.data or ""),
            "due_on": parse_date(form.due_on.data),
            "priority": form.priority.data,
            "status": form.status.data,
        }
    )
    return body


@bp.route("/consultations/<record_id>/actions", methods=["GET", "POST"])
def actions(record_id: str) -> str | Redirect:
    """The action plan of a consultation: add, reorder, open one to update it."""
    item = _consultation(record_id)
    form = ActionPointForm()
    if request.method == "GET":
        form.original_language.data = item.body.get("original_language")
        form.priority.data, form.status.data = "medium", "agreed"

    def add() -> None:
        body = action_body(form)
        if body["status"] != "proposed":
            body["agreed_at"] = record_id
        workspace.add_action(record_id, body)

    if form.validate_on_submit() and _attempt(add, _("The action point has been added.")):
        return redirect(url_for("consultations.actions", record_id=record_id))
    return render_template(
        "consultations/actions.html",
        item=item,
        actions=workspace.actions_of(record_id),
        form=form,
        action_form=ActionForm(),
    )


@bp.route("/consultations/<record_id>/actions/<action_id>/move/<direction>", methods=["POST"])
def action_move(record_id: str, action_id: str, direction: str) -> Redirect:
    """Move an action point up or down the plan."""
    item = _consultation(record_id)
    _item(action_id, "action_point", item)
    if not ActionForm().validate_on_submit() or direction not in ("up", "down"):
        abort(400)
    workspace.move(workspace.actions_of(record_id), action_id, -1 if direction == "up" else 1)
    return redirect(url_for("consultations.actions", record_id=record_id))


@bp.route("/actions/<action_id>", methods=["GET", "POST"])
def action_edit(action_id: str) -> str | Redirect:
    """Update an action point (text, responsible, status) and add progress notes."""
    try:
        action = workspace.get(action_id, "action_point")
    except workspace.WorkspaceError:
        abort(404)
    consultation = _consultation(action.body["consultation"])
    form = ActionPointForm(prefix="edit")
    note_form = NoteForm(prefix="note")
    if request.method == "GET":
        fill_language_fields(form, "text", action.body["text"])
        form.original_language.data = action.body["original_language"]
        form.responsible.data = action.body.get("responsible", "")
        form.due_on.data = action.body.get("due_on") or ""
        form.priority.data, form.status.data = action.body["priority"], action.body["status"]
        form.base_rev.data = note_form.base_rev.data = action.rev
        note_form.on.data = date.today().isoformat()
        note_form.status.data = action.body["status"]
    elif "edit-base_rev" in request.form and form.validate_on_submit():
        if _attempt(
            lambda: workspace.update_fields(
                action, action_body(form, keep=action.editable()), form.base_rev.data or ""
            ),
            _("The action point has been saved."),
        ):
            return redirect(url_for("consultations.action_edit", action_id=action_id))
    elif "note-base_rev" in request.form and note_form.validate_on_submit():
        status = note_form.status.data if note_form.status.data in ACTION_STATUS_LABELS else None
        if _attempt(
            lambda: workspace.add_note(
                action,
                parse_date(note_form.on.data) or date.today().isoformat(),
                textnorm.storage_form(note_form.text.data or ""),
                note_form.base_rev.data or "",
                status,
            ),
            _("The progress note has been added."),
        ):
            return redirect(url_for("consultations.action_edit", action_id=action_id))
    return render_template(
        "consultations/action_edit.html",
        action=action,
        item=consultation,
        form=form,
        note_form=note_form,
        changes=_changes(form),
    )


@bp.route("/actions")
def open_actions() -> str:
    """Every open action point across consultations, to follow up at later meetings."""
    items = workspace.open_actions()
    consultations = {c.id: c for c in workspace.list_consultations()}
    return render_template(
        "consultations/open_actions.html", actions=items, consultations=consultations
    )


# ---- minutes and print ----------------------------------------------------------------------


@bp.route("/consultations/<record_id>/minutes", methods=["GET", "POST"])
def minutes(record_id: str) -> str | Redirect:
    """Write the minutes in the meeting's languages."""
    item = _consultation(record_id)
    form = MinutesForm()
    if request.method == "GET":
        fill_language_fields(form, "minutes", item.body.get("minutes"))
        form.base_rev.data = item.rev
    elif form.validate_on_submit() and _attempt(
        lambda: workspace.update_fields(
            item, {"minutes": language_values(form, "minutes")}, form.base_rev.data or ""
        ),
        _("The minutes have been saved."),
    ):
        return redirect(url_for("consultations.consultation_view", record_id=record_id))
    return render_template(
        "consultations/minutes.html", item=item, form=form, changes=_changes(form)
    )


@bp.route("/consultations/<record_id>/print")
def print_summary(record_id: str) -> str:
    """A one-page summary, to hand to a Local Peace Committee: in the reader's language when
    the meeting uses it, and in any of the meeting's languages on request (``?in=``)."""
    item = _consultation(record_id)
    sheet = _sheet_language(item, for_reader=True)
    questions = workspace.questions_of(record_id)
    with force_locale(sheet.locale):
        return render_template(
            "consultations/print.html",
            item=item,
            questions=questions,
            summary=workspace.overview(record_id),
            actions=workspace.actions_of(record_id),
            attendance=workspace.attendance_of(record_id),
            sheet_language=sheet,
        )


# ---- participants' input --------------------------------------------------------------------


@bp.route("/consultations/<record_id>/intake/<action>", methods=["POST"])
def intake_switch(record_id: str, action: str) -> Redirect:
    """Open the consultation for participants' input, or close it."""
    _consultation(record_id)
    if not ActionForm().validate_on_submit() or action not in ("open", "close"):
        abort(400)
    if action == "open":
        _attempt(lambda: intake.open_intake(record_id), _("Participants can now give their input."))
    else:
        lan.stop(record_id)
        _attempt(lambda: intake.close_intake(record_id), _("Input from participants is closed."))
    return redirect(url_for("consultations.consultation_view", record_id=record_id))


@bp.route("/consultations/<record_id>/intake/phones", methods=["POST"])
def intake_phones(record_id: str) -> Redirect:
    """Let phones on the laptop's Wi-Fi join: a separate listener for participant pages only."""
    _consultation(record_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    back = redirect(url_for("consultations.consultation_view", record_id=record_id))
    host = current_app.config.get("LAN_ADDRESS")  # the setting wins over what is found
    if not host:
        found = lan.network_addresses()
        chosen = lan.choose_address(found, request.form.get("address"))
        if chosen is None:
            if found:  # the chosen interface went away since the page was shown
                flash(_("That address is no longer on this laptop. Choose another."), "error")
            else:
                flash(
                    _("This laptop is on no network. Turn on its Wi-Fi hotspot, then try again."),
                    "error",
                )
            return back
        host = chosen.ip
    try:
        intake.open_intake(record_id)
    except intake.IntakeError as exc:
        flash(str(exc.message), "error")
        return back
    try:
        lan.start(
            record_id,
            Path(current_app.instance_path),
            host,
            current_app.config["LAN_PORT"],
            current_app.config["LAN_PROCESSES"],
        )
    except OSError:
        flash(
            _("The address for phones could not be opened. Is another program using it?"), "error"
        )
    else:
        flash(_("Phones on this laptop's Wi-Fi can now join."), "success")
    return redirect(url_for("consultations.consultation_view", record_id=record_id))


@bp.route("/consultations/<record_id>/kiosk", methods=["POST"])
def kiosk_start(record_id: str) -> Redirect:
    """Turn this browser into a kiosk for participants, until the facilitator unlocks it."""
    _consultation(record_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        code = intake.open_intake(record_id)
    except intake.IntakeError as exc:  # a closed consultation takes no more input
        flash(str(exc.message), "error")
        return redirect(url_for("consultations.consultation_view", record_id=record_id))
    session[sessions.KIOSK_LOCK_KEY] = code
    return redirect(url_for("kiosk.start", code=code))


@bp.route("/kiosk/unlock", methods=["GET", "POST"])
def kiosk_unlock() -> str | Redirect | tuple[str, int]:
    """The facilitator ends kiosk mode with their password.

    Wrong passwords slow down this kiosk only and are audited; they never pause the
    facilitator's own sign-in (W-04: no lockout a participant can trigger).
    """
    code = session.get(sessions.KIOSK_LOCK_KEY)
    if not code:
        return redirect(url_for("main.home"))
    form = KioskUnlockForm()
    status = 200
    if form.validate_on_submit():
        meeting = intake.meeting_for(code)
        consultation_id = meeting.consultation.id if meeting else None
        try:
            kiosk.unlock(current_user, form.password.data or "", consultation_id)
        except kiosk.UnlockThrottled as exc:
            flash(str(exc.message), "error")
            status = 429
        except accounts.InvalidCredentials as exc:
            flash(str(exc.message), "error")
            status = 401
        else:
            session.pop(sessions.KIOSK_LOCK_KEY, None)
            flash(_("Kiosk mode has ended."), "success")
            if meeting is None:
                return redirect(url_for("main.home"))
            return redirect(
                url_for("consultations.consultation_view", record_id=meeting.consultation.id)
            )
    return render_template("consultations/kiosk_unlock.html", form=form, code=code), status
