"""Records with more than one live version, side by side, and their resolution."""

from flask import Blueprint

from ..models import Role

bp = Blueprint("conflicts", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
ACCESS: dict[str, frozenset[Role]] = {}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
