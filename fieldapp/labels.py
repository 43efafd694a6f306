"""Words for the head office's record values, shared by every page that shows them.

The Contributions, Conflicts and Activity pages all name review states, exclusion reasons,
code statuses and kinds of record: one table each, so one translation each.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

# Translators: review states of a contribution (glossary: received, approved, has issues,
# excluded).
REVIEW_STATE_LABELS: dict[str, Any] = {
    "received": _l("Received"),
    "approved": _l("Approved"),
    "has_issues": _l("Has issues"),
    "excluded": _l("Excluded"),
}
# Translators: why a contribution is excluded from analysis.
EXCLUSION_REASON_LABELS: dict[str, Any] = {
    "duplicate": _l("Duplicate"),
    "off_topic": _l("Off-topic"),
    "test_entry": _l("Test entry"),
    "withdrawn_consent": _l("Consent withdrawn"),
    "other": _l("Other reason"),
}
CODE_STATUS_LABELS: dict[str, Any] = {"active": _l("In use"), "retired": _l("Retired")}
