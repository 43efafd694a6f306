"""The phones' listener is a process of its own, and writers of two processes never sleep long.

The listener is a child of the facilitator's fieldapp (``fieldapp participants-listener``,
started by ``fieldapp.lan``). These tests start real processes: the facilitator's fieldapp as a
facilitator starts it (run.py) and its listener on 127.0.0.2, which stands for the hotspot.
They check that no listener outlives its facilitator app (Ctrl+C, a crash), that a crashed
listener comes back without the facilitator noticing, that the facilitator's pages answer while
phones keep the listener busy, and that an acknowledged answer survives ``kill -9``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from fieldapp import database, lan
from fieldapp.database import writing
from fieldapp.models import Role
from fieldapp.services import intake

from .conftest import PASSWORD, add_user
from .participants import Phone, give_input
from .serving import Server, free_port, process_alive, wait_until
from .sync_world import meeting_laptop, opened, site
from .test_kiosk_lan import signed_in_office

HOTSPOT = "127.0.0.2"
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads child processes from /proc (Linux)"
)


def refused(url: str) -> bool:
    """True when nothing listens at ``url`` any more (connection refused)."""
    try:
        urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 -- the test's own listener
    except urllib.error.HTTPError:
        return False  # something answered
    except OSError:
        return True
    return False


def stored_answers(folder: Path, question: str) -> list[str]:
    """Every stored answer, read straight from the database file; integrity checked."""
    with sqlite3.connect(folder / "fieldapp.sqlite3") as connection:
        bodies = [row[0] for row in connection.execute("SELECT body FROM submission")]
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()
    return [json.loads(body)["answers"][question] for body in bodies]


# ---- in the test process: the route starts a child, closing input ends it -------------------


@pytest.fixture
def office(tmp_path):
    """A signed-in facilitator (test client) who may open the consultation to phones; every
    listener is stopped after the test."""
    with signed_in_office(tmp_path) as opened_office:
        try:
            yield opened_office
        finally:
            lan.stop_all()


def test_the_listener_is_a_process_of_its_own(office):
    """Two processes of their own (LAN_PROCESSES); participant pages only; closing input
    ends both."""
    app, facilitator, record_id, code, question = office
    app.config["LAN_PROCESSES"] = 2
    facilitator.post(f"/consultations/{record_id}/intake/phones")
    listener = lan.running(record_id)
    assert listener is not None
    pids = listener.pids
    assert len(set(pids)) == 2
    assert os.getpid() not in pids
    assert all(process_alive(pid) for pid in pids)
    assert listener.is_alive()
    phone = Phone(listener.url)
    assert phone.get(f"/p/{code}")[0] == 200
    assert give_input(phone, code, question, "Rêya gund vekin", language="ku")
    for path in ("/", "/login", "/consultations", f"/consultations/{record_id}"):
        assert Phone(listener.url).get(path)[0] == 404, path
    facilitator.post(f"/consultations/{record_id}/intake/close")
    assert lan.running(record_id) is None
    assert not listener.is_alive()
    assert not any(process_alive(pid) for pid in pids)
    assert refused(listener.url + "/static/css/app.css")
    # The stopped children told how long their writers waited for the database's write lock,
    # and each wrote it to a file of its own.
    assert listener.write_wait is not None
    assert listener.write_wait["count"] >= 1
    files = sorted(Path(app.instance_path).glob("write-wait-participants*.json"))
    assert [path.name for path in files] == [
        "write-wait-participants-2.json",
        "write-wait-participants.json",
    ]
    saved = [json.loads(path.read_text()) for path in files]
    assert sorted(report["pid"] for report in saved) == sorted(pids)
    assert sum(report["write_wait"]["count"] for report in saved) == listener.write_wait["count"]


def test_a_taken_port_is_refused_with_the_reason(office):
    """Another program on the phones' port: the facilitator is told, nothing is left running."""
    app, facilitator, record_id, _code, _question = office
    with socket.socket() as other_program:
        other_program.bind((HOTSPOT, 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            lan.start("taken", Path(app.instance_path), HOTSPOT, port)
        app.config["LAN_PORT"] = port
        page = facilitator.post(
            f"/consultations/{record_id}/intake/phones", follow_redirects=True
        ).get_data(as_text=True)
    assert "The address for phones could not be opened" in page
    assert lan.running(record_id) is None
    assert lan.running("taken") is None


def test_a_windows_child_takes_up_the_socket_its_parent_shared(monkeypatch):
    """The hand-over on Windows, as far as it runs here: the child reads back exactly the
    bytes ``socket.share`` gave the parent (a line of base64, ``\\r\\n`` as Windows' text
    pipes write it), and standard input is left for the parent watch, which ends the child
    when it closes."""
    import io

    from fieldapp.cli_listener import inherited_socket

    duplicate = bytes(range(256)) + b"\n\r\x00" * 40  # opaque: newlines, NULs

    class Parent:
        def share(self, pid: int) -> bytes:
            assert pid == 4242
            return duplicate

    line = lan.hand_over_line(Parent(), 4242)  # type: ignore[arg-type]
    assert line.endswith("\n")
    assert line.count("\n") == 1
    reading, writing_end = os.pipe()
    os.write(writing_end, line.replace("\n", "\r\n").encode("ascii") + b"later bytes")
    os.close(writing_end)
    with open(reading, "rb") as pipe:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(pipe))
        monkeypatch.setattr(socket, "fromshare", lambda data: ("taken up", data), raising=False)
        assert inherited_socket(None, on_stdin=True) == ("taken up", duplicate)
        assert os.read(reading, 100) == b"later bytes"  # nothing after the line was taken


@linux_only
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_listener_stopped_by_a_signal_exits_cleanly(tmp_path, stop):
    """A signal while its parent still holds its standard input open (Ctrl+C reaches the
    listener before the parent closes it): exit code 0, which the parent does not restart.
    It once aborted at interpreter shutdown (-6), its stdin's lock held by the parent watch."""
    folder, _code, _question = meeting_laptop(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "fieldapp", "--instance", str(folder), "participants-listener"]
        + ["--host", HOTSPOT, "--port", str(free_port())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "ready" in json.loads(process.stdout.readline())
        process.send_signal(stop)
        code = process.wait(timeout=20)  # standard input still open
        errors = process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    assert "Fatal Python error" not in errors
    assert code == 0, errors


# ---- the write lock between two processes -----------------------------------------------------


def hold_write_lock(path: Path, seconds: float, released: list[float]) -> threading.Thread:
    """Another process's writer (a connection of its own) holding the lock for ``seconds``."""
    taken = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            other.execute("COMMIT")
            released.append(time.perf_counter())
        finally:
            other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(5), "the other writer never had the lock"
    return thread


def test_a_writer_gets_the_lock_soon_after_another_process_lets_go(tmp_path):
    """153 ms held elsewhere: the writer has the lock within 10 ms of the release (median of
    5). SQLite's busy handler, asleep for 50 ms between its tries at 128 and 178 ms, got it
    about 28 ms late."""
    folder, _code, _question = meeting_laptop(tmp_path)
    late: list[float] = []
    with opened(folder):
        database.clear_write_waits()
        for _ in range(5):
            released: list[float] = []
            holder = hold_write_lock(folder / "fieldapp.sqlite3", 0.153, released)
            with writing() as session:
                session.execute(text("SELECT 1"))  # the transaction, and its lock, begin here
                got = time.perf_counter()
            holder.join()
            late.append(got - released[0])
        stats = database.write_wait_stats()
    assert statistics.median(late) < 0.010, late
    assert stats["count"] == 5
    assert stats["contended"] == 5
    assert 140 < stats["max_ms"] < 1000


def test_a_writer_gives_up_at_the_deadline(tmp_path, monkeypatch):
    """The lock held longer than the busy timeout: "database is locked" at the deadline,
    not later, and nothing written."""
    from sqlalchemy.exc import OperationalError

    folder, _code, _question = meeting_laptop(tmp_path)
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 300)
    released: list[float] = []
    with opened(folder):
        # The lock is taken once the app is open: opening it on a loaded CI machine once took
        # long enough that a lock taken before it was already let go.
        holder = hold_write_lock(folder / "fieldapp.sqlite3", 1.5, released)
        try:
            started = time.perf_counter()
            with pytest.raises(OperationalError, match="database is locked"), writing() as session:
                session.execute(text("SELECT 1"))
            waited = time.perf_counter() - started
        finally:
            holder.join()
    assert 0.25 < waited < 1.2, waited


# ---- the facilitator's fieldapp as a facilitator starts it, and its listener ------------------


class Facilitator:
    """A facilitator signed in to a real server, through its pages."""

    def __init__(self, server: Server) -> None:
        self.browser = Phone(server.url)
        self.browser.get("/login")
        status, _page, headers = self.browser.post(
            "/login", {"username": "amira", "password": PASSWORD}
        )
        assert status == 302, "sign-in failed"

    def open_phones(self, record_id: str) -> None:
        """Press *Let phones join* on the consultation's page."""
        self.browser.get(f"/consultations/{record_id}")
        status, _page, _headers = self.browser.post(f"/consultations/{record_id}/intake/phones", {})
        assert status == 302

    def overview(self, record_id: str) -> tuple[int, str, float]:
        """The consultation's page: status, text, seconds it took."""
        started = time.perf_counter()
        status, page, _headers = self.browser.get(f"/consultations/{record_id}")
        return status, page, time.perf_counter() - started


@pytest.fixture
def room(tmp_path) -> Iterator[tuple[Server, Facilitator, str, str, str, str]]:
    """run.py in a process group of its own, a signed-in facilitator, phones let in.

    Yields the server, the facilitator, the consultation, the join code, the question and the
    listener's address. Every process is ended afterwards, whatever the test did to them.
    """
    folder, code, question = meeting_laptop(tmp_path, languages=("ar", "ckb"))
    with site(folder, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "amira", Role.COORDINATOR)
        with app.app_context():
            record_id = intake.meeting_for(code).consultation.id
    port = free_port()
    env = {
        "FIELDAPP_LAN_ADDRESS": HOTSPOT,
        "FIELDAPP_LAN_PORT": str(port),
        "FIELDAPP_LAN_PROCESSES": "2",
    }
    server = Server(folder, env=env, own_terminal=True)
    server.start()
    seen: set[int] = set()
    try:
        facilitator = Facilitator(server)
        facilitator.open_phones(record_id)
        seen.update(server.children())
        yield server, facilitator, record_id, code, question, f"http://{HOTSPOT}:{port}"
        seen.update(server.children())
    finally:
        assert server.process is not None
        if server.process.poll() is None:
            seen.update(server.children())
        server.stop()
        for pid in seen:  # a listener left over by a failed test: never leave it running
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)


