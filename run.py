#!/usr/bin/env python3
"""Start fieldapp for a facilitator: ``python run.py [--port N]``.

Uses the ``instance`` folder beside this file (or ``FIELDAPP_INSTANCE``), creates it on the
first start, applies database migrations, and serves on http://127.0.0.1:5000 with waitress.
"""

import os
import sys
from pathlib import Path

from fieldapp.cli import cli

if __name__ == "__main__":
    default = Path(__file__).resolve().parent / "instance"
    instance = os.environ.get("FIELDAPP_INSTANCE") or str(default)
    cli.main(["--instance", instance, "serve", *sys.argv[1:]], prog_name="run.py")
