#!/usr/bin/env python3
"""The room as a benchmark: ninety phones on a laptop's hotspot, and the facilitator beside them.

Each part starts a fresh laptop as a facilitator starts it (``run.py``), signs in, and lets
phones join over Wi-Fi (the consultation's *Let phones join* button: the phones' listener, on
``LAN_ADDRESS`` from the installation's ``config.py``). Then:

- **room**: 90 phones arrive over 60 s at random, each from its own address. Each loads the
  start page with its styles, fonts, script and icon as Chromium would (``bench/room_http.py``:
  six connections, the cache honouring the server's ``Cache-Control``, compressed bytes
  counted), chooses a language (Arabic, Sorani or Kurmanji), consents, answers eight questions
  with 5-20 s of thought each (typing a marker of its own into the typed answers), fills in
  "about you", reviews and submits. One phone in ten presses Back after the receipt (it must
  show no answer); one in twenty loses its Wi-Fi while sending an answer (halfway through the
  request, or just after it) and sends it again when it is back. Meanwhile the facilitator
  reloads the consultation's overview every 5 s. Afterwards the database must hold exactly one
  submission per receipt a phone saw, with the texts it typed, and pass ``integrity_check``.
- **weak_network**: the same room with the phones in a network namespace of their own, joined
  to the laptop's namespace (10.42.0.1/24, where the listener binds) by a link shaped in both
  directions: 20 Mbit/s shared, 30 ms delay, 1% loss (``tc netem`` on a veth pair; where the
  kernel has no netem, as here, the user-space shaper of bench/room_air.py between two TUN
  devices). Adds the time from a phone's arrival to its first question shown (HTML, styles
  and the fonts it needs downloaded), p95.
- **old_laptop**: the same room with the server's processes (the facilitator's app and the
  listener) held to half a core (cgroup ``cpu``; else one core shared with a busy process).
- **stress_90**: bench/intake.py's closed loops (30 and 90 clients hammering the question page
  and submitting, beside a minimal Flask page under the same waitress settings), now against
  the listener.

The phones are asyncio coroutines of one process of their own (the generator must not share
the server's interpreter, and in a namespace it must be a process anyway); its CPU time is
printed. The facilitator is another small process. Prints one JSON object, with each target
beside its figure. Every loop is bounded in count and time; the phones talk only to loopback
or to the namespaces made here, which are removed on every way out (Ctrl+C included).

    python bench/room.py [--only room,weak_network] [--phones 90] [--time-scale 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import resource
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.room_http import (  # noqa: E402 -- after the path is set
    Browser,
    Field,
    Form,
    HttpError,
    Page,
    fill_form,
)

PARTS = ("room", "weak_network", "old_laptop", "stress_90")
KINDS = ("start", "consent", "question", "about/review", "submit", "thanks", "asset")
QUESTIONS = 8
DROP_SHARE = 0.05
BACK_SHARE = 0.10
LANGUAGE_SHARES = {"ar": 40, "ckb": 35, "ku": 25}
# What phones type (in the language they chose); a marker of their own follows.
SAYINGS = {
    "ar": "أقترح إصلاح الطريق قرب المدرسة",
    "ckb": "پێشنیار دەکەم ڕێگای نزیک قوتابخانە چاک بکرێتەوە",
    "ku": "Ez pêşniyar dikim ku rêya li ber dibistanê were çêkirin",
}
# Think times in seconds (before the time scale): reading and typing.
THINK = {
    "start": (2.0, 6.0),
    "consent": (3.0, 8.0),
    "question": (5.0, 20.0),
    "about": (3.0, 8.0),
    "review": (3.0, 8.0),
    "back": (1.0, 3.0),
    "offline": (2.0, 6.0),  # how long a phone's Wi-Fi is gone
}
LONGEST_VISIT = sum(high for _low, high in THINK.values()) + (QUESTIONS - 1) * THINK["question"][1]
TARGETS = {
    "room_p99_ms": 300,
    "overview_p99_ms": 500,
    "first_question_p95_ms": 3000,
    "old_laptop_p99_ms": 1000,
    "submit_p99_ms_90": 1000,
    "question_vs_minimal": 0.3,
}


def classify(method: str, path: str) -> str:
    """The page kind of a request, for the figures."""
    if path.startswith("/static/") or path.startswith("/favicon"):
        return "asset"
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "p":
        step = parts[3] if len(parts) > 3 else ""
        if step == "":
            return "start"
        if step == "review":
            return "submit" if method == "POST" else "about/review"
        return {
            "consent": "consent",
            "q": "question",
            "about": "about/review",
            "thanks": "thanks",
        }.get(step, step)
    if path.startswith("/consultations/"):
        return "overview"
    return "other"


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) of milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(ordered)}


# ---- one phone --------------------------------------------------------------------------------


class LostVisit(Exception):
    """The phone cannot go on (an unexpected page, or errors after its retries)."""


def _submission(
    page: Page,
    form: Form,
    data: list[tuple[str, str]],
    button_action: str | None,
    button_method: str | None,
) -> tuple[str, str, list[tuple[str, str]] | None]:
    """(method, URL, POST data) of submitting ``form`` as a browser does."""
    action = urllib.parse.urljoin(page.url, button_action or form.action or page.url)
    method = (button_method or form.method or "GET").upper()
    if method == "GET":
        base = action.split("?", 1)[0]
        return "GET", f"{base}?{urllib.parse.urlencode(data)}", None
    return "POST", action, data


class Phone:
    """One participant with a phone: the visit, what it typed, what it saw."""

    def __init__(self, plan: dict[str, Any], spec: dict[str, Any]) -> None:
        self.plan, self.spec = plan, spec
        self.rng = random.Random(f"{plan['seed']}-{spec['number']}")
        self.scale = float(plan["time_scale"])
        self.language: str = spec["language"]
        self.marker = f"{plan['marker']}-{spec['number']:03d}"
        self.browser = Browser(
            plan["url"],
            classify,
            source=spec["source"],
            timeout=plan["request_timeout"],
            language=self.language,
        )
        self.history: list[Page] = []
        self.record: dict[str, Any] = {
            "number": spec["number"],
            "language": self.language,
            "marker": self.marker,
            "texts": {},
            "errors": [],
            "acknowledged": False,
            "dropped": None,
            "back": None,
            "later_bytes": [],
            "later_html_bytes": [],
        }
        self.questions_seen = 0
        self.consented = False
        self.typed: dict[str, str] = {}  # field name -> the text typed there (the latest)
        self.thought = 0.0  # seconds spent reading and typing so far
        self.ranks: list[str] = []

    async def think(self, step: str) -> None:
        """Read, think, type (time that is the participant's, not the laptop's)."""
        low, high = THINK[step]
        pause = self.rng.uniform(low, high) * self.scale
        self.thought += pause
        await asyncio.sleep(pause)

    async def go(
        self,
        method: str,
        url: str,
        data: list[tuple[str, str]] | None = None,
        referer: str | None = None,
    ) -> Page:
        """Load a page; after an error the participant tries again (twice)."""
        for attempt in range(3):
            try:
                page = await self.browser.navigate(method, url, data, referer)
            except HttpError as exc:
                self.record["errors"].append(str(exc))
                if attempt == 2:
                    raise LostVisit(str(exc)) from None
                await asyncio.sleep(self.rng.uniform(1.0, 3.0) * max(self.scale, 0.25))
            else:
                self.history.append(page)
                return page
        raise AssertionError("unreachable")

    def choose(self, field: Field, group: list[Field]) -> str | list[str] | None:
        """What this participant enters in a field of a question or "about you" form."""
        if field.kind == "textarea":
            text = f"{SAYINGS[self.language]} {self.marker}-{len(self.typed) + 1}"
            text = self.typed.setdefault(field.name, text)
            self.record["texts"] = dict(self.typed)
            return text
        if field.kind == "radio":
            return self.rng.choice(group).value
        if field.kind == "checkbox":
            picked = self.rng.sample(group, self.rng.randint(1, len(group)))
            return [f.value for f in picked]
        if field.kind == "text" and field.attrs.get("inputmode") == "numeric":
            return self.ranks.pop() if self.ranks else ""
        if field.kind == "select" and field.options:
            return self.rng.choice(field.options)
        return None

    async def press(
        self, page: Page, form: Form, name: str | None, value: str | None, fill: bool = False
    ) -> Page:
        """Fill in ``form`` (when asked) and press its button."""
        button = form.button(name, value) if (name or value) else form.buttons[0]
        assert button is not None
        numeric = [
            f for f in form.fields if f.kind == "text" and f.attrs.get("inputmode") == "numeric"
        ]
        self.ranks = [str(n) for n in range(1, len(numeric) + 1)]
        self.rng.shuffle(self.ranks)
        data = fill_form(form, button, self.choose if fill else (lambda _f, _g: None))
        method, url, body = _submission(page, form, data, button.formaction, button.formmethod)
        if self.spec.get("drop_at") == self.questions_seen and fill and "/q/" in page.path:
            self.spec["drop_at"] = None  # once
            whole = bool(self.spec.get("drop_whole"))
            self.record["dropped"] = "after the request" if whole else "mid-request"
            await self.browser.send_and_lose(url, body or [], whole)
            await self.think("offline")
        return await self.go(method, url, body, referer=page.url)

    async def visit(self) -> None:
        """From the address to the receipt (and Back, for some)."""
        started = time.perf_counter()
        page = await self.go("GET", self.plan["url"])
        self.record["start_shown_ms"] = round((page.shown_at - started) * 1000, 1)
        for _step in range(3 * QUESTIONS + 12):
            path = page.path
            if path.endswith("/thanks"):
                self.record["acknowledged"] = True
                break
            if "/q/" in path:
                form = page.form("go", "next")
                if form is None:
                    raise LostVisit(f"{path}: no Next button")
                self.questions_seen += 1
                if self.questions_seen == 1:  # the laptop's time: the reading is taken out
                    waited = page.shown_at - started - self.thought
                    self.record["first_question_ms"] = round(waited * 1000, 1)
                    self.record["first_visit_bytes"] = self.browser.received
                await self.think("question")
                before = self.browser.received
                page = await self.press(page, form, "go", "next", fill=True)
                if "/q/" in page.path:
                    self.record["later_bytes"].append(self.browser.received - before)
                    shown = [s for s in self.browser.samples if s.kind == "question"]
                    self.record["later_html_bytes"].append(shown[-1].received)
                continue
            if path.endswith("/about"):
                form = page.form("go", "next")
                if form is None:
                    raise LostVisit(f"{path}: no Next button")
                await self.think("about")
                page = await self.press(page, form, "go", "next", fill=True)
                continue
            if path.endswith("/review"):
                form = next(
                    (
                        f
                        for f in page.parsed.forms
                        if not f.hidden
                        and f.method == "POST"
                        and f.buttons
                        and urllib.parse.urljoin(page.url, f.action or page.url).split("?")[0]
                        == page.url.split("?")[0]
                    ),
                    None,
                )
                if form is None:
                    raise LostVisit(f"{path}: no form to send the answers")
                await self.think("review")
                page = await self.press(page, form, None, None)
                if page.path.endswith("/review"):
                    raise LostVisit("the answers were not accepted")
                continue
            agree = page.form("choice", "agree")
            if agree is not None:
                self.consented = True
                await self.think("consent")
                page = await self.press(page, agree, "choice", "agree")
                continue
            if self.consented:
                raise LostVisit(f"sent back to {path} after consenting: the answers were lost")
            page = await self.choose_language(page)
        else:
            raise LostVisit(f"no receipt after {_step + 1} pages")
        if self.spec.get("back"):
            await self.think("back")
            await self.press_back()

    async def choose_language(self, page: Page) -> Page:
        """On the start page: press this participant's language (a button or a link)."""
        await self.think("start")
        for name in ("language", "lang"):
            form = page.form(name, self.language)
            if form is not None:
                return await self.press(page, form, name, self.language)
        for href in page.parsed.links:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
            if query.get("lang") == [self.language]:
                return await self.go("GET", urllib.parse.urljoin(page.url, href), referer=page.url)
        raise LostVisit(f"{page.path}: no way to choose {self.language}")

    async def press_back(self) -> None:
        """Back from the receipt: the page before it, reloaded unless the server let it be kept."""
        previous = self.history[-2]
        cache_control = (previous.response.header("cache-control") or "").lower()
        if "no-store" in cache_control:
            page = await self.go("GET", previous.url)
        else:
            page = previous  # shown from the browser's memory, as it was
        shown = self.marker in page.text
        self.record["back"] = {"url": urllib.parse.urlsplit(page.url).path, "answer_shown": shown}
        if shown:
            self.record["errors"].append("Back after submitting showed the answers")

    async def run(self) -> dict[str, Any]:
        """The whole visit, whatever happens; the record of it."""
        await asyncio.sleep(self.spec["arrival"])
        try:
            await self.visit()
        except LostVisit as exc:
            self.record["lost"] = str(exc)
        except asyncio.CancelledError:
            self.record["errors"].append("not finished before the deadline")
            self.record["lost"] = "deadline"
        except Exception as exc:  # a page the generator did not expect: counted, not hidden
            self.record["errors"].append(f"{type(exc).__name__}: {exc}")
            self.record["lost"] = "the generator could not go on"
        finally:
            self.browser.close()
            self.record["received"] = self.browser.received
            self.record["sent"] = self.browser.sent
            self.record["retries"] = self.browser.retries
            self.record["connections"] = [self.browser.opened, self.browser.most_open]
            self.record["samples"] = [
                (s.kind, round(s.ms, 2), s.status) for s in self.browser.samples
            ]
        return self.record