def the_listeners(server: Server) -> list[int]:
    """The process ids of the server's two children, the phones' listener processes."""
    assert wait_until(lambda: len(server.children()) == 2, timeout=20), server.output()
    return sorted(server.children())


def still_there(pids: list[int], server: Server) -> str:
    """What listeners that should have ended are doing, and what the server printed."""
    lines = []
    for pid in filter(process_alive, pids):
        with contextlib.suppress(OSError):
            lines.append(f"listener {pid}: " + Path(f"/proc/{pid}/stat").read_text())
        for wchan in sorted(Path(f"/proc/{pid}/task").glob("*/wchan")):
            with contextlib.suppress(OSError):
                name = (wchan.parent / "comm").read_text().strip()
                lines.append(f"thread {wchan.parent.name} {name}: waits in {wchan.read_text()}")
    return "\n".join([*lines, server.output()])


def all_gone(pids: list[int]) -> bool:
    """None of ``pids`` runs any more."""
    return not any(process_alive(pid) for pid in pids)


@linux_only
def test_ctrl_c_stops_the_listener_with_the_app(room):
    """Ctrl+C in the facilitator's terminal: both processes end, the port is free, and the
    database is one checkpointed file."""
    server, _facilitator, _record_id, _code, _question, phones = room
    listeners = the_listeners(server)
    assert server.process.pid not in listeners
    assert not refused(phones + "/static/css/app.css")
    server.interrupt()
    assert wait_until(lambda: all_gone(listeners), timeout=15), still_there(listeners, server)
    try:
        assert server.process.wait(timeout=15) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("the app did not stop:\n" + still_there([server.process.pid], server))
    assert refused(phones + "/static/css/app.css")
    wal = server.folder / "fieldapp.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0


