#!/usr/bin/env python3
"""The wait for SQLite's write lock between two processes: the old way and the new, one run.

Two processes write to one installation's database as the facilitator's pages and the phones'
listener do: every write is a unit of work of ``fieldapp.database.writing()`` (BEGIN
IMMEDIATE, a read, an insert of about 1.5 KB, commit with ``synchronous=FULL``). The
"participants" process has 8 writer threads, the "facilitator" process 2. Each scenario runs
with both ways of waiting for the other process's lock, alternately, ``--rounds`` times each:
- ``sqlite``: BEGIN IMMEDIATE sleeps in SQLite's busy handler (1 ms growing to 100 ms between
  tries; what fieldapp did before),
- ``poll``: BEGIN IMMEDIATE with busy_timeout 0, tried again after 0.1-1 ms (what ships).

Scenarios: ``saturated`` (no pause between a thread's writes: the lock is never free for long)
and ``room`` (participants' threads pause 5-15 ms between writes, the facilitator's 20-100 ms).

Prints one JSON object: per scenario and way, each process's wait for the write lock
(``fieldapp.database.write_wait_stats()``: count, contended, p50/p99/max ms), the time a whole
unit of work took as its writer saw it (p50/p99/max ms, both processes together), writes per
second and "database is locked" errors.

    python bench/write_wait.py [--seconds 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WAYS = ("sqlite", "poll")
# (participants' pause, facilitator's pause) between one thread's writes, in milliseconds.
SCENARIOS = {"saturated": ((0, 0), (0, 0)), "room": ((5, 15), (20, 100))}
THREADS = {"participants": 8, "facilitator": 2}
BODY = "x" * 1500


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def worker(
    folder: str, role: str, way: str, pause_ms: tuple[int, int], start: float, seconds: float
) -> dict[str, Any]:
    """One process writing from its threads until ``start + seconds``; what it measured."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import exc, text

    from fieldapp import create_app, database
    from fieldapp.database import writing

    database.WRITE_LOCK_WAIT = way  # type: ignore[assignment]
    app = create_app(instance_path=folder)
    took: list[float] = []
    errors = 0
    guard = threading.Lock()
    end = start + seconds

    def write(number: int) -> None:
        nonlocal errors
        chance = random.Random(f"{role}-{number}")
        with app.app_context():
            while time.time() < end:
                began = time.perf_counter()
                try:
                    with writing() as session:
                        session.execute(
                            text("SELECT count(*) FROM bench_write WHERE who = :who"), {"who": role}
                        ).scalar()
                        session.execute(
                            text("INSERT INTO bench_write (who, body) VALUES (:who, :body)"),
                            {"who": role, "body": BODY},
                        )
                except exc.OperationalError:
                    with guard:
                        errors += 1
                else:
                    with guard:
                        took.append(time.perf_counter() - began)
                if pause_ms[1]:
                    time.sleep(chance.uniform(*pause_ms) / 1000)

    with app.app_context():  # connect (and run the pragmas) before the clock starts
        database.db.session.execute(text("SELECT 1"))
        database.db.session.remove()
    database.clear_write_waits()
    time.sleep(max(0.0, start - time.time()))
    threads = [threading.Thread(target=write, args=(n,)) for n in range(THREADS[role])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        database.db.engine.dispose()
    return {"role": role, "took": took, "errors": errors, "lock": database.write_wait_stats()}


def one_round(folder: Path, way: str, scenario: str, seconds: float) -> dict[str, Any]:
    """Both processes writing with ``way`` for ``seconds``; their figures."""
    pauses = dict(zip(THREADS, SCENARIOS[scenario], strict=True))
    context = multiprocessing.get_context("spawn")
    start = time.time() + 4  # time for both processes to import fieldapp and connect
    with context.Pool(len(THREADS)) as pool:
        pending = [
            pool.apply_async(worker, (str(folder), role, way, pauses[role], start, seconds))
            for role in THREADS
        ]
        return {result["role"]: result for result in (p.get(timeout=120) for p in pending)}


def summary(rounds: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The rounds of one way in one scenario, put together."""
    out: dict[str, Any] = {}
    took: list[float] = []
    for role in THREADS:
        runs = [r[role] for r in rounds]
        took += [t for run in runs for t in run["took"]]
        locks = [run["lock"] for run in runs]
        out[role] = {
            "writes_per_s": round(sum(len(run["took"]) for run in runs) / seconds / len(runs), 1),
            "errors": sum(run["errors"] for run in runs),
            "lock_wait": {
                "count": sum(lock["count"] for lock in locks),
                "contended": sum(lock["contended"] for lock in locks),
                # The median of the rounds' percentiles; the max of their maxima.
                "p50_ms": round(statistics.median(lock["p50_ms"] for lock in locks), 3),
                "p99_ms": round(statistics.median(lock["p99_ms"] for lock in locks), 3),
                "max_ms": max(lock["max_ms"] for lock in locks),
            },
        }
    out["unit_of_work_ms"] = {
        "p50": round(percentile(took, 0.50) * 1000, 2),
        "p99": round(percentile(took, 0.99) * 1000, 2),
        "max": round(max(took, default=0) * 1000, 2),
    }
    return out


def main() -> None:
    """Run every scenario with both ways and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "seconds": args.seconds,
        "rounds": args.rounds,
        "threads": THREADS,
        "sqlite_version": sqlite3.sqlite_version,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "instance"
        subprocess.run(
            [sys.executable, "-m", "fieldapp", "--instance", str(folder), "init"],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        with sqlite3.connect(folder / "fieldapp.sqlite3") as connection:
            connection.execute(
                "CREATE TABLE bench_write (id INTEGER PRIMARY KEY, who TEXT, body TEXT)"
            )
            connection.execute("CREATE INDEX bench_write_who ON bench_write (who)")
        for scenario in args.scenario or list(SCENARIOS):
            by_way: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
            for round_ in range(args.rounds):
                order = WAYS if round_ % 2 == 0 else WAYS[::-1]  # neither way always first
                for way in order:
                    by_way[way].append(one_round(folder, way, scenario, args.seconds))
            results[scenario] = {way: summary(by_way[way], args.seconds) for way in WAYS}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