async def _phones(plan: dict[str, Any]) -> dict[str, Any]:
    phones = [Phone(plan, spec) for spec in plan["phones"]]
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:  # how late the generator's own loop runs
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append((time.perf_counter() - before - 0.05) * 1000)

    watch = asyncio.ensure_future(ticker())
    tasks = [asyncio.ensure_future(phone.run()) for phone in phones]
    started = time.perf_counter()
    done, pending = await asyncio.wait(tasks, timeout=plan["deadline"])
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    stop.set()
    await watch
    records = [phone.record for phone in phones]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "phones": records,
        "wall_s": round(time.perf_counter() - started, 1),
        "generator_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "loop_lag_ms": percentiles(lags),
    }


def phones_worker() -> None:
    """``--worker phones``: the plan on stdin, one JSON line of records on stdout."""
    plan = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(_phones(plan)), ensure_ascii=False), flush=True)


# ---- the facilitator ---------------------------------------------------------------------------


def _form_to(page: Page, ending: str) -> Form | None:
    for form in page.parsed.forms:
        if not form.hidden and form.action.split("?")[0].endswith(ending):
            return form
    return None


async def _facilitator(spec: dict[str, Any]) -> None:
    browser = Browser(spec["url"], classify, timeout=30, language="en")
    deadline = time.monotonic() + 90
    while True:  # the server is starting
        try:
            page = await browser.navigate("GET", "/login")
            break
        except HttpError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    login = page.form()
    assert login is not None, "no sign-in form"
    account = {"username": spec["username"], "password": spec["password"]}
    data = fill_form(
        login, login.buttons[0] if login.buttons else None, lambda f, _g: account.get(f.name)
    )
    page = await browser.navigate(
        "POST", urllib.parse.urljoin(page.url, login.action or page.url), data, referer=page.url
    )
    if page.path.endswith("/login"):
        raise RuntimeError("the facilitator could not sign in")
    overview = f"/consultations/{spec['record_id']}"
    page = await browser.navigate("GET", overview)
    phone_url = None
    for _attempt in range(3):
        found = re.search(r"http://[0-9.]+:[0-9]+/p/[A-Z0-9]+", page.text)
        if found:
            phone_url = found.group(0)
            break
        form = _form_to(page, "/intake/phones") or _form_to(page, "/intake/open")
        if form is None:
            raise RuntimeError("the overview offers neither opening input nor phones")
        data = fill_form(form, form.buttons[0] if form.buttons else None, lambda _f, _g: None)
        page = await browser.navigate(
            "POST", urllib.parse.urljoin(page.url, form.action), data, referer=page.url
        )
    if phone_url is None:
        raise RuntimeError("the overview shows no address for phones")
    print(json.dumps({"phone_url": phone_url, "code": phone_url.rsplit("/", 1)[1]}), flush=True)

    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if line.strip() != "go":
        return
    stopped = loop.run_in_executor(None, sys.stdin.readline)
    browser.samples.clear()
    errors: list[str] = []
    period = float(spec["poll_every"])
    for _poll in range(100_000):
        began = time.monotonic()
        try:
            await browser.navigate("GET", overview)
        except HttpError as exc:
            errors.append(str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(stopped), max(0.0, period - (time.monotonic() - began))
            )
        if stopped.done():
            break
    latencies = [s.ms for s in browser.samples if s.kind == "overview"]
    browser.close()
    print(json.dumps({"overview": latencies, "errors": errors}), flush=True)


