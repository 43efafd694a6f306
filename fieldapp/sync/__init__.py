"""Export for head office (every installation); import of bundles and the Devices page
(head office); this installation's public key file."""

from flask import Blueprint

bp = Blueprint("sync", __name__)

from . import devices, receipts, routes  # noqa: E402,F401 -- views attach themselves to bp