@linux_only
def test_a_crash_of_the_app_stops_the_listener(room):
    """kill -9 of the facilitator's fieldapp alone: its listener goes within seconds."""
    server, _facilitator, _record_id, _code, _question, phones = room
    listeners = the_listeners(server)
    server.kill()
    assert wait_until(lambda: all_gone(listeners), timeout=15), still_there(listeners, server)
    assert refused(phones + "/static/css/app.css")


@linux_only
def test_a_crashed_listener_comes_back_and_loses_nothing(room):
    """An answer acknowledged, then kill -9 of the listener: the answer is stored, the
    facilitator's page answers and still shows the phones' address, the listener comes back
    on the same address and the next participant gets through."""
    server, facilitator, record_id, code, question, phones = room
    listeners = the_listeners(server)
    assert give_input(Phone(phones), code, question, "قبل الانقطاع")
    for pid in listeners:
        os.kill(pid, signal.SIGKILL)
    assert "قبل الانقطاع" in stored_answers(server.folder, question)
    status, page, _seconds = facilitator.overview(record_id)
    assert status == 200
    assert f"{phones}/p/{code}" in page
    assert wait_until(lambda: len(set(server.children()) - set(listeners)) == 2, timeout=20), (
        server.output()
    )
    assert wait_until(lambda: not refused(phones + "/static/css/app.css"), timeout=20)
    assert give_input(Phone(phones), code, question, "بعد العودة")
    assert sorted(stored_answers(server.folder, question)) == ["بعد العودة", "قبل الانقطاع"]
    assert server.process.poll() is None
    assert server.output().count("stopped unexpectedly") == 2


