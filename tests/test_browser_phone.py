"""A participant's own phone on a weak hotspot, in chromium: Sorani, Kurmanji, and JavaScript off.

The laptop runs fieldapp as a facilitator starts it (``run.py``) in a network namespace whose
only network is a hotspot (10.42.0.1/24, no route). The facilitator, in chromium on the
laptop, opens the consultation to phones; the overview shows the phones' address and its QR
code. The phone is chromium in a second namespace at 10.42.0.2 (a 360x740 screen, touch,
device scale 2), and the cable between the two is shaped like a busy hotspot with ``tc
netem``: 20 Mbit/s, 30 ms delay and 1% loss, in both directions. A kernel without ``netem``
(this workplace's Firecracker kernel has ``tbf`` and ``htb`` only) gets the rate from ``tbf``
and the delay from chromium itself (CDP ``Network.emulateNetworkConditions``: 60 ms, the
round trip), without loss; the test prints which.

The phone opens the address the overview shows and walks, by clicking what each page shows,
through the language, the consent, one question of every kind, "about you" and the review to
the receipt; then presses Back. In Sorani and in Kurmanji, and once in Kurmanji with
JavaScript off. Screenshots of every step go to a temporary folder (their paths are printed,
``pytest -s`` shows them).

Needs root, ``ip`` and ``tc``; skipped, with the reason shown, where any is missing.
"""

from __future__ import annotations

import html
import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import segno

from bench.lighthouse import QUESTIONS, TITLE, plan_meeting
from fieldapp.services import workspace

from .conftest import PASSWORD, translated
from .sync_world import opened
from .test_browser import CHROMIUM, LAUNCH_ARGS, pytestmark  # noqa: F401
from .test_hotspot import NAMESPACES_UNAVAILABLE, Namespace, add_user_to, hotspot, served_in

TC = shutil.which("tc")
NATIVE = {"ckb": "کوردی (سۆرانی)", "ku": "Kurdî (Kurmancî)"}
TEXT_ANSWER = {"ckb": "ڕێگای گوندەکە چاک بکەنەوە", "ku": "Em avê vexwarinê dixwazin"}
# Ranks as typed on the phone's keyboard: Eastern Arabic digits on a Sorani one.
RANKS = {"ckb": {"o1": "٢", "o3": "١"}, "ku": {"o2": "1", "o1": "2"}}
RANKED = {"ckb": ["o3", "o1"], "ku": ["o2", "o1"]}
SHAPING_WORD = "خزمەتگوزاری"  # joins on both sides except after و, ز and ر
MIN_TARGET = 44  # px: the smallest touch target WCAG 2.5.5 and the platforms' guides allow
RATE_MBIT, DELAY_MS = 20, 30
NETEM = ("netem", "rate", f"{RATE_MBIT}mbit", "delay", f"{DELAY_MS}ms", "loss", "1%")
TBF = ("tbf", "rate", f"{RATE_MBIT}mbit", "burst", "32kbit", "latency", "100ms")


def _shaping_unavailable() -> str | None:
    """Why the phone's link cannot be shaped here, or None when it can."""
    if NAMESPACES_UNAVAILABLE:
        return NAMESPACES_UNAVAILABLE
    if TC is None:
        return "shaping the hotspot's link needs the tc command (iproute2)"
    return None


SHAPING_UNAVAILABLE = _shaping_unavailable()
needs_shaping = pytest.mark.skipif(SHAPING_UNAVAILABLE is not None, reason=str(SHAPING_UNAVAILABLE))


@dataclass
class Room:
    """The laptop serving phones on its hotspot, and the phone's chromium on that hotspot."""

    folder: Path
    phone_url: str  # as the facilitator's overview shows it
    qr_matches: list[str]  # the error levels at which the QR code is the address shown
    qr_size: int
    question_ids: list[str]
    phone: Any  # the phone's chromium (Playwright Browser)
    shots: Path
    overview_shot: str
    latency_ms: int  # added by chromium where the kernel cannot delay packets (no netem)


