#!/usr/bin/env python3
"""Intake under a crowd: requests per second and latency of the participant pages.

In one run, against fieldapp started as a facilitator starts it (run.py, waitress), with the
phones let in as a facilitator lets them in (signed in, *Let phones join over Wi-Fi*: the
phones' listener, on ``LAN_ADDRESS`` from the installation's ``config.py``), and a minimal
Flask page served by the same waitress settings on the same machine, at 30 and 90 concurrent
clients (keep-alive connections, asyncio coroutines of one client process):
- the question page (GET /p/<code>/q/1 with a participant's draft), on the listener,
- submitting (the POST that turns a visit's answers into a record), on the listener; each
  submission is a fresh visit from a fresh address (127.43.x.x), as a new phone would be, so
  the listener's per-address limit of submissions applies as in a room,
- the minimal page (GET /),
- for scale, a static file served by the listener (the page's own script).
Prints requests per second, p50/p95/p99 latency and the ratios to the minimal page.
Targets: question page >= 0.3 of the minimal page (issue #13); submit p99 < 1 s at 90 clients.

    python bench/intake.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.room_http import Connection, HttpError  # noqa: E402 -- after the path is set

MINIMAL = """
import sys, waitress
from flask import Flask
sys.path.insert(0, sys.argv[2])
from fieldapp.lan import WAITRESS_SETTINGS
app = Flask("minimal")
@app.get("/")
def page():
    return "<!doctype html><title>ok</title><p>ok</p>"
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), **WAITRESS_SETTINGS)
"""

_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_ADDRESSES = itertools.count()
FIRST_ADDRESS = ipaddress.IPv4Address("127.43.0.1")


def fresh_address() -> str:
    """A loopback address no client has used in this run (127.43.0.1 up): a new phone."""
    return str(FIRST_ADDRESS + next(_ADDRESSES))


def _attribute(attributes: str, name: str) -> str:
    found = re.search(rf'\b{name}="([^"]*)"', attributes)
    return found.group(1) if found else ""


def find_form(page: str, button: str) -> tuple[str, str, list[tuple[str, str]]] | None:
    """(method, action, hidden fields) of the visible form holding ``button`` (HTML text)."""
    for attributes, body in _FORM.findall(page):
        if button in body and " hidden" not in attributes:
            method = (_attribute(attributes, "method") or "get").upper()
            return method, _attribute(attributes, "action"), _HIDDEN.findall(body)
    return None


class Client:
    """One keep-alive connection with cookies and the page's CSRF token (asyncio, HTTP/1.1).

    The clients are coroutines of one thread: a thread per client made the load generator's
    own GIL the bottleneck at 90 clients (figures swung by 3x between runs, where a C client,
    ApacheBench, measured the same server steadily). Pages are read with regular expressions,
    not an HTML parser, for the same reason.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", source: str | None = None) -> None:
        self.host, self.port = host, port
        self.connection = Connection(host, port, source)
        self.cookies: dict[str, str] = {}
        self.token = ""
        self.page = ""
        self.location = ""
        self.path = ""

    async def request(self, method: str, path: str, form: dict[str, str] | None = None) -> float:
        """Send one request and read the whole answer; return its latency in seconds."""
        body = b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            body = urllib.parse.urlencode({"csrf_token": self.token, **form}).encode()
            lines.append("Content-Type: application/x-www-form-urlencoded")
        lines.append(f"Content-Length: {len(body)}")
        started = time.perf_counter()
        status, headers, data, _received = await self.connection.exchange(
            ("\r\n".join(lines) + "\r\n\r\n").encode() + body, method
        )
        elapsed = time.perf_counter() - started
        if self.connection.closed:  # the server ended the connection: the next request reopens
            self.connection = Connection(self.host, self.port, self.connection.source)
        self.location = ""
        for name, value in headers:
            if name == "set-cookie":
                cookie, _, rest = value.partition("=")
                self.cookies[cookie] = rest.split(";", 1)[0]
            elif name == "location":
                self.location = urllib.parse.urlsplit(value).path + (
                    "?" + urllib.parse.urlsplit(value).query if "?" in value else ""
                )
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status}")
        self.page = data.decode("utf-8", "replace")
        self.path = path
        found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', self.page)
        if found:
            self.token = found.group(1)
        return elapsed

    async def follow(self, method: str, path: str, form: dict[str, str] | None = None) -> None:
        """A request and the redirects after it (not timed)."""
        await self.request(method, path, form)
        for _hop in range(10):
            if not self.location:
                return
            await self.request("GET", self.location)
        raise RuntimeError(f"{path}: too many redirects")

    async def submit(self, button: str, fields: dict[str, str] | None = None) -> None:
        """Press ``button`` (its HTML, e.g. ``name="choice" value="agree"``) on this page."""
        found = find_form(self.page, button)
        if found is None:
            raise RuntimeError(f"{self.path}: no form with {button}")
        method, action, hidden = found
        name, value = re.findall(r'"([^"]*)"', button)[:2]
        data = {**dict(hidden), **(fields or {}), name: value}
        target = action or self.path
        if method == "GET":
            await self.follow("GET", target.split("?")[0] + "?" + urllib.parse.urlencode(data))
        else:
            await self.follow("POST", target, data)

    async def visit(self, code: str, language: str = "ar") -> None:
        """Start a participant's visit up to the first question (following the pages' forms)."""
        await self.follow("GET", f"/p/{code}")
        button = re.search(rf'name="(?:language|lang)" value="{language}"', self.page)
        link = re.search(rf'href="([^"]*[?&](?:amp;)?lang={language}[^"]*)"', self.page)
        if button:
            await self.submit(button.group(0))
        elif link:
            await self.follow("GET", link.group(1).replace("&amp;", "&"))
        else:
            raise RuntimeError(f"{self.path}: no way to choose {language}")
        await self.submit('name="choice" value="agree"')
        if "/q/" not in self.path:
            raise RuntimeError(f"the visit ended on {self.path}, not on a question")

    def close(self) -> None:
        """Leave: the next run starts with no connection of this one open."""
        self.connection.close()


