"""The append-only activity log for coordinators: who did what, where."""

from flask import Blueprint

from ..auth import access
from ..models import Role

bp = Blueprint("activity", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
ACCESS: dict[str, frozenset[Role]] = {"activity.index": access.COORDINATORS}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