def shape(laptop: Namespace, phone: Namespace) -> int:
    """Shape the hotspot's link like a busy one, in both directions; the latency left to add.

    With the kernel's ``netem`` the veth carries 20 Mbit/s, 30 ms delay and 1% loss each
    way, and nothing is left to add (0). Kernels built without ``netem`` (this workplace's
    has ``tbf`` and ``htb`` only) get the rate from ``tbf`` and return the round trip of
    the delay (60 ms), for chromium to add to every request (CDP
    ``Network.emulateNetworkConditions``); no loss is emulated then.
    """
    assert TC is not None
    links = ((laptop, "wlan0"), (phone, "phone0"))
    for rules, added in ((NETEM, 0), (TBF, 2 * DELAY_MS)):
        done = [
            subprocess.run(
                namespace.argv(TC, "qdisc", "replace", "dev", device, "root", *rules),
                capture_output=True,
                text=True,
                check=False,
            )
            for namespace, device in links
        ]
        if not any(d.returncode for d in done):
            return added
    pytest.skip(f"tc can shape the link with neither netem nor tbf: {done[-1].stderr.strip()}")


def emulate_latency(page: Any, latency_ms: int) -> None:
    """Add ``latency_ms`` to every request of ``page`` at 20 Mbit/s each way (CDP)."""
    if not latency_ms:
        return
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    rate = RATE_MBIT * 1_000_000 / 8  # bytes per second
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": latency_ms,
            "downloadThroughput": rate,
            "uploadThroughput": rate,
        },
    )


def launch_in(playwright: Any, namespace: Namespace, folder: Path, **options: Any) -> Any:
    """Chromium running inside ``namespace`` (Playwright talks to it over a pipe)."""
    assert CHROMIUM, "chromium must be installed for the browser tests"
    wrapper = folder / f"chromium-in-{namespace.name}"
    wrapper.write_text(f'#!/bin/sh\nexec {" ".join(namespace.argv(CHROMIUM))} "$@"\n')
    wrapper.chmod(0o755)
    return playwright.chromium.launch(executable_path=str(wrapper), args=LAUNCH_ARGS, **options)


READ_QR = """img => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(img, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const rows = [];
  for (let y = 0; y < canvas.height; y++) {
    let row = "";
    for (let x = 0; x < canvas.width; x++) {
      row += pixels[(y * canvas.width + x) * 4] < 128 ? "#" : ".";
    }
    rows.push(row);
  }
  return rows;
}"""


def qr_modules(rows: list[str]) -> list[str]:
    """The dark and light modules of a QR code drawn as ``rows`` of pixels ('#' dark).

    The symbol's edge is found from its dark pixels, the module size from the top-left finder
    pattern (seven modules wide), and each module is read at its centre.
    """
    dark = [(x, y) for y, row in enumerate(rows) for x, c in enumerate(row) if c == "#"]
    assert dark, "the QR code has no dark pixel"
    left, top = min(x for x, _ in dark), min(y for _, y in dark)
    right = max(x for x, _ in dark)
    first = rows[top][left:]
    finder = len(first) - len(first.lstrip("#"))
    module = finder / 7
    count = round((right - left + 1) / module)
    return [
        "".join(
            rows[round(top + (j + 0.5) * module)][round(left + (i + 0.5) * module)]
            for i in range(count)
        )
        for j in range(count)
    ]


