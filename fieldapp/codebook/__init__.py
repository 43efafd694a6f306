"""The shared codebook of themes and sub-themes, and its signed file."""

from flask import Blueprint

from ..models import Role

bp = Blueprint("codebook", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
ACCESS: dict[str, frozenset[Role]] = {}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
