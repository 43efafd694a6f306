"""Records with more than one live version, side by side, and their resolution."""

from flask import Blueprint

from ..auth import access
from ..models import Role

bp = Blueprint("conflicts", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
# Analysts and coordinators compare and resolve; a facilitator's laptop shows nothing here.
ACCESS: dict[str, frozenset[Role]] = {
    "conflicts.index": access.OFFICE,
    "conflicts.record": access.OFFICE,
    "conflicts.keep": access.OFFICE,
    "conflicts.combine": access.OFFICE,
}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
