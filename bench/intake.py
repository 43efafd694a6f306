#!/usr/bin/env python3
"""Intake under a crowd: requests per second and latency of the participant pages.

In one run, against fieldapp started as a facilitator starts it (run.py, waitress) and a
minimal Flask page served by the same waitress settings on the same machine, at 30 and 90
concurrent clients (keep-alive connections, one thread each):
- the question page (GET /p/<code>/q/1 with a participant's draft),
- submitting (the POST that turns a visit's answers into a record; each client makes a fresh
  visit for every submission),
- the minimal page (GET /).
Prints requests per second, p50/p95/p99 latency and the ratios to the minimal page.
Targets: intake throughput >= 0.5 of the minimal page; p99 < 1 s at 90 clients.

    python bench/intake.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    """One keep-alive connection with cookies and the page's CSRF token."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> float:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode({**form, "csrf_token": self.token})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status}")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        found = re.search(rb'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', data)
        if found:
            self.token = found.group(1).decode()
        return elapsed

    def visit(self, code: str, question: str) -> None:
        """Start a participant's visit up to the first question."""
        self.request("GET", f"/p/{code}")
        self.request("POST", f"/p/{code}", {"language": "ar"})
        self.request("POST", f"/p/{code}/consent", {"choice": "agree"})


def run(clients: int, seconds: float, work) -> dict[str, float]:  # noqa: ANN001 -- a callable
    """``clients`` threads repeat ``work(client_number)`` (returning latencies) for ``seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    errors: list[str] = []

    def loop(number: int) -> None:
        try:
            state = work(number, None)
            while time.monotonic() < stop:
                measured = work(number, state)
                with lock:
                    latencies.append(measured)
        except Exception as exc:  # noqa: BLE001 -- counted and printed
            with lock:
                errors.append(str(exc))

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
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
    from tests.sync_world import meeting_laptop

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        folder_, code, question = meeting_laptop(root)
        app_port, minimal_port = free_port(), free_port()
        env = {**os.environ, "FIELDAPP_INSTANCE": str(folder_)}
        servers = [
            subprocess.Popen(
                [sys.executable, str(ROOT / "run.py"), "--port", str(app_port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [sys.executable, "-c", MINIMAL, str(minimal_port), str(ROOT)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        try:
            for port in (app_port, minimal_port):
                for _ in range(200):
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        time.sleep(0.1)

            def minimal(number: int, state):  # noqa: ANN001, ANN202
                client = state or Client(minimal_port)
                return client if state is None else client.request("GET", "/")

            def question_page(number: int, state):  # noqa: ANN001, ANN202
                if state is None:
                    client = Client(app_port)
                    client.visit(code, question)
                    return client
                return state.request("GET", f"/p/{code}/q/1")

            def submit(number: int, state):  # noqa: ANN001, ANN202
                client = state or Client(app_port)
                if state is None:
                    return client
                client.visit(code, question)
                client.request(
                    "POST", f"/p/{code}/q/1", {f"q_{question}": f"rأي {number}", "go": "next"}
                )
                return client.request("POST", f"/p/{code}/review", {})

            results: dict[str, object] = {}
            for clients in (30, 90):
                base = run(clients, args.seconds, minimal)
                page = run(clients, args.seconds, question_page)
                sent = run(clients, args.seconds, submit)
                results[f"{clients}_clients"] = {
                    "minimal_page": base,
                    "question_page": page,
                    "submit": sent,
                    "question_page_vs_minimal": round(page["rps"] / base["rps"], 2),
                    "p99_under_1s": sent["p99_ms"] < 1000 and page["p99_ms"] < 1000,
                }
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    results["note"] = (
        "submit rps counts submissions; each needs 4 more requests (start, consent, answer) "
        "that are not timed"
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
