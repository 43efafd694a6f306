#!/usr/bin/env python3
"""Lighthouse (mobile) on the participants' pages: the start page and the question page.

fieldapp is started as a facilitator starts it (run.py, waitress, loopback) on a laptop with a
consultation in Arabic, Sorani and Kurmanji whose sheet has one question of every kind. A
participant's visit is made in chromium by clicking what the pages show (the address, a
language, "I agree"), as a phone would; its cookie is then given to Lighthouse with
``--extra-headers``, so Lighthouse loads the question page that participant sees.

Lighthouse runs with its defaults for mobile (emulated phone, simulated slow 4G and a 4x
slower CPU) in Debian's chromium (``CHROME_PATH=/usr/bin/chromium``, ``--headless=new
--no-sandbox``). It is pinned (``lighthouse@12.2.3``, which runs on Node 20) and installed on
first use with ``npm i -E`` into ``~/.cache/fieldapp-lighthouse`` (or
``$FIELDAPP_LIGHTHOUSE_DIR``), outside the repository; nothing of it ships with fieldapp.

Prints one JSON object: for each page the four category scores (performance, accessibility,
best practices, SEO), the audits that did not pass (id, title, score, value) and whether the
targets are met (performance >= 0.95, accessibility 1, best practices 1). SEO is printed but
has no target: the participant pages say ``noindex`` on purpose.

    python bench/lighthouse.py [--every-page LANGUAGE] [--reports DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE_VERSION = "12.2.3"
LIGHTHOUSE_DIR = Path(
    os.environ.get("FIELDAPP_LIGHTHOUSE_DIR") or Path.home() / ".cache" / "fieldapp-lighthouse"
)
CHROMIUM = os.environ.get("CHROME_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGETS = {"performance": 0.95, "accessibility": 1.0, "best-practices": 1.0}
LANGUAGES = ("ar", "ckb", "ku")
NATIVE = {"ar": "العربية", "ckb": "کوردی (سۆرانی)", "ku": "Kurdî (Kurmancî)"}

# ---- the meeting: one question of every kind, written in Arabic, Sorani and Kurmanji -------

TITLE = {
    "ar": "مشاورة حول الخدمات",
    "ckb": "ڕاوێژ دەربارەی خزمەتگوزاری",
    "ku": "Şêwirîn li ser xizmetguzariyê",
}
CONSENT = {
    "ar": "مشاركتك طوعية.",
    "ckb": "بەشداریت خۆبەخشانەیە.",
    "ku": "Beşdariya we bi dilxwazî ye.",
}
GROUPS = [
    {"id": "idp", "label": {"ar": "النازحون", "ckb": "ئاوارەکان", "ku": "Koçber"}},
    {"id": "returnee", "label": {"ar": "العائدون", "ckb": "گەڕاوەکان", "ku": "Vegeriyayî"}},
]


def _options(*labels: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [
        {"id": f"o{n}", "label": dict(zip(LANGUAGES, label, strict=True))}
        for n, label in enumerate(labels, 1)
    ]


def _text(ar: str, ckb: str, ku: str) -> dict[str, str]:
    return {"ar": ar, "ckb": ckb, "ku": ku}


QUESTIONS: list[dict[str, Any]] = [
    {
        "type": "single_choice",
        "required": True,
        "text": _text(
            "أيّ خدمة هي الأهم لعائلتك؟",
            "کام خزمەتگوزاری بۆ خێزانەکەت گرنگترە؟",
            "Kîjan xizmet ji bo malbata we girîngtir e?",
        ),
        "options": _options(
            ("الماء", "ئاو", "Av"),
            ("الكهرباء", "کارەبا", "Elektrîk"),
            ("المدارس", "قوتابخانە", "Dibistan"),
        ),
    },
    {
        "type": "multiple_choice",
        "text": _text(
            "ما المشكلات التي تؤثر في حيّك؟",
            "چ کێشەیەک کاریگەری لەسەر گەڕەکەکەت هەیە؟",
            "Kîjan pirsgirêk bandorê li taxa we dikin?",
        ),
        "options": _options(
            ("الطرق", "ڕێگاوبان", "Rê"),
            ("البطالة", "بێکاری", "Bêkarî"),
            ("الرعاية الصحية", "چاودێری تەندروستی", "Lênêrîna tenduristiyê"),
        ),
    },
    {
        "type": "ranking",
        "text": _text("رتّب الأولويات", "ئەولەویەتەکان ڕیز بکە", "Pêşîniyan rêz bikin"),
        "options": _options(
            ("الطرق", "ڕێگاوبان", "Rê"),
            ("الصحة", "تەندروستی", "Tenduristî"),
            ("فرص العمل", "هەلی کار", "Kar"),
        ),
    },
    {
        "type": "rating",
        "text": _text(
            "كيف تقيّم الخدمات؟",
            "خزمەتگوزارییەکان چۆن هەڵدەسەنگێنیت؟",
            "Hûn xizmetguzariyan çawa dinirxînin?",
        ),
    },
    {
        "type": "yes_no",
        "text": _text(
            "هل ستحضر الاجتماع القادم؟",
            "دێیت بۆ کۆبوونەوەی داهاتوو؟",
            "Hûn ê werin civîna bê?",
        ),
    },
    {
        "type": "free_text",
        "text": _text("ماذا تقترح؟", "پێشنیارت چییە؟", "Pêşniyara we çi ye?"),
    },
]


def plan_meeting(root: Path) -> tuple[Path, str]:
    """A field laptop under ``root`` with the meeting planned (input not open yet).

    Returns the laptop's instance folder and the consultation's record id.
    """
    from fieldapp.models import DeviceRole
    from fieldapp.services import workspace
    from tests.sync_world import Installation

    head_office = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Duhok laptop 3", (head_office,))
    with laptop.session():
        record_id = workspace.save_consultation(
            {
                "kind": "consultation_gathering",
                "original_language": "ar",
                "status": "open",
                "title": TITLE,
                "governorate": "IQ-DA",
                "languages": list(LANGUAGES),
                "consent_text": CONSENT,
                "groups": GROUPS,
            }
        )
        for question in QUESTIONS:
            workspace.add_question(record_id, {**question, "original_language": "ar"})
    return laptop.folder, record_id


# ---- Lighthouse ------------------------------------------------------------------------------


def lighthouse_command() -> list[str]:
    """The pinned Lighthouse CLI, installed with npm on first use."""
    installed = LIGHTHOUSE_DIR / "node_modules" / "lighthouse" / "package.json"
    version = json.loads(installed.read_text())["version"] if installed.exists() else None
    if version != LIGHTHOUSE_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("Lighthouse needs Node.js and npm (apt-get install nodejs npm)")
        LIGHTHOUSE_DIR.mkdir(parents=True, exist_ok=True)
        package = LIGHTHOUSE_DIR / "package.json"
        if not package.exists():
            package.write_text('{"name": "fieldapp-lighthouse", "private": true}\n')
        print(f"installing lighthouse@{LIGHTHOUSE_VERSION} in {LIGHTHOUSE_DIR}", file=sys.stderr)
        subprocess.run(
            [npm, "i", "-E", "--no-audit", "--no-fund", f"lighthouse@{LIGHTHOUSE_VERSION}"],
            cwd=LIGHTHOUSE_DIR,
            check=True,
            stdout=sys.stderr,
        )
    node = shutil.which("node") or "node"
    return [node, str(LIGHTHOUSE_DIR / "node_modules" / "lighthouse" / "cli" / "index.js")]


def failing(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The audits of the measured categories that did not pass, worst first."""
    ids = {ref["id"] for c in report["categories"].values() for ref in c["auditRefs"]}
    found = []
    for audit in report["audits"].values():
        score = audit.get("score")
        mode = audit.get("scoreDisplayMode")
        if audit["id"] not in ids or score is None or mode in ("informative", "manual"):
            continue
        if score < 1:
            entry = {"id": audit["id"], "title": audit["title"], "score": score}
            if audit.get("displayValue"):
                entry["value"] = audit["displayValue"]
            found.append(entry)
    return sorted(found, key=lambda a: (a["score"], a["id"]))


