"""Views of the conflicts blueprint (thin: parse, call a service, render or redirect)."""

from . import bp  # noqa: F401
