"""Head office reads, reviews and codes what people said: the Contributions pages."""

from flask import Blueprint

from ..models import Role

bp = Blueprint("review", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
ACCESS: dict[str, frozenset[Role]] = {}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
