#!/usr/bin/env python3
"""Contributions benchmark: the review pages on a head office with 200,000 merged submissions.

Builds 20 laptops' bundles with ``bench.merge.build`` (10,000 demo submissions each, four
answers per submission: about 800,000 contributions), merges them into a head office, codes
and reviews a share of them through ``records.save_many`` (as bulk review does), then asks the
app in-process (Flask test client, signed in as an analyst) for

- ``first_page``: the first Contributions page, ``/contributions``;
- ``filtered_page``: a page with three filters (governorate, answer language, channel) and a
  search word;
- ``contribution_page``: a contribution's own page, ``/contributions/<submission>/<question>``
  (a different contribution each time), and ``contribution_page_filtered``: the same with
  the filters of ``filtered_page`` carried (its previous/next are within them);

50 requests each, and prints the median and p95 in milliseconds as one JSON object
``{"sqlite": {PAGE: {"p50_ms": .., "p95_ms": ..}, ...}, "postgresql": {...}}``. The same is
measured on the query service alone (``service_*``: what the page calls, without rendering),
which is all there is to measure while the pages do not answer 200. PostgreSQL gets a fresh
database on 127.0.0.1:5432 (user postgres, trust), dropped after; it is skipped with the
reason when no server answers.

    python bench/contributions.py                          # the full 200,000
    python bench/contributions.py --laptops 4 --per-laptop 2000   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PASSWORD = "olive grove at dawn"  # noqa: S105 -- a throwaway account in a temporary folder
SEARCH_WORD = "مدرسة"  # in one of the Arabic demo comments


def percentiles(samples: list[float]) -> dict[str, float]:
    """Median and 95th percentile of ``samples`` (seconds) in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p95_ms": round(p95 * 1000, 1)}


def timed(call: Callable[[int], Any], requests: int) -> dict[str, float]:
    """Time ``requests`` calls of ``call(number)`` after two warm-up calls."""
    call(0)
    call(1)
    samples = []
    for number in range(requests):
        started = time.perf_counter()
        call(number)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def _review_and_code(share: int = 50) -> dict[str, int]:
    """Code and review one typed contribution in ``share`` (bulk records, as the pages do)."""
    from sqlalchemy import select

    from fieldapp.extensions import db
    from fieldapp.models import Contribution
    from fieldapp.services import records
    from fieldapp.services.sync import schema

    codes = []
    for name, colour in (("Services", "#aa3300"), ("Security", "#0033aa")):
        code_id, _rev = records.create(
            "code",
            {"name": {"en": name}, "original_language": "en", "colour": colour, "status": "active"},
        )
        codes.append(code_id)
    typed = db.session.execute(
        select(Contribution.submission_uuid, Contribution.question_id, Contribution.consultation_id)
        .where(Contribution.text.is_not(None))
        .order_by(Contribution.key)
    ).all()
    chosen = typed[::share]
    reviews, codings = {}, {}
    for number, (submission, question, consultation) in enumerate(chosen):
        subject = {"submission": submission, "question": question, "consultation": consultation}
        state = ("approved", "has_issues", "excluded")[number % 3]
        body = {**subject, "state": state}
        if state == "excluded":
            body["reason"] = "duplicate"
        reviews[schema.contribution_record_id("review", submission, question)] = body
        codings[schema.contribution_record_id("coding", submission, question)] = {
            **subject,
            "codes": codes[: 1 + number % 2],
        }
    records.save_many("review", reviews)
    records.save_many("coding", codings)
    return {"reviews": len(reviews), "codings": len(codings)}


