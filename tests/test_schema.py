"""Record validation: the fast submission check and the generic one always agree."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldapp.services.sync import schema

VALID = {
    "uuid": "0492c4f5-39b2-4c95-8554-55e8f9bddea8",
    "consultation": "0492c4f5-39b2-4c95-8554-55e8f9bddea6",
    "device": "0492c4f5-39b2-4c95-8554-55e8f9bddea7",
    "created_at": "2026-03-12T10:00:00Z",
    "language": "ckb",
    "channel": "kiosk",
    "consent": True,
    "idempotency_key": "k-1",
    "answers": {
        "0492c4f5-39b2-4c95-8554-55e8f9bddea5": "ڕێگاکە داخراوە",
        "ad9cedde-819d-4ca7-b461-08cc721754ef": 4,
        "f5bb9188-b805-49e9-890b-20bb257e8454": True,
        "fa1b1bf1-3879-499b-950e-00978b7199cd": ["security", "services"],
    },
    "demographics": {"gender": "prefer_not_to_say", "age_band": "18_29", "group": "idp"},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
paths = st.sampled_from(
    [
        ("uuid",),
        ("consultation",),
        ("device",),
        ("created_at",),
        ("language",),
        ("channel",),
        ("consent",),
        ("idempotency_key",),
        ("answers",),
        ("demographics",),
        ("demographics", "gender"),
        ("demographics", "age_band"),
        ("demographics", "group"),
        ("answers", "0492c4f5-39b2-4c95-8554-55e8f9bddea5"),
        ("answers", "ad9cedde-819d-4ca7-b461-08cc721754ef"),
        ("answers", "not-a-uuid"),
        ("extra",),
    ]
)


def generic_accepts(record) -> bool:
    try:
        schema.SUBMISSION_CHECK(record, "submission")
    except schema.RecordInvalid:
        return False
    return True


@settings(max_examples=600)
@given(
    st.lists(
        st.tuples(
            paths,
            json_values | st.sampled_from(["woman", "1970-01-01T00:00:00Z", 5, 0, 6, "x" * 70]),
        ),
        max_size=3,
    ),
    st.booleans(),
)
def test_fast_check_agrees_with_the_generic_one(mutations, delete):
    """Whatever is changed in a submission, both checks give the same verdict."""
    record = copy.deepcopy(VALID)
    for path, value in mutations:
        target = record
        for key in path[:-1]:
            if not isinstance(target, dict):
                break
            target = target.setdefault(key, {})
        if isinstance(target, dict):
            if delete and path[-1] in target:
                del target[path[-1]]
            else:
                target[path[-1]] = value
    assert schema.is_valid_submission(record) == generic_accepts(record)
    assert schema.is_valid_submission(record, set()) == generic_accepts(record)


def test_valid_submission_passes_both():
    assert schema.is_valid_submission(VALID)
    assert generic_accepts(VALID)
    schema.check_submission(VALID)


@pytest.mark.parametrize(
    ("kind", "body", "problem"),
    [
        ("consultation", {"kind": "party"}, "missing"),
        ("question", {}, "missing"),
        ("unknown", {}, "unknown record kind"),
    ],
)
def test_bodies_are_checked_by_kind(kind, body, problem):
    with pytest.raises(schema.RecordInvalid, match=problem):
        schema.check_body(kind, body)


def test_multilingual_text_needs_a_known_language():
    rule = schema.multilingual(50)
    rule({"ckb": "ڕاوێژ", "ku": "Şêwirîn"}, "title")
    with pytest.raises(schema.RecordInvalid, match="unknown language"):
        rule({"fa": "مشاوره"}, "title")
    with pytest.raises(schema.RecordInvalid, match="at least one language"):
        rule({"ar": "  "}, "title")
