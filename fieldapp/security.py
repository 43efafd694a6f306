"""Headers and request checks applied to every response (SECURITY.md W-10 to W-17)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # The vendored stylesheet draws its small icons as inline SVG data, never from a host.
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def reject_foreign_origin() -> None:
    """Refuse a state-changing request sent by a page of another site (W-12)."""
    if request.method not in UNSAFE_METHODS:
        return
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        abort(403)
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        abort(403)


POLICY: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def policy_headers(participant_only: bool) -> dict[str, str]:
    """The policy headers of every response of an app.

    The phones' listener answers over plain HTTP on the hotspot, which browsers do not count as
    a trustworthy origin: there they ignore Cross-Origin-Opener-Policy and log an error on
    every page (Lighthouse's "errors in console"), so it is left out. Its pages open no window
    and are framed by nobody (X-Frame-Options, frame-ancestors), which is what COOP guards.
    """
    if not participant_only:
        return POLICY
    return {name: value for name, value in POLICY.items() if name != "Cross-Origin-Opener-Policy"}


def add_security_headers(response: Response) -> Response:
    """Set the policy headers; forbid caching of everything but static files."""
    headers = response.headers
    headers.update(policy_headers(bool(current_app.config.get("PARTICIPANT_ONLY"))))
    if request.endpoint not in ("static", "favicon"):
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Install the request check and the response headers."""
    app.before_request(reject_foreign_origin)
    app.after_request(add_security_headers)
