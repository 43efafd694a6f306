"""A phone's browser for the room benchmark: HTTP/1.1 over asyncio, as Chromium loads pages.

What it does as a browser does, because the figures depend on it:
- up to six keep-alive connections per origin, opened only when every open one is busy; an
  idle connection the server has closed is noticed and replaced, and a request that fails on a
  reused connection before any byte of the answer is sent again once (Chromium does the same);
- ``Accept-Encoding: gzip, deflate, br`` and the bytes counted as they cross the wire
  (headers, compressed bodies, chunk framing);
- cookies with their paths, deleted by ``Max-Age=0`` or a past ``Expires``;
- an HTTP cache that honours the ``Cache-Control`` the server sends (``max-age``,
  ``immutable``, ``no-store``, ``no-cache``), revalidates a stale entry with its
  ``ETag``/``Last-Modified``, and falls back to the heuristic freshness of RFC 9111 (a tenth of
  the age since ``Last-Modified``) when there is no lifetime;
- a page's subresources fetched in parallel: stylesheets, scripts, preloaded fonts, the first
  icon, and the ``@font-face`` files the page needs (a face is needed when its
  ``unicode-range`` covers a character of the page's text, in weight 400, or 700 when the page
  has headings or bold text). A page counts as *shown* once its HTML, its stylesheets and the
  fonts it needs are in.

Nothing here reaches another host: the browser talks to one origin, given by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import socket
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

try:  # the brotli package is a test dependency; without it the browser does not ask for br
    import brotli
except ImportError:  # pragma: no cover -- depends on the environment
    brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if brotli is not None else "gzip, deflate"
USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
ACCEPT_HTML = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8"
)
MAX_CONNECTIONS = 6  # Chromium's limit per origin
REDIRECTS = 10
BOLD_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "strong", "b", "th"}


class HttpError(Exception):
    """A request that did not get a whole answer (refused, reset, timed out, cut short)."""


class _Stale(HttpError):
    """A reused connection failed before any byte of the answer: send the request again."""


@dataclass
class Sample:
    """One request as the browser saw it."""

    kind: str
    method: str
    path: str
    status: int
    ms: float
    received: int  # bytes on the wire: headers and (compressed) body


@dataclass
class Response:
    """An HTTP answer: headers lower-cased, ``body`` decoded from its content-encoding."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    received: int
    from_cache: bool = False

    def header(self, name: str) -> str | None:
        """The first header of that name."""
        return next((value for key, value in self.headers if key == name), None)

    @property
    def text(self) -> str:
        """The body as text (UTF-8, as every page of the app is)."""
        return self.body.decode("utf-8", "replace")

    @property
    def is_html(self) -> bool:
        """A page (rather than a file or a redirect)."""
        return (self.header("content-type") or "").startswith("text/html")


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """Undo ``Content-Encoding``."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    if encoding == "br" and brotli is not None:
        return bytes(brotli.decompress(body))
    raise HttpError(f"unknown content-encoding {encoding}")


class Connection:
    """One keep-alive TCP connection, optionally from a given source address."""

    def __init__(self, host: str, port: int, source: str | None) -> None:
        self.host, self.port, self.source = host, port, source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = False  # has carried a request (a failure on it may be a stale socket)
        self.closed = False

    async def connect(self) -> None:
        """Open the TCP connection."""
        local = (self.source, 0) if self.source else None
        try:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, local_addr=local, limit=1 << 20
            )
        except OSError as exc:
            raise HttpError(f"connect: {exc}") from None
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def gone(self) -> bool:
        """The server closed this idle connection (its FIN has arrived)."""
        return self.closed or (self.reader is not None and self.reader.at_eof())

    def close(self) -> None:
        """Close it (FIN)."""
        self.closed = True
        if self.writer is not None:
            self.writer.close()

    async def send_only(self, data: bytes) -> None:
        """Write bytes without reading an answer (a phone losing its network mid-request)."""
        if self.writer is None:
            await self.connect()
        assert self.writer is not None
        self.used = True
        self.writer.write(data)
        await self.writer.drain()

    async def exchange(
        self, data: bytes, method: str
    ) -> tuple[int, list[tuple[str, str]], bytes, int]:
        """Send one request, read its whole answer: status, headers, raw body, wire bytes."""
        reused = self.used
        if self.writer is None:
            await self.connect()
        assert self.reader is not None
        assert self.writer is not None
        self.used = True
        try:
            self.writer.write(data)
            await self.writer.drain()
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            self.close()
            if reused and not exc.partial:
                raise _Stale("closed by the server") from None
            raise HttpError("connection closed before the answer") from None
        except (ConnectionError, OSError) as exc:
            self.close()
            if reused:
                raise _Stale(str(exc)) from None
            raise HttpError(f"send: {exc}") from None
        try:
            status_line, *lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split()[1])
            headers: list[tuple[str, str]] = []
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    headers.append((name.strip().lower(), value.strip()))
            received = len(head)
            named = dict(headers)
            body = b""
            if method == "HEAD" or status in (204, 304) or status < 200:
                pass
            elif named.get("transfer-encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size_line = await self.reader.readuntil(b"\r\n")
                    received += len(size_line)
                    size = int(size_line.split(b";")[0].strip(), 16)
                    chunk = await self.reader.readexactly(size + 2)
                    received += len(chunk)
                    if size == 0:
                        break
                    parts.append(chunk[:-2])
                body = b"".join(parts)
            elif "content-length" in named:
                body = await self.reader.readexactly(int(named["content-length"]))
                received += len(body)
            else:  # delimited by the end of the connection
                body = await self.reader.read()
                received += len(body)
                self.close()
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError) as exc:
            self.close()
            raise HttpError(f"answer cut short: {exc}") from None
        if named.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body, received


@dataclass
class CacheEntry:
    """A stored answer and until when it may be used without asking the server."""

    response: Response
    fresh_until: float
    etag: str | None
    last_modified: str | None
    no_cache: bool


def _directives(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers:
        if name == "cache-control":
            for part in value.split(","):
                key, _, arg = part.strip().partition("=")
                if key:
                    found[key.lower()] = arg.strip('"')
    return found


def freshness(response: Response, now: float) -> CacheEntry | None:
    """How a browser would cache ``response`` (None: not stored)."""
    directives = _directives(response.headers)
    if "no-store" in directives or response.status != 200:
        return None
    lifetime = 0.0
    if "max-age" in directives:
        try:
            lifetime = float(directives["max-age"])
        except ValueError:
            lifetime = 0.0
    elif response.header("expires"):
        expires = email.utils.parsedate_to_datetime(response.header("expires") or "")
        date = (
            email.utils.parsedate_to_datetime(response.header("date") or "")
            if (response.header("date"))
            else None
        )
        if expires is not None and date is not None:
            lifetime = max(0.0, (expires - date).total_seconds())
    elif response.header("last-modified") and response.header("date"):
        modified = email.utils.parsedate_to_datetime(response.header("last-modified") or "")
        date = email.utils.parsedate_to_datetime(response.header("date") or "")
        lifetime = max(0.0, (date - modified).total_seconds() / 10)
    if "no-cache" in directives:
        lifetime = 0.0
    return CacheEntry(
        response=response,
        fresh_until=now + lifetime,
        etag=response.header("etag"),
        last_modified=response.header("last-modified"),
        no_cache="no-cache" in directives,
    )


# ---- pages: forms, links, text ---------------------------------------------------------------


@dataclass
class Button:
    """A submit button (or ``<input type=submit>``)."""

    name: str | None
    value: str
    formaction: str | None = None
    formmethod: str | None = None


@dataclass
class Field:
    """A form control that carries a value."""

    tag: str  # input, textarea, select
    kind: str  # the input's type (text, hidden, radio, checkbox...), "textarea" or "select"
    name: str
    value: str
    checked: bool = False
    options: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Form:
    """A form as the page shows it."""

    action: str
    method: str
    hidden: bool
    fields: list[Field] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)

    def button(self, name: str | None = None, value: str | None = None) -> Button | None:
        """The first button with that name (and value)."""
        for button in self.buttons:
            if (name is None or button.name == name) and (value is None or button.value == value):
                return button
        return None


class PageParser(HTMLParser):
    """Forms, subresources, links and the visible text of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.stylesheets: list[str] = []
        self.scripts: list[str] = []
        self.font_preloads: list[str] = []
        self.icons: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.bold = False
        self._form: Form | None = None
        self._textarea: Field | None = None
        self._select: Field | None = None
        self._option: str | None = None
        self._option_text = False
        self._skip = 0  # inside <script>, <style>, <title>
        self._button: Button | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect what a browser acts on."""
        a = {key: value or "" for key, value in attrs}
        if tag in BOLD_TAGS:
            self.bold = True
        if tag in ("script", "style", "title"):
            self._skip += 1
            if tag == "script" and a.get("src"):
                self.scripts.append(a["src"])
        elif tag == "link":
            rel = a.get("rel", "").lower().split()
            href = a.get("href", "")
            if "stylesheet" in rel:
                self.stylesheets.append(href)
            elif "preload" in rel and a.get("as") == "font":
                self.font_preloads.append(href)
            elif "icon" in rel:
                self.icons.append(href)
        elif tag == "img" and a.get("src") and not a["src"].startswith("data:"):
            self.images.append(a["src"])
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._form = Form(
                action=a.get("action", ""),
                method=(a.get("method") or "get").upper(),
                hidden="hidden" in a,
            )
            self.forms.append(self._form)
        elif self._form is not None:
            self._control(tag, a)

    def _control(self, tag: str, a: dict[str, str]) -> None:
        assert self._form is not None
        if "disabled" in a:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self._form.buttons.append(
                    Button(
                        a.get("name"), a.get("value", ""), a.get("formaction"), a.get("formmethod")
                    )
                )
            elif kind not in ("button", "reset", "file") and a.get("name"):
                self._form.fields.append(
                    Field(
                        "input",
                        kind,
                        a["name"],
                        a.get("value", "on" if kind in ("radio", "checkbox") else ""),
                        "checked" in a,
                        attrs=a,
                    )
                )
        elif tag == "button":
            if a.get("type", "submit").lower() == "submit":
                self._button = Button(
                    a.get("name"), a.get("value", ""), a.get("formaction"), a.get("formmethod")
                )
                self._form.buttons.append(self._button)
        elif tag == "textarea" and a.get("name"):
            self._textarea = Field("textarea", "textarea", a["name"], "", attrs=a)
            self._form.fields.append(self._textarea)
        elif tag == "select" and a.get("name"):
            self._select = Field("select", "select", a["name"], "", attrs=a)
            self._form.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            value = a.get("value")
            self._option = value
            self._option_text = value is None  # its text is its value
            if value is not None:
                self._select.options.append(value)
                if "selected" in a or not self._select.value:
                    self._select.value = value

    def handle_endtag(self, tag: str) -> None:
        """Close what was open."""
        if tag in ("script", "style", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag == "form":
            self._form = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "button":
            self._button = None

    def handle_data(self, data: str) -> None:
        """Visible text (for the fonts a page needs)."""
        if self._textarea is not None:
            self._textarea.value += data
        if self._select is not None and self._option_text and data.strip():
            self._select.options.append(data.strip())
            if not self._select.value:
                self._select.value = data.strip()
            self._option_text = False
        if not self._skip:
            self.text.append(data)


@dataclass
class FontFace:
    """One ``@font-face`` rule."""

    url: str
    weight: int
    ranges: list[tuple[int, int]] | None  # None: every character

    def covers(self, characters: set[int]) -> bool:
        """The page has a character this face draws."""
        if self.ranges is None:
            return bool(characters)
        return any(low <= c <= high for c in characters for low, high in self.ranges)


_FONT_FACE = re.compile(r"@font-face\s*{([^}]*)}", re.IGNORECASE | re.DOTALL)
_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")
_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)""", re.IGNORECASE)