def facilitator_worker() -> None:
    """``--worker facilitator``: signs in, lets phones join, then reloads the overview."""
    spec = json.loads(sys.stdin.readline())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_facilitator(spec))


# ---- one part ---------------------------------------------------------------------------------


def loopback_sources(count: int) -> list[str]:
    """An address of its own for each phone on loopback (127.42.x.y), as on a hotspot."""
    return [f"127.42.{n // 250}.{n % 250 + 2}" for n in range(count)]


def plan_phones(count: int, window: float, seed: int, sources: list[str]) -> list[dict[str, Any]]:
    """Who arrives when, in which language, who drops the Wi-Fi and who presses Back."""
    rng = random.Random(seed)
    arrivals = sorted(rng.uniform(0, window) for _ in range(count))
    droppers = set(rng.sample(range(count), round(count * DROP_SHARE)))
    backers = set(rng.sample(range(count), round(count * BACK_SHARE)))
    languages = rng.choices(list(LANGUAGE_SHARES), list(LANGUAGE_SHARES.values()), k=count)
    return [
        {
            "number": n,
            "source": sources[n],
            "arrival": round(arrivals[n], 3),
            "language": languages[n],
            "drop_at": rng.randint(1, QUESTIONS) if n in droppers else None,
            "drop_whole": rng.random() < 0.5,
            "back": n in backers,
        }
        for n in range(count)
    ]


