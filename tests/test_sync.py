"""Sync by files: export, merge, and the promises head office relies on.

A small world is built once (see ``sync_world``): a head office, a regional office and two
laptops that edit the same consultation concurrently, delete an action point, and export.
Every test works on copies of the head office, so each starts from the same empty state.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp.services import records
from fieldapp.services.sync.bundle import AGE_MAGIC

from .sync_world import build_world, clone


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The installations and the files they exported (built once per module)."""
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    """What head office holds after merging every laptop file once, in the usual order."""
    ho = clone(world["ho"], tmp_path_factory.mktemp("ref") / "ho")
    summaries = ho.merge(world["files"]["A1"], world["files"]["A2"], world["files"]["B1"])
    assert all(s.ok for s in summaries), [s.error for s in summaries]
    return ho.stats()


def fresh_ho(world, root: Path):
    return clone(world["ho"], root / "ho")


def test_bundle_is_an_age_file_with_a_neutral_name(world):
    """What a facilitator carries reveals nothing: age ciphertext, a random name."""
    for path in world["files"].values():
        assert path.read_bytes().startswith(AGE_MAGIC)
        assert path.suffix == ".fieldsync"
        assert len(path.stem) == 16
        data = path.read_bytes()
        for clue in (b"Bashiqa", "بعشيقة".encode(), b"consultation", b"2026"):
            assert clue not in data


def test_export_then_merge_reproduces_the_laptop_exactly(world, tmp_path):
    """An empty head office that merges a laptop's latest export holds exactly its data."""
    ho = fresh_ho(world, tmp_path)
    [summary] = ho.merge(world["files"]["A2"])
    assert summary.ok
    assert summary.device_name == "Bashiqa laptop"
    assert summary.export_seq == 2
    assert summary.missing_exports == [(1, 1)]
    assert ho.stats()["digest"] == world["a"].stats()["digest"]


def test_merging_a_file_twice_changes_nothing(world, tmp_path):
    """The second import of the same file is reported and counts nothing twice."""
    ho = fresh_ho(world, tmp_path)
    first, second = ho.merge(world["files"]["B1"], world["files"]["B1"])
    assert first.new > 0
    assert second.ok
    assert second.already_merged
    assert second.new == 0
    assert second.unchanged == first.new
    assert ho.stats() == world["b"].stats()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    order=st.permutations(["A1", "A2", "B1"]),
    repeats=st.lists(st.sampled_from(["A1", "A2", "B1"]), max_size=3),
)
def test_files_in_any_order_with_repeats_give_the_same_data(world, reference, order, repeats):
    """Order and repetition of imports never change what head office holds."""
    with tempfile.TemporaryDirectory() as root:
        ho = fresh_ho(world, Path(root))
        names = list(order) + repeats
        summaries = ho.merge(*(world["files"][n] for n in names))
        assert all(s.ok for s in summaries)
        assert ho.stats() == reference


def test_grouping_does_not_matter(world, reference, tmp_path):
    """Merging the regional office's bundle equals merging the laptops' files it holds."""
    ho = fresh_ho(world, tmp_path)
    summaries = ho.merge(world["files"]["R1"], world["files"]["A2"])
    assert all(s.ok for s in summaries), [s.error for s in summaries]
    assert ho.stats() == reference


def test_nothing_in_any_file_is_lost(world, reference):
    """Every submission and version of every laptop is at head office."""
    a, b = world["a"].stats()["counts"], world["b"].stats()["counts"]
    merged = reference["counts"]
    assert merged["submissions"] == a["submissions"] + b["submissions"]
    # The shared consultation exists on both laptops: its first version is counted once.
    assert merged["versions"] >= a["versions"] + b["versions"] - 1
    assert merged["consultations"] == 3


def test_concurrent_edits_give_one_winner_and_a_listed_conflict(world, tmp_path):
    """Both laptops edited the shared consultation: one winner, one conflict, everywhere."""
    results = []
    for index, order in enumerate(itertools.permutations(["A2", "B1"])):
        ho = fresh_ho(world, tmp_path / str(index))
        ho.merge(*(world["files"][n] for n in order))
        with ho.session():
            head = records.current(world["shared"])
            results.append((head.winner_rev, head.conflicts))
    assert results[0] == results[1]
    assert results[0][1] == 1
    assert world["a"].stats()["counts"]["conflicts"] == 0


def test_a_deletion_is_never_undone_by_an_older_file(world, tmp_path):
    """Merging the older export after the newer one leaves the action point deleted."""
    ho = fresh_ho(world, tmp_path)
    ho.merge(world["files"]["A2"], world["files"]["A1"])
    with ho.session():
        assert records.current(world["deleted"]).deleted


def test_a_restored_backup_works_on_its_own_copy(world, tmp_path):
    """An instance folder copied elsewhere keeps working, and does not touch the original."""
    ho = fresh_ho(world, tmp_path)
    backup = clone(ho, tmp_path / "restored")
    backup.merge(world["files"]["B1"])
    assert backup.stats()["counts"]["submissions"] > 0
    assert ho.stats()["counts"]["submissions"] == 0


def test_merge_summary_counts(world, tmp_path):
    """New, updated, unchanged and conflicts are counted per file."""
    ho = fresh_ho(world, tmp_path)
    a1, a2, b1 = ho.merge(world["files"]["A1"], world["files"]["A2"], world["files"]["B1"])
    assert a1.new > 0
    assert a1.unchanged == 0
    assert a1.updated == 0
    assert a2.updated >= 2  # the shared consultation and the deleted action point
    assert a2.unchanged > 0
    assert b1.conflicts == 1
    assert a2.missing_exports == []


def test_stats_json_shape(world, reference):
    """stats gives counts per kind and one digest."""
    assert set(reference) == {"counts", "digest"}
    assert {"consultations", "submissions", "questions", "action_points"} <= set(
        reference["counts"]
    )
    assert len(reference["digest"]) == 64
