"""Static files: WhiteNoise answers them before Flask, under content-hashed names (issue #13).

A phone downloads each stylesheet, font and script once per release: hashed addresses are
cached for years as immutable, sent brotli- or gzip-compressed when the browser accepts it,
and never reach the app's request hooks. The committed build (fieldapp/static/dist) must be
what scripts/build_static.py makes of the files beside it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import brotli
import pytest
from flask import Flask, url_for

from fieldapp import create_app, staticfiles
from fieldapp.security import add_security_headers

from .sync_world import meeting_laptop

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "fieldapp" / "static"
BUILD = ROOT / "scripts" / "build_static.py"
HASHED = re.compile(r"^/static/(?P<name>.+)\.(?P<hash>[0-9a-f]{12})(?P<suffix>\.[a-z0-9]+)$")
YEAR = 365 * 24 * 3600
CHROMIUM_ENCODINGS = "gzip, deflate, br, zstd"


@pytest.fixture(scope="module")
def meeting(tmp_path_factory) -> tuple[Path, str]:
    """A laptop with a consultation open for input in ar, ckb and ku: (folder, join code)."""
    folder, code, _question = meeting_laptop(tmp_path_factory.mktemp("static"), ("ar", "ckb", "ku"))
    return folder, code


@pytest.fixture
def laptop(meeting) -> Flask:
    folder, _code = meeting
    return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}, instance_path=folder)


@pytest.fixture
def listener(meeting) -> Flask:
    """The participant listener's app (participant_only), as the phones reach it."""
    folder, _code = meeting
    return create_app({"TESTING": True}, instance_path=folder, participant_only=True)


def _assets(html: str) -> list[str]:
    """Every local stylesheet, script, icon and preloaded font a page names."""
    return re.findall(r'<(?:link|script)[^>]+(?:href|src)="(/static/[^"]+)"', html)


def _get(app: Flask, path: str, encoding: str | None = None):  # noqa: ANN202 -- a Response
    headers = {"Accept-Encoding": encoding} if encoding is not None else {}
    response = app.test_client().get(path, headers=headers)
    response.get_data()  # read before the file is closed; kept in the response
    response.close()
    return response


def test_pages_name_their_assets_by_content_hash(laptop, listener, meeting):
    """The participant page and a facilitator page: every asset address carries the hash of
    the bytes served under it, and each of them answers 200."""
    _folder, code = meeting
    pages = {
        "participant": listener.test_client().get(f"/p/{code}").get_data(as_text=True),
        "facilitator": laptop.test_client().get("/setup").get_data(as_text=True),
    }
    for where, html in pages.items():
        assets = _assets(html)
        assert len(assets) >= 4, where
        for url in assets:
            match = HASHED.match(url)
            assert match, (where, url)
            response = _get(laptop, url, encoding="identity")
            assert response.status_code == 200, url
            assert hashlib.sha256(response.data).hexdigest()[:12] == match["hash"], url
    assert "css/participant." in pages["participant"]
    assert "pico" not in pages["participant"]  # the facilitator's framework stays on its side
    assert "css/pico.min." in pages["facilitator"]


def test_url_for_gives_the_manifest_s_name_and_leaves_unknown_files_alone(laptop):
    manifest = staticfiles.read_manifest()
    assert manifest["css/participant.css"] != "css/participant.css"
    with laptop.test_request_context():
        assert url_for("static", filename="css/app.css") == "/static/" + manifest["css/app.css"]
        assert url_for("static", filename="css/not-built.css") == "/static/css/not-built.css"
        assert url_for("kiosk.start", code="ABCDEFG") == "/p/ABCDEFG"  # other endpoints: as ever


def test_hashed_files_are_immutable_for_a_year_or_more(laptop):
    for name, hashed in staticfiles.read_manifest().items():
        response = _get(laptop, f"/static/{hashed}")
        assert response.status_code == 200, name
        control = response.headers["Cache-Control"]
        assert "immutable" in control, name
        assert "public" in control, name
        assert int(re.search(r"max-age=(\d+)", control).group(1)) >= YEAR, name


