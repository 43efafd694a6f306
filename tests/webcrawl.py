"""A small crawler and form filler for the security tests (XSS, CSRF, GET side effects).

It reads pages with the standard library's HTML parser, the way a browser would see them,
so tests can follow every link a signed-in user sees and fill every form they can submit
without knowing each form's field names in advance.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


@dataclass
class Form:
    """One <form> of a page: where it posts and its controls in document order."""

    action: str
    method: str
    enctype: str
    controls: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)

    def text_controls(self) -> list[dict[str, str | None]]:
        """The text boxes a person types into."""
        found = []
        for kind, attrs in self.controls:
            if kind == "textarea" or (
                kind == "input" and (attrs.get("type") or "text") in ("text", "search")
            ):
                found.append(attrs)
        return found

    def has(self, kind: str, input_type: str) -> bool:
        """True when the form has an input of ``input_type`` (``password``, ``file``...)."""
        return any(k == kind and attrs.get("type") == input_type for k, attrs in self.controls)


class Page(HTMLParser):
    """Links, forms and every start tag of one HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts: list[str] = []
        self._form: Form | None = None
        self._select: dict[str, str | None] | None = None
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Remember the tag; collect links and form controls."""
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script":
            self._in_script = not attributes.get("src")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")
        if tag == "form":
            self._form = Form(
                attributes.get("action") or "",
                (attributes.get("method") or "get").lower(),
                attributes.get("enctype") or "",
            )
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        if tag in ("input", "textarea", "button"):
            self._form.controls.append((tag, attributes))
        elif tag == "select":
            self._select = {**attributes, "options": ""}
            self._form.controls.append(("select", self._select))
        elif tag == "option" and self._select is not None:
            # Options kept as "value\x00selected\x1f..." so the control stays a flat dict.
            mark = "1" if "selected" in attributes else "0"
            self._select["options"] = (self._select["options"] or "") + (
                f"{attributes.get('value') or ''}\x00{mark}\x1f"
            )

    def handle_data(self, data: str) -> None:
        """Keep the text of inline scripts (the app has none; a payload would)."""
        if self._in_script and data.strip():
            self.inline_scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        """Close forms, selects and scripts."""
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "script":
            self._in_script = False


def options(select: dict[str, str | None]) -> list[tuple[str, bool]]:
    """The (value, selected) pairs of a parsed <select>."""
    pairs = []
    for item in (select.get("options") or "").split("\x1f"):
        if item:
            value, mark = item.split("\x00")
            pairs.append((value, mark == "1"))
    return pairs


def fill(form: Form, text: Callable[[dict[str, str | None]], str]) -> dict[str, object]:
    """Values for every control of ``form``: ``text(attrs)`` in each text box, a valid value in
    dates, times and counts, the chosen (or first) option of each list, every checkbox ticked."""
    data: dict[str, list[str]] = {}

    def put(name: str | None, value: str) -> None:
        if name:
            data.setdefault(name, []).append(value)

    radios_done: set[str] = set()
    button_done = False
    for kind, attrs in form.controls:
        name = attrs.get("name")
        kind_type = (attrs.get("type") or "text") if kind == "input" else kind
        if kind == "select":
            pairs = options(attrs)
            chosen = [v for v, selected in pairs if selected] or [v for v, _ in pairs if v][:1]
            for value in chosen[:1]:
                put(name, value)
        elif kind == "button":
            if name and not button_done:
                put(name, attrs.get("value") or "")
                button_done = True
        elif kind_type in ("hidden", "color"):
            put(name, attrs.get("value") or "")
        elif kind_type == "date":
            put(name, "2026-03-01")
        elif kind_type == "time":
            put(name, "10:00")
        elif kind_type == "number" or attrs.get("inputmode") == "numeric":
            put(name, "3")
        elif kind_type == "checkbox":
            put(name, attrs.get("value") or "y")
        elif kind_type == "radio":
            if name not in radios_done:
                put(name, attrs.get("value") or "")
                radios_done.add(name or "")
        elif kind_type in ("text", "search", "textarea"):
            put(name, text(attrs))
        # password, file, submit, reset and image inputs are left out on purpose
    return {name: values if len(values) > 1 else values[0] for name, values in data.items()}


_ID_SEGMENT = re.compile(r"/(?:[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{16,}|\d+)(?=/|$)")


def shape(path: str) -> str:
    """A path with its ids replaced, so that pages of one kind are visited a few times only."""
    return _ID_SEGMENT.sub("/*", urlsplit(path).path)


def crawl(
    client: FlaskClient,
    seeds: list[str],
    skip: Callable[[str], bool] = lambda _path: False,
    per_shape: int = 3,
    limit: int = 400,
) -> Iterator[tuple[str, TestResponse]]:
    """GET every page reachable by links from ``seeds`` on this host; yield (path, response).

    At most ``per_shape`` pages of one shape (the same route with other ids) are visited.
    """
    queue = deque(seeds)
    seen: set[str] = set()
    shapes: dict[str, int] = {}
    while queue and len(seen) < limit:
        path = queue.popleft()
        parts = urlsplit(path)
        if parts.netloc or parts.scheme or path in seen or skip(path):
            continue
        key = shape(path) + ("?" if parts.query else "")
        if shapes.get(key, 0) >= per_shape:
            continue
        shapes[key] = shapes.get(key, 0) + 1
        seen.add(path)
        response = client.get(path)
        response.get_data()  # read it all, so that files served from disk are closed
        response.close()
        yield path, response
        if response.status_code in (301, 302, 303) and response.location:
            queue.append(
                urlsplit(urljoin(path, response.location))._replace(scheme="", netloc="").geturl()
            )
        if response.mimetype != "text/html":
            continue
        for link in Page(response.get_data(as_text=True)).links:
            target = urljoin(path, link).split("#")[0]
            if target:
                queue.append(target)
