"""How a participant's consent was given, as every page and file that shows a contribution says it.

A submission made since fieldapp records it carries ``consent_method``: ``on_screen`` (kiosk
or own phone), ``spoken`` or ``written`` (typed by a facilitator), or ``not_asked``, which is
a facilitator's deliberate choice, saved as ``consent: false`` and shown wherever the
contribution is. Older submissions have no such field: on a participant's screen consent was
always asked, so those say "on screen"; typed ones say "not recorded", never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .sync.schema import CONSENT_METHODS, SCREEN_CHANNELS, TYPED_CONSENT_METHODS

NOT_RECORDED = "not_recorded"
# Every value :func:`method_of` can return, in the order summaries list them.
SHOWN = (*CONSENT_METHODS, NOT_RECORDED)

__all__ = ["NOT_RECORDED", "SHOWN", "TYPED_CONSENT_METHODS", "given", "method_of"]


def method_of(submission: Mapping[str, Any]) -> str:
    """How consent was given for a submission body (see the module docstring)."""
    method = submission.get("consent_method")
    if isinstance(method, str) and method in CONSENT_METHODS:
        return method
    # An older kiosk or phone record always asked on screen, unless it says consent was not
    # given: then it is not shown as given on screen (a file can carry such a record).
    if submission.get("channel") in SCREEN_CHANNELS and submission.get("consent") is not False:
        return "on_screen"
    return NOT_RECORDED


def given(method: str) -> bool:
    """The ``consent`` flag a submission saved with ``method`` carries."""
    return method != "not_asked"
