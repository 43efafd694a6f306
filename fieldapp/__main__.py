"""``python -m fieldapp`` is the ``fieldapp`` command."""

from .cli import cli

cli()