def _stored_versus_acknowledged(
    records: list[dict[str, Any]], bodies: list[dict[str, Any]], marker: str
) -> dict[str, Any]:
    """Every receipt a phone saw is one stored submission holding exactly what it typed."""
    stored: Counter[str] = Counter()
    texts: dict[str, dict[str, str]] = {}
    answered: dict[str, int] = {}
    for body in bodies:
        answers = body.get("answers", {})
        typed = {
            f"q_{question}": value
            for question, value in answers.items()
            if isinstance(value, str) and marker in value
        }
        owners = {text.rsplit("-", 1)[0].rsplit(" ", 1)[1] for text in typed.values()}
        for owner in owners:
            stored[owner] += 1
            texts[owner] = typed
            answered[owner] = len(answers)
    acknowledged = {r["marker"] for r in records if r["acknowledged"]}
    return {
        "acknowledged": len(acknowledged),
        "stored": sum(stored.values()),
        "lost": sorted(acknowledged - set(stored)),
        "doubled": sorted(m for m, n in stored.items() if n > 1),
        "stored_without_receipt": sorted(set(stored) - acknowledged),
        "texts_differ": sorted(
            r["marker"]
            for r in records
            if r["acknowledged"] and r["marker"] in texts and texts[r["marker"]] != r["texts"]
        ),
        "answer_counts_differ": sorted(
            m for m in acknowledged if m in answered and answered[m] != QUESTIONS
        ),
    }