Work = Callable[[int, Client | None], Awaitable[Client | float]]


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


async def run(clients: int, seconds: float, work: Work) -> dict[str, Any]:
    """``clients`` coroutines repeat ``work(number, client)`` (returning latencies)."""
    latencies: list[float] = []
    errors: list[str] = []
    # Every client first sets itself up (connects, starts a visit); the clock starts when all
    # are ready, so the figures are the steady state of a full room, not its arrival.
    ready = asyncio.Event()
    arrived = 0
    window: dict[str, float] = {}

    async def loop(number: int) -> None:
        nonlocal arrived
        client: Client | None = None
        try:
            made = await work(number, None)
            assert isinstance(made, Client)
            client = made
        except (HttpError, RuntimeError, OSError) as exc:  # counted and printed
            errors.append(str(exc))
        arrived += 1
        if arrived == clients:
            window["start"] = time.monotonic()
            window["stop"] = window["start"] + seconds
            ready.set()
        await ready.wait()
        try:
            while client is not None and time.monotonic() < window["stop"]:
                measured = await work(number, client)
                assert isinstance(measured, float)
                latencies.append(measured)
        except (HttpError, RuntimeError, OSError) as exc:  # counted and printed
            errors.append(str(exc))
        finally:
            if client is not None:
                client.close()

    await asyncio.gather(*(loop(n) for n in range(clients)))
    elapsed = time.monotonic() - window["start"]
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 1),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
    }


def stress(
    phone_url: str,
    question: str,
    seconds: float,
    client_counts: tuple[int, ...] = (30, 90),
) -> dict[str, Any]:
    """The closed loops against the phones' listener at ``phone_url`` (…/p/<code>)."""
    parts = urllib.parse.urlsplit(phone_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    code = parts.path.rstrip("/").rsplit("/", 1)[1]
    minimal_port = _free_port()
    baseline = subprocess.Popen(
        [sys.executable, "-c", MINIMAL, str(minimal_port), str(ROOT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(minimal_port, baseline)
        script = asyncio.run(_script_of(host, port, code))

        async def minimal(number: int, client: Client | None) -> Client | float:
            return Client(minimal_port) if client is None else await client.request("GET", "/")

        async def static_file(number: int, client: Client | None) -> Client | float:
            if client is None:
                return Client(port, host, fresh_address())
            return await client.request("GET", script)

        async def question_page(number: int, client: Client | None) -> Client | float:
            if client is None:
                client = Client(port, host, fresh_address())
                await client.visit(code)
                return client
            return await client.request("GET", f"/p/{code}/q/1")

        async def submit(number: int, client: Client | None) -> Client | float:
            if client is None:
                return Client(port, host)  # a placeholder: every submission is a new phone
            phone = Client(port, host, fresh_address())
            try:
                await phone.visit(code)
                await phone.submit('name="go" value="next"', {f"q_{question}": f"رأي {number}"})
                elapsed = await phone.request("POST", f"/p/{code}/review", {})
                if "/thanks" not in phone.location:
                    raise RuntimeError(f"submitting was not acknowledged ({phone.location})")
                return elapsed
            finally:
                phone.close()

        results: dict[str, Any] = {}
        for clients in client_counts:
            base = asyncio.run(run(clients, seconds, minimal))
            static = asyncio.run(run(clients, seconds, static_file))
            page = asyncio.run(run(clients, seconds, question_page))
            sent = asyncio.run(run(clients, seconds, submit))
            results[f"{clients}_clients"] = {
                "minimal_page": base,
                "static_file_on_listener": static,
                "question_page": page,
                "submit": sent,
                "static_file_vs_minimal": round(static["rps"] / base["rps"], 2),
                "question_page_vs_minimal": round(page["rps"] / base["rps"], 2),
                "p99_under_1s": sent["p99_ms"] < 1000 and page["p99_ms"] < 1000,
            }
    finally:
        baseline.terminate()
        baseline.wait(timeout=10)
    results["note"] = (
        "submit rps counts submissions; each needs a new connection from a new address and "
        "the start, language, consent and answer requests, which are not timed"
    )
    return results


async def _script_of(host: str, port: int, code: str) -> str:
    """The script the participant pages load (its name may carry a content hash)."""
    client = Client(port, host, fresh_address())
    try:
        await client.follow("GET", f"/p/{code}")
    finally:
        client.close()
    found = re.search(r'<script src="([^"]+)"', client.page)
    if not found:
        raise RuntimeError("the start page loads no script")
    return found.group(1)


def _free_port() -> int:
    from bench.room_env import free_port

    return free_port()


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the minimal server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the minimal server did not answer")


def main() -> None:
    """Build a laptop, let phones in as a facilitator does, run the loops, print JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=2, help="listener processes, 1-4")
    args = parser.parse_args()
    from bench.room_env import build_stress_laptop, free_port, laptop_running

    with tempfile.TemporaryDirectory(prefix="fieldapp-intake-") as folder:
        laptop, _code, question = build_stress_laptop(
            Path(folder), "127.0.0.1", free_port(), args.processes
        )
        with laptop_running(laptop) as running:
            results = stress(running.phone_url, question, args.seconds)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