@linux_only
def test_one_crashed_listener_process_leaves_the_other_serving(room):
    """kill -9 of one of the two: the other takes every phone at once (no refused
    connection, no lost answer), and the killed one comes back beside it."""
    server, _facilitator, _record_id, code, question, phones = room
    survivor, victim = the_listeners(server)
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: not process_alive(victim), timeout=5)
    # Three: the survivor's share of one address's 6 submissions a minute.
    texts = [f"رأي {n}" for n in range(3)]
    for said in texts:  # straight after the kill, before any restart
        phone = Phone(phones)
        assert phone.get(f"/p/{code}")[0] == 200
        assert give_input(phone, code, question, said)
    assert process_alive(survivor)
    assert wait_until(
        lambda: len(server.children()) == 2 and victim not in server.children(), timeout=20
    ), server.output()
    assert survivor in server.children()
    assert sorted(stored_answers(server.folder, question)) == sorted(texts)
    assert server.output().count("stopped unexpectedly") == 1


def busy_visit(phone: Phone, code: str, question: str, text: str) -> list[int]:
    """A participant's visit up to the last page, not sent (the listener lets one address
    send 6 per minute, and every test phone has the same one); the statuses."""
    statuses = [phone.get(f"/p/{code}")[0]]
    status, _page, headers = phone.post(f"/p/{code}", {"language": "ar"})
    consent = urllib.parse.urlsplit(headers.get("Location", ""))  # the consent page
    statuses += [
        status,
        phone.post(f"{consent.path}?{consent.query}", {"choice": "agree"})[0],
        phone.post(f"/p/{code}/q/1", {f"q_{question}": text, "go": "next"})[0],
        phone.get(f"/p/{code}/review")[0],
    ]
    return statuses


@linux_only
def test_the_facilitators_pages_answer_while_phones_are_busy(room):
    """Eight phones going through the questions as fast as they can (bounded): the
    facilitator's page still answers within 500 ms at p95. A test of "not blocked", not a
    benchmark."""
    server, facilitator, record_id, code, question, phones = room
    the_listeners(server)
    stop = threading.Event()
    statuses: list[int] = []
    problems: list[str] = []

    def phone(number: int) -> None:
        for visit in range(60):
            if stop.is_set():
                return
            try:
                statuses.extend(busy_visit(Phone(phones), code, question, f"{number}-{visit}"))
            except (OSError, http.client.HTTPException) as error:
                problems.append(repr(error))
                return

    crowd = [threading.Thread(target=phone, args=(n,)) for n in range(8)]
    for thread in crowd:
        thread.start()
    try:
        time.sleep(1)  # the crowd is busy
        seconds = []
        for _ in range(20):
            status, _page, took = facilitator.overview(record_id)
            assert status == 200
            seconds.append(took)
            time.sleep(0.1)
        busy = len(statuses)
    finally:
        stop.set()
        for thread in crowd:
            thread.join(timeout=60)
    assert problems == []
    assert busy >= 40  # the phones were served meanwhile
    assert set(statuses) <= {200, 302, 303}
    seconds.sort()
    print(f"facilitator's page while {len(statuses)} phone requests: {seconds}")
    assert seconds[18] < 0.5, seconds  # p95 of 20
