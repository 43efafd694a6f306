"""The Backup page: a facilitator downloads an encrypted backup of the laptop to a USB stick."""

from flask import Blueprint

from ..auth import access
from ..models import Role

bp = Blueprint("backup", __name__)

# Every endpoint of this blueprint and the roles that may use it (see fieldapp.auth.access).
ACCESS: dict[str, frozenset[Role]] = {
    "backup.backup_page": access.FIELD,
    "backup.backup_download": access.FIELD,
}

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
