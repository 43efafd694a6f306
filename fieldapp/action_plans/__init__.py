"""Action plans followed up at head office: every action point, its progress and its links."""

from flask import Blueprint

from ..auth import access
from ..models import Role

bp = Blueprint("action_plans", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
# Viewers read the action plans; linking them to codes and contributions is head office work.
ACCESS: dict[str, frozenset[Role]] = {
    "action_plans.index": access.READERS,
    "action_plans.action": access.READERS,
    "action_plans.link": access.OFFICE,
}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
