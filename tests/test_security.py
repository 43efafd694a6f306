"""Web defences: headers, CSRF, origins, limits, refused routes and error pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from werkzeug.routing import Rule

from fieldapp.auth import access
from fieldapp.auth.sessions import PUBLIC_ENDPOINTS

from .conftest import PASSWORD, UI_LANGUAGES, csrf_token, login, set_language, translated


def _assert_policy_headers(response, dynamic: bool = True) -> None:
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    if dynamic:
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path", ["/", "/login", "/setup", "/no-such-page", "/admin/users", "/account/password"]
)
def test_every_response_carries_the_policy_headers(signed_in, path):
    """Pages, redirects and error pages alike carry CSP, nosniff, no-referrer and no-store."""
    _assert_policy_headers(signed_in.get(path))


def test_static_files_are_cacheable_but_still_protected(client):
    """Fonts and stylesheets may be cached (they never hold data); headers still apply."""
    with client.get("/static/css/app.css") as response:
        assert response.status_code == 200
        _assert_policy_headers(response, dynamic=False)
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_session_cookie_is_host_only_secure_and_strict(signed_in):
    """The facilitator cookie is __Host-, Secure, HttpOnly and SameSite=Strict (W-08)."""
    response = login(signed_in)  # a fresh login sets the cookie again
    signed_in.post("/logout")
    response = login(signed_in)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-fieldapp=")
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie


def _public_or_refused(client, rule: Rule) -> int:
    path = re.sub(r"<int:[^>]+>", "1", rule.rule)
    path = re.sub(r"<[^>]+>", "x", path)
    method = "GET" if "GET" in rule.methods else "POST"
    return client.open(path, method=method).status_code


def test_unauthenticated_visitors_are_refused_everywhere(app, coordinator):
    """Crawl the URL map: every route but the public allowlist refuses a visitor (W-01)."""
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("kiosk."):
            # Participants' pages are public by design, and only for an open join code.
            assert _public_or_refused(client, rule) == 404, rule.rule
            continue
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        status = _public_or_refused(client, rule)
        assert status in (302, 401, 403), (rule.rule, status)
        checked += 1
    assert checked >= 8


def test_facilitators_cannot_manage_accounts(app, coordinator):
    """The accounts pages are for coordinators only."""
    from fieldapp.models import Role

    from .conftest import add_user

    add_user(app, "bahar", Role.FACILITATOR)
    client = app.test_client()
    login(client, "bahar")
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            assert _public_or_refused(client, rule) == 403, rule.rule


@pytest.mark.parametrize("lang", UI_LANGUAGES)
@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login", {"username": "amira", "password": PASSWORD}),
        ("/language", {"lang": "ar"}),
        ("/logout", {}),
    ],
)
def test_forms_without_csrf_token_are_rejected(csrf_app, lang, path, data):
    """With CSRF protection on (as in production), a POST without a token is refused."""
    from .conftest import add_user

    add_user(csrf_app, "amira")
    client = csrf_app.test_client()
    client.set_cookie(csrf_app.config["LANGUAGE_COOKIE_NAME"], lang)
    response = client.post(path, data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert translated(lang, "This form has expired") in page
    assert "Traceback" not in page


def test_forms_with_the_token_work(csrf_app):
    """The same forms work when the page's token is sent back."""
    from .conftest import add_user

    add_user(csrf_app, "amira")
    client = csrf_app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": "amira", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_token(home)})
    assert response.status_code == 302


def test_setup_without_csrf_token_is_rejected(csrf_app):
    """Even the first-run page needs its token."""
    response = csrf_app.test_client().post(
        "/setup", data={"username": "amira", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://192.168.1.20:5000"},
    ],
)
def test_requests_from_other_sites_are_refused(signed_in, headers):
    """A page elsewhere cannot make the facilitator's browser post here (W-12)."""
    response = signed_in.post("/logout", headers=headers)
    assert response.status_code == 403
    assert signed_in.get("/").status_code == 200  # still signed in


def test_same_origin_posts_are_accepted(signed_in):
    """The browser's own Origin header is fine."""
    response = signed_in.post(
        "/language",
        data={"lang": "ar"},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 302


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_oversized_request_gets_a_translated_413(client, coordinator, lang):
    """A request over the size limit is refused with a page in the user's language."""
    set_language(client, lang)
    response = client.post(
        "/login", data={"username": "amira", "password": "x" * (2 * 1024 * 1024)}
    )
    assert response.status_code == 413
    assert translated(lang, "Too much data") in response.get_data(as_text=True)


def test_unknown_host_header_is_refused(client):
    """Only the loopback names are served (DNS rebinding defence, W-18)."""
    response = client.get("/login", headers={"Host": "attacker.example"})
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_not_found_page_is_translated(client, coordinator, lang):
    """A mistyped address gets a 404 page in the user's language and direction."""
    set_language(client, lang)
    response = client.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert translated(lang, "Page not found") in page
    direction = "ltr" if lang in ("en", "ku") else "rtl"  # Kurmanji is written in Latin letters
    assert re.search(rf'<html lang="[^"]+" dir="{direction}">', page)


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_unexpected_errors_show_a_calm_page_without_traceback(app, coordinator, lang, caplog):
    """A bug shows a translated 500 page; the log names the error type, not the data."""

    @app.route("/explode")
    def explode():
        raise ValueError("secret participant words")

    app.extensions["fieldapp_access"]["explode"] = access.EVERYONE  # a page every role may see
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    set_language(client, lang)
    login(client)
    response = client.get("/explode")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert translated(lang, "Something went wrong") in page
    assert "Traceback" not in page
    assert "secret participant words" not in page
    assert "secret participant words" not in caplog.text
    assert "ValueError" in caplog.text


def test_no_page_refers_to_another_host(signed_in, app):
    """Every link, script, stylesheet, image and form target of every page stays on this host."""
    pages = ["/", "/account/password", "/admin/users", "/admin/users/new", "/admin/users/1"]
    anonymous = app.test_client()
    seen = 0
    for client, path in [(signed_in, p) for p in pages] + [(anonymous, "/login")]:
        html = client.get(path).get_data(as_text=True)
        for url in re.findall(r'(?:href|src|action)="([^"]*)"', html):
            assert not urlsplit(url).netloc, (path, url)
            seen += 1
    assert seen > 20
    for css in ("css/app.css", "css/app-fonts.css", "css/print.css", "css/pico.min.css"):
        with app.test_client().get(f"/static/{css}") as response:
            body = response.get_data(as_text=True)
        for url in re.findall(r"url\(([^)]*)\)", body):
            url = url.strip("'\"")
            assert url.startswith("data:") or not urlsplit(url).netloc, (css, url)
        assert "@import" not in body
