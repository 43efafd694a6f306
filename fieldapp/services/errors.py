"""The base class of errors a person can act on."""

from __future__ import annotations

from typing import Any


class FieldappError(Exception):
    """An error whose ``message`` (a lazy gettext string) tells a person what to do."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message
