#!/usr/bin/env python3
"""Analysis benchmark: the dashboard and the row-level exports on 200,000 merged submissions.

Builds a head office like ``bench/contributions.py`` (``bench.merge.build``'s laptops, merged;
a share of the contributions reviewed and coded through ``records.save_many``), keeps it in a
folder so that the next run starts at once, then measures

- ``dashboard.build`` for all data and for one governorate, in-process (app context), median
  and p95 of ``--runs`` calls after a warm-up;
- ``exports.write`` of all data as CSV and as XLSX to a file, each in a fresh child process:
  seconds, rows (submissions) per second, the child's RSS before the export and its peak;
- in the same run the baseline: Python's ``csv.writer`` writing the same rows (one per
  submission, the columns a raw ``SELECT ... FROM contribution ORDER BY key`` gives, pivoted
  with plain Python from the DB-API cursor), also in a fresh child.

The same on PostgreSQL (127.0.0.1:5432, user postgres, trust; a database of its own, kept for
the next run like the SQLite folder) beside SQLite, skipped with the reason when no server
answers. Prints a table and the ratios to the targets (dashboard p95 < 1 s, CSV rows/s >= 0.5
of the baseline's, XLSX peak < 250 MB); exits 0.

    python bench/analysis.py                        # 200,000 submissions
    python bench/analysis.py --submissions 20000 --runs 5 --skip-postgres   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
CACHE = Path(tempfile.gettempdir()) / "fieldapp-bench-analysis"
TARGETS = {"dashboard_p95_s": 1.0, "csv_ratio": 0.5, "xlsx_peak_mb": 250.0}

# Runs in a fresh process: the app opened on the folder, RSS noted, then one export (or the
# baseline) to a file; prints one JSON line with the seconds, rows and memory.
CHILD = r"""
import csv, json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
folder, what, out_path = Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
config = json.loads(sys.argv[5])

def vm(name):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0

from fieldapp import create_app
from fieldapp.extensions import db
app = create_app(config or None, instance_path=folder)
with app.app_context():
    db.session.execute(db.text("SELECT 1"))
    before = vm("VmRSS")
    started = time.perf_counter()
    columns = 0
    if what == "baseline":
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            # As wide as the export: a question takes the columns the export gives it (free
            # text 3; multiple choice 1 + one per option; ranking one per option; else 1),
            # so both write the same rows; the raw value goes in its first column.
            cursor.execute("SELECT DISTINCT question_id FROM contribution ORDER BY question_id")
            questions = [r[0] for r in cursor.fetchall()]
            cursor.execute("SELECT record_id, body FROM record_head WHERE kind = 'question'")
            bodies = {rid: json.loads(body) for rid, body in cursor.fetchall()}
            def width(q):
                body = bodies.get(q, {})
                options = len(body.get("options") or [])
                return {"free_text": 3, "multiple_choice": 1 + options, "ranking": options}.get(
                    body.get("type"), 1) or 1
            position, names = {}, []
            for q in questions:
                position[q] = len(names)
                names.extend([q] * width(q))
            fixed = ["submission", "consultation", "programme", "governorate", "district",
                     "kind", "held_on", "created_at", "language", "channel", "gender",
                     "age_band", "group", "state", "codes"]
            cursor.execute(
                "SELECT submission_uuid, consultation_id, programme, governorate, district, "
                "consultation_kind, held_on, created_at, language, channel, gender, age_band, "
                "grp, state, codes, question_id, text, value FROM contribution ORDER BY key"
            )
            rows = 0
            with out_path.open("w", encoding="utf-8-sig", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(fixed + names)
                columns = len(fixed) + len(names)
                current, record, states, codes = None, None, set(), set()
                while True:
                    batch = cursor.fetchmany(5000)
                    if not batch:
                        break
                    for r in batch:
                        if r[0] != current:
                            if record is not None:
                                record[13] = " ".join(sorted(states))
                                record[14] = " ".join(sorted(codes))
                                writer.writerow(record)
                                rows += 1
                            current = r[0]
                            record = list(r[:15]) + [""] * len(names)
                            states, codes = set(), set()
                        states.add(r[13])
                        if r[14]:
                            codes.update(r[14].split())
                        record[15 + position[r[15]]] = r[16] if r[16] is not None else r[17]
                if record is not None:
                    record[13] = " ".join(sorted(states))
                    record[14] = " ".join(sorted(codes))
                    writer.writerow(record)
                    rows += 1
        finally:
            raw.close()
    else:
        from fieldapp.services.analysis import exports
        from fieldapp.services.contribution_query import Filters
        request = exports.ExportRequest(filters=Filters(), format=what, lang="en")
        with out_path.open("wb") as handle:
            done = exports.write(request, handle)
        rows = done.rows
    seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a child started by a large
# parent (this benchmark after building 200,000 submissions) would report the parent's peak.
peak = vm("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rows": rows, "rss_before_mb": before,
                  "peak_mb": peak, "bytes": out_path.stat().st_size,
                  "columns": columns}))
