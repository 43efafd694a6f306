"""Hypothesis drives two laptops through random edits and exports; head offices must agree.

Each example starts from copies of the same three installations (a head office and two laptops
that both hold one consultation and one action point). Hypothesis picks what the laptops do and
in which order head office receives their files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp.models import DeviceRole
from fieldapp.services import records

from .sync_world import Installation, clone, copy_record, editable_body

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("edit"),
            st.sampled_from("ab"),
            st.sampled_from(["place", "status"]),
            st.sampled_from(["Bashiqa", "بعشيقة", "Başîqa", "closed", "open"]),
        ),
        st.tuples(st.just("submit"), st.sampled_from("ab"), st.integers(0, 9), st.just("")),
        st.tuples(st.just("delete"), st.sampled_from("ab"), st.just(0), st.just("")),
        st.tuples(st.just("export"), st.sampled_from("ab"), st.just(0), st.just("")),
    ),
    min_size=1,
    max_size=10,
)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    root = tmp_path_factory.mktemp("templates")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    a = Installation(root / "a", DeviceRole.FIELD, "Laptop A", (ho,))
    b = Installation(root / "b", DeviceRole.FIELD, "Laptop B", (ho,))
    ho.register(a, b)
    with a.session():
        consultation, _ = records.create(
            "consultation",
            {
                "kind": "town_hall",
                "title": {"ku": "Civîna giştî"},
                "original_language": "ku",
                "status": "open",
                "governorate": "IQ-DA",
            },
        )
        action, _ = records.create(
            "action_point",
            {
                "consultation": consultation,
                "text": {"ar": "إصلاح الطريق"},
                "original_language": "ar",
                "priority": "high",
                "status": "agreed",
            },
        )
    copy_record(a, b, consultation)
    copy_record(a, b, action)
    return ho, a, b, consultation, action


def apply(laptop, op, consultation, action, counter) -> None:
    kind, _who, field_or_n, value = op
    with laptop.session():
        if kind == "edit":
            head = records.current(consultation)
            if field_or_n == "status" and value not in ("open", "closed"):
                return
            records.update(
                consultation, {**editable_body(head), field_or_n: value}, head.winner_rev
            )
        elif kind == "submit":
            records.add_submission(consultation, {}, "ku", "paper", f"key-{field_or_n}-{counter}")
        elif kind == "delete":
            head = records.current(action)
            if not head.deleted:
                records.delete(action, head.winner_rev)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, shuffle=st.randoms(use_true_random=False))
def test_head_offices_agree_whatever_the_laptops_did(templates, ops, shuffle):
    """Same files in any order: same digest; every submission and version arrives."""
    ho_template, a_template, b_template, consultation, action = templates
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        laptops = {"a": clone(a_template, root / "a"), "b": clone(b_template, root / "b")}
        files = []
        for counter, op in enumerate(ops):
            laptop = laptops[op[1]]
            if op[0] == "export":
                files.append(laptop.export(root))
            else:
                apply(laptop, op, consultation, action, counter)
        files += [laptops["a"].export(root), laptops["b"].export(root)]
        first, second = clone(ho_template, root / "ho1"), clone(ho_template, root / "ho2")
        first.merge(*files)
        reordered = files[:]
        shuffle.shuffle(reordered)
        second.merge(*reordered, *reordered[:2])
        merged = first.stats()
        assert merged == second.stats()
        a_counts, b_counts = laptops["a"].stats()["counts"], laptops["b"].stats()["counts"]
        assert merged["counts"]["submissions"] == a_counts["submissions"] + b_counts["submissions"]
        assert merged["counts"]["versions"] >= max(a_counts["versions"], b_counts["versions"])
        with first.session():
            head = records.current(consultation)
            with second.session():
                assert records.current(consultation).winner_rev == head.winner_rev
