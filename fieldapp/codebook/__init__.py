"""The shared codebook of themes and sub-themes, and its signed file."""

from flask import Blueprint

from ..auth import access
from ..models import Role

bp = Blueprint("codebook", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
# Facilitators see the codebook and import head office's file on their laptop; analysts and
# coordinators edit it and send it out; viewers never see it.
ACCESS: dict[str, frozenset[Role]] = {
    "codebook.index": access.WORKERS,
    "codebook.import_file": access.WORKERS,
    "codebook.new": access.OFFICE,
    "codebook.edit": access.OFFICE,
    "codebook.retire": access.OFFICE,
    "codebook.restore": access.OFFICE,
    "codebook.merge": access.OFFICE,
    "codebook.download": access.OFFICE,
}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
