"""The participant's pages: choose a language, consent, answer, review, submit."""

from flask import Blueprint

bp = Blueprint("kiosk", __name__, url_prefix="/p")

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