def _ranges(text: str) -> list[tuple[int, int]]:
    found = []
    for part in text.split(","):
        part = part.strip().upper().removeprefix("U+")
        if not part:
            continue
        if "-" in part:
            low, high = part.split("-", 1)
            found.append((int(low, 16), int(high, 16)))
        elif "?" in part:
            found.append((int(part.replace("?", "0"), 16), int(part.replace("?", "F"), 16)))
        else:
            found.append((int(part, 16), int(part, 16)))
    return found


def font_faces(css: str, base: str) -> list[FontFace]:
    """The ``@font-face`` rules of a stylesheet, their first ``woff2``/``woff`` source."""
    faces = []
    for block in _FONT_FACE.findall(css):
        declarations: dict[str, str] = {}
        for declaration in block.split(";"):
            name, _, value = declaration.partition(":")
            declarations[name.strip().lower()] = value.strip()
        urls = _URL.findall(declarations.get("src", ""))
        if not urls:
            continue
        weight_text = declarations.get("font-weight", "400").split()[0]
        weight = {"normal": 400, "bold": 700}.get(weight_text, 0) or int(weight_text or 400)
        unicode_range = declarations.get("unicode-range")
        faces.append(
            FontFace(
                urllib.parse.urljoin(base, urls[0]),
                weight,
                _ranges(unicode_range) if unicode_range else None,
            )
        )
    return faces


