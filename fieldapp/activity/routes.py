"""Views of the activity blueprint (thin: parse, call a service, render or redirect)."""

from . import bp  # noqa: F401
