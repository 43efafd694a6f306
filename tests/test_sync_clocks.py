"""Laptop clocks are often wrong: they change displayed dates and nothing else."""

from __future__ import annotations

import json

import pytest

from fieldapp.models import DeviceRole
from fieldapp.services import records

from .sync_world import Installation, copy_record, editable_body

CLOCKS = ["1970-01-01T00:00:00Z", "2100-12-31T23:59:59Z", "2026-03-12T09:30:00Z"]


@pytest.fixture
def pair(tmp_path):
    """A head office, two laptops, and one consultation both laptops hold."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    a = Installation(tmp_path / "a", DeviceRole.FIELD, "Laptop A", (ho,))
    b = Installation(tmp_path / "b", DeviceRole.FIELD, "Laptop B", (ho,))
    ho.register(a, b)
    with a.session():
        record_id, _rev = records.create(
            "consultation",
            {
                "kind": "lpc_meeting",
                "title": {"ar": "اجتماع لجنة السلام المحلية، بعشيقة"},
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-NI",
            },
        )
    copy_record(a, b, record_id)
    return ho, a, b, record_id


def edit(installation, record_id, clock, monkeypatch, **changes):
    monkeypatch.setattr(records, "utc_stamp", lambda moment=None: clock)
    with installation.session():
        head = records.current(record_id)
        records.update(record_id, {**editable_body(head), **changes}, head.winner_rev)
    monkeypatch.undo()


@pytest.mark.parametrize(("clock_a", "clock_b"), [(CLOCKS[0], CLOCKS[1]), (CLOCKS[1], CLOCKS[2])])
def test_the_same_change_on_two_laptops_is_one_version(
    pair, tmp_path, monkeypatch, clock_a, clock_b
):
    """Closing the meeting on both laptops at 'different times' is one change, not a conflict."""
    ho, a, b, record_id = pair
    edit(a, record_id, clock_a, monkeypatch, status="closed")
    edit(b, record_id, clock_b, monkeypatch, status="closed")
    files = [a.export(tmp_path), b.export(tmp_path)]
    from .sync_world import clone

    results = []
    for index, order in enumerate((files, files[::-1])):
        copy = clone(ho, tmp_path / f"ho{index}")
        copy.merge(*order)
        with copy.session():
            head = records.current(record_id)
            results.append((head.conflicts, json.loads(head.body)["updated_at"], copy.stats()))
    assert results[0] == results[1]
    assert results[0][0] == 0
    assert results[0][1] == min(clock_a, clock_b)


@pytest.mark.parametrize("clock", CLOCKS)
def test_a_later_edit_wins_whatever_its_clock_says(pair, tmp_path, monkeypatch, clock):
    """An edit made on top of another wins even if its laptop thinks it is 1970."""
    ho, a, _b, record_id = pair
    edit(a, record_id, CLOCKS[1], monkeypatch, status="closed")
    edit(a, record_id, clock, monkeypatch, place="Bashiqa town hall")
    [summary] = ho.merge(a.export(tmp_path))
    assert summary.ok
    with ho.session():
        body = json.loads(records.current(record_id).body)
    assert body["place"] == "Bashiqa town hall"
    assert body["status"] == "closed"
    assert body["updated_at"] == clock
