#!/usr/bin/env python3
"""Intake under a crowd: requests per second and latency of the participant pages.

In one run, against fieldapp started as a facilitator starts it (run.py, waitress) and a
minimal Flask page served by the same waitress settings on the same machine, at 30 and 90
concurrent clients (keep-alive connections, asyncio coroutines of one client process):
- the question page (GET /p/<code>/q/1 with a participant's draft),
- submitting (the POST that turns a visit's answers into a record; each client makes a fresh
  visit for every submission),
- the minimal page (GET /),
- for scale, a static file served by fieldapp (GET /static/js/kiosk.js).
Prints requests per second, p50/p95/p99 latency and the ratios to the minimal page.
Targets: intake throughput >= 0.5 of the minimal page; p99 < 1 s at 90 clients.

    python bench/intake.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
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

ROOT = Path(__file__).resolve().parent.parent

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


class Client:
    """One keep-alive connection with cookies and the page's CSRF token (asyncio, HTTP/1.1).

    The clients are coroutines of one thread: a thread per client made the load generator's
    own GIL the bottleneck at 90 clients (figures swung by 3x between runs, where a C client,
    ApacheBench, measured the same server steadily).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.cookies: dict[str, str] = {}
        self.token = ""

    async def request(self, method: str, path: str, form: dict[str, str] | None = None) -> float:
        """Send one request and read the whole answer; return its latency in seconds."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        body = b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            body = urllib.parse.urlencode({**form, "csrf_token": self.token}).encode()
            lines.append("Content-Type: application/x-www-form-urlencoded")
        lines.append(f"Content-Length: {len(body)}")
        started = time.perf_counter()
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "set-cookie":
                cookie, _, rest = value.partition("=")
                self.cookies[cookie] = rest.split(";", 1)[0]
        data = await self.reader.readexactly(length)
        elapsed = time.perf_counter() - started
        status = int(status_line.split()[1])
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status}")
        found = re.search(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', data)
        if found:
            self.token = found.group(1).decode()
        return elapsed

    async def visit(self, code: str) -> None:
        """Start a participant's visit up to the first question."""
        await self.request("GET", f"/p/{code}")
        await self.request("POST", f"/p/{code}", {"language": "ar"})
        await self.request("POST", f"/p/{code}/consent", {"choice": "agree"})

    def close(self) -> None:
        """Leave: the next run starts with no connection of this one open."""
        if self.writer is not None:
            self.writer.close()


Work = Callable[[int, Client | None], Awaitable[Client | float]]


async def run(clients: int, seconds: float, work: Work) -> dict[str, float]:
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
        except Exception as exc:  # noqa: BLE001 -- counted and printed
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
        except Exception as exc:  # noqa: BLE001 -- counted and printed
            errors.append(str(exc))
        finally:
            if client is not None:
                client.close()

    await asyncio.gather(*(loop(n) for n in range(clients)))
    elapsed = time.monotonic() - window["start"]
    ordered = sorted(latencies) or [0.0]

    def percentile(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {
        "requests": len(latencies),
        "errors": len(errors),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(percentile(0.95) * 1000, 1),
        "p99_ms": round(percentile(0.99) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.serving import Server, free_port, wait_for
    from tests.sync_world import meeting_laptop

    with tempfile.TemporaryDirectory() as folder:
        folder_, code, question = meeting_laptop(Path(folder))
        app = Server(folder_)
        minimal_port = free_port()
        baseline = subprocess.Popen(
            [sys.executable, "-c", MINIMAL, str(minimal_port), str(ROOT)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            app.start()
            wait_for(f"http://127.0.0.1:{minimal_port}/", baseline)
            app_port = app.port

            async def minimal(number: int, client: Client | None) -> Client | float:
                return Client(minimal_port) if client is None else await client.request("GET", "/")

            async def static_file(number: int, client: Client | None) -> Client | float:
                if client is None:
                    return Client(app_port)
                return await client.request("GET", "/static/js/kiosk.js")

            async def question_page(number: int, client: Client | None) -> Client | float:
                if client is None:
                    client = Client(app_port)
                    await client.visit(code)
                    return client
                return await client.request("GET", f"/p/{code}/q/1")

            async def submit(number: int, client: Client | None) -> Client | float:
                if client is None:
                    return Client(app_port)
                await client.visit(code)
                answer = {f"q_{question}": f"رأي {number}", "go": "next"}
                await client.request("POST", f"/p/{code}/q/1", answer)
                return await client.request("POST", f"/p/{code}/review", {})

            results: dict[str, object] = {}
            for clients in (30, 90):
                base = asyncio.run(run(clients, args.seconds, minimal))
                static = asyncio.run(run(clients, args.seconds, static_file))
                page = asyncio.run(run(clients, args.seconds, question_page))
                sent = asyncio.run(run(clients, args.seconds, submit))
                results[f"{clients}_clients"] = {
                    "minimal_page": base,
                    "static_file_through_fieldapp": static,
                    "question_page": page,
                    "submit": sent,
                    "static_file_vs_minimal": round(static["rps"] / base["rps"], 2),
                    "question_page_vs_minimal": round(page["rps"] / base["rps"], 2),
                    "p99_under_1s": sent["p99_ms"] < 1000 and page["p99_ms"] < 1000,
                }
        finally:
            app.stop()
            baseline.terminate()
            baseline.wait(timeout=10)
    results["note"] = (
        "submit rps counts submissions; each needs 4 more requests (start, consent, answer) "
        "that are not timed"
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
