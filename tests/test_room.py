"""The room in short (bench/room.py): phones through the real app and its phones' listener.

Thirty phones arrive over ten seconds at a laptop started as a facilitator starts it, each
from an address of its own, and walk from the start page to the receipt as a browser would
(assets, six connections, cache, forms), with think times scaled down; two lose their Wi-Fi
while sending an answer and send it again, three press Back after the receipt. Nothing that
was acknowledged may be lost or stored twice, every typed text must be stored as typed, and
the database must pass ``integrity_check``. A second room of ten phones goes through a weak
hotspot (network namespaces, 20 Mbit/s shared, 30 ms and 1% loss each way); it needs root
and ``ip`` and is skipped, with the reason shown, elsewhere.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from bench import room, room_env

SHAPING, SHAPING_REASON = room_env.shaping_method()


def _room_namespaces() -> set[str]:
    ip = shutil.which("ip")
    if ip is None:
        return set()
    listed = subprocess.run([ip, "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in listed.stdout.splitlines() if "fa-room-" in line}


def assert_nothing_lost_or_doubled(result: dict[str, Any], phones: int) -> None:
    """Every phone got its receipt, and the database holds each receipt's answers once."""
    assert result["errors"] == 0, result["error_examples"]
    assert result["visits_lost"] == []
    assert result["acknowledged"] == phones
    assert result["stored"] == phones
    assert result["lost"] == []
    assert result["doubled"] == []
    assert result["stored_without_receipt"] == []
    assert result["texts_differ"] == []
    assert result["answer_counts_differ"] == []
    assert result["integrity"] == "ok"
    assert result["drafts_left"] == 0


def test_a_short_room_stores_every_receipt_once():
    """30 phones over 10 s: no error, nothing lost or doubled, the listener its own process."""
    result = room.run_room("room", phones=30, window=10, time_scale=0.08, seed=5, poll_every=1)
    assert_nothing_lost_or_doubled(result, 30)
    assert result["dropped_wifi"] == 2  # lost the Wi-Fi mid-answer, sent it again
    assert result["pressed_back"] == 3  # and saw no answer (it would be an error)
    assert result["requests"]["submit"] == 30
    assert result["requests"]["overview"] >= 5  # the facilitator's page, all the while
    assert result["p99_ms"]["overview"] > 0
    assert result["listener_separate_process"], (result["app_pid"], result["listener_pids"])
    assert len(result["listener_pids"]) == 2  # LAN_PROCESSES, as the benchmark sets it
    assert result["listener_outlived_app"] is False
    # A phone downloads the styles, font and script once, then only pages.
    assert result["first_visit_kb"] > 3 * result["later_page_kb"]


def test_stored_against_acknowledged_sees_every_difference():
    """The comparison itself: a lost receipt, a double, a changed text, an unacknowledged one."""
    marker = "mtest"

    def phone(number: int, acknowledged: bool = True) -> dict[str, Any]:
        return {
            "marker": f"{marker}-{number:03d}",
            "acknowledged": acknowledged,
            "texts": {"q_a": f"نص {marker}-{number:03d}-1"},
        }

    def body(number: int, text: str | None = None) -> dict[str, Any]:
        answers: dict[str, Any] = {f"x{n}": n for n in range(room.QUESTIONS - 1)}
        answers["a"] = text or f"نص {marker}-{number:03d}-1"
        return {"answers": answers}

    phones = [phone(1), phone(2), phone(3), phone(4), phone(5, acknowledged=False)]
    bodies = [body(1), body(2), body(2), body(3, f"نص آخر {marker}-003-1"), body(5)]
    found = room._stored_versus_acknowledged(phones, bodies, marker)
    assert found["lost"] == [f"{marker}-004"]
    assert found["doubled"] == [f"{marker}-002"]
    assert found["texts_differ"] == [f"{marker}-003"]
    assert found["stored_without_receipt"] == [f"{marker}-005"]
    assert found["acknowledged"] == 4
    assert found["stored"] == 5
    everything = room._stored_versus_acknowledged(phones[:3], [body(1), body(2), body(3)], marker)
    assert everything["lost"] == everything["doubled"] == everything["texts_differ"] == []


@pytest.mark.skipif(SHAPING is None, reason=f"no weak hotspot here: {SHAPING_REASON}")
def test_a_short_room_on_a_weak_hotspot():
    """10 phones in a namespace of their own behind a shaped link: slower, nothing lost."""
    before = _room_namespaces()
    result = room.run_room("weak_network", phones=10, window=10, time_scale=0.08, seed=7, weak=True)
    assert_nothing_lost_or_doubled(result, 10)
    assert result["listener_outlived_app"] is False
    # Every page takes at least one round trip of the shaped link (30 ms each way).
    assert result["p50_ms"]["question"] >= 60
    # Arriving takes several: start page, its files, language, consent, first question.
    assert result["first_question_p50_ms"] >= 4 * 60
    assert result["first_question_p95_ms"] is not None
    # The listener was on the hotspot's address, and the namespaces are gone.
    assert result["phone_url"].startswith("http://10.42.0.1:")
    assert result["network"]["shaping"] == SHAPING_REASON
    assert _room_namespaces() == before
