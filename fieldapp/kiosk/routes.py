"""Participant pages. Answers live on the server until submitted; the browser holds a token.

Every answer is posted and followed by a redirect (Post/Redirect/Get); after submitting, the
token cookie is deleted and the device shows a neutral receipt, so Back, reload or reopening
the page can only ever show the start screen.

Nothing is written before consent: the language chosen on the start screen travels to the
consent page in its address (``?lang=xx``, as it does to the closing pages), and declining
writes nothing at all. Agreeing keeps the draft (one write, and the token cookie is set then);
each screen after it writes at most once, and not at all when nothing changed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from flask import (
    abort,
    current_app,
    flash,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from werkzeug.wrappers import Response

from ..answers import read_answer
from ..consultations.labels import LABELS
from ..forms import ActionForm
from ..i18n import BY_CODE, Language
from ..ratelimit import SlidingWindow
from ..services import intake, workspace
from ..services.errors import FieldappError
from . import bp

COOKIE = "fieldapp_participant"
GENDERS = ("woman", "man", "prefer_not_to_say")
AGES = ("under_18", "18_29", "30_44", "45_59", "60_plus", "prefer_not_to_say")


@bp.record_once
def _setup(state: Any) -> None:
    # The labels of genders and age bands, for templates (the participant app has no workspace).
    state.app.jinja_env.globals.update(labels=LABELS, csrf_input=csrf_input, kiosk_sheet=_sheet)
    config = state.app.config
    # The counts live in each listener process: with several serving one address, each
    # allows its share, so that together they never allow more than the limit per address
    # (one each, if the limit is smaller than the number of processes).
    processes = max(1, int(config.get("PARTICIPANT_PROCESSES", 1)))

    def share(limit: int) -> int:
        return max(1, limit // processes)

    state.app.extensions["fieldapp_limits"] = {
        "submissions": SlidingWindow(
            share(config.get("PARTICIPANT_SUBMISSIONS_PER_MINUTE", 6)), 60
        ),
        "unknown_codes": SlidingWindow(
            share(config.get("PARTICIPANT_UNKNOWN_CODES_PER_10_MINUTES", 20)), 600
        ),
    }


def csrf_input() -> Markup:
    """The hidden CSRF field of a participant form (no form object is built for a page view)."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(generate_csrf())


# A question's controls depend only on its version (revs are content hashes), the language and
# whether it is marked as missing; while the participant has not answered it they are the same
# for everyone, so they are rendered once. Revisiting an answered question renders afresh.
_SHEETS: dict[tuple[str, str, bool], Markup] = {}
_SHEETS_KEPT = 2000


def _sheet(question: workspace.Item, language: str, missing: bool, given: Any) -> Markup:
    """The question's controls in ``language`` (the caller has forced that locale)."""
    render = get_template_attribute("_sheet.html", "question")
    if given is not None:
        return render(question, language, missing=missing, focus=True, given=given)
    key = (question.rev, language, missing)
    html = _SHEETS.get(key)
    if html is None:
        if len(_SHEETS) >= _SHEETS_KEPT:
            _SHEETS.clear()
        # A macro of an autoescaping template returns Markup, escaped as it was rendered.
        html = _SHEETS[key] = render(question, language, missing=missing, focus=True)
    return html


def _limit(name: str) -> SlidingWindow | None:
    """A rate limit, applied only on the participant listener (phones on the Wi-Fi)."""
    if not current_app.config.get("PARTICIPANT_ONLY"):
        return None
    return current_app.extensions["fieldapp_limits"][name]


def _client() -> str:
    return request.remote_addr or "unknown"


def _meeting(code: str) -> intake.Meeting:
    """The open consultation behind ``code`` with its questions.

    A code whose input has closed shows that it has (:func:`_closed`); a code that never
    existed is a neutral 404 that tells nothing about any meeting (guesses are limited).
    """
    guesses = _limit("unknown_codes")
    if guesses is not None and not guesses.allowed(_client()):
        abort(429)
    meeting = intake.find_meeting(code)
    if meeting is None:
        if guesses is not None:
            guesses.hit(_client())
        abort(404)
    if meeting.closed:
        _closed(meeting.consultation, code)
    return meeting


