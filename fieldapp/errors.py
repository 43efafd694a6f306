"""Error pages in the user's language, never with a traceback (W-20)."""

from __future__ import annotations

import traceback

from flask import Flask, Response, current_app, render_template
from flask.globals import request_ctx as _request_ctx
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

# Translators: titles and explanations of error pages. Say what happened and what to do next.
MESSAGES = {
    400: (
        _l("This request could not be understood"),
        _l("Something in the request was not valid. Go back and try again."),
    ),
    403: (
        _l("Not allowed"),
        _l(
            "Your account's role may not open this page or do what you asked. If your work "
            "needs it, ask a coordinator. (This also happens when a request comes from another "
            "site.)"
        ),
    ),
    404: (
        _l("Page not found"),
        _l("There is no page at this address. Check the address or go back to the start page."),
    ),
    405: (
        _l("Not allowed"),
        _l("This page cannot be used this way. Go back and use the buttons on the page."),
    ),
    413: (
        _l("Too much data"),
        _l("What you sent is larger than this page accepts. Send a smaller file or less text."),
    ),
    429: (
        _l("Too many attempts"),
        _l("There were too many attempts in a short time. Wait a few minutes and try again."),
    ),
    500: (
        _l("Something went wrong"),
        _l(
            "fieldapp could not finish this request. Nothing was half-saved. "
            "Try again; if it happens again, restart fieldapp."
        ),
    ),
}
UNKNOWN_LANGUAGE = _l("This language is not available. Choose one of the languages listed.")
CSRF_TITLE = _l("This form has expired")
CSRF_TEXT = _l(
    "The page was open too long, or the form was sent from another page. "
    "Go back, reload the page and send the form again."
)


def _render(status: int, title: object, text: object) -> tuple[str, int] | Response:
    if _request_ctx.url_adapter is None:
        # The request was refused before routing (an untrusted Host header): no links possible.
        return Response(f"{title}\n\n{text}\n", status, mimetype="text/plain")
    template = (
        "errors/participant_error.html"
        if current_app.config.get("PARTICIPANT_ONLY")
        else "errors/error.html"
    )
    page = render_template(template, status=status, title=title, text=text, bare=status >= 500)
    return page, status


def handle_http_error(error: HTTPException) -> tuple[str, int] | Response:
    """Render any HTTP error as a translated page."""
    status = error.code or 500
    title, text = MESSAGES.get(status, MESSAGES[400] if status < 500 else MESSAGES[500])
    if status == 400 and error.description == "unknown-language":
        text = UNKNOWN_LANGUAGE
    return _render(status, title, text)


def handle_csrf_error(_error: CSRFError) -> tuple[str, int] | Response:
    """A missing or stale CSRF token: explain it in the user's words."""
    return _render(400, CSRF_TITLE, CSRF_TEXT)


def describe_exception(error: BaseException) -> str:
    """The type of an error and the lines it passed through, without its message."""
    frames = traceback.extract_tb(error.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames))
    return f"{type(error).__name__} at {where}"


def handle_unexpected(_error: Exception) -> tuple[str, int] | Response:
    """Show a calm page; the error was logged by ``FieldApp.log_exception``."""
    title, text = MESSAGES[500]
    return _render(500, title, text)


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_unexpected)