def lighthouse(command: list[str], url: str, cookie: str) -> dict[str, Any] | str:
    """One Lighthouse run on ``url``: its report, or why there is none."""
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "report.json"
        arguments = [
            *command,
            url,
            "--output=json",
            f"--output-path={output}",
            "--only-categories=" + ",".join(CATEGORIES),
            "--chrome-flags=--headless=new --no-sandbox",
            "--quiet",
        ]
        if cookie:
            arguments.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
        done = subprocess.run(
            arguments,
            env={**os.environ, "CHROME_PATH": CHROMIUM},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode or not output.exists():
            return (done.stderr or done.stdout)[-2000:]
        report: dict[str, Any] = json.loads(output.read_text())
    return report


def audit(command: list[str], url: str, cookie: str, keep: Path | None, name: str) -> dict:
    """Lighthouse on ``url`` with the participant's ``cookie``; the summary.

    A run that ends in one of Lighthouse's own runtime errors (``NO_NAVSTART`` now and then
    on this busy 2-core machine: the trace missed the page load) is made again, twice at most.
    """
    for _attempt in range(3):
        report = lighthouse(command, url, cookie)
        if isinstance(report, str):
            return {"url": url, "error": report}
        if not report.get("runtimeError"):
            break
    if report.get("runtimeError"):
        return {"url": url, "error": report["runtimeError"].get("message", "runtime error")}
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{name}.json").write_text(json.dumps(report))
    if report.get("finalDisplayedUrl", url) != url:  # the draft was gone: not the page meant
        return {"url": url, "error": f"redirected to {report['finalDisplayedUrl']}"}
    scores = {key: report["categories"][key]["score"] for key in CATEGORIES}
    metrics = {
        key: report["audits"][key].get("displayValue")
        for key in (
            "first-contentful-paint",
            "largest-contentful-paint",
            "total-blocking-time",
            "cumulative-layout-shift",
            "speed-index",
        )
        if key in report["audits"]
    }
    transfer = report["audits"].get("total-byte-weight", {}).get("numericValue")
    return {
        "url": url,
        "scores": scores,
        "met": all((scores[key] or 0) >= target for key, target in TARGETS.items()),
        "metrics": metrics,
        "transfer_kb": round(transfer / 1024, 1) if transfer is not None else None,
        "failing": failing(report),
    }


# ---- a participant's visit in chromium, by clicking ----------------------------------------


def _cookie(page: Any) -> str:
    """The Cookie header the page's next request would carry."""
    return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies(page.url))