def test_plain_names_are_still_served_for_a_short_time(laptop, listener):
    """Old pages and hand-typed addresses keep working, but are not kept for long."""
    for app in (laptop, listener):
        for path in ("/static/css/app.css", "/static/js/kiosk.js", "/static/favicon.svg"):
            response = _get(app, path)
            assert response.status_code == 200, path
            control = response.headers["Cache-Control"]
            assert "immutable" not in control, path
            assert int(re.search(r"max-age=(\d+)", control).group(1)) <= 3600, path
        with app.test_client().get("/favicon.ico") as response:
            assert response.status_code == 200
    assert _get(laptop, "/static/css/no-such-file.css").status_code == 404


@pytest.mark.parametrize(
    ("accepted", "sent"),
    [
        (CHROMIUM_ENCODINGS, "br"),
        ("br", "br"),
        ("gzip", "gzip"),
        ("gzip, deflate", "gzip"),
        ("identity", None),
        (None, None),
    ],
)
def test_text_files_are_sent_compressed_as_the_browser_accepts(laptop, accepted, sent):
    manifest = staticfiles.read_manifest()
    for name in ("css/participant.css", "css/pico.min.css", "js/kiosk.js"):
        original = (STATIC / "dist" / manifest[name]).read_bytes()
        response = _get(laptop, f"/static/{manifest[name]}", encoding=accepted)
        assert response.headers.get("Content-Encoding") == sent, name
        assert "Accept-Encoding" in response.headers["Vary"], name
        body = response.data
        if sent == "br":
            body = brotli.decompress(body)
        elif sent == "gzip":
            body = gzip.decompress(body)
        assert body == original, name
        if sent:
            assert len(response.data) < len(original) * 0.5, name
        assert response.headers["Content-Type"].endswith("; charset=utf-8"), name


def test_fonts_and_icons_are_never_compressed_again(laptop):
    """woff2 is brotli inside already; the .ico is left as it is (1.3 KB)."""
    manifest = staticfiles.read_manifest()
    for name in (
        "fonts/noto-sans-arabic/noto-sans-arabic-subset-400-normal.woff2",
        "favicon.ico",
    ):
        response = _get(laptop, f"/static/{manifest[name]}", encoding=CHROMIUM_ENCODINGS)
        assert response.status_code == 200
        assert "Content-Encoding" not in response.headers, name
        assert not (STATIC / "dist" / (manifest[name] + ".br")).exists(), name
        assert not (STATIC / "dist" / (manifest[name] + ".gz")).exists(), name
    icon = _get(laptop, "/static/" + manifest["favicon.ico"])
    assert icon.mimetype == "image/vnd.microsoft.icon"  # as Flask named it before


def test_no_request_hook_runs_for_a_static_file(laptop, listener, meeting):
    """No before_request or after_request hook, no session cookie, no database: a counting
    hook sees the page and none of its assets."""
    _folder, code = meeting
    for app in (laptop, listener):
        calls: list[str] = []
        app.before_request(lambda: calls.append("before"))  # noqa: B023 -- called at once

        @app.after_request
        def count(response):  # noqa: ANN001, ANN202 -- a Flask hook
            calls.append("after")  # noqa: B023
            return response

        client = app.test_client()
        page = client.get(f"/p/{code}").get_data(as_text=True)
        assert calls == ["before", "after"]
        calls.clear()
        for url in _assets(page) + ["/static/css/app.css"]:
            with client.get(url, headers={"Accept-Encoding": CHROMIUM_ENCODINGS}) as response:
                assert response.status_code == 200, url
                assert "Set-Cookie" not in response.headers, url
                assert "Cookie" not in response.headers.get("Vary", ""), url
        assert calls == []


def test_static_files_carry_the_policy_headers_of_the_pages(laptop):
    """Every header security.py gives a page is on a static file too, with the same value
    (but the page's Cache-Control: no-store)."""
    with laptop.test_request_context("/login"):
        page = add_security_headers(laptop.response_class())
    policy = {
        k: v
        for k, v in page.headers.items()
        if k not in ("Content-Type", "Cache-Control", "Pragma")
    }
    assert "Content-Security-Policy" in policy
    assert "X-Content-Type-Options" in policy
    manifest = staticfiles.read_manifest()
    for url in ("/static/" + manifest["css/participant.css"], "/static/favicon.svg"):
        response = _get(laptop, url, encoding=CHROMIUM_ENCODINGS)
        for name, value in policy.items():
            assert response.headers.get(name) == value, (url, name)
        assert "Access-Control-Allow-Origin" not in response.headers  # this origin only