def encodings(url: str) -> dict[str, list[str]]:
    """``url`` as segno encodes it at each error correction level, as rows of modules."""
    found = {}
    for level in "lmqh":
        symbol = segno.make(url, error=level, micro=False, boost_error=False)
        found[level] = ["".join("#" if m else "." for m in row) for row in symbol.matrix]
    return found


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Iterator[Room]:
    """The meeting opened to phones by its facilitator in chromium; the phone's chromium."""
    if SHAPING_UNAVAILABLE:
        pytest.skip(SHAPING_UNAVAILABLE)
    from playwright.sync_api import sync_playwright

    root = tmp_path_factory.mktemp("phone")
    shots = root / "screenshots"
    shots.mkdir()
    folder, record_id = plan_meeting(root)
    add_user_to(folder)
    with opened(folder):
        question_ids = [q.id for q in workspace.questions_of(record_id)]
    with (
        hotspot() as (laptop, phone),
        served_in(laptop, folder) as url,
        sync_playwright() as playwright,
    ):
        latency = shape(laptop, phone)
        print(
            "\nthe hotspot's link: "
            + (
                " ".join(NETEM)
                if not latency
                else f"tbf {RATE_MBIT} Mbit/s each way, "
                f"chromium adds {latency} ms to each request (no netem in this kernel)"
            )
        )
        desk = launch_in(playwright, laptop, root)
        try:
            page = desk.new_page(viewport={"width": 1366, "height": 900})
            page.goto(url + "/login")
            page.fill("#username", "amira")
            page.fill("#password", PASSWORD)
            page.locator("main form button[type=submit]").click()
            page.wait_for_url(url + "/")
            page.goto(url + "/consultations")
            page.get_by_role("link", name=TITLE["ar"]).first.click()
            page.get_by_role("button", name="Open for participants' input").click()
            page.get_by_role("button", name="Let phones join over Wi-Fi").click()
            join = page.locator(".phone-join")
            phone_url = join.locator("strong").inner_text().strip()
            rows = join.locator("img").evaluate(READ_QR)
            overview_shot = str(shots / "facilitator-overview.png")
            page.screenshot(path=overview_shot, full_page=True)
        finally:
            desk.close()
        modules = qr_modules(rows)
        matches = [level for level, m in encodings(phone_url).items() if m == modules]
        print(f"\nfacilitator's overview: {overview_shot}")
        # The phone's chromium keeps the back/forward cache a phone has (Playwright turns it
        # off by default): Back after sending must not bring the answers back from it.
        browser = launch_in(
            playwright, phone, root, ignore_default_args=["--disable-back-forward-cache"]
        )
        try:
            yield Room(
                folder,
                phone_url,
                matches,
                len(modules),
                question_ids,
                browser,
                shots,
                overview_shot,
                latency,
            )
        finally:
            browser.close()


@needs_shaping
def test_the_qr_code_is_the_address_shown(room):
    """The facilitator's overview shows the hotspot address and a QR code of exactly it."""
    assert room.phone_url.startswith("http://10.42.0.1:")
    assert "/p/" in room.phone_url
    assert room.qr_matches, f"the QR code ({room.qr_size} modules) is not {room.phone_url}"


# ---- the phone's walk --------------------------------------------------------------------


@dataclass
class Walk:
    """What one phone saw on its way to the receipt."""

    language: str
    javascript: bool
    shots: list[str] = field(default_factory=list)
    first_question_s: float = 0.0
    round_trip_ms: float = 0.0  # the quickest answer to a small static file
    problems: dict[str, list[str]] = field(default_factory=dict)


LAYOUT = """() => {
  const problems = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) {
    problems.push(`scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  }
  const targets = document.querySelectorAll(
    'a[href], button, [role=button], label.choice, label.rank input, textarea, ' +
    'input[type=text], select'
  );
  for (const target of targets) {
    const box = target.getBoundingClientRect();
    if (!box.width || target.closest("[hidden]")) continue;
    if (box.width < MIN || box.height < MIN) {
      const name = (target.innerText || target.getAttribute("name") || target.tagName).trim();
      problems.push(`touch target ${Math.round(box.width)}x${Math.round(box.height)}: ${name}`);
    }
    if (box.right > width + 1 || box.left < -1) {
      problems.push(`outside the screen: ${target.tagName} ${Math.round(box.left)}`);
    }
  }
  // The "required" star stays on the line of the question's last word, never alone below it.
  for (const star of document.querySelectorAll("legend abbr")) {
    const words = star.previousElementSibling.getClientRects();
    const last = words[words.length - 1];
    const mark = star.getBoundingClientRect();
    if (Math.abs((mark.top + mark.bottom) / 2 - (last.top + last.bottom) / 2) > 10) {
      problems.push("the required mark is alone on its line");
    }
  }
  return problems;
}""".replace("MIN", str(MIN_TARGET))

SHAPED_WIDTHS = """word => {
  const legend = document.querySelector("fieldset.sheet-question legend");
  const style = getComputedStyle(legend);
  const width = text => {
    const span = document.createElement("span");
    span.style.font = style.font;
    span.style.whiteSpace = "nowrap";
    span.textContent = text;
    legend.appendChild(span);
    const found = span.getBoundingClientRect().width;
    span.remove();
    return found;
  };
  // U+200C ZERO WIDTH NON-JOINER between the letters: each is drawn in its unjoined form.
  return {joined: width(word), apart: width(Array.from(word).join("\\u200c"))};
}"""


# How long the page waits for a small file of the laptop's (its icon, served at once): the
# link's round trip, whatever the server spends on pages. The quickest of three.
ROUND_TRIP = """async () => {
  const icon = document.querySelector("link[rel=icon], link[rel=stylesheet]").href;
  let quickest = Infinity;
  for (let n = 0; n < 3; n++) {
    const started = performance.now();
    await (await fetch(icon, {cache: "no-store"})).arrayBuffer();
    quickest = Math.min(quickest, performance.now() - started);
  }
  return quickest;
}"""


