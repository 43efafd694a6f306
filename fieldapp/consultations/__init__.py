"""The facilitator's workspace: consultations, questions, attendance, input, action plans."""

from flask import Blueprint

bp = Blueprint("consultations", __name__)

from . import routes  # noqa: E402,F401 -- routes attach themselves to bp
