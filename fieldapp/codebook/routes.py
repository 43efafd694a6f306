"""Views of the codebook blueprint (thin: parse, call a service, render or redirect)."""

from . import bp  # noqa: F401