def page_kind(page: Any) -> str:
    """Which participant page is shown, from what is on it (not from its address)."""
    kinds = {
        "receipt": ".receipt",
        "question": "fieldset.sheet-question",
        "about": "input[name=age_band]",
        "review": "ol.review",
        "consent": "button[value=agree]",
        "start": ".kiosk-languages",
    }
    page.wait_for_selector(", ".join(kinds.values()))
    for kind, selector in kinds.items():
        if page.locator(selector).count():
            return kind
    raise AssertionError("unknown page")  # pragma: no cover -- wait_for_selector found one


def press(page: Any, target: Any) -> None:
    """Tap ``target`` and wait for the page it leads to."""
    with page.expect_navigation(wait_until="load", timeout=20_000):
        target.click()


def fonts_of(page: Any, selector: str) -> list[dict[str, Any]]:
    """The fonts chromium used to draw the first element matching ``selector`` (CDP)."""
    session = page.context.new_cdp_session(page)
    try:
        session.send("DOM.enable")
        session.send("CSS.enable")
        root = session.send("DOM.getDocument")["root"]["nodeId"]
        node = session.send("DOM.querySelector", {"nodeId": root, "selector": selector})
        return session.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
    finally:
        session.detach()


def answer(page: Any, language: str, question: dict[str, Any]) -> None:
    """Answer one question as a participant would, by touching its controls."""
    kind = question["type"]
    labels = {o["id"]: o["label"][language] for o in question.get("options", [])}
    if kind == "single_choice":
        page.locator("label.choice", has_text=labels["o2"]).click()
    elif kind == "multiple_choice":
        page.locator("label.choice", has_text=labels["o1"]).click()
        page.locator("label.choice", has_text=labels["o3"]).click()
    elif kind == "ranking":
        for option, rank in RANKS[language].items():
            page.locator("label.rank", has_text=labels[option]).locator("input").fill(rank)
    elif kind == "rating":
        page.locator(".rating label").nth(3).click()  # four of five
    elif kind == "yes_no":
        page.locator("label.choice", has_text=html.unescape(translated(language, "Yes"))).click()
    else:
        page.locator("textarea").fill(TEXT_ANSWER[language])


def chosen_labels(language: str) -> list[str]:
    """The option labels this participant chose, as the review page shows them."""
    by_type = {
        q["type"]: {o["id"]: o["label"][language] for o in q.get("options", [])} for q in QUESTIONS
    }
    chosen = [
        by_type["single_choice"]["o2"],
        by_type["multiple_choice"]["o1"],
        by_type["multiple_choice"]["o3"],
    ]
    return [label for label in chosen if len(label) >= 5]  # "Rê" is in other words too


