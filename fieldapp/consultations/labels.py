"""The workspace's words for stored values: shared by the pages that show records.

What a form calls each field of a record (a stale edit lists "Place", never ``place``), the
labels of choices, places and languages by name. The conflicts, activity and review pages show
the same records, so they import these from here, never from the workspace's views.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..i18n import BY_CODE, counted, current_language, list_of, pick
from ..services import places
from .forms import (
    ACTION_STATUS_LABELS,
    AGE_LABELS,
    CHANNEL_LABELS,
    CONSENT_LABELS,
    GENDER_LABELS,
    KIND_LABELS,
    PRIORITY_LABELS,
    QUESTION_TYPE_LABELS,
    STATUS_LABELS,
    ActionPointForm,
    ConsultationForm,
    MinutesForm,
    NoteForm,
    QuestionForm,
)

LABELS = {
    "kinds": KIND_LABELS,
    "statuses": STATUS_LABELS,
    "question_types": QUESTION_TYPE_LABELS,
    "genders": GENDER_LABELS,
    "ages": AGE_LABELS,
    "channels": CHANNEL_LABELS,
    "consents": CONSENT_LABELS,
    "priorities": PRIORITY_LABELS,
    "action_statuses": ACTION_STATUS_LABELS,
}


def place_name(code: str | None) -> str:
    """A governorate or district in the reader's language."""
    if not code:
        return ""
    lang = current_language().code
    try:
        if code.count("-") == 1:
            return places.governorate(code).name(lang)
        return places.district(code).name(lang)
    except places.UnknownPlace:
        return code


# ---- what changed, in the words of the forms ------------------------------------------------


# Each stored field of a record, by kind, as its form calls it: a stale edit lists "Place",
# never ``place``. A multilingual text takes the label of its per-language fields; fields with
# no form field of their own take the words of their screen.
_CONSULTATION_FIELDS = (
    "kind",
    "status",
    "governorate",
    "district",
    "place",
    "programme",
    "starts_on",
    "start_time",
    "end_time",
    "facilitators",
    "groups",
    "languages",
    "original_language",
    "consent_method",
)
FIELD_LABELS: dict[str, dict[str, tuple[type[Any], str] | Any]] = {
    "consultation": {
        **{name: (ConsultationForm, name) for name in _CONSULTATION_FIELDS},
        "title": (ConsultationForm, "title_en"),
        "description": (ConsultationForm, "description_en"),
        "consent_text": (ConsultationForm, "consent_en"),
        "minutes": (MinutesForm, "minutes_en"),
    },
    "question": {
        **{name: (QuestionForm, name) for name in ("type", "original_language", "required")},
        "text": (QuestionForm, "text_en"),
        "options": (QuestionForm, "options_en"),
    },
    "action_point": {
        **{
            name: (ActionPointForm, name)
            for name in ("original_language", "responsible", "due_on", "priority", "status")
        },
        "text": (ActionPointForm, "text_en"),
        "notes": (NoteForm, "text"),
    },
    "attendance": {"counts": _l("Attendance"), "group_counts": _l("Groups")},
}


def field_label(kind: str, name: str) -> Any:
    """What the form of a ``kind`` record calls its field ``name`` (else the name itself)."""
    label = FIELD_LABELS.get(kind, {}).get(name, name)
    if isinstance(label, tuple):
        form, field_name = label
        return getattr(form, field_name).args[0]  # the unbound field's label, lazy
    return label


def _choice_labels(kind: str, name: str) -> dict[str, Any] | None:
    if name == "status":
        return ACTION_STATUS_LABELS if kind == "action_point" else STATUS_LABELS
    return {
        "kind": KIND_LABELS,
        "type": QUESTION_TYPE_LABELS,
        "priority": PRIORITY_LABELS,
        "consent_method": CONSENT_LABELS,
    }.get(name)


def shown(kind: str, name: str, value: Any) -> Any:
    """A stored value as the reader knows it from the form: labels for choices, places and
    languages by name, texts in each language marked with it, lists joined as lists."""
    if value is None or value in ("", [], {}):
        return ""
    choices = _choice_labels(kind, name)
    if choices is not None and isinstance(value, str):
        return choices.get(value, value)
    if name in ("governorate", "district") and isinstance(value, str):
        return place_name(value)
    if name in ("original_language", "language") and value in BY_CODE:
        return BY_CODE[value].native_name
    if name == "languages" and isinstance(value, list):
        return list_of(BY_CODE[c].native_name if c in BY_CODE else c for c in value)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dict) and value and set(value) <= set(BY_CODE):
        return list_of((counted(BY_CODE[c].native_name, text) for c, text in value.items()), "unit")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list_of(value)
    reader = current_language().code
    if isinstance(value, list) and all(isinstance(v, dict) and "label" in v for v in value):
        return list_of(pick(v["label"], reader)[0] for v in value)  # groups, options
    if name == "notes" and isinstance(value, list):
        return list_of((counted(n.get("on"), n.get("text")) for n in value), "unit")
    if name == "group_counts" and isinstance(value, list):
        return list_of((counted(c.get("group"), c.get("count")) for c in value), "unit")
    if name == "counts" and isinstance(value, list):
        return list_of(
            (
                counted(
                    f"{GENDER_LABELS.get(str(c.get('gender')), c.get('gender'))} · "
                    f"{AGE_LABELS.get(str(c.get('age_band')), c.get('age_band'))}",
                    c.get("count"),
                )
                for c in value
                if isinstance(c, dict)
            ),
            "unit",
        )
    return value if isinstance(value, str | int | float) else json.dumps(value, ensure_ascii=False)