def _log_warnings(output: str) -> list[str]:
    """What the server logged as a warning or an error (the first few)."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if any(word in line for word in ("WARNING", "ERROR", "Traceback", "limit"))
    ]
    return lines[:10]


def _write_waits(folder: Path, output: str) -> Any:
    """What the app says about cross-process write waits, where it says it (JSON)."""
    found: dict[str, Any] = {}
    for path in sorted(folder.glob("*wait*")):
        with contextlib.suppress(OSError, ValueError):
            found[path.name] = json.loads(path.read_text())
    for line in output.splitlines():
        if "wait" in line.lower() and "{" in line:
            with contextlib.suppress(ValueError):
                found.setdefault("log", []).append(json.loads(line[line.index("{") :]))
    return found or None


def summarise(
    result: dict[str, Any],
    overview: dict[str, Any],
    check: dict[str, Any],
) -> dict[str, Any]:
    """Figures of one room from the phones' records and the facilitator's."""
    records = result["phones"]
    by_kind: dict[str, list[float]] = {}
    statuses: Counter[int] = Counter()
    for record in records:
        for kind, ms, status in record["samples"]:
            by_kind.setdefault(kind, []).append(ms)
            statuses[status] += 1
    kinds = {kind: percentiles(by_kind.get(kind, [])) for kind in (*KINDS, *sorted(by_kind))}
    kinds["overview"] = percentiles(overview.get("overview", []))
    errors = [e for r in records for e in r["errors"]]
    first_questions = [r["first_question_ms"] for r in records if "first_question_ms" in r]
    first_visit = [r["first_visit_bytes"] for r in records if "first_visit_bytes" in r]
    later = [b for r in records for b in r["later_bytes"]]
    later_html = [b for r in records for b in r["later_html_bytes"]]

    def kb(values: list[int]) -> float | None:
        return round(statistics.median(values) / 1024, 1) if values else None

    return {
        "phones": len(records),
        "p50_ms": {k: v["p50"] for k, v in kinds.items() if v},
        "p95_ms": {k: v["p95"] for k, v in kinds.items() if v},
        "p99_ms": {k: v["p99"] for k, v in kinds.items() if v},
        "requests": {k: v["n"] for k, v in kinds.items() if v},
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": len(errors) + len(overview.get("errors", [])),
        "error_examples": sorted(set(errors + overview.get("errors", [])))[:5],
        "visits_lost": [r.get("lost") for r in records if r.get("lost")][:5],
        "first_question_p50_ms": percentiles(first_questions).get("p50"),
        "first_question_p95_ms": percentiles(first_questions).get("p95"),
        "first_visit_kb": kb(first_visit),
        "later_page_kb": kb(later),
        "later_page_html_kb": kb(later_html),
        "received_per_phone_kb": kb([r["received"] for r in records]),
        "sent_per_phone_kb": kb([r["sent"] for r in records]),
        "dropped_wifi": sum(1 for r in records if r["dropped"]),
        "pressed_back": sum(1 for r in records if r["back"]),
        "reconnects": sum(r["retries"] for r in records),
        "connections_per_phone": {
            "opened_median": statistics.median(r["connections"][0] for r in records),
            "most_at_once_median": statistics.median(r["connections"][1] for r in records),
            "most_at_once_max": max(r["connections"][1] for r in records),
        },
        "generator": {
            "cpu_s": result["generator_cpu_s"],
            "wall_s": result["wall_s"],
            "loop_lag_ms": result["loop_lag_ms"],
        },
        **check,
    }


def run_room(
    name: str,
    phones: int,
    window: float,
    time_scale: float,
    seed: int,
    weak: bool = False,
    half_a_core: bool = False,
    poll_every: float = 5.0,
    processes: int = 2,
) -> dict[str, Any]:
    """One room on a fresh laptop, its phones served by ``processes`` listener processes;
    its figures (or why it was skipped)."""
    from bench import room_env

    if weak and (reason := room_env.namespaces_unavailable()):
        return {"skipped": reason}
    marker = f"m{random.Random(seed).randrange(16**6):06x}"
    deadline = window + LONGEST_VISIT * time_scale + 120
    with (
        tempfile.TemporaryDirectory(prefix="fieldapp-room-") as temporary,
        contextlib.ExitStack() as stack,
    ):
        folder = Path(temporary)
        laptop_ns = phones_ns = None
        net = None
        if weak:
            net = stack.enter_context(room_env.hotspot(phones, True, deadline + 300))
            laptop_ns, phones_ns, lan, port, sources = (
                net.laptop,
                net.phones,
                net.laptop_ip,
                8080,
                net.phone_ips,
            )
            network: dict[str, Any] = {"shaping": net.shaping}
        else:
            lan, port, sources = "127.0.0.1", room_env.free_port(), loopback_sources(phones)
            network = {"shaping": "none (loopback)"}
        limit = None
        if half_a_core:
            got = stack.enter_context(room_env.half_core(deadline + 300))
            if isinstance(got, str):
                return {"skipped": got}
            limit = got
        laptop = room_env.build_laptop(folder, lan, port, processes)
        running = stack.enter_context(
            room_env.laptop_running(laptop, laptop_ns, limit, poll_every=poll_every)
        )
        server = running.server
        plan = {
            "url": running.phone_url,
            "phones": plan_phones(phones, window, seed, sources),
            "time_scale": time_scale,
            "seed": seed,
            "marker": marker,
            "request_timeout": 30,
            "deadline": deadline,
        }
        worker = room_env.Worker(
            [sys.executable, "-m", "bench.room", "--worker", "phones"], phones_ns
        )
        stack.callback(worker.stop)
        worker.send(json.dumps(plan))
        running.facilitator.send("go")
        started = time.monotonic()
        result = worker.read(timeout=deadline + 60)
        duration = time.monotonic() - started
        running.facilitator.send("stop")
        overview = running.facilitator.read(timeout=60)
        cpu = {
            "app_cpu_s": room_env.cpu_seconds(server.pid),
            "listener_cpu_s": [room_env.cpu_seconds(pid) for pid in server.listeners],
        }
        listener = {
            "app_pid": server.pid,
            "listener_pids": server.listeners,
            "listener_separate_process": bool(server.listeners)
            and server.pid not in server.listeners,
        }
        limit_stats = None
        if limit is not None:
            limit_stats = {
                **limit.stats(),
                "app_limited": limit.holds(server.pid),
                "listener_limited": bool(server.listeners)
                and all(limit.holds(pid) for pid in server.listeners),
            }
        stack.close()  # stops the server (Ctrl+C), removes the namespaces and the cgroup
        if net is not None:
            network["air"] = net.air
        integrity, bodies, drafts = room_env.database_check(laptop.folder, laptop.record_id)
        check = {
            "integrity": integrity,
            **_stored_versus_acknowledged(result["phones"], bodies, marker),
            "drafts_left": drafts,
            "duration_s": round(duration, 1),
            "server_cpu_s": cpu,
            **listener,
            "listener_outlived_app": server.stopped.get("listener_outlived_app"),
            "phone_url": plan["url"],
            "network": network,
            "cpu_limit": limit_stats,
            "write_waits": _write_waits(laptop.folder, server.output()),
            "server_warnings": _log_warnings(server.output()),
        }
        return {"name": name, **summarise(result, overview, check)}
    raise AssertionError("unreachable")


def run_stress(seconds: float, clients: tuple[int, ...], processes: int = 2) -> dict[str, Any]:
    """bench/intake.py's closed loops against the phones' listener of a fresh laptop."""
    from bench import intake, room_env

    with tempfile.TemporaryDirectory(prefix="fieldapp-stress-") as folder:
        laptop, _code, question = room_env.build_stress_laptop(
            Path(folder), "127.0.0.1", room_env.free_port(), processes
        )
        with room_env.laptop_running(laptop) as running:
            before = resource.getrusage(resource.RUSAGE_SELF)
            figures = intake.stress(running.phone_url, question, seconds, clients)
            after = resource.getrusage(resource.RUSAGE_SELF)
            listeners = running.server.listeners
            separate = bool(listeners) and running.server.pid not in listeners
    top = figures[f"{max(clients)}_clients"]
    return {
        "clients": max(clients),
        "p99_ms": {
            "question": top["question_page"]["p99_ms"],
            "submit": top["submit"]["p99_ms"],
            "minimal": top["minimal_page"]["p99_ms"],
            "asset": top["static_file_on_listener"]["p99_ms"],
        },
        "errors": sum(
            figures[f"{n}_clients"][kind]["errors"]
            for n in clients
            for kind in ("minimal_page", "static_file_on_listener", "question_page", "submit")
        ),
        "question_page_vs_minimal": top["question_page_vs_minimal"],
        "submit_p99_ms": top["submit"]["p99_ms"],
        "listener_separate_process": separate,
        "generator_cpu_s": round(
            after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1
        ),
        "detail": figures,
    }


# ---- targets and the whole run ----------------------------------------------------------------


def _target(part: str, what: str, value: Any, limit: str, met: bool) -> dict[str, Any]:
    return {"part": part, "target": what, "limit": limit, "value": value, "met": bool(met)}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue #13 beside its figure."""
    found = []
    room = results.get("room")
    if room and "p99_ms" in room:
        pages = {k: v for k, v in room["p99_ms"].items() if k != "overview"}
        worst = max(pages.values(), default=0.0)
        found.append(
            _target(
                "room", "p99 of every page kind", pages, "< 300 ms", worst < TARGETS["room_p99_ms"]
            )
        )
        found.append(_target("room", "errors", room["errors"], "0", room["errors"] == 0))
        whole = (
            room["stored"] == room["acknowledged"]
            and not room["lost"]
            and not room["doubled"]
            and not room["texts_differ"]
            and room["integrity"] == "ok"
        )
        found.append(
            _target(
                "room",
                "stored == acknowledged, integrity ok",
                f"{room['stored']} stored / {room['acknowledged']} acknowledged, "
                f"integrity {room['integrity']}",
                "equal, ok",
                whole,
            )
        )
        overview = room["p99_ms"].get("overview")
        found.append(
            _target(
                "room",
                "facilitator overview p99 while the room runs",
                overview,
                "< 500 ms",
                overview is not None and overview < TARGETS["overview_p99_ms"],
            )
        )
    weak = results.get("weak_network")
    if weak and "p99_ms" in weak:
        value = weak["first_question_p95_ms"]
        found.append(
            _target(
                "weak_network",
                "first question shown, p95",
                value,
                "< 3000 ms",
                value is not None and value < TARGETS["first_question_p95_ms"],
            )
        )
    old = results.get("old_laptop")
    if old and "p99_ms" in old:
        pages = {k: v for k, v in old["p99_ms"].items() if k != "overview"}
        found.append(
            _target(
                "old_laptop",
                "p99 of every page kind",
                pages,
                "< 1000 ms",
                max(pages.values(), default=0.0) < TARGETS["old_laptop_p99_ms"],
            )
        )
    stress = results.get("stress_90")
    if stress and "p99_ms" in stress:
        found.append(
            _target(
                "stress_90",
                "submit p99 at 90 clients",
                stress["submit_p99_ms"],
                "< 1000 ms",
                stress["submit_p99_ms"] < TARGETS["submit_p99_ms_90"],
            )
        )
        ratio = stress["question_page_vs_minimal"]
        found.append(
            _target(
                "stress_90",
                "question page / minimal page",
                ratio,
                ">= 0.3",
                ratio >= TARGETS["question_vs_minimal"],
            )
        )
    return found