def walk(room: Room, language: str, javascript: bool) -> Walk:
    """One participant from the address to the receipt, then Back; what they saw."""
    seen = Walk(language, javascript)
    direction = "rtl" if language == "ckb" else "ltr"
    page, hosts, errors = phone_page(room, javascript)
    context = page.context
    look = looker(room, page, seen, f"{language}-{'js' if javascript else 'nojs'}")

    try:
        started = time.perf_counter()
        response = page.goto(room.phone_url, wait_until="load")
        assert response is not None
        assert response.status == 200
        seen.round_trip_ms = page.evaluate(ROUND_TRIP)
        assert page_kind(page) == "start"
        assert page.locator(".kiosk-title").inner_text().count(TITLE[language]) == 1
        look("start")
        native = NATIVE[language]
        choice = page.get_by_role("button", name=native, exact=True).or_(
            page.get_by_role("link", name=native, exact=True)
        )
        press(page, choice)
        assert page_kind(page) == "consent"
        assert page.locator("html").get_attribute("lang").split("-")[0] == language
        assert page.locator("html").get_attribute("dir") == direction
        heading = html.unescape(translated(language, "Before you start"))
        assert page.locator("h1").inner_text() == heading
        look("consent")
        agree = html.unescape(translated(language, "I agree, start"))
        press(page, page.get_by_role("button", name=agree))

        for number, question in enumerate(QUESTIONS, 1):
            assert page_kind(page) == "question", number
            if number == 1:
                seen.first_question_s = time.perf_counter() - started
            assert page.locator("html").get_attribute("dir") == direction
            legend = page.locator("fieldset.sheet-question legend")
            assert legend.inner_text().rstrip(" \xa0*") == question["text"][language]
            progress = html.unescape(
                translated(language, "Question %(number)s of %(total)s", number=number, total=6)
            )
            assert page.locator(".progress-text").inner_text() == progress
            if number == 1:
                check_fonts(page, language)
            answer(page, language, question)
            look(f"q{number}-{question['type']}")
            press(
                page, page.get_by_role("button", name=html.unescape(translated(language, "Next")))
            )

        assert page_kind(page) == "about"
        page.locator("label.choice:has(input[name=age_band][value='30_44'])").click()
        page.locator("label.choice:has(input[name=group][value=idp])").click()
        look("about")
        press(page, page.get_by_role("button", name=html.unescape(translated(language, "Next"))))

        assert page_kind(page) == "review"
        shown = page.locator("main").inner_text()
        assert TEXT_ANSWER[language] in shown
        for label in chosen_labels(language):
            assert label in shown
        ranking = next(q for q in QUESTIONS if q["type"] == "ranking")
        labels = {o["id"]: o["label"][language] for o in ranking["options"]}
        ranked = page.locator("ol.ranked li").all_inner_texts()
        assert [text.strip() for text in ranked] == [labels[o] for o in RANKED[language]]
        assert "4 / 5" in shown
        look("review")
        send = html.unescape(translated(language, "Send my answers"))
        press(page, page.get_by_role("button", name=send))

        assert page_kind(page) == "receipt"
        assert page.locator("html").get_attribute("dir") == direction
        saved = html.unescape(translated(language, "Thank you. Your answers are saved."))
        assert page.locator("h1").inner_text() == saved
        receipt = page.content()
        for given in (TEXT_ANSWER[language], *chosen_labels(language)):
            assert given not in receipt
        look("receipt")

        # Back after sending: the start screen, never the answers.
        page.go_back(wait_until="commit")  # a page from the back/forward cache fires no load
        assert page_kind(page) == "start"
        after = page.content()
        for given in (TEXT_ANSWER[language], *chosen_labels(language)):
            assert given not in after
        look("back-after-sending")
    finally:
        context.close()
    assert_offline_and_quiet(room, hosts, errors)
    return seen


def phone_page(room: Room, javascript: bool = True) -> tuple[Any, set[str], list[str]]:
    """A new phone (360x740, touch, scale 2) on the hotspot: its page, the hosts it asks,
    and the errors its console shows."""
    context = room.phone.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=javascript,
    )
    page = context.new_page()
    hosts: set[str] = set()
    errors: list[str] = []
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.set_default_timeout(20_000)
    emulate_latency(page, room.latency_ms)
    return page, hosts, errors


def looker(room: Room, page: Any, seen: Walk, tag: str) -> Any:
    """``look(name)``: a screenshot of the page as it stands, and its layout problems."""
    step = 0

    def look(name: str) -> None:
        nonlocal step
        step += 1
        path = room.shots / f"{tag}-{step:02d}-{name}.png"
        # Transitions finished: a control just touched is shown in its final state.
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        seen.shots.append(str(path))
        found = page.evaluate(LAYOUT)
        if found:
            seen.problems[f"{step:02d}-{name}"] = found

    return look


def assert_offline_and_quiet(room: Room, hosts: set[str], errors: list[str]) -> None:
    """Every request went to the laptop's address; the console showed no error."""
    assert hosts == {urlsplit(room.phone_url).netloc}  # nothing from anywhere else
    assert errors == [], "\n".join(sorted(set(errors)))


def check_fonts(page: Any, language: str) -> None:
    """The project's font draws the question; Sorani's letters are joined, not isolated.

    The font covers Kurmanji's Latin letters too (ê, î, û, ş, ç): nothing of the question is
    left to whatever font the phone has.
    """
    fonts = fonts_of(page, "fieldset.sheet-question legend span")
    print(f"  fonts drawing the {language} question: {fonts}")
    assert [(f["familyName"], f["isCustomFont"]) for f in fonts] == [("Noto Sans Arabic", True)]
    if language == "ckb":
        assert page.evaluate("document.fonts.check('16px \"Noto Sans Arabic\"', 'ڕێ')")
        widths = page.evaluate(SHAPED_WIDTHS, SHAPING_WORD)
        print(f"  {SHAPING_WORD}: joined {widths['joined']:.1f} px, apart {widths['apart']:.1f} px")
        # Joined letters take their initial and medial forms, much narrower than isolated.
        assert widths["joined"] < 0.9 * widths["apart"], widths