def test_the_phones_listener_sends_no_opener_policy_that_browsers_would_ignore(
    laptop, listener, meeting
):
    """Over plain HTTP on the hotspot Chromium ignores Cross-Origin-Opener-Policy and logs an
    error on every page; the phones' listener leaves it out (pages and files), the
    facilitator's loopback server keeps it. Every other policy header is on both."""
    _folder, code = meeting
    css = "/static/" + staticfiles.read_manifest()["css/participant.css"]
    for app, expected in ((laptop, "same-origin"), (listener, None)):
        for path in (f"/p/{code}", css):
            response = _get(app, path, encoding=CHROMIUM_ENCODINGS)
            assert response.status_code == 200, path
            assert response.headers.get("Cross-Origin-Opener-Policy") == expected, path
            assert "default-src 'self'" in response.headers["Content-Security-Policy"], path
            assert response.headers["X-Frame-Options"] == "DENY", path


def test_stylesheets_name_fonts_by_their_hashed_names(laptop):
    """A font a stylesheet names is immutable too: the built stylesheets name hashed files
    that exist, and no plain local name is left in them."""
    manifest = staticfiles.read_manifest()
    hashed_names = set(manifest.values())
    seen = 0
    for name, hashed in manifest.items():
        if not name.endswith(".css"):
            continue
        css = (STATIC / "dist" / hashed).read_text(encoding="utf-8")
        for url in re.findall(r"""url\(\s*["']?([^"')]+)""", css):
            if url.startswith("data:"):
                continue
            target = (Path("/") / Path(hashed).parent / url).resolve().relative_to("/").as_posix()
            assert target in hashed_names, (name, url)
            assert (STATIC / "dist" / target).is_file(), (name, url)
            seen += 1
        assert "/*" not in css.replace("/*!", ""), name  # comments are for the sources
    assert seen >= 3  # participant.css 1, app-fonts.css 2


def _check(static: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BUILD), "--check", "--static", str(static)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_committed_build_is_current():
    """After changing a file under fieldapp/static, run scripts/build_static.py."""
    result = _check(STATIC)
    assert result.returncode == 0, result.stderr


def test_a_changed_stylesheet_or_font_makes_the_build_stale(tmp_path):
    """The check above can fail: a copy of the static folder with one byte more in a font
    (which every stylesheet naming it must follow) is reported stale."""
    copy = tmp_path / "static"
    shutil.copytree(STATIC, copy)
    font = copy / "fonts" / "noto-sans-arabic" / "noto-sans-arabic-subset-400-normal.woff2"
    font.write_bytes(font.read_bytes() + b"\0")
    result = _check(copy)
    assert result.returncode == 1
    assert "noto-sans-arabic-subset-400-normal." in result.stderr
    assert "css/participant." in result.stderr  # it names the font: a new hash too
    assert "stale" in result.stderr


def test_the_build_is_the_same_bytes_every_time(tmp_path):
    spec = importlib.util.spec_from_file_location("build_static", BUILD)
    assert spec
    assert spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    first, second = tmp_path / "one", tmp_path / "two"
    assert script.build(STATIC, first) == script.build(STATIC, second)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for relative in files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_participant_css_styles_every_class_app_css_styles_on_the_participant_pages():
    """participant.css replaces Pico and app.css on the participants' pages: a class those
    pages use that app.css gives a rule must have its rule in participant.css too."""
    templates = ROOT / "fieldapp" / "templates"
    used: set[str] = set()
    for template in [*(templates / "kiosk").glob("*.html"), templates / "_sheet.html"]:
        for attribute in re.findall(r'class="([^"]*)"', template.read_text(encoding="utf-8")):
            used.update(re.sub(r"\{[{%].*?[%}]\}", " ", attribute).split())

    def styled(css: str) -> set[str]:
        return set(
            re.findall(r"\.([a-zA-Z][\w-]*)", re.sub(r"/\*.*?\*/|\{[^}]*\}", " ", css, flags=re.S))
        )

    app_css = styled((STATIC / "css" / "app.css").read_text(encoding="utf-8"))
    participant_css = styled((STATIC / "css" / "participant.css").read_text(encoding="utf-8"))
    assert {"kiosk-languages", "choice", "rating", "flash-error"} <= used & app_css
    assert sorted((used & app_css) - participant_css) == []
