"""Export for head office (every installation) and import of bundles (head office)."""

from flask import Blueprint

bp = Blueprint("sync", __name__)

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