def stored(room: Room, language: str, channel: str = "own_device") -> list[dict[str, Any]]:
    """The submissions this laptop stored in ``language`` from phones."""
    with sqlite3.connect(room.folder / "fieldapp.sqlite3") as connection:
        bodies = [json.loads(row[0]) for row in connection.execute("SELECT body FROM submission")]
    return [b for b in bodies if b["language"] == language and b["channel"] == channel]


def expected_answers(room: Room, language: str) -> dict[str, Any]:
    """What the walk answered, as a submission stores it."""
    by_type = {"single_choice": "o2", "multiple_choice": ["o1", "o3"], "rating": 4}
    by_type |= {"yes_no": True, "ranking": RANKED[language], "free_text": TEXT_ANSWER[language]}
    return {qid: by_type[q["type"]] for qid, q in zip(room.question_ids, QUESTIONS, strict=True)}


def report(seen: Walk) -> None:
    """Print what a walk measured and where its screenshots are."""
    print(f"\n{seen.language} (JavaScript {'on' if seen.javascript else 'off'}):")
    if seen.first_question_s:
        print(
            f"  first question shown {seen.first_question_s:.2f} s after opening the address;"
            f" a small file comes back in {seen.round_trip_ms:.0f} ms"
        )
    for path in seen.shots:
        print(f"  {path}")


@needs_shaping
@pytest.mark.parametrize("language", ["ckb", "ku"])
def test_a_phone_on_a_weak_hotspot_walks_to_the_receipt(room, language):
    """Address, language, consent, six kinds of question, about you, review, receipt, Back."""
    before = len(stored(room, language))
    seen = walk(room, language, javascript=True)
    report(seen)
    # The link is shaped: a request and its answer cross the 30 ms delay twice, even for a
    # static file the laptop answers in a millisecond.
    assert seen.round_trip_ms >= 55
    assert seen.problems == {}
    sent = stored(room, language)
    assert len(sent) == before + 1
    assert sent[-1]["answers"] == expected_answers(room, language)
    assert sent[-1]["demographics"] == {"age_band": "30_44", "group": "idp"}


@needs_shaping
def test_without_javascript_a_phone_reaches_the_receipt(room):
    """The same walk in Kurmanji with JavaScript off: every page works by its forms alone."""
    before = len(stored(room, "ku"))
    seen = walk(room, "ku", javascript=False)
    report(seen)
    assert seen.problems == {}
    sent = stored(room, "ku")
    assert len(sent) == before + 1
    assert sent[-1]["answers"] == expected_answers(room, "ku")


def rows(room: Room, table: str) -> int:
    """How many rows ``table`` of the laptop's database holds."""
    with sqlite3.connect(room.folder / "fieldapp.sqlite3") as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


@needs_shaping
def test_declining_on_a_phone_records_nothing(room):
    """Sorani: "No, thank you" thanks the participant, keeps nothing, and leads to the start."""
    before = (rows(room, "submission"), rows(room, "participant_draft"))
    seen = Walk("ckb", javascript=True)
    page, hosts, errors = phone_page(room)
    look = looker(room, page, seen, "ckb-decline")
    try:
        page.goto(room.phone_url)
        press(page, page.get_by_role("button", name=NATIVE["ckb"], exact=True))
        assert page_kind(page) == "consent"
        decline = html.unescape(translated("ckb", "No, thank you"))
        press(page, page.get_by_role("button", name=decline))
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert page.locator("h1").inner_text() == html.unescape(translated("ckb", "Thank you"))
        nothing = translated(
            "ckb", "Nothing was recorded. Please hand the device to the next person."
        )
        assert html.unescape(nothing) in page.locator("main").inner_text()
        look("declined")
        press(
            page,
            page.get_by_role("button", name=html.unescape(translated("ckb", "Back to the start"))),
        )
        assert page_kind(page) == "start"
    finally:
        page.context.close()
    report(seen)
    assert seen.problems == {}
    assert_offline_and_quiet(room, hosts, errors)
    assert (rows(room, "submission"), rows(room, "participant_draft")) == before
