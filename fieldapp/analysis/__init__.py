"""Head office's dashboard: who came, what they said, what was done (issue #11).

Viewers, analysts and coordinators read it; counts below ``MIN_CELL_COUNT`` are shown as "<k".
Analysts and coordinators may switch to exact counts on screen and download row-level files;
everyone who reads it may download its (always suppressed) tables.
"""

from flask import Blueprint

from ..auth import access
from ..models import Role

bp = Blueprint("analysis", __name__, url_prefix="/analysis")

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
ACCESS: dict[str, frozenset[Role]] = {
    "analysis.dashboard": access.READERS,
    "analysis.exact_counts": access.OFFICE,
    "analysis.export": access.OFFICE,
    "analysis.tables_export": access.READERS,
    "analysis.report": access.READERS,
}

from . import report, routes  # noqa: E402,F401 -- views attach themselves to bp
