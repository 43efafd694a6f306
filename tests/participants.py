"""A participant's browser as a plain HTTP client, for tests that need a real server."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003 -- urllib's signature
        return None


class _LoopbackIsSecure(http.cookiejar.DefaultCookiePolicy):
    """Like browsers, treat http://127.0.0.1 as a secure origin for Secure cookies."""

    def return_ok_secure(self, cookie, request):  # noqa: ANN001, ANN201 -- cookiejar's API
        host = urllib.parse.urlsplit(request.get_full_url()).hostname or ""
        return host.startswith("127.") or super().return_ok_secure(cookie, request)


class Phone:
    """Cookies, the CSRF token of the page, no automatic redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar(_LoopbackIsSecure())),
            _NoRedirect(),
        )

    def get(self, path: str) -> tuple[int, str, dict]:
        status, page, headers = self._open(urllib.request.Request(self.base + path))
        found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
        if found:
            self.token = found.group(1)
        return status, page, headers

    def post(self, path: str, data: dict) -> tuple[int, str, dict]:
        if not self.token:
            self.get(path)
        body = urllib.parse.urlencode({**data, "csrf_token": self.token}).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, method="POST"))

    def _open(self, request: urllib.request.Request) -> tuple[int, str, dict]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode(), dict(error.headers)


def consent_page(phone: Phone, code: str, language: str = "ar") -> str | None:
    """Choose ``language`` on the start screen: the consent page it leads to, or None.

    Nothing is kept before consent: the choice travels in the address,
    ``/p/CODE/consent?lang=xx``, which is where the consent form posts.
    """
    status, _page, headers = phone.post(f"/p/{code}", {"language": language})
    location = urllib.parse.urlsplit(headers.get("Location", ""))
    if status != 302 or not location.path.endswith("/consent"):
        return None
    return f"{location.path}?{location.query}"


ACKNOWLEDGED = 200


def send_status(phone: Phone, code: str, question: str, text: str, language: str = "ar") -> int:
    """One participant's whole visit, sent once: :data:`ACKNOWLEDGED` when the server
    acknowledged it (a redirect to the receipt), else the status sending got (0 when the
    visit never reached the consent page)."""
    phone.get(f"/p/{code}")
    consent = consent_page(phone, code, language)
    if consent is None:
        return 0
    phone.post(consent, {"choice": "agree"})
    phone.post(f"/p/{code}/q/1", {f"q_{question}": text, "go": "next"})
    status, _page, headers = phone.post(f"/p/{code}/review", {})
    if status == 302 and "/thanks" in headers.get("Location", ""):
        return ACKNOWLEDGED
    return status


def give_input(phone: Phone, code: str, question: str, text: str, language: str = "ar") -> bool:
    """One participant's whole visit; True when the server acknowledged the submission."""
    return send_status(phone, code, question, text, language) == ACKNOWLEDGED


def agree(client, code: str, language: str):  # noqa: ANN001, ANN201 -- a Flask test client
    """With a Flask test client: choose ``language`` and agree, as the pages lead a person.

    Returns the answer to "I agree" (a redirect to the first question).
    """
    chosen = client.post(f"/p/{code}", data={"language": language})
    assert chosen.status_code == 302, chosen.status_code
    consent = chosen.headers["Location"]
    assert f"lang={language}" in consent, consent  # nothing kept yet: it is in the address
    return client.post(consent, data={"choice": "agree"})