def prepare(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Add an analyst, reviews and codings; pick the filters and contributions to ask for."""
    from sqlalchemy import func, select

    from fieldapp.extensions import db
    from fieldapp.models import Contribution, Role
    from fieldapp.services import accounts, contribution_query
    from tests.sync_world import opened

    with opened(folder, **config):
        accounts.create_user(
            "analyst",
            PASSWORD,
            Role.ANALYST,
            accounts.PasswordPolicy(hash_method="scrypt:1024:8:1"),
            display_name="Analyst",
        )
        made = _review_and_code()
        rows = db.session.execute(select(func.count()).select_from(Contribution)).scalar_one()
        governorates = db.session.execute(
            select(Contribution.governorate, func.count())
            .group_by(Contribution.governorate)
            .order_by(func.count().desc())
        ).all()
        rng = random.Random(5)  # noqa: S311 -- which contributions to open, reproducibly
        keys = contribution_query.matching_keys(contribution_query.Filters())
        sample = [contribution_query.get(k) for k in rng.sample(keys, min(len(keys), 60))]
    filters = {
        "governorate": governorates[0][0],
        "language": "ar",
        "channel": "kiosk",
        "q": SEARCH_WORD,
    }
    return {
        "rows": int(rows),
        **made,
        "filters": filters,
        "answers": [(r.submission_uuid, r.question_id) for r in sample if r],
    }


def measure(folder: Path, config: dict[str, Any], plan: dict[str, Any], requests: int) -> dict:
    """Time the pages (when they answer) and the service calls behind them."""
    from werkzeug.datastructures import MultiDict

    from fieldapp.services import contribution_query as cq
    from tests.sync_world import opened, site

    figures: dict[str, Any] = {}
    answers = plan["answers"]
    filtered_args = MultiDict(list(plan["filters"].items()))
    with opened(folder, **config):
        filtered, problems = cq.parse_filters(filtered_args)
        assert not problems, problems
        everything = cq.Filters()

        def service_list(filters: cq.Filters) -> Callable[[int], Any]:
            def call(_number: int) -> Any:
                result = cq.page(filters)
                cq.count(filters)
                cq.choices()
                return result

            return call

        def service_contribution(number: int) -> Any:
            submission, question = answers[number % len(answers)]
            row = cq.by_answer(submission, question)
            cq.neighbours(everything, row.key)
            cq.duplicates_of(row)
            cq.choices()
            return row

        figures["service_first_page"] = timed(service_list(everything), requests)
        figures["service_filtered_page"] = timed(service_list(filtered), requests)
        figures["service_contribution_page"] = timed(service_contribution, requests)

        def service_contribution_filtered(number: int) -> Any:
            submission, question = answers[number % len(answers)]
            row = cq.by_answer(submission, question)
            return cq.neighbours(filtered, row.key)

        figures["service_neighbours_filtered"] = timed(service_contribution_filtered, requests)
        matched = cq.count(filtered)
        figures["filtered_matches"] = {"count": matched[0], "capped": matched[1]}
        # a second, harder mix: a code, a review state and a date range, plus a word
        harder = cq.Filters(
            states=("approved", "has_issues"),
            codes=tuple(c.id for c in cq.choices().codes[:1]),
            date_from="2026-02-01",
            text="school",
        )
        figures["service_code_state_date_word"] = timed(service_list(harder), requests)
    with site(folder, **config, WTF_CSRF_ENABLED=False) as app:
        client = app.test_client()
        signed = client.post("/login", data={"username": "analyst", "password": PASSWORD})
        if signed.status_code != 302:
            figures["pages"] = f"signing in answered {signed.status_code}"
            return figures
        probe = client.get("/contributions")
        if probe.status_code != 200:
            figures["pages"] = f"/contributions answered {probe.status_code}: not measured"
            return figures
        query = "&".join(f"{k}={v}" for k, v in plan["filters"].items())

        def get(url: str) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        figures["first_page"] = timed(lambda _n: get("/contributions"), requests)
        figures["filtered_page"] = timed(lambda _n: get(f"/contributions?{query}"), requests)
        figures["contribution_page"] = timed(
            lambda n: get("/contributions/{}/{}".format(*answers[n % len(answers)])), requests
        )
        # the same page reached from the filtered list: previous/next within that filter
        figures["contribution_page_filtered"] = timed(
            lambda n: get("/contributions/{}/{}?{}".format(*answers[n % len(answers)], query)),
            requests,
        )
    return figures


def build_sqlite(root: Path, laptops: int, per_laptop: int) -> tuple[Path, float]:
    """The head office of bench/merge.py's files, merged; returns its folder and merge time."""
    from bench.merge import build
    from fieldapp.services.sync.merge import merge_files
    from tests.sync_world import opened

    ho, bundles, _export = build(root, laptops, per_laptop)
    with opened(ho):
        started = time.perf_counter()
        out = merge_files(bundles, ho)
        seconds = time.perf_counter() - started
        assert all(s.ok for s in out), [s.error for s in out]
    return ho, seconds


def build_postgresql(root: Path, pg_root: Path, laptops: int, url: str) -> tuple[Path, float]:
    """A head office on PostgreSQL merging the same laptops' data (exported again for its key)."""
    from fieldapp.models import DeviceRole
    from fieldapp.services.sync import keys
    from fieldapp.services.sync.export import export_bundle
    from fieldapp.services.sync.merge import merge_files
    from tests.sync_world import Installation, opened

    ho = Installation(
        root / "ho-pg", DeviceRole.HEADOFFICE, "Head office PG", SQLALCHEMY_DATABASE_URI=url
    )
    files = pg_root / "files-pg"
    files.mkdir()
    bundles, laptop_keys = [], []
    for number in range(laptops):
        folder = root / f"l{number}"
        with opened(folder):
            keys.initialise(folder, DeviceRole.FIELD, f"Laptop {number}", [ho.public])
            laptop_keys.append(keys.public_key_info(keys.self_device()))
            bundles.append(Path(export_bundle(folder, files).path))
    with ho.session():
        for info in laptop_keys:
            keys.register(info)
        started = time.perf_counter()
        out = merge_files(bundles, ho.folder)
        seconds = time.perf_counter() - started
        assert all(s.ok for s in out), [s.error for s in out]
    return ho.folder, seconds


def _postgres_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg (3) is not installed"
    try:
        psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3
        ).close()
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL server on 127.0.0.1:5432 ({str(exc).strip()})"
    return None


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname="test", autocommit=True
    ) as conn:
        conn.execute(statement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laptops", type=int, default=20)
    parser.add_argument("--per-laptop", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    parser.add_argument(
        "--workdir", type=Path, help="keep the SQLite head office here and reuse it next time"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {
        "submissions": args.laptops * args.per_laptop,
        "sqlite": {},
        "postgresql": {},
    }
    with contextlib.ExitStack() as stack:
        if args.workdir:
            root = args.workdir
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        saved = root / "plan.json"
        started = time.perf_counter()
        reused = saved.exists()
        if reused:  # --workdir of an earlier run: the same head office again
            plan = json.loads(saved.read_text(encoding="utf-8"))
            ho, merge_seconds = root / "ho", plan["merge_seconds"]
        else:
            ho, merge_seconds = build_sqlite(root, args.laptops, args.per_laptop)
            plan = {**prepare(ho, {}), "merge_seconds": merge_seconds}
            if args.workdir:
                saved.write_text(json.dumps(plan), encoding="utf-8")
        result["setup_seconds"] = round(time.perf_counter() - started, 1)
        result["contributions"] = plan["rows"]
        result["filters"] = plan["filters"]
        # the in-process merge of the build (on reuse: the figure of the run that built it)
        result["sqlite"] = {"merge_seconds": round(merge_seconds, 1), "reused": reused}
        result["sqlite"].update(measure(ho, {}, plan, args.requests))
        reason = "not asked (--no-postgresql)" if args.no_postgresql else _postgres_reason()
        if reason:
            result["postgresql"] = {"skipped": reason}
        else:
            database = "fieldapp_bench_" + secrets.token_hex(4)
            _admin(f"CREATE DATABASE {database}")
            pg_root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            try:
                url = f"{PG_SERVER}/{database}"
                pg_ho, pg_merge = build_postgresql(root, pg_root, args.laptops, url)
                config = {"SQLALCHEMY_DATABASE_URI": url}
                pg_plan = prepare(pg_ho, config)
                pg_plan["filters"] = plan["filters"]
                result["postgresql"] = {"merge_seconds": round(pg_merge, 1)}
                result["postgresql"].update(measure(pg_ho, config, pg_plan, args.requests))
            finally:
                _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    result["target"] = "p95 < 300 ms for each page on SQLite"
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