@contextlib.contextmanager
def _interrupts_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run like Ctrl+C, so every ``finally`` cleans up."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    before = {n: signal.signal(n, interrupt) for n in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def main(argv: list[str] | None = None) -> None:
    """Run the parts asked for and print one JSON object."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--worker", choices=("phones", "facilitator"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--only", default=",".join(PARTS), help="comma-separated parts: " + ", ".join(PARTS)
    )
    parser.add_argument("--phones", type=int, default=90)
    parser.add_argument("--window", type=float, default=60.0, help="arrival window, seconds")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="shrinks the arrival window, the think times and the facilitator's "
        "5 s (0.25: a quick look)",
    )
    parser.add_argument("--stress-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--processes", type=int, default=2, help="listener processes (LAN_PROCESSES), 1-4"
    )
    args = parser.parse_args(argv)
    if args.worker == "phones":
        phones_worker()
        return
    if args.worker == "facilitator":
        facilitator_worker()
        return
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    began = time.monotonic()
    window = args.window * args.time_scale
    poll = max(1.0, 5.0 * args.time_scale)
    results: dict[str, Any] = {}

    def room_part(name: str, **conditions: bool) -> Callable[[], dict[str, Any]]:
        """One of the three rooms, with the run's settings and its own conditions."""
        return lambda: run_room(
            name,
            args.phones,
            window,
            args.time_scale,
            args.seed,
            poll_every=poll,
            processes=args.processes,
            **conditions,
        )

    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "room": room_part("room"),
        "weak_network": room_part("weak_network", weak=True),
        "old_laptop": room_part("old_laptop", half_a_core=True),
        "stress_90": lambda: run_stress(args.stress_seconds, (30, 90), args.processes),
    }
    try:
        with _interrupts_unwind():
            for part in PARTS:
                if part in parts:
                    results[part] = runs[part]()
    except KeyboardInterrupt:
        print(
            "bench/room.py: interrupted; its processes, namespaces and cgroups are removed",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    first: dict[str, Any] = next(
        (
            results[p]
            for p in ("room", "weak_network", "old_laptop")
            if p in results and "first_visit_kb" in results[p]
        ),
        {},
    )
    found = targets(results)
    print(
        json.dumps(
            {
                "first_visit_kb": first.get("first_visit_kb"),
                "later_page_kb": first.get("later_page_kb"),
                **results,
                "targets": found,
                "all_met": all(t["met"] for t in found),
                "settings": {
                    "phones": args.phones,
                    "listener_processes": args.processes,
                    "arrival_window_s": window,
                    "time_scale": args.time_scale,
                    "think_s": THINK,
                    "weak_network": "20 Mbit/s shared, 30 ms and 1% loss each way",
                    "facilitator_every_s": poll,
                    "seed": args.seed,
                },
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "note": "timings from a shared machine are noisy",
                },
                "runtime_s": round(time.monotonic() - began, 1),
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