def _closed(item: workspace.Item, code: str) -> NoReturn:
    """Say in every language of the meeting that its input has closed: 410 Gone.

    Its join code will never work again (opening input again gives a new code), so a
    participant who reloads, goes Back or sends a page late learns that input has closed
    instead of meeting a page that does not exist.
    """
    notices: list[tuple[Language, str, str]] = []
    titles: dict[str, Language] = {}  # each title once, marked with the language it is in
    written = item.body["title"]
    for lang_code in item.body["languages"]:
        language = BY_CODE[lang_code]
        title_language = (
            lang_code if written.get(lang_code) else item.body.get("original_language", "")
        )
        if written.get(title_language) and title_language in BY_CODE:
            titles.setdefault(written[title_language], BY_CODE[title_language])
        with force_locale(language.locale):
            notices.append(
                (
                    language,
                    _("Input for this meeting has closed"),
                    _("The answers that were sent are saved. Thank you for taking part."),
                )
            )
    with force_locale(BY_CODE[item.body["languages"][0]].locale):
        page = render_template(
            "kiosk/closed.html",
            item=item,
            code=code,
            notices=notices,
            titles=[(language, title) for title, language in titles.items()],
            sheet_language=BY_CODE[item.body["languages"][0]],
            idle_seconds=0,  # nothing to forget: no idle reset
        )
    response = Response(page, 410, mimetype="text/html")
    response.delete_cookie(COOKIE, path="/p")  # its unsent answers were discarded at closing
    abort(response)


def _idle() -> timedelta:
    return timedelta(seconds=current_app.config["KIOSK_IDLE_SECONDS"])


def _save(draft: intake.Draft, **changes: Any) -> bool:
    """Write what a screen changed (one UPDATE, or nothing), keeping a moving draft alive.

    A draft not written for half the idle time is written anyway, so that pressing Next over
    unchanged answers for a while never lets it count as left idle.
    """
    return intake.update(draft, refresh_after=_idle() / 2, **changes)


def _chosen_language(item: workspace.Item) -> str | None:
    """The language chosen on the start screen, carried in the address (None: none valid)."""
    language = request.args.get("lang", "")
    return language if language in item.body["languages"] else None


def _draft(item: workspace.Item) -> intake.Draft | None:
    """The participant's unfinished answers for this meeting (None: start again)."""
    return intake.load(request.cookies.get(COOKIE), item.id, _idle())


def _page(template: str, item: workspace.Item, code: str, language: str, **context: Any) -> str:
    """Render a participant page in the participant's language and direction."""
    with force_locale(BY_CODE[language].locale):
        return render_template(
            template,
            item=item,
            code=code,
            sheet_language=BY_CODE[language],
            idle_seconds=int(_idle().total_seconds()),
            **context,
        )


def _restart(code: str) -> Response:
    response = redirect(url_for("kiosk.start", code=code))
    response.delete_cookie(COOKIE, path="/p")
    return response


def _channel() -> str:
    """A participant's own phone on the local network, or the shared kiosk on the laptop."""
    return "own_device" if current_app.config.get("PARTICIPANT_ONLY") else "kiosk"


@bp.route("/<code>", methods=["GET", "POST"])
def start(code: str) -> str | Response:
    """Greet the participant in every language of the meeting; they choose one."""
    meeting = _meeting(code)
    item = meeting.consultation
    if request.method == "POST":
        language = request.form.get("language", "")
        if not ActionForm().validate_on_submit() or language not in item.body["languages"]:
            abort(400)
        # Nothing of this person is written: the choice travels in the address. A previous
        # person's unsent answers on this device (their cookie is still here) are forgotten.
        token = request.cookies.get(COOKIE)
        if token:
            intake.discard(token)
        response = redirect(url_for("kiosk.consent", code=code, lang=language))
        response.delete_cookie(COOKIE, path="/p")
        return response
    return _page("kiosk/start.html", item, code, item.body["languages"][0])


