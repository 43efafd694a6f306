"""Static files answered by WhiteNoise before Flask: hashed names, precompressed, cached.

After changing a file under fieldapp/static, run scripts/build_static.py.

That script writes ``static/dist/``: a copy of every static file under a name carrying a hash
of its content (``css/app.css`` -> ``css/app.0123456789ab.css``), stylesheets pointing at the
hashed fonts, ``.br`` and ``.gz`` beside the text files, and the manifest mapping the names
(``staticfiles.json``, as Django names it). Here:

- ``url_for("static", filename=...)`` gives the hashed address of a file the manifest names
  (a file added since the last build keeps its plain address, and is served all the same);
- the hashed addresses are answered with ``Cache-Control: public, immutable`` for ten years:
  a phone downloads each file once per release (issue #13); the plain addresses (old pages,
  tests, a hand-typed URL) with a short ``max-age``;
- WhiteNoise answers ``/static/...`` in front of the Flask application: no request hook, no
  session, no database for a stylesheet; it sends the ``.br`` or ``.gz`` copy when the browser
  accepts it, and the same policy headers as :mod:`fieldapp.security` gives the pages.
  Anything WhiteNoise does not know (a missing file) goes on to Flask, which answers 404.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from wsgiref.headers import Headers

from flask import Flask
from whitenoise import WhiteNoise

from .security import policy_headers

STATIC = Path(__file__).resolve().parent / "static"
DIST = STATIC / "dist"
MANIFEST = DIST / "staticfiles.json"
PREFIX = "/static/"
# The plain (unhashed) names: short, so that a page of the next release never waits long for
# an old copy to expire. The hashed names: WhiteNoise's ten years, with "immutable".
PLAIN_MAX_AGE = 600

logger = logging.getLogger(__name__)


def read_manifest(path: Path = MANIFEST) -> dict[str, str]:
    """Plain name -> hashed name, from the build's manifest (empty if there is no build)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        logger.warning("no %s: static files keep their plain names", path)
        return {}
    paths = data.get("paths", {})
    return {str(name): str(hashed) for name, hashed in paths.items()}


def _policy_headers(participant_only: bool) -> Callable[[Headers, str, str], None]:
    """WhiteNoise's hook: every static response carries the policy headers of the pages
    (without Cross-Origin-Opener-Policy on the phones' plain-HTTP listener, as
    :func:`fieldapp.security.policy_headers` decides)."""
    # The pages' headers but Cache-Control (W-14 to W-16): a stylesheet holds no data, yet an
    # SVG opened on its own is a document.
    policy = list(policy_headers(participant_only).items())

    def add(headers: Headers, _path: str, _url: str) -> None:
        # wsgiref quotes the parameter (charset="utf-8"); write it as the pages do.
        content_type = headers.get("Content-Type")
        if content_type:
            headers["Content-Type"] = content_type.replace('"utf-8"', "utf-8")
        for name, value in policy:
            headers[name] = value

    return add


def _immutable_test(hashed_urls: Iterable[str]) -> Callable[[str, str], bool]:
    """WhiteNoise's test: only the addresses the manifest names carry a content hash."""
    known = frozenset(hashed_urls)

    def immutable(_path: str, url: str) -> bool:
        return url in known

    return immutable


def _hashed_filename(manifest: dict[str, str]) -> Callable[[str, dict[str, Any]], None]:
    """A ``url_defaults`` function: the static endpoint's filename becomes the hashed one."""

    def hashed(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static":
            name = values.get("filename")
            if isinstance(name, str) and name in manifest:
                values["filename"] = manifest[name]

    return hashed


# What WhiteNoise found in the static folders, per kind of app (the headers differ): scanned
# once per process, since the files do not change while fieldapp runs (autorefresh off).
# Scanning stats every file and builds its headers: 4-5 ms, for each of the thousands of
# apps the test suite builds, and at each start of the phones' listener.
_scanned: dict[bool, tuple[dict[str, str], dict[str, Any]]] = {}


def _files(participant_only: bool) -> tuple[dict[str, str], dict[str, Any]]:
    """The manifest and WhiteNoise's table of files (address -> file) for one kind of app."""
    found = _scanned.get(participant_only)
    if found is None:
        manifest = read_manifest()
        scan = WhiteNoise(
            None,
            autorefresh=False,
            max_age=PLAIN_MAX_AGE,
            allow_all_origins=False,  # same origin only: nothing is served to other sites
            mimetypes={".ico": "image/vnd.microsoft.icon"},  # as Flask named it (IANA's name)
            add_headers_function=_policy_headers(participant_only),
            immutable_file_test=_immutable_test(PREFIX + hashed for hashed in manifest.values()),
        )
        scan.add_files(str(STATIC), prefix=PREFIX)  # the plain names
        if DIST.is_dir():
            scan.add_files(str(DIST), prefix=PREFIX)  # the hashed names, with .br and .gz
        found = _scanned[participant_only] = (manifest, scan.files)
    return found


def init_app(app: Flask) -> None:
    """Put WhiteNoise in front of ``app`` and make ``url_for('static')`` give hashed names.

    Used by every app :func:`fieldapp.create_app` builds: the facilitator's and the
    participant listener's (``participant_only``).
    """
    participant_only = bool(app.config.get("PARTICIPANT_ONLY"))
    manifest, known = _files(participant_only)
    files = WhiteNoise(app.wsgi_app, autorefresh=False)
    files.files = dict(known)  # the scan's result: the same for every app of this process
    app.wsgi_app = files  # type: ignore[method-assign]
    app.url_defaults(_hashed_filename(manifest))
    app.extensions["fieldapp_static_manifest"] = manifest