def _press(page: Any, target: Any) -> None:
    """Tap ``target`` and wait for the page it leads to."""
    with page.expect_navigation(wait_until="load"):
        target.click()


def _choose(page: Any, language: str) -> None:
    """Choose ``language`` on the start page (a button, or a link)."""
    native = NATIVE[language]
    _press(
        page,
        page.get_by_role("button", name=native, exact=True).or_(
            page.get_by_role("link", name=native, exact=True)
        ),
    )


def _answer_something(page: Any) -> None:
    """Give the question shown some answer (the first choice, a rank, a word)."""
    if page.locator("label.choice").count():
        page.locator("label.choice").first.click()
    elif page.locator("label.rank input").count():
        page.locator("label.rank input").first.fill("1")
    elif page.locator("textarea").count():
        page.locator("textarea").fill("...")


def participant_pages(
    address: str, every_page: str | None, visit: Callable[[str, str, str], None]
) -> None:
    """Reach the pages to audit by clicking; ``visit(name, url, cookie header)`` each one.

    The start page, then for each language a fresh participant: choose the language, agree,
    and the first question page with that participant's cookie. With ``every_page`` (a
    language), that participant also walks every page to the receipt (consent, each
    question, about you, review, receipt), and another one declines (the "thank you, nothing
    was recorded" page). Each page is visited while the participant is on it, before the
    next click changes or ends their draft.
    """
    from playwright.sync_api import sync_playwright

    visit("start", address, "")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for language in LANGUAGES:
                context = browser.new_context(
                    viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
                )
                page = context.new_page()
                page.goto(address)
                _choose(page, language)
                walking = every_page == language
                if walking:
                    visit(f"consent-{language}", page.url, _cookie(page))
                _press(page, page.locator("button[value=agree]"))
                number = 1
                while page.locator("fieldset.sheet-question").count():
                    visit(f"question-{language}-{number}", page.url, _cookie(page))
                    if not walking:
                        break
                    _answer_something(page)
                    _press(page, page.locator("button[value=next]"))
                    number += 1
                if walking:
                    visit(f"about-{language}", page.url, _cookie(page))
                    _press(page, page.locator("button[value=next]"))
                    visit(f"review-{language}", page.url, _cookie(page))
                    _press(page, page.locator("main form button[type=submit]"))
                    visit(f"receipt-{language}", page.url, _cookie(page))
                    page.goto(address)
                    _choose(page, language)
                    _press(page, page.locator("button[value=decline]"))
                    visit(f"declined-{language}", page.url, _cookie(page))
                context.close()
        finally:
            browser.close()


def main() -> None:
    """Plan the meeting, start fieldapp, visit as participants, run Lighthouse, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--every-page",
        choices=LANGUAGES,
        help="also audit every page of one participant in this language, to the receipt",
    )
    parser.add_argument("--reports", type=Path, help="keep Lighthouse's full JSON reports here")
    options = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from fieldapp.services import intake
    from tests.serving import Server
    from tests.sync_world import opened

    command = lighthouse_command()
    with tempfile.TemporaryDirectory() as scratch:
        folder, record_id = plan_meeting(Path(scratch))
        with opened(folder):
            code = intake.open_intake(record_id)
        server = Server(folder)
        server.start()
        results: dict[str, dict[str, Any]] = {}

        def visit(name: str, url: str, cookie: str) -> None:
            results[name] = audit(command, url, cookie, options.reports, name)

        try:
            participant_pages(f"{server.url}/p/{code}", options.every_page, visit)
        finally:
            server.stop()
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        json.dumps(
            {
                "lighthouse": LIGHTHOUSE_VERSION,
                "chromium": chromium,
                "form_factor": "mobile (Lighthouse's default emulation and simulated throttling)",
                "targets": TARGETS,
                "all_met": all(r.get("met") for r in results.values()),
                "pages": results,
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
