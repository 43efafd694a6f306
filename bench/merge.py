#!/usr/bin/env python3
"""Merge benchmark: 20 laptops' bundles (200,000 submissions in all) into an empty head office.

In the same run it measures the raw SQLite limit (../shared/bench/sqlite_upsert_baseline.py) on
the same number of records and prints both throughputs, their ratio, the re-merge speed-up and
the merge's peak memory. Each merge runs in a fresh process so its peak RSS is its own.

    python bench/merge.py                      # the full 200,000
    python bench/merge.py --laptops 4 --per-laptop 2000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT.parent / "shared" / "bench" / "sqlite_upsert_baseline.py"


def build(root: Path, laptops: int, per_laptop: int) -> tuple[Path, list[Path], float]:
    """A head office and ``laptops`` field installations with demo data; their bundles."""
    sys.path.insert(0, str(ROOT))
    from fieldapp.models import DeviceRole
    from fieldapp.services import demo
    from tests.sync_world import Installation

    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    files = root / "files"
    files.mkdir()
    bundles = []
    export_seconds = 0.0
    for number in range(laptops):
        laptop = Installation(root / f"l{number}", DeviceRole.FIELD, f"Laptop {number}", (ho,))
        with laptop.session():
            demo.fill(consultations=5, submissions=per_laptop, seed=number + 1)
        ho.register(laptop)
        started = time.perf_counter()
        bundles.append(laptop.export(files))
        export_seconds += time.perf_counter() - started
    return ho.folder, bundles, export_seconds


# For the comparison only: the same merge with the read model's filling switched off, to show
# what filling it in the merge transaction costs.
WITHOUT_READ_MODEL = (
    "from fieldapp.services import contributions\n"
    "contributions.Indexer.add = lambda self, record: None\n"
    "contributions.Indexer.finish = lambda self: None\n"
)


def merge_in_child(ho: Path, bundles: list[Path], read_model: bool = True) -> dict[str, float]:
    """Run one merge of all bundles in a fresh process; return its time and peak memory."""
    code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from fieldapp import create_app\n"
        "from fieldapp.services.sync.merge import merge_files\n"
        + ("" if read_model else WITHOUT_READ_MODEL)
        + "ho = Path(sys.argv[1]); files = [Path(p) for p in sys.argv[2:]]\n"
        "app = create_app(instance_path=ho)\n"
        "with app.app_context():\n"
        "    t = time.perf_counter(); out = merge_files(files, ho); t = time.perf_counter() - t\n"
        "    assert all(s.ok for s in out), [s.error for s in out]\n"
        "    records = sum(s.new + s.unchanged for s in out)\n"
        "import resource\n"
        # VmHWM where there is /proc: Linux keeps ru_maxrss across execve (the parent's peak).
        "status = Path('/proc/self/status')\n"
        "hwm = [l for l in status.read_text().splitlines() if l.startswith('VmHWM:')]"
        " if status.exists() else []\n"
        "rss = int(hwm[0].split()[1]) / 1024 if hwm"
        " else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'seconds': t, 'records': records, 'peak_mb': rss}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(ho), *map(str, bundles)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def baseline(records: int, path: Path) -> dict[str, float]:
    """The raw SQLite parse-and-upsert limit for the same number of records."""
    result = subprocess.run(
        [sys.executable, str(path), "--records", str(records)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laptops", type=int, default=20)
    parser.add_argument("--per-laptop", type=int, default=10_000)
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--runs", type=int, default=3, help="best of N, for both sides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        pristine, bundles, export_seconds = build(Path(folder), args.laptops, args.per_laptop)
        setup = time.perf_counter() - started
        runs = []
        bare = []
        for number in range(args.runs):
            ho = Path(folder) / f"ho-run{number}"
            shutil.copytree(pristine, ho)  # an empty head office for every first merge
            runs.append(merge_in_child(ho, bundles))
            plain = Path(folder) / f"ho-bare{number}"
            shutil.copytree(pristine, plain)
            bare.append(merge_in_child(plain, bundles, read_model=False))
        first = min(runs, key=lambda r: r["seconds"])
        again = min(
            (merge_in_child(ho, bundles) for _ in range(args.runs)), key=lambda r: r["seconds"]
        )
        size = sum(b.stat().st_size for b in bundles)
    raws = [baseline(int(first["records"]), args.baseline) for _ in range(args.runs)]
    raw = max(raws, key=lambda r: r["records_per_second"])
    ours = first["records"] / first["seconds"]
    without = min(bare, key=lambda r: r["seconds"])
    ours_bare = without["records"] / without["seconds"]
    figures = {
        "bundles": len(bundles),
        "bundle_mb": round(size / 1e6, 1),
        "records": int(first["records"]),
        "setup_seconds": round(setup, 1),
        "export_seconds_total": round(export_seconds, 2),
        "merge_seconds": round(first["seconds"], 2),
        "merge_records_per_second": round(ours),
        "baseline_records_per_second": raw["records_per_second"],
        "ratio_to_baseline": round(ours / raw["records_per_second"], 2),
        "merge_seconds_without_read_model": round(without["seconds"], 2),
        "ratio_to_baseline_without_read_model": round(ours_bare / raw["records_per_second"], 2),
        "remerge_seconds": round(again["seconds"], 3),
        "remerge_speedup": round(first["seconds"] / again["seconds"], 1),
        "merge_peak_mb": round(max(r["peak_mb"] for r in runs)),
        "runs": args.runs,
        "targets": "ratio >= 0.4, remerge speedup >= 5, peak < 500 MB",
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
