"""SECURITY.md promises that had no test of their own: W-17/18 limits, W-21 secrets in logs,
D-07/08 deleted text and a clean shutdown, L-01 server settings, L-03/06 slow clients."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from fieldapp import create_app, lan
from fieldapp.models import Role
from fieldapp.services import workspace
from fieldapp.services.sync import keys
from fieldapp.services.sync.export import export_bundle
from fieldapp.services.sync.merge import merge_files

from .conftest import add_user, login, translated
from .participants import Phone, give_input
from .serving import Server, free_port
from .sync_world import meeting_laptop, opened, site
from .webcrawl import crawl

MIB = 1024 * 1024


def multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body of text fields, and its content type."""
    boundary = "fieldappboundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    ]
    body = "".join(parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


# ---- W-17/18: request limits and trusted hosts --------------------------------------------


@pytest.fixture
def participant_app(tmp_path: Path) -> tuple[Flask, str]:
    """The participant listener's app (as lan.start builds it) on a laptop with open intake."""
    folder, code, _question = meeting_laptop(tmp_path)
    app = create_app(
        {"TESTING": True, "TRUSTED_HOSTS": ["10.42.0.1", "10.42.0.1:8080"]},
        instance_path=folder,
        participant_only=True,
    )
    return app, code


def test_facilitator_app_refuses_each_limit_with_a_413_page(client, coordinator) -> None:
    """Over MAX_FORM_MEMORY_SIZE (one big field), MAX_FORM_PARTS (many fields) or
    MAX_CONTENT_LENGTH: 413 and the "Too much data" page, without a traceback."""
    app = client.application
    assert app.config["MAX_CONTENT_LENGTH"] == 1 * MIB
    assert app.config["MAX_FORM_MEMORY_SIZE"] == 256 * 1024
    assert app.config["MAX_FORM_PARTS"] == 500
    login(client)
    one_big_field = multipart([("note", "x" * (300 * 1024))])  # under 1 MiB, over 256 KiB
    many_fields = multipart([(f"f{i}", "1") for i in range(600)])
    too_long = multipart([(f"f{i}", "x" * 4096) for i in range(300)])  # 1.2 MiB
    for body, content_type in (one_big_field, many_fields, too_long):
        response = client.post("/consultations/new", data=body, content_type=content_type)
        assert response.status_code == 413
        page = response.get_data(as_text=True)
        assert translated("en", "Too much data") in page
        assert "Traceback" not in page
    ok = multipart([(f"f{i}", "1") for i in range(100)])
    assert client.post("/consultations/new", data=ok[0], content_type=ok[1]).status_code != 413


def test_participant_listener_has_smaller_limits(participant_app) -> None:
    """On the hotspot: 64 KiB a request and 200 parts; over either is 413 with a page."""
    app, code = participant_app
    client = app.test_client()
    headers = {"Host": "10.42.0.1:8080"}
    assert client.get(f"/p/{code}", headers=headers).status_code == 200
    big = multipart([("answer", "x" * (70 * 1024))])
    parts = multipart([(f"f{i}", "1") for i in range(250)])
    for body, content_type in (big, parts):
        response = client.post(f"/p/{code}", data=body, content_type=content_type, headers=headers)
        assert response.status_code == 413
        assert translated("en", "Too much data") in response.get_data(as_text=True)


def test_a_foreign_host_header_is_refused_on_both_listeners(client, participant_app) -> None:
    """DNS rebinding: a Host that is not the listener's own address gets 400, not a page."""
    app, code = participant_app
    participant = app.test_client()
    for host in ("attacker.example", "127.0.0.1", "10.42.0.2:8080"):
        response = participant.get(f"/p/{code}", headers={"Host": host})
        assert response.status_code == 400
        assert "Traceback" not in response.get_data(as_text=True)
    assert client.get("/login", headers={"Host": "evil.example:5000"}).status_code == 400
    assert client.get("/login", headers={"Host": "127.0.0.1:5000"}).status_code in (200, 302)


# ---- W-21: what people said and passwords never reach a log line ----------------------------


class Heard(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record (formatted later, exception text included)."""
        self.records.append(record)


@contextlib.contextmanager
def listening_to_every_logger() -> Iterator[Heard]:
    """Every logger at DEBUG into one handler on the root logger, as it was afterwards.

    Alembic's migration environment reads logging settings from alembic.ini, which disables
    the loggers that exist and replaces the root's handlers (and pytest's caplog with them):
    so this runs after the migrations and turns every logger back on. The levels are put
    back after the test: left at DEBUG, SQLAlchemy's pool lines reached the command line's
    output in later tests (``fieldapp export --json`` printed them before its JSON).
    """
    heard = Heard()
    root = logging.getLogger()
    loggers = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    before = [(logger, logger.level, logger.disabled) for logger in [root, *loggers]]
    root.addHandler(heard)
    root.setLevel(logging.DEBUG)
    for logger in loggers:
        logger.disabled = False
        logger.setLevel(logging.DEBUG)
    try:
        yield heard
    finally:
        root.removeHandler(heard)
        for logger, level, disabled in before:
            logger.setLevel(level)
            logger.disabled = disabled


SENTINEL_ANSWER = "SENTINEL-ANSWER-7f3a ڕێگای گوندەکە"
SENTINEL_TYPED = "SENTINEL-TYPED-91bd"
SENTINEL_NOTE = "SENTINEL-NOTE-c02e"
SENTINEL_PASSWORD = "SENTINEL-PASSWORD-5d1e olive"  # noqa: S105 -- a test value


def test_a_whole_journey_leaves_no_answer_or_password_in_any_log(tmp_path) -> None:
    """Sign in (also wrongly), plan, kiosk and typed input, export, merge, review: with every
    logger at DEBUG, no log line holds the answers, the note or the password."""
    folder, code, question = meeting_laptop(tmp_path)
    with listening_to_every_logger() as heard:
        _journey(tmp_path, folder, code, question)
    lines = [heard.format(record) for record in heard.records]
    assert len(lines) > 0
    for sentinel in (SENTINEL_ANSWER, SENTINEL_TYPED, SENTINEL_NOTE, SENTINEL_PASSWORD, "SENTINEL"):
        assert [line for line in lines if sentinel in line] == [], sentinel


def _journey(tmp_path: Path, folder: Path, code: str, question: str) -> None:
    """The laptop's and head office's side of the journey, with the sentinels in it."""
    with site(folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "amira", Role.COORDINATOR, password=SENTINEL_PASSWORD)
        facilitator = app.test_client()
        assert login(facilitator, "amira", SENTINEL_PASSWORD + "x").status_code in (200, 401)
        assert login(facilitator, "amira", SENTINEL_PASSWORD).status_code == 302
        phone = app.test_client()
        phone.post(f"/p/{code}", data={"language": "ar"})
        phone.post(f"/p/{code}/consent", data={"choice": "agree"})
        phone.post(f"/p/{code}/q/1", data={f"q_{question}": SENTINEL_ANSWER, "go": "next"})
        assert phone.post(f"/p/{code}/review", data={}).status_code == 302
        with app.app_context():
            record_id = workspace.list_consultations()[0].id
        response = facilitator.post(
            f"/consultations/{record_id}/capture",
            data={
                "channel": "spoken",
                "language": "ar",
                "consent_method": "spoken",
                f"q_{question}": SENTINEL_TYPED,
            },
        )
        assert response.status_code == 302
        assert facilitator.post("/export").status_code in (200, 302)
    office_folder = tmp_path / "ho"  # meeting_laptop's head office: the laptop exports to it
    with opened(folder):
        public = keys.public_key_info(keys.self_device())
    with opened(office_folder):
        keys.register(public)
    files = tmp_path / "files"
    files.mkdir()
    with opened(folder):
        bundle = Path(export_bundle(folder, files).path)
    with opened(office_folder):
        merge_files([bundle], office_folder)
    with site(office_folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "amira", Role.COORDINATOR, password=SENTINEL_PASSWORD)
        office = app.test_client()
        assert login(office, "amira", SENTINEL_PASSWORD).status_code == 302
        links = [
            path
            for path, _response in crawl(office, ["/contributions"], per_shape=2, limit=40)
            if path.count("/") == 3 and path.startswith("/contributions/")
        ]
        assert links, "no contribution reached head office"
        for link in links:
            office.post(f"{link}/review", data={"state": "has_issues", "note": SENTINEL_NOTE})
        shown = office.get(links[0]).get_data(as_text=True)
        assert SENTINEL_NOTE in shown  # the journey really went through review


# ---- D-07/08: deleted text leaves no trace; a clean shutdown checkpoints ---------------------

SENTINEL_DRAFT = "SENTINEL-DRAFT-e8a1 نص مؤقت"


def raw_bytes(folder: Path) -> bytes:
    """The database file and its write-ahead log, byte for byte, as a thief would read them."""
    found = b""
    for suffix in ("", "-wal", "-journal"):
        path = folder / f"fieldapp.sqlite3{suffix}"
        if path.exists():
            found += path.read_bytes()
    return found


def abandon_a_draft(app: Flask, code: str, question: str, folder: Path) -> None:
    """A participant types an answer, walks away, and the kiosk resets."""
    phone = app.test_client()
    phone.post(f"/p/{code}", data={"language": "ar"})
    phone.post(f"/p/{code}/consent", data={"choice": "agree"})
    phone.post(f"/p/{code}/q/1", data={f"q_{question}": SENTINEL_DRAFT, "go": "next"})
    assert SENTINEL_DRAFT.encode() in raw_bytes(folder)  # the draft was really written down
    phone.post(f"/p/{code}/reset")


def test_an_abandoned_draft_leaves_no_trace_once_the_app_has_closed(tmp_path) -> None:
    """After the reset and a clean close, the words are in no byte of the database or WAL
    (secure_delete zeroes the freed cells; the close checkpoints the WAL away)."""
    folder, code, question = meeting_laptop(tmp_path)
    with site(folder, WTF_CSRF_ENABLED=False) as app:
        abandon_a_draft(app, code, question, folder)
    assert SENTINEL_DRAFT.encode() not in raw_bytes(folder)


def test_an_abandoned_draft_leaves_no_trace_while_the_app_runs(tmp_path) -> None:
    """The same while the app keeps running (a laptop seized mid-meeting): the reset
    truncates the WAL when nobody else is busy at that moment."""
    folder, code, question = meeting_laptop(tmp_path)
    with site(folder, WTF_CSRF_ENABLED=False) as app:
        abandon_a_draft(app, code, question, folder)
        assert SENTINEL_DRAFT.encode() not in raw_bytes(folder)


def test_stopping_the_server_checkpoints_the_wal(tmp_path) -> None:
    """After an ordinary stop, everything is in the database file: the -wal is empty or gone."""
    folder, code, question = meeting_laptop(tmp_path)
    server = Server(folder)
    server.start()
    try:
        assert give_input(Phone(server.url), code, question, "ماء للقرية")
        wal = folder / "fieldapp.sqlite3-wal"
        assert wal.exists()
        assert wal.stat().st_size > 0  # the answer went to the WAL first
    finally:
        server.stop()
    assert not wal.exists() or wal.stat().st_size == 0


# ---- L-01: the waitress settings of both listeners -----------------------------------------


def assert_room_sized(adjustments) -> None:
    """Threads 8, room for the 360 connections 90 phones keep open (bench/room.py) but within
    the 512 sockets select() takes on Windows, idle connections dropped after 30 s, poll()."""
    assert adjustments.threads == 8
    assert 400 <= adjustments.connection_limit <= 500
    assert adjustments.channel_timeout == 30
    assert adjustments.asyncore_use_poll is True


def test_the_participant_listener_runs_with_the_promised_settings(tmp_path) -> None:
    """The listener phones reach: L-01's settings and a 64 KiB body limit, one address only."""
    folder, _code, _question = meeting_laptop(tmp_path)
    listener = lan.start("settings-test", folder, "127.0.0.1", free_port())
    try:
        adjustments = listener.server.adj
        assert_room_sized(adjustments)
        assert adjustments.max_request_body_size == 64 * 1024
        assert [address[3][0] for address in adjustments.listen] == ["127.0.0.1"]
        assert listener.server.effective_host == "127.0.0.1"
    finally:
        lan.stop("settings-test")
    with pytest.raises(ValueError, match="never all of them"):
        lan.start("everywhere", folder, "0.0.0.0", free_port())  # noqa: S104 -- must be refused


def test_the_facilitator_server_runs_with_the_promised_settings(tmp_path, monkeypatch) -> None:
    """``fieldapp serve`` (run.py): the same settings, bound to the loopback address only."""
    import waitress
    from waitress.adjustments import Adjustments

    from fieldapp import cli

    folder, _code, _question = meeting_laptop(tmp_path)
    seen: dict = {}

    class NotServing:
        def run(self) -> None:
            """Return at once instead of serving."""

        def close(self) -> None:
            """Nothing to close."""

    def create_server(app, **settings):
        seen.update(settings)
        return NotServing()

    monkeypatch.setattr(waitress, "create_server", create_server)
    result = CliRunner().invoke(
        cli.cli, ["--instance", str(folder), "serve", "--port", str(free_port())]
    )
    assert result.exit_code == 0, result.output
    adjustments = Adjustments(**seen)
    assert_room_sized(adjustments)
    assert seen["host"] == "127.0.0.1"


# ---- L-03/06: idle connections and a slow sender do not hold up a participant ---------------


def test_idle_connections_and_a_slow_sender_do_not_delay_a_submission(tmp_path) -> None:
    """30 phones x 6 idle keep-alive connections, plus one client sending its body a byte
    every 100 ms: a participant's whole visit still answers, each page within 1 s."""
    folder, code, question = meeting_laptop(tmp_path)
    server = Server(folder)
    server.start()
    idle: list[socket.socket] = []
    stop = threading.Event()

    def slow_sender() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                f"POST /p/{code}/review HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 200\r\n\r\n".encode()
            )
            for _byte in range(200):
                if stop.wait(0.1):
                    return
                sock.sendall(b"a")

    sender = threading.Thread(target=slow_sender, daemon=True)
    try:
        request = (
            f"GET /static/css/app.css HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode()
        for _phone in range(30):
            for _connection in range(6):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                sock.sendall(request)
                assert sock.recv(64).startswith(b"HTTP/1.1 200")
                idle.append(sock)  # left open and silent: a browser's keep-alive pool
        sender.start()
        time.sleep(0.3)  # the slow sender is mid-body
        phone = Phone(server.url)
        timings = []
        for step in (
            lambda: phone.get(f"/p/{code}"),
            lambda: phone.post(f"/p/{code}", {"language": "ar"}),
            lambda: phone.post(f"/p/{code}/consent", {"choice": "agree"}),
            lambda: phone.post(f"/p/{code}/q/1", {f"q_{question}": "ماء", "go": "next"}),
            lambda: phone.post(f"/p/{code}/review", {}),
        ):
            started = time.monotonic()
            status, _page, headers = step()
            timings.append(time.monotonic() - started)
            assert status in (200, 302)
        assert "/thanks" in headers.get("Location", "")
        assert max(timings) < 1.0, timings
        assert sender.is_alive()  # it was still trickling while the participant was served
    finally:
        stop.set()
        for sock in idle:
            sock.close()
        server.stop()