@bp.route("/<code>/consent", methods=["GET", "POST"])
def consent(code: str) -> str | Response:
    """The facilitator's consent text; agreeing is the participant's first write, declining
    writes nothing at all.

    Before agreeing there is no draft: the page is in the language of ``?lang=``. An answer
    sent without one (a page older than this rule) is taken in the meeting's first language.
    """
    meeting = _meeting(code)
    item = meeting.consultation
    draft = _draft(item)
    if draft is None:
        language = _chosen_language(item)
        if request.method == "GET" and language is None:
            return _restart(code)
        language = language or item.body["languages"][0]
        if request.method == "POST" and ActionForm().validate_on_submit():
            if request.form.get("choice") == "agree":
                token = intake.start(item.id, language, _channel())
                response = redirect(url_for("kiosk.question", code=code, number=1))
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/p")
                return response
            response = redirect(url_for("kiosk.declined", code=code, lang=language))
            response.delete_cookie(COOKIE, path="/p")  # a stale token, if any
            return response
        return _page("kiosk/consent.html", item, code, language)
    # Back from the first question: the participant has agreed already.
    if request.method == "POST" and ActionForm().validate_on_submit():
        if request.form.get("choice") == "agree":
            _save(draft, consented=True)  # writes only for a draft kept without consent
            return redirect(url_for("kiosk.question", code=code, number=1))
        intake.discard(draft.token)  # they withdraw: what they answered goes
        response = redirect(url_for("kiosk.declined", code=code, lang=draft.language))
        response.delete_cookie(COOKIE, path="/p")
        return response
    return _page("kiosk/consent.html", item, code, draft.language)


@bp.route("/<code>/declined")
def declined(code: str) -> str:
    """Thank the participant; nothing was recorded."""
    meeting = _meeting(code)
    item = meeting.consultation
    language = request.args.get("lang", "")
    if language not in item.body["languages"]:
        language = item.body["languages"][0]
    return _page("kiosk/declined.html", item, code, language)


@bp.route("/<code>/q/<int:number>", methods=["GET", "POST"])
def question(code: str, number: int) -> str | Response:
    """One question per screen; back and forward within the participant's own answers."""
    meeting = _meeting(code)
    item = meeting.consultation
    draft = _draft(item)
    if draft is None or not draft.consented:
        return _restart(code)
    questions = meeting.questions
    if not 1 <= number <= len(questions):
        return redirect(url_for("kiosk.about", code=code))
    current = questions[number - 1]
    missing = False
    if request.method == "POST" and ActionForm().validate_on_submit():
        value = read_answer(request.form, current)
        answers = dict(draft.answers)
        if value is None:
            answers.pop(current.id, None)
        else:
            answers[current.id] = value
        _save(draft, answers=answers)  # nothing is written when the answer is unchanged
        if request.form.get("go") == "back":
            target = (
                url_for("kiosk.question", code=code, number=number - 1)
                if number > 1
                else url_for("kiosk.consent", code=code)
            )
            return redirect(target)
        if value is None and current.body.get("required"):
            missing = True
        else:
            following = number + 1
            if following > len(questions):
                return redirect(url_for("kiosk.about", code=code))
            return redirect(url_for("kiosk.question", code=code, number=following))
    return _page(
        "kiosk/question.html",
        item,
        code,
        draft.language,
        question=current,
        number=number,
        total=len(questions),
        given=draft.answers.get(current.id),
        missing=missing,
    )


