#!/usr/bin/env python3
"""Export memory: peak RSS of ``fieldapp export`` as the number of submissions grows.

Each export runs in a fresh process, so its peak memory is its own. Streaming means the peak
stays nearly flat while the data grows tenfold.

    python bench/export.py                 # 10,000 / 50,000 / 100,000 submissions
    python bench/export.py --sizes 2000 20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
from pathlib import Path
from fieldapp import create_app
from fieldapp.services.sync.export import export_bundle
folder = Path(sys.argv[1])
app = create_app(instance_path=folder)
with app.app_context():
    started = time.perf_counter()
    result = export_bundle(folder, Path(sys.argv[2]))
    seconds = time.perf_counter() - started
# VmHWM where there is /proc: Linux keeps ru_maxrss across execve (the parent's peak).
status = Path("/proc/self/status")
lines = status.read_text().splitlines() if status.exists() else []
hwm = [line for line in lines if line.startswith("VmHWM:")]
peak = int(hwm[0].split()[1]) / 1024 if hwm else (
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
)
print(json.dumps({"seconds": seconds, "size": result.size, "peak_mb": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from fieldapp.models import DeviceRole
    from fieldapp.services import demo
    from tests.sync_world import Installation

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
        for size in args.sizes:
            laptop = Installation(root / f"l{size}", DeviceRole.FIELD, f"Laptop {size}", (ho,))
            with laptop.session():
                demo.fill(consultations=5, submissions=size, seed=size)
            out = root / f"out{size}.fieldsync"
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-c", CHILD, str(laptop.folder), str(out)],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            figures["process_seconds"] = time.perf_counter() - started
            rows.append({"submissions": size, **{k: round(v, 2) for k, v in figures.items()}})
    for row in rows:
        print(json.dumps(row))
    growth = rows[-1]["peak_mb"] / rows[0]["peak_mb"]
    data_growth = args.sizes[-1] / args.sizes[0]
    print(json.dumps({"data_growth": data_growth, "peak_memory_growth": round(growth, 2)}))


if __name__ == "__main__":
    main()
