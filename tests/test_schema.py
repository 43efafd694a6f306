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


def largest_consultation() -> dict:
    """Every field of a consultation at its maximum, in the character JSON makes longest
    (a control character, escaped as \\u00XX: six bytes)."""
    worst = "\x01"

    def per_language(length: int) -> dict:
        return {lang: worst * length for lang in schema.LANGS}

    return {
        "kind": "consultation_gathering",
        "title": per_language(schema.TITLE),
        "original_language": "ckb",
        "status": "closed",
        "governorate": worst * 20,
        "updated_at": "2026-03-12T10:00:00.123456Z",
        "updated_by": VALID["device"],
        "description": per_language(schema.LONG),
        "programme": worst * schema.SHORT,
        "district": worst * 60,
        "place": worst * schema.SHORT,
        "starts_on": "2026-03-12",
        "ends_on": "2026-03-13",
        "start_time": "09:00",
        "end_time": "17:30",
        "facilitators": [worst * schema.SHORT] * 20,
        "languages": list(schema.LANGS),
        "groups": [{"id": "g" * 40, "label": per_language(schema.SHORT)}] * 30,
        "consent_text": per_language(schema.LONG),
        "minutes": per_language(schema.MINUTES),
    }


def test_the_largest_consultation_the_schema_allows_fits_the_record_and_line_caps():
    """The caps agree: what the schema accepts, the bundle's line cap admits (issue #9)."""
    from fieldapp.services.sync.bundle import Limits

    body = largest_consultation()
    schema.check_body("consultation", body)
    size = schema.canonical_size(body)
    assert 5_000_000 < size <= schema.MAX_RECORD_BYTES
    assert Limits().max_line >= schema.MAX_RECORD_BYTES + 300  # id, rev, parent, deleted


def test_a_record_over_the_record_cap_is_refused_naming_the_limit():
    question = {
        "type": "free_text",
        "text": {lang: "\x01" * schema.LONG for lang in schema.LANGS},
        "original_language": "ar",
    }
    body = {
        "name": {"ar": "قالب"},
        "original_language": "ar",
        "questions": [question] * 200,
        "updated_at": "2026-03-12T10:00:00Z",
        "updated_by": VALID["device"],
    }
    with pytest.raises(schema.RecordInvalid, match="larger than 8 MB, the most one record may"):
        schema.check_body("template", body)


def test_problems_are_translatable_messages_naming_the_field():
    """A coordinator reads the detail in their language: the problem is a gettext message."""
    from flask_babel.speaklater import LazyString

    with pytest.raises(schema.RecordInvalid) as caught:
        schema.text(10)("x" * 11, "consultation.title.ar")
    assert isinstance(caught.value.problem, LazyString)
    assert isinstance(caught.value.message, LazyString)
    assert str(caught.value) == "consultation.title.ar: longer than 10 characters"


def test_a_lone_surrogate_is_not_text():
    with pytest.raises(schema.RecordInvalid, match="not valid text"):
        schema.canonical_size({"title": "\ud800"})