@bp.route("/<code>/language", methods=["POST"])
def switch_language(code: str) -> Response:
    """Change language mid-way; the answers already given stay.

    On the consent page, before anything is written, the new language goes in the address.
    """
    meeting = _meeting(code)
    item = meeting.consultation
    draft = _draft(item)
    language = request.form.get("language", "")
    back = request.form.get("back", "")
    if draft is None:
        if back != f"/p/{code}/consent":  # a later page: its answers were forgotten
            return _restart(code)
        if not ActionForm().validate_on_submit() or language not in item.body["languages"]:
            abort(400)
        return redirect(url_for("kiosk.consent", code=code, lang=language))
    if not ActionForm().validate_on_submit() or language not in item.body["languages"]:
        abort(400)
    _save(draft, language=language)
    return redirect(back if back.startswith(f"/p/{code}/") else url_for("kiosk.consent", code=code))


@bp.route("/<code>/about", methods=["GET", "POST"])
def about(code: str) -> str | Response:
    """Optional questions about the participant, each with 'prefer not to say'."""
    meeting = _meeting(code)
    item = meeting.consultation
    draft = _draft(item)
    if draft is None or not draft.consented:
        return _restart(code)
    groups = [g["id"] for g in item.body.get("groups", [])]
    if request.method == "POST" and ActionForm().validate_on_submit():
        chosen = {
            "gender": request.form.get("gender") if request.form.get("gender") in GENDERS else None,
            "age_band": request.form.get("age_band")
            if request.form.get("age_band") in AGES
            else None,
            "group": request.form.get("group")
            if request.form.get("group") in (*groups, "prefer_not_to_say")
            else None,
        }
        _save(draft, demographics={k: v for k, v in chosen.items() if v})
        if request.form.get("go") == "back":
            total = len(meeting.questions)
            return redirect(url_for("kiosk.question", code=code, number=max(total, 1)))
        return redirect(url_for("kiosk.review", code=code))
    return _page("kiosk/about.html", item, code, draft.language, chosen=draft.demographics)


@bp.route("/<code>/review", methods=["GET", "POST"])
def review(code: str) -> str | Response:
    """Check the answers and submit them; the receipt only shows once they are saved."""
    meeting = _meeting(code)
    item = meeting.consultation
    token = request.cookies.get(COOKIE)
    draft = _draft(item)
    if draft is None:
        if request.method == "POST" and intake.already_submitted(token, item.id):
            response = redirect(url_for("kiosk.thanks", code=code))  # a retry: same receipt
            response.delete_cookie(COOKIE, path="/p")
            return response
        return _restart(code)
    questions = meeting.questions
    flood = _limit("submissions")
    if request.method == "POST" and flood is not None and not flood.allowed(_client()):
        abort(429)
    if request.method == "POST" and ActionForm().validate_on_submit():
        unanswered = [
            q.id for q in questions if q.body.get("required") and q.id not in draft.answers
        ]
        if unanswered:
            flash(_("Please answer the questions marked as required."), "error")
        elif not draft.answers:
            flash(_("Nothing was answered, so there is nothing to send."), "error")
        else:
            try:
                intake.submit(draft)
            except FieldappError as exc:
                flash(str(exc.message), "error")
            else:
                if flood is not None:
                    flood.hit(_client())
                response = redirect(url_for("kiosk.thanks", code=code, lang=draft.language))
                response.delete_cookie(COOKIE, path="/p")
                return response
    return _page("kiosk/review.html", item, code, draft.language, questions=questions, draft=draft)


@bp.route("/<code>/thanks")
def thanks(code: str) -> str:
    """A neutral receipt: saved, hand the device on. It shows no answer."""
    meeting = _meeting(code)
    item = meeting.consultation
    language = request.args.get("lang", "")
    if language not in item.body["languages"]:
        language = item.body["languages"][0]
    return _page("kiosk/thanks.html", item, code, language)


@bp.route("/<code>/reset", methods=["POST"])
def reset(code: str) -> Response:
    """The device was left idle: forget the unsent answers and go back to the start."""
    _meeting(code)
    token = request.cookies.get(COOKIE)
    if token:
        intake.discard(token)
    return _restart(code)
