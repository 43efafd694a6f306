"""Record versions: the rules that make merging a set union (Hypothesis on the real code)."""

from __future__ import annotations

import math
import random
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldapp.services.sync.revisions import (
    InvalidRevision,
    Version,
    canonical_json,
    compute_rev,
    first_version,
    leaves,
    next_version,
    parse_rev,
    resolve,
    union,
)

bodies = st.dictionaries(
    st.sampled_from(["title", "text", "status", "responsible"]),
    st.one_of(st.text(max_size=12), st.integers(-5, 5), st.booleans()),
    max_size=4,
)

# An operation on one of three laptops: edit, delete, or pass its versions to another laptop.
operations = st.lists(
    st.tuples(
        st.sampled_from(["edit", "delete", "sync"]),
        st.integers(0, 2),
        st.integers(0, 2),
        bodies,
    ),
    max_size=25,
)


def simulate(first_body, ops) -> list[dict[str, Version]]:
    """Play the operations on three laptops that all start from the same record."""
    start = first_version(first_body)
    laptops = [{start.rev: start} for _ in range(3)]
    for kind, source, target, body in ops:
        versions = laptops[source]
        current = resolve(versions.values()).winner
        if kind == "edit":
            new = next_version(current, body)
            versions[new.rev] = new
        elif kind == "delete" and not current.deleted:
            new = next_version(current, {}, deleted=True)
            versions[new.rev] = new
        elif kind == "sync":
            laptops[target] = union(laptops[target].values(), versions.values())
    return laptops


def outcome(versions: dict[str, Version]) -> tuple[str, tuple[str, ...]]:
    resolution = resolve(versions.values())
    return resolution.winner.rev, tuple(v.rev for v in resolution.conflicts)


@given(bodies, operations, st.randoms())
@settings(max_examples=200, deadline=None)
def test_merging_is_order_and_grouping_free(first_body, ops, rnd):
    """Any order, grouping or repetition of the laptops' files gives the same state."""
    laptops = simulate(first_body, ops)
    everything = union(*(v.values() for v in laptops))
    files = [list(v.values()) for v in laptops] * 2  # every file imported twice
    rnd.shuffle(files)
    one_by_one: dict[str, Version] = {}
    for file in files:
        one_by_one = union(one_by_one.values(), file)
    split = rnd.randint(0, len(files))
    grouped = union(
        union(*files[:split]).values(),
        union(*files[split:]).values(),
    )
    assert set(one_by_one) == set(grouped) == set(everything)
    assert outcome(one_by_one) == outcome(grouped) == outcome(everything)


@given(bodies, operations)
@settings(max_examples=200, deadline=None)
def test_nothing_is_lost_and_ancestors_never_win(first_body, ops):
    """Every version of every laptop survives; the winner is never an ancestor of another."""
    laptops = simulate(first_body, ops)
    everything = union(*(v.values() for v in laptops))
    for versions in laptops:
        assert set(versions) <= set(everything)
    winner = resolve(everything.values()).winner
    assert winner in leaves(everything.values())
    assert all(v.parent != winner.rev for v in everything.values())
    for version in everything.values():
        version.verify()


@given(bodies, operations)
@settings(max_examples=200, deadline=None)
def test_importing_a_file_twice_changes_nothing(first_body, ops):
    """union(a, a) is a."""
    for versions in simulate(first_body, ops):
        again = union(versions.values(), versions.values())
        assert set(again) == set(versions)
        assert outcome(again) == outcome(versions)


@given(bodies, bodies, bodies)
def test_concurrent_edits_give_one_winner_and_a_listed_conflict(start_body, body_a, body_b):
    """Two laptops edit the same version: both installations pick the same winner."""
    start = first_version(start_body)
    edit_a = next_version(start, {**body_a, "by": "laptop-a"})
    edit_b = next_version(start, {**body_b, "by": "laptop-b"})
    head_office_1 = union([start, edit_a], [edit_b])
    head_office_2 = union([edit_b, start], [edit_a])
    assert outcome(head_office_1) == outcome(head_office_2)
    resolution = resolve(head_office_1.values())
    assert {resolution.winner.rev, *(c.rev for c in resolution.conflicts)} == {
        edit_a.rev,
        edit_b.rev,
    }