"""


def percentiles(samples: list[float]) -> dict[str, float]:
    """Median and 95th percentile of ``samples`` (seconds), in seconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_s": round(statistics.median(ordered), 3), "p95_s": round(p95, 3)}


def timed(call: Callable[[], Any], runs: int) -> dict[str, float]:
    """Time ``runs`` calls of ``call`` after one warm-up call."""
    call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def split(submissions: int) -> tuple[int, int]:
    """Laptops and submissions per laptop for ``submissions`` in all (20 x 10,000 for 200k)."""
    laptops = 20 if submissions >= 20_000 else max(1, submissions // 1_000)
    return laptops, submissions // laptops


def build_sqlite(root: Path, submissions: int) -> dict[str, Any]:
    """The merged, reviewed and coded head office in ``root / "ho"`` (reused when built)."""
    from bench.contributions import _review_and_code
    from bench.contributions import build_sqlite as merged
    from tests.sync_world import opened

    marker = root / "sqlite.json"
    if marker.exists():
        return {**json.loads(marker.read_text(encoding="utf-8")), "reused": True}
    if root.exists():
        shutil.rmtree(root)  # a build that did not finish
    root.mkdir(parents=True)
    laptops, per_laptop = split(submissions)
    started = time.perf_counter()
    ho, merge_seconds = merged(root, laptops, per_laptop)
    with opened(ho):
        made = _review_and_code()
    info = {
        "laptops": laptops,
        "per_laptop": per_laptop,
        "merge_seconds": round(merge_seconds, 1),
        "build_seconds": round(time.perf_counter() - started, 1),
        **made,
    }
    marker.write_text(json.dumps(info), encoding="utf-8")
    return {**info, "reused": False}


def _postgres_reason() -> str | None:
    from bench.contributions import _postgres_reason as reason

    return reason()


def build_postgresql(root: Path, submissions: int, fresh: bool) -> dict[str, Any]:
    """The same laptops merged into a head office on PostgreSQL (database kept for next time)."""
    from bench.contributions import _admin, _review_and_code
    from bench.contributions import build_postgresql as merged
    from tests.sync_world import opened

    marker = root / "postgresql.json"
    if marker.exists() and not fresh:
        info = json.loads(marker.read_text(encoding="utf-8"))
        if _database_exists(info["database"]):
            return {**info, "reused": True}
    if marker.exists():
        old = json.loads(marker.read_text(encoding="utf-8"))
        _admin(f"DROP DATABASE IF EXISTS {old['database']} WITH (FORCE)")
        marker.unlink()
    shutil.rmtree(root / "ho-pg", ignore_errors=True)
    database = "fieldapp_bench_analysis_" + secrets.token_hex(4)
    _admin(f"CREATE DATABASE {database}")
    url = f"{PG_SERVER}/{database}"
    laptops, _per = split(submissions)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as files:
        ho, merge_seconds = merged(root, Path(files), laptops, url)
    with opened(ho, SQLALCHEMY_DATABASE_URI=url):
        made = _review_and_code()
    info = {
        "database": database,
        "url": url,
        "merge_seconds": round(merge_seconds, 1),
        "build_seconds": round(time.perf_counter() - started, 1),
        **made,
    }
    marker.write_text(json.dumps(info), encoding="utf-8")
    return {**info, "reused": False}


def _database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test") as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def child(folder: Path, what: str, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    """One export (``csv``/``xlsx``) or the baseline in a fresh process; its figures."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(folder), what, str(out), json.dumps(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": last[:300]}
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    figures["rows_per_s"] = round(figures["rows"] / figures["seconds"]) if figures["seconds"] else 0
    return figures


