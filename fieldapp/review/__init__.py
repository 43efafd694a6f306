"""Head office reads, reviews and codes what people said: the Contributions pages."""

from flask import Blueprint

from ..auth import access
from ..models import Role

bp = Blueprint("review", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
# Facilitators see their laptop's contributions and code typed ones (checked in the view);
# review states are decided at head office.
ACCESS: dict[str, frozenset[Role]] = {
    "review.contributions": access.WORKERS,
    "review.contribution": access.WORKERS,
    "review.apply_codes": access.WORKERS,
    "review.set_state": access.OFFICE,
    "review.bulk": access.OFFICE,
    "review.mark_duplicate": access.OFFICE,
}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
