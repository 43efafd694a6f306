"""A crowd at the kiosk pages of a real server: nothing lost, nothing doubled, power cuts survived.

The server is fieldapp as a facilitator starts it (run.py, waitress) on loopback.
"""

from __future__ import annotations

import http.client
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .participants import Phone, consent_page, give_input
from .serving import Server
from .sync_world import meeting_laptop


@pytest.fixture
def laptop(tmp_path) -> tuple[Path, str, str]:
    """A field laptop with an open consultation of one question."""
    return meeting_laptop(tmp_path)


def stored_answers(folder: Path, question: str) -> list[str]:
    """Every stored answer, read straight from the database file."""
    import json

    with sqlite3.connect(folder / "fieldapp.sqlite3") as connection:
        bodies = [row[0] for row in connection.execute("SELECT body FROM submission")]
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return [json.loads(body)["answers"][question] for body in bodies]


def crowd(
    url: str, code: str, question: str, clients: int, rounds: int
) -> tuple[set[str], list[str]]:
    """``clients`` people, each giving input ``rounds`` times; what was acknowledged, errors."""
    acknowledged: set[str] = set()
    errors: list[str] = []
    lock = threading.Lock()

    def person(number: int) -> None:
        phone = Phone(url)
        for round_ in range(rounds):
            marker = f"person {number} round {round_}"
            try:
                ok = give_input(phone, code, question, marker)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(f"{marker}: {exc!r}")
                continue
            with lock:
                if ok:
                    acknowledged.add(marker)
                else:
                    errors.append(f"{marker}: not acknowledged")

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(person, range(clients)))
    return acknowledged, errors


def test_ninety_people_ten_times_each(laptop):
    """90 clients x 10 rounds: no error, stored == acknowledged, integrity ok."""
    folder, code, question = laptop
    server = Server(folder)
    server.start()
    try:
        started = time.monotonic()
        acknowledged, errors = crowd(server.url, code, question, clients=90, rounds=10)
        seconds = time.monotonic() - started
    finally:
        server.stop()
    assert errors == []
    stored = stored_answers(folder, question)
    assert len(stored) == len(set(stored))  # none doubled
    assert set(stored) == acknowledged  # none lost, none extra
    assert len(acknowledged) == 900
    print(f"900 visits (4,500 requests) in {seconds:.1f} s")


def test_five_repeats_of_one_submission_make_one_record(laptop):
    folder, code, question = laptop
    server = Server(folder)
    server.start()
    try:
        phone = Phone(server.url)
        phone.get(f"/p/{code}")
        phone.post(consent_page(phone, code, "ar") or "", {"choice": "agree"})
        phone.post(f"/p/{code}/q/1", {f"q_{question}": "once only", "go": "next"})
        barrier = threading.Barrier(5)

        def tap() -> int:
            barrier.wait()
            return phone.post(f"/p/{code}/review", {})[0]

        with ThreadPoolExecutor(max_workers=5) as pool:
            statuses = list(pool.map(lambda _: tap(), range(5)))
    finally:
        server.stop()
    assert statuses == [302] * 5  # every tap sees the receipt (or the start after it)
    assert stored_answers(folder, question) == ["once only"]


def test_power_cut_in_the_middle_of_a_burst(laptop):
    """kill -9 mid-burst, restart: integrity ok, every acknowledged submission is there."""
    folder, code, question = laptop
    server = Server(folder)
    server.start()
    acknowledged: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def person(number: int) -> None:
        phone = Phone(server.url)
        round_ = 0
        while not stop.is_set():
            marker = f"person {number} round {round_}"
            round_ += 1
            try:
                if give_input(phone, code, question, marker):
                    with lock:
                        acknowledged.add(marker)
            except (OSError, http.client.HTTPException):
                return  # the server is gone (a half-read reply is not an acknowledgement)

    workers = [threading.Thread(target=person, args=(n,)) for n in range(30)]
    for worker in workers:
        worker.start()
    time.sleep(3)
    server.kill()
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    assert len(acknowledged) > 10
    server.start()  # the facilitator starts fieldapp again after the power cut
    try:
        stored = set(stored_answers(folder, question))
    finally:
        server.stop()
    assert acknowledged <= stored