def measure(folder: Path, config: dict[str, Any], runs: int) -> dict[str, Any]:
    """The dashboard timings in-process, then the exports and the baseline in children."""
    from sqlalchemy import func, select

    from fieldapp.extensions import db
    from fieldapp.models import Contribution
    from fieldapp.services.contribution_query import Filters
    from tests.sync_world import opened

    figures: dict[str, Any] = {}
    with opened(folder, **config) as app:
        k = int(app.config["MIN_CELL_COUNT"])
        figures["contributions"] = db.session.execute(
            select(func.count()).select_from(Contribution)
        ).scalar_one()
        figures["submissions"] = db.session.execute(
            select(func.count(func.distinct(Contribution.submission_uuid)))
        ).scalar_one()
        biggest = db.session.execute(
            select(Contribution.governorate, func.count())
            .group_by(Contribution.governorate)
            .order_by(func.count().desc())
        ).first()
        governorate = biggest[0] if biggest else None
        figures["governorate"] = governorate
        try:
            from fieldapp.services.analysis import dashboard
        except ImportError as exc:
            figures["dashboard_all"] = figures["dashboard_one"] = {"error": f"no dashboard: {exc}"}
        else:
            for name, filters in (
                ("dashboard_all", Filters()),
                ("dashboard_one", Filters(governorates=(governorate,) if governorate else ())),
            ):

                def call(f: Filters = filters) -> Any:
                    return dashboard.build(f, k=k)

                try:
                    figures[name] = timed(call, runs)
                except Exception as exc:  # noqa: BLE001 -- print what failed, measure the rest
                    figures[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    with tempfile.TemporaryDirectory() as out:
        for what in ("baseline", "csv", "xlsx"):
            suffix = "csv" if what == "baseline" else what
            figures[what] = child(folder, what, Path(out) / f"{what}.{suffix}", config)
    base = figures["baseline"].get("rows_per_s")
    csv_rate = figures["csv"].get("rows_per_s")
    xlsx_rate = figures["xlsx"].get("rows_per_s")
    figures["csv_ratio"] = round(csv_rate / base, 2) if base and csv_rate else None
    figures["xlsx_ratio"] = round(xlsx_rate / base, 2) if base and xlsx_rate else None
    return figures


def _cell(figures: dict[str, Any], name: str, field: str, scale: float = 1, digits: int = 2) -> str:
    part = figures.get(name)
    if not isinstance(part, dict):
        return "-"
    if "error" in part:
        return "error"
    value = part.get(field)
    if value is None:
        return "-"
    return f"{value * scale:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def report(result: dict[str, Any]) -> str:
    """The figures as a plain-text table, SQLite beside PostgreSQL, then targets met or not."""
    engines = [e for e in ("sqlite", "postgresql") if "skipped" not in result[e]]
    lines = [
        f"{'figure':44} " + " ".join(f"{e:>14}" for e in ("sqlite", "postgresql")),
    ]
    rows: list[tuple[str, str, str, float, int]] = [
        ("submissions", "submissions", "", 1, 0),
        ("dashboard, all data: p50 s", "dashboard_all", "p50_s", 1, 3),
        ("dashboard, all data: p95 s", "dashboard_all", "p95_s", 1, 3),
        ("dashboard, one governorate: p50 s", "dashboard_one", "p50_s", 1, 3),
        ("dashboard, one governorate: p95 s", "dashboard_one", "p95_s", 1, 3),
        ("baseline csv.writer: s", "baseline", "seconds", 1, 2),
        ("baseline: rows/s", "baseline", "rows_per_s", 1, 0),
        ("baseline: RSS before / peak MB", "baseline", "rss_before_mb", 1, 0),
        ("CSV export: s", "csv", "seconds", 1, 2),
        ("CSV export: rows/s", "csv", "rows_per_s", 1, 0),
        ("CSV export: RSS before MB", "csv", "rss_before_mb", 1, 0),
        ("CSV export: peak MB", "csv", "peak_mb", 1, 0),
        ("XLSX export: s", "xlsx", "seconds", 1, 2),
        ("XLSX export: rows/s", "xlsx", "rows_per_s", 1, 0),
        ("XLSX export: RSS before MB", "xlsx", "rss_before_mb", 1, 0),
        ("XLSX export: peak MB", "xlsx", "peak_mb", 1, 0),
    ]
    for label, name, field, scale, digits in rows:
        values = []
        for engine in ("sqlite", "postgresql"):
            figures = result[engine]
            if "skipped" in figures:
                values.append("skipped")
            elif not field:
                values.append(f"{figures.get(name, '-'):,}" if name in figures else "-")
            elif label.startswith("baseline: RSS"):
                values.append(
                    f"{_cell(figures, name, 'rss_before_mb', 1, 0)} / "
                    f"{_cell(figures, name, 'peak_mb', 1, 0)}"
                )
            else:
                values.append(_cell(figures, name, field, scale, digits))
        lines.append(f"{label:44} " + " ".join(f"{v:>14}" for v in values))
    for engine in engines:
        figures = result[engine]
        for name in ("dashboard_all", "dashboard_one", "baseline", "csv", "xlsx"):
            part = figures.get(name)
            if isinstance(part, dict) and "error" in part:
                lines.append(f"{engine} {name} failed: {part['error']}")
    lines.append("")
    lines.append("ratios and targets")
    for engine in engines:
        figures = result[engine]
        lines.append(
            f"  {engine}: CSV rows/s / baseline rows/s = {figures.get('csv_ratio')} "
            f"(target >= {TARGETS['csv_ratio']}); XLSX / baseline = {figures.get('xlsx_ratio')}"
        )
        p95 = max(
            (
                figures[n]["p95_s"]
                for n in ("dashboard_all", "dashboard_one")
                if "p95_s" in figures.get(n, {})
            ),
            default=None,
        )
        lines.append(f"  {engine}: dashboard p95 (worse of the two) = {p95} s (target < 1 s)")
        peak = figures.get("xlsx", {}).get("peak_mb")
        lines.append(f"  {engine}: XLSX peak = {peak and round(peak)} MB (target < 250 MB)")
    for engine in ("sqlite", "postgresql"):
        if "skipped" in result[engine]:
            lines.append(f"{engine} skipped: {result[engine]['skipped']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20, help="dashboard calls timed per case")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--workdir", type=Path, help=f"where the built head offices are kept (default {CACHE}-N)"
    )
    parser.add_argument("--fresh", action="store_true", help="build again, ignore what is kept")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    root = args.workdir or Path(f"{CACHE}-{args.submissions}")
    if args.fresh and root.exists():
        shutil.rmtree(root)
    result: dict[str, Any] = {"sqlite": {}, "postgresql": {}}
    with contextlib.suppress(KeyboardInterrupt):
        started = time.perf_counter()
        result["sqlite_build"] = build_sqlite(root, args.submissions)
        result["sqlite_build"]["setup_seconds"] = round(time.perf_counter() - started, 1)
        print(f"SQLite head office in {root / 'ho'}: {result['sqlite_build']}", flush=True)
        result["sqlite"] = measure(root / "ho", {}, args.runs)
        reason = "not asked (--skip-postgres)" if args.skip_postgres else _postgres_reason()
        if reason:
            result["postgresql"] = {"skipped": reason}
        else:
            info = build_postgresql(root, args.submissions, args.fresh)
            print(f"PostgreSQL head office in {info['database']}: {info}", flush=True)
            result["postgresql_build"] = info
            result["postgresql"] = measure(
                root / "ho-pg", {"SQLALCHEMY_DATABASE_URI": info["url"]}, args.runs
            )
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    print(report(result))


if __name__ == "__main__":
    main()