def css_imports(css: str, base: str) -> list[str]:
    """``@import`` targets of a stylesheet."""
    return [urllib.parse.urljoin(base, target) for target in _IMPORT.findall(css)]


@dataclass
class Page:
    """A page after its subresources: what it parsed to, and when it was shown."""

    url: str
    response: Response
    parsed: PageParser
    started: float
    html_at: float
    shown_at: float
    done_at: float

    @property
    def text(self) -> str:
        """The HTML."""
        return self.response.text

    @property
    def path(self) -> str:
        """The path of the final URL."""
        return urllib.parse.urlsplit(self.url).path

    def form(self, button: str | None = None, value: str | None = None) -> Form | None:
        """The visible form with that button, skipping the language switcher and idle reset."""
        for form in self.parsed.forms:
            if form.hidden:
                continue
            if button is None and value is None and form.buttons:
                return form
            if form.button(button, value) is not None:
                return form
        return None


# ---- the browser -----------------------------------------------------------------------------


Classifier = Callable[[str, str], str]


class Browser:
    """One phone's browser talking to one origin."""

    def __init__(
        self,
        origin: str,
        classify: Classifier,
        source: str | None = None,
        timeout: float = 30.0,
        language: str = "ar",
    ) -> None:
        parts = urllib.parse.urlsplit(origin)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.source = source
        self.classify = classify
        self.timeout = timeout
        self.accept_language = {
            "ar": "ar-IQ,ar;q=0.9,en;q=0.8",
            "ckb": "ckb-IQ,ckb;q=0.9,ar;q=0.8",
            "ku": "ku,en;q=0.8",
        }.get(language, "en-US,en;q=0.9")
        self.cookies: dict[tuple[str, str], str] = {}  # (name, path) -> value
        self.cache: dict[str, CacheEntry] = {}
        self.samples: list[Sample] = []
        self.received = 0
        self.sent = 0
        self.retries = 0
        self.opened = 0  # connections opened, over the visit
        self.most_open = 0  # the most open at once
        self._idle: list[Connection] = []
        self._open = 0
        self._free = asyncio.Condition()
        self._abandoned: list[Connection] = []

    # connections

    async def _acquire(self) -> Connection:
        async with self._free:
            while True:
                while self._idle:
                    connection = self._idle.pop()
                    if not connection.gone():
                        return connection
                    connection.close()
                    self._open -= 1
                if self._open < MAX_CONNECTIONS:
                    self._open += 1
                    self.opened += 1
                    self.most_open = max(self.most_open, self._open)
                    return Connection(self.host, self.port, self.source)
                await self._free.wait()

    async def _release(self, connection: Connection) -> None:
        async with self._free:
            if connection.closed:
                self._open -= 1
            else:
                self._idle.append(connection)
            self._free.notify()

    def lose_network(self, keep: Connection | None = None) -> None:
        """The phone's Wi-Fi drops: every connection goes silent (no FIN, no RST is sent)."""
        self._abandoned.extend(self._idle)
        if keep is not None:
            self._abandoned.append(keep)
        self._open -= len(self._idle) + (1 if keep is not None else 0)
        self._idle = []

    def close(self) -> None:
        """Leave: close every connection, the abandoned ones too."""
        for connection in (*self._idle, *self._abandoned):
            connection.close()
        self._idle, self._abandoned = [], []

    # requests

    def _cookie_header(self, path: str) -> str:
        return "; ".join(
            f"{name}={value}"
            for (name, cookie_path), value in sorted(self.cookies.items())
            if path == cookie_path
            or path.startswith(cookie_path.rstrip("/") + "/")
            or cookie_path == "/"
        )

    def _store_cookies(self, headers: list[tuple[str, str]], path: str) -> None:
        for name, value in headers:
            if name != "set-cookie":
                continue
            pair, *attributes = value.split(";")
            cookie, _, cookie_value = pair.partition("=")
            options = {}
            for attribute in attributes:
                key, _, arg = attribute.strip().partition("=")
                options[key.lower()] = arg
            cookie_path = options.get("path") or path.rsplit("/", 1)[0] or "/"
            jar_key = (cookie.strip(), cookie_path)
            expired = False
            if "max-age" in options:
                expired = int(options["max-age"] or 0) <= 0
            elif "expires" in options:
                when = email.utils.parsedate_to_datetime(options["expires"])
                expired = when is not None and when.timestamp() <= time.time()
            if expired:
                self.cookies.pop(jar_key, None)
            else:
                self.cookies[jar_key] = cookie_value

    def _request_bytes(
        self,
        method: str,
        url: str,
        body: bytes,
        accept: str,
        extra: dict[str, str],
    ) -> bytes:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Connection: keep-alive",
            f"User-Agent: {USER_AGENT}",
            f"Accept: {accept}",
            f"Accept-Encoding: {ACCEPT_ENCODING}",
            f"Accept-Language: {self.accept_language}",
        ]
        cookies = self._cookie_header(parts.path)
        if cookies:
            lines.append(f"Cookie: {cookies}")
        for name, value in extra.items():
            lines.append(f"{name}: {value}")
        if method == "POST":
            lines.append(f"Origin: {self.origin}")
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def fetch(
        self,
        method: str,
        url: str,
        form: list[tuple[str, str]] | None = None,
        accept: str = "*/*",
        referer: str | None = None,
        kind: str | None = None,
    ) -> Response:
        """One request (no redirects followed); the cache answers a fresh GET itself."""
        url = urllib.parse.urljoin(self.origin + "/", url)
        path = urllib.parse.urlsplit(url).path
        kind = kind or self.classify(method, path)
        cached = self.cache.get(url) if method == "GET" else None
        now = time.monotonic()
        extra: dict[str, str] = {}
        if referer:
            extra["Referer"] = referer
        if cached is not None:
            if now < cached.fresh_until and not cached.no_cache:
                hit = cached.response
                return Response(hit.url, hit.status, hit.headers, hit.body, 0, from_cache=True)
            if cached.etag:
                extra["If-None-Match"] = cached.etag
            if cached.last_modified:
                extra["If-Modified-Since"] = cached.last_modified
        body = urllib.parse.urlencode(form or []).encode() if method == "POST" else b""
        data = self._request_bytes(method, url, body, accept, extra)
        for attempt in (1, 2):
            connection = await self._acquire()
            started = time.perf_counter()
            try:
                status, headers, raw, received = await asyncio.wait_for(
                    connection.exchange(data, method), self.timeout
                )
            except _Stale:
                await self._release(connection)
                if attempt == 2:
                    raise HttpError(f"{method} {path}: connection lost twice") from None
                self.retries += 1
                continue
            except TimeoutError:
                connection.close()
                await self._release(connection)
                raise HttpError(f"{method} {path}: no answer in {self.timeout:.0f} s") from None
            except HttpError as exc:
                connection.close()
                await self._release(connection)
                raise HttpError(f"{method} {path}: {exc}") from None
            elapsed = (time.perf_counter() - started) * 1000
            await self._release(connection)
            break
        self.sent += len(data)
        self.received += received
        self.samples.append(Sample(kind, method, path, status, elapsed, received))
        self._store_cookies(headers, path)
        named = dict(headers)
        decoded = decode_body(raw, named.get("content-encoding"))
        response = Response(url, status, headers, decoded, received)
        if status == 304 and cached is not None:
            names = {name for name, _value in headers}
            merged = headers + [(n, v) for n, v in cached.response.headers if n not in names]
            refreshed = Response(url, 200, merged, cached.response.body, 0)
            entry = freshness(refreshed, time.monotonic())
            if entry is not None:
                entry.response = cached.response
                self.cache[url] = entry
            return Response(url, 200, cached.response.headers, cached.response.body, received, True)
        if method == "GET":
            entry = freshness(response, time.monotonic())
            if entry is not None:
                self.cache[url] = entry
        return response

    async def send_and_lose(self, url: str, form: list[tuple[str, str]], whole: bool) -> None:
        """POST ``form`` and lose the network: halfway through the body, or just after it."""
        url = urllib.parse.urljoin(self.origin + "/", url)
        body = urllib.parse.urlencode(form).encode()
        data = self._request_bytes("POST", url, body, ACCEPT_HTML, {})
        connection = await self._acquire()
        cut = len(data) if whole else len(data) - len(body) // 2
        with contextlib.suppress(TimeoutError, HttpError, OSError):
            await asyncio.wait_for(connection.send_only(data[:cut]), self.timeout)
        self.sent += cut
        self.lose_network(keep=connection)

    async def navigate(
        self,
        method: str,
        url: str,
        form: list[tuple[str, str]] | None = None,
        referer: str | None = None,
    ) -> Page:
        """Load a page as the address bar or a form does: redirects, then its subresources."""
        started = time.perf_counter()
        response = await self.fetch(method, url, form, accept=ACCEPT_HTML, referer=referer)
        hops = 0
        while response.status in (301, 302, 303, 307, 308):
            hops += 1
            if hops > REDIRECTS:
                raise HttpError(f"{url}: too many redirects")
            location = urllib.parse.urljoin(response.url, response.header("location") or "/")
            keep = response.status in (307, 308) and method == "POST"
            response = await self.fetch(
                "POST" if keep else "GET", location, form if keep else None, ACCEPT_HTML, referer
            )
        html_at = time.perf_counter()
        if response.status >= 400:
            raise HttpError(f"{urllib.parse.urlsplit(response.url).path}: {response.status}")
        parsed = PageParser()
        if response.is_html:
            parsed.feed(response.text)
            parsed.close()
        shown_at, done_at = await self._subresources(response.url, parsed)
        return Page(
            response.url, response, parsed, started, html_at, max(html_at, shown_at), done_at
        )

    async def _get_asset(self, url: str, referer: str) -> tuple[Response, float]:
        response = await self.fetch("GET", url, referer=referer)
        if response.status >= 400:
            raise HttpError(f"{urllib.parse.urlsplit(url).path}: {response.status}")
        return response, time.perf_counter()

    async def _subresources(self, page_url: str, parsed: PageParser) -> tuple[float, float]:
        """Fetch what the page needs; (time its styles and fonts were in, time all were)."""
        join = urllib.parse.urljoin
        blocking: list[asyncio.Task[tuple[Response, float]]] = []
        other: list[asyncio.Task[tuple[Response, float]]] = []
        fonts = [join(page_url, href) for href in parsed.font_preloads]
        for href in fonts:
            blocking.append(asyncio.ensure_future(self._get_asset(href, page_url)))
        sheets = [
            asyncio.ensure_future(self._get_asset(join(page_url, href), page_url))
            for href in parsed.stylesheets
        ]
        for href in (*parsed.scripts, *parsed.icons[:1], *parsed.images):
            other.append(asyncio.ensure_future(self._get_asset(join(page_url, href), page_url)))
        characters = {ord(c) for c in "".join(parsed.text) if not c.isspace()}
        weights = {400, 700} if parsed.bold else {400}
        try:
            pending_sheets = list(sheets)
            while pending_sheets:
                done = await asyncio.gather(*pending_sheets)
                blocking.extend(pending_sheets)
                pending_sheets = []
                for response, _at in done:
                    css = response.text
                    for imported in css_imports(css, response.url):
                        pending_sheets.append(
                            asyncio.ensure_future(self._get_asset(imported, response.url))
                        )
                    for face in font_faces(css, response.url):
                        needed = face.weight in weights and face.covers(characters)
                        if needed and face.url not in fonts:
                            fonts.append(face.url)
                            blocking.append(
                                asyncio.ensure_future(self._get_asset(face.url, response.url))
                            )
            shown = await asyncio.gather(*blocking)
            rest = await asyncio.gather(*other)
        except BaseException:
            for task in (*blocking, *other, *sheets):
                task.cancel()
            raise
        shown_at = max((at for _r, at in shown), default=0.0)
        done_at = max([shown_at, *(at for _r, at in rest)])
        return shown_at, done_at


def fill_form(
    form: Form,
    button: Button | None,
    choose: Callable[[Field, list[Field]], str | list[str] | None],
) -> list[tuple[str, str]]:
    """The form's data as the browser would send it; ``choose`` decides what the user entered.

    ``choose(field, group)`` returns the value typed into a text field or text area, the value
    of the radio button picked in ``group`` (every radio of that name), the values of the
    checkboxes ticked in ``group``; None keeps what the page had.
    """
    data: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in form.fields:
        if item.kind in ("radio", "checkbox"):
            if item.name in seen:
                continue
            seen.add(item.name)
            group = [f for f in form.fields if f.name == item.name and f.kind == item.kind]
            chosen = choose(item, group)
            if chosen is None:
                values = [f.value for f in group if f.checked]
            else:
                values = [chosen] if isinstance(chosen, str) else list(chosen)
            data.extend((item.name, value) for value in values)
        elif item.kind == "hidden":
            data.append((item.name, item.value))
        else:
            chosen = choose(item, [item])
            value = item.value if chosen is None else chosen
            data.append((item.name, value if isinstance(value, str) else ",".join(value)))
    if button is not None and button.name:
        data.append((button.name, button.value))
    return data