@given(bodies, bodies)
def test_a_deletion_is_never_undone_by_an_older_file(start_body, edit_body):
    """A file made before the deletion (only ancestors) leaves the record deleted."""
    start = first_version(start_body)
    edited = next_version(start, edit_body)
    deleted = next_version(edited, {}, deleted=True)
    for older_file in ([start], [start, edited], [edited]):
        merged = union([start, edited, deleted], older_file)
        assert resolve(merged.values()).deleted
        merged = union(older_file, [start, edited, deleted])
        assert resolve(merged.values()).winner.rev == deleted.rev


def test_a_concurrent_edit_beats_a_deletion_and_the_deletion_is_not_a_conflict():
    """Documented policy: an edit nobody saw deleted stays visible (nothing said is lost)."""
    start = first_version({"text": "repair the school roof"})
    deleted = next_version(start, {}, deleted=True)
    edited = next_version(start, {"text": "repair the school roof before winter"})
    resolution = resolve(union([start, deleted], [edited]).values())
    assert resolution.winner.rev == edited.rev
    assert not resolution.deleted
    assert resolution.conflicts == ()


@given(
    bodies,
    bodies,
    st.lists(
        st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 12, 31)).map(
            lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        min_size=4,
        max_size=4,
    ),
)
def test_wall_clock_times_change_nothing_but_displayed_dates(start_body, edit_body, times):
    """Clocks anywhere from 1970 to 2100 give the same revs, winner and conflicts."""
    outcomes = []
    for first, second in ((times[0], times[1]), (times[2], times[3])):
        start = first_version({**start_body, "updated_at": first})
        a = next_version(start, {**edit_body, "by": "a", "updated_at": second})
        b = next_version(start, {**edit_body, "by": "b", "updated_at": first})
        outcomes.append((start.rev, a.rev, b.rev, outcome(union([start, a, b]))))
    assert outcomes[0] == outcomes[1]


def test_revisions_are_checked_against_their_content():
    """A tampered body, parent or flag no longer matches its rev."""
    start = first_version({"title": "LPC meeting, Bashiqa"})
    edit = next_version(start, {"title": "LPC meeting, Bashiqa, 12 March"})
    edit.verify()
    forged = [
        Version(edit.rev, edit.parent, {"title": "something else"}, False),
        Version(edit.rev, edit.parent, edit.body, True),
        Version(edit.rev, None, edit.body, False),
        Version("3-" + edit.rev.split("-")[1], edit.parent, edit.body, False),
    ]
    for version in forged:
        with pytest.raises(InvalidRevision):
            version.verify()
    for bad in ["", "0-" + "a" * 64, "1-" + "A" * 64, "1-abc", "x-" + "a" * 64, "1-" + "a" * 65]:
        with pytest.raises(InvalidRevision):
            parse_rev(bad)


def test_canonical_json_is_the_same_everywhere():
    """Key order does not matter, Arabic and Kurdish stay readable, NaN is refused."""
    one = canonical_json({"b": 1, "a": ["ڕێگا", "طريق"]})
    two = canonical_json({"a": ["ڕێگا", "طريق"], "b": 1})
    assert one == two == '{"a":["ڕێگا","طريق"],"b":1}'.encode()
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_json({"x": math.nan})
    assert compute_rev(None, {"b": 1, "a": 2}, False) == compute_rev(None, {"a": 2, "b": 1}, False)


def test_winner_rule_is_deterministic_for_many_branches():
    """Ten laptops editing the same version: the same winner whatever the arrival order."""
    start = first_version({"n": 0})
    branches = [next_version(start, {"n": i}) for i in range(10)]
    expected = outcome(union([start], branches))
    for seed in range(20):
        shuffled = branches[:]
        random.Random(seed).shuffle(shuffled)
        assert outcome(union(shuffled, [start])) == expected
