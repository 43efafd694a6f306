"""Views of the review blueprint (thin: parse, call a service, render or redirect)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from ..consultations.labels import place_name
from ..i18n import BY_CODE, current_language, multilingual, pick
from ..models import Role
from ..services import contribution_query as query
from ..services import records, review
from ..services.errors import FieldappError
from . import bp
from .forms import BULK_ACTIONS, REASON_LABELS, STATE_LABELS, BulkForm, CodingForm, StateForm

Redirect = WerkzeugResponse
PAGE_SIZE = 50


@bp.record_once
def _template_globals(state: Any) -> None:
    env = state.app.jinja_env
    env.globals.update(
        review_states=STATE_LABELS,
        review_reasons=REASON_LABELS,
        bulk_actions=BULK_ACTIONS,
        review_plain=plain_text,
    )
    env.filters.update(
        review_answer=review.answer_of,
        review_option=option_label,
        review_pair=lambda value: (value, value),
        review_place=lambda code: (code, place_name(code)),
        review_language=lambda lang: (lang.code, lang.native_name),
        review_consultation=lambda c: (c.id, _short(plain_text(c.title, c.original_language))),
        review_group=lambda g: (g.id, plain_text(g.label, None)),
        review_code=code_choice,
        review_questions=question_choices,
    )


def plain_text(texts: Mapping[str, str] | None, original: str | None) -> str:
    """Multilingual text as plain text (for a list's options), marked when it falls back."""
    reader = current_language()
    text, shown = pick(texts, reader.code, original)
    if shown is None or shown == reader.code:
        return text
    return f"{text} {_('(in %(language)s)', language=BY_CODE[shown].native_name)}"


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def option_label(option_id: Any, question: Mapping[str, Any] | None) -> Markup:
    """A choice's label in the reader's language (its id if the question no longer has it)."""
    for option in (question or {}).get("options", []):
        if option.get("id") == option_id:
            return multilingual(option.get("label"), (question or {}).get("original_language"))
    return Markup('<code dir="ltr">{}</code>').format(option_id)


def code_choice(code: Any) -> tuple[str, str]:
    """A code of the filter form: sub-themes indented under their theme, retired ones marked."""
    name = plain_text(code.name, code.original_language)
    if code.parent:
        name = f"— {name}"
    if code.status != "active" or code.merged_into:
        # Translators: a code of the codebook that is no longer offered for coding.
        name = _("%(name)s (retired)", name=name)
    return code.id, name


def question_choices(questions: Any, consultations: tuple[str, ...]) -> list[tuple[str, str]]:
    """The questions the filter offers: of the chosen consultations, else all of them."""
    return [
        (q.id, _short(plain_text(q.text, q.original_language)))
        for q in questions
        if not consultations or q.consultation in consultations
    ]


def _query_string(filters: query.Filters, **extra: str | None) -> str:
    """The URL query of a filter (plus paging), so links and redirects keep it."""
    pairs = [*query.filter_args(filters), *((k, v) for k, v in extra.items() if v)]
    return urlencode(pairs)


def _with_query(url: str, qs: str) -> str:
    return f"{url}?{qs}" if qs else url


def _parts(key: str | None) -> tuple[str, str] | None:
    """The (submission, question) of a read-model key."""
    parts = (key or "").split("|")
    if len(parts) != 3 or not all(parts):
        return None
    return parts[1], parts[2]


def _row(submission: str, question: str) -> Any:
    row = query.by_answer(submission, question)
    if row is None:
        abort(404)
    return row


def _posted_filters() -> tuple[query.Filters, str]:
    """The filter a form was posted from (carried in its ``query`` field), and its query."""
    carried = MultiDict(parse_qsl(request.form.get("query", "")[:4000]))
    filters, _problems = query.parse_filters(carried)
    return filters, _query_string(filters)


def _back(submission: str, question: str, qs: str) -> Redirect:
    return redirect(
        _with_query(url_for("review.contribution", submission=submission, question=question), qs)
    )


def _flash_problems(problems: list[Any]) -> None:
    for problem in problems:
        flash(str(problem.message), "error")


def _may_code(row: Any, question: dict[str, Any] | None) -> bool:
    """Analysts and coordinators code anything; facilitators only typed contributions."""
    if current_user.role in (Role.ANALYST, Role.COORDINATOR):
        return True
    return current_user.role == Role.FACILITATOR and review.is_typed(question)


def _number(n: int) -> str:
    return f"{n:,}"


def _count_text(total: int, capped: bool) -> str:
    if capped:
        return _("About %(count)s+ contributions match.", count=_number(total))
    return ngettext(
        "%(count)s contribution matches.",
        "%(count)s contributions match.",
        total,
        count=_number(total),
    )


def _all_text(total: int, capped: bool) -> str:
    if capped:
        return _("Review everything that matches (more than %(count)s)", count=_number(total))
    return _("Review everything that matches (%(count)s)", count=_number(total))


def _confirm_text(total: int, state: str) -> str:
    """ "You are about to mark 1,234 contributions as approved", one sentence per state."""
    count = _number(total)
    if state == "approved":
        return ngettext(
            "You are about to mark %(count)s contribution as approved.",
            "You are about to mark %(count)s contributions as approved.",
            total,
            count=count,
        )
    if state == "has_issues":
        return ngettext(
            "You are about to mark %(count)s contribution as having issues.",
            "You are about to mark %(count)s contributions as having issues.",
            total,
            count=count,
        )
    if state == "excluded":
        return ngettext(
            "You are about to exclude %(count)s contribution.",
            "You are about to exclude %(count)s contributions.",
            total,
            count=count,
        )
    return ngettext(
        "You are about to mark %(count)s contribution as received again.",
        "You are about to mark %(count)s contributions as received again.",
        total,
        count=count,
    )


@bp.get("/contributions")
def contributions() -> str:
    """Every answer to every question, filtered, searched and paged (newest first)."""
    filters, problems = query.parse_filters(request.args)
    after, before = request.args.get("after") or None, request.args.get("before") or None
    try:
        page = query.page(filters, after=after, before=before, limit=PAGE_SIZE)
    except (ValueError, FieldappError):  # a forged paging cursor: start from the top
        flash(_("That page of the list no longer exists; showing the newest contributions."))
        page = query.page(filters, limit=PAGE_SIZE)
    total, capped = query.count(filters)
    context = review.page_context(page.rows)
    qs = _query_string(filters)
    return render_template(
        "review/list.html",
        filters=filters,
        problems=problems,
        page=page,
        total=total,
        capped=capped,
        context=context,
        choices=query.choices(),
        qs=qs,
        newer_url=_with_query(
            url_for("review.contributions"), _query_string(filters, before=page.prev_before)
        )
        if page.prev_before
        else None,
        older_url=_with_query(
            url_for("review.contributions"), _query_string(filters, after=page.next_after)
        )
        if page.next_after
        else None,
        filter_args=query.filter_args(filters),
        count_text=_count_text(total, capped),
        all_text=_all_text(total, capped),
        bulk_form=BulkForm(formdata=None),
        bulk_cap=review.BULK_CAP,
    )


@bp.get("/contributions/<submission>/<question>")
def contribution(submission: str, question: str) -> str:
    """One contribution: its whole submission, review history, codes, duplicates, neighbours."""
    row = _row(submission, question)
    filters, problems = query.parse_filters(request.args)
    _flash_problems(problems)
    subject = review.subject_of(row)
    detail = review.contribution_detail(row)
    newer, older = query.neighbours(filters, row.key)
    qs = _query_string(filters)

    def link(key: str | None) -> str | None:
        parts = _parts(key)
        if parts is None:
            return None
        url = url_for("review.contribution", submission=parts[0], question=parts[1])
        return _with_query(url, qs)

    duplicates = query.duplicates_of(row)
    current = review.current_review(subject)
    state_form = StateForm(formdata=None)
    state_form.state.data = current.state if current else "received"
    state_form.reason.data = (current.reason if current else "") or ""
    state_form.note.data = current.note if current else ""
    state_form.base_rev.data = current.rev if current else ""
    coding = review.coding_of(subject)
    coding_form = CodingForm(formdata=None)
    coding_form.note.data = coding.note if coding else ""
    coding_form.base_rev.data = coding.rev if coding else ""
    return render_template(
        "review/contribution.html",
        row=row,
        detail=detail,
        review_now=current,
        history=review.review_history(subject),
        coding=coding,
        chosen_codes=set(coding.codes) if coding else set(),
        codebook=review.active_codes(),
        may_code=_may_code(row, detail.question),
        typed=review.is_typed(detail.question),
        duplicates=duplicates,
        dup_context=review.page_context(duplicates),
        newer_url=link(newer),
        older_url=link(older),
        list_url=_with_query(url_for("review.contributions"), qs),
        qs=qs,
        state_form=state_form,
        coding_form=coding_form,
    )


@bp.post("/contributions/<submission>/<question>/review")
def set_state(submission: str, question: str) -> Redirect:
    """Save a contribution's review state on the version the page showed."""
    row = _row(submission, question)
    _filters, qs = _posted_filters()
    form = StateForm()
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return _back(submission, question, qs)
    try:
        review.set_state(
            review.subject_of(row),
            form.state.data or "",
            form.reason.data or None,
            form.note.data or "",
            form.base_rev.data or "",
        )
    except FieldappError as exc:
        flash(str(exc.message), "warning" if isinstance(exc, records.StaleRecord) else "error")
        return _back(submission, question, qs)
    flash(_("Review state saved."), "success")
    return _back(submission, question, qs)


@bp.post("/contributions/<submission>/<question>/duplicate")
def mark_duplicate(submission: str, question: str) -> Redirect:
    """Exclude this contribution as a duplicate (from the other contribution's page)."""
    row = _row(submission, question)
    _filters, qs = _posted_filters()
    back = _parts(request.form.get("back")) or (submission, question)
    try:
        review.mark_duplicate(review.subject_of(row))
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return _back(*back, qs)
    flash(_("The contribution was excluded as a duplicate."), "success")
    return _back(*back, qs)


@bp.post("/contributions/<submission>/<question>/codes")
def apply_codes(submission: str, question: str) -> Redirect:
    """Save the codes of a contribution (facilitators: typed contributions only)."""
    row = _row(submission, question)
    _filters, qs = _posted_filters()
    question_body = review.heads_by_id([row.question_id], "question").get(row.question_id)
    if not _may_code(row, question_body):
        abort(403)
    form = CodingForm()
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return _back(submission, question, qs)
    try:
        review.apply_codes(
            review.subject_of(row),
            request.form.getlist("code"),
            form.note.data or "",
            form.base_rev.data or "",
        )
    except FieldappError as exc:
        flash(str(exc.message), "warning" if isinstance(exc, records.StaleRecord) else "error")
        return _back(submission, question, qs)
    flash(_("Codes saved."), "success")
    return _back(submission, question, qs)


@bp.post("/contributions/bulk")
def bulk() -> str | Redirect:
    """Review a selection or everything the filter matches: first confirm, then apply."""
    filters, problems = query.parse_filters(request.form)
    qs = _query_string(filters)
    list_url = _with_query(url_for("review.contributions"), qs)
    form = BulkForm()
    action = form.action.data or ""
    if action not in BULK_ACTIONS or not form.validate():
        flash(_("Choose what to do with the contributions."), "error")
        return redirect(list_url)
    state, _label = BULK_ACTIONS[action]
    reason = form.reason.data or None
    if state == "excluded" and reason not in REASON_LABELS:
        flash(_("Say why the contributions are excluded."), "error")
        return redirect(list_url)
    scope = request.form.get("scope", "selected")
    if scope == "all":
        if problems:
            _flash_problems(problems)
            return redirect(list_url)
        total, capped = query.count(filters, cap=review.BULK_CAP)
        if capped or total > review.BULK_CAP:
            flash(
                _(
                    "More than %(max)s contributions match this filter: a bulk review can "
                    "change at most %(max)s at once. Narrow the filter and try again.",
                    max=_number(review.BULK_CAP),
                ),
                "error",
            )
            return redirect(list_url)
        keys: list[str] = []
    else:
        keys = (
            request.form.getlist("key") if scope == "selected" else request.form.getlist("page_key")
        )
        keys = list(dict.fromkeys(keys))
        total = len(keys)
        if not keys:
            flash(_("Tick the contributions to review first."), "error")
            return redirect(list_url)
    if request.form.get("confirm") != "1":
        return render_template(
            "review/bulk_confirm.html",
            confirm_text=_confirm_text(total, state),
            form=form,
            state=state,
            reason=reason,
            total=total,
            scope=scope,
            keys=keys,
            filter_args=query.filter_args(filters),
            list_url=list_url,
        )
    try:
        if scope == "all":
            keys = query.matching_keys(filters, limit=review.BULK_CAP + 1)
        changed = review.bulk_states(review.subjects_of(keys), state, reason, form.note.data or "")
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return redirect(list_url)
    flash(
        ngettext(
            "%(count)s contribution changed.",
            "%(count)s contributions changed.",
            changed,
            count=_number(changed),
        ),
        "success",
    )
    return redirect(list_url)
