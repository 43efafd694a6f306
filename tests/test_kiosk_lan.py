"""Phones on the laptop's Wi-Fi: a separate listener with the participant pages only.

127.0.0.2 stands for the hotspot address. The phone is a real HTTP client with a cookie jar.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from fieldapp import lan
from fieldapp.extensions import db
from fieldapp.models import Role, Submission
from fieldapp.services import intake

from .conftest import add_user, login
from .participants import Phone, send_status
from .sync_world import meeting_laptop, site

HOTSPOT = "127.0.0.2"


@contextmanager
def signed_in_office(
    tmp_path: Path, processes: int = 2
) -> Iterator[tuple[Flask, Any, str, str, str]]:
    """A laptop whose phones' address is 127.0.0.2 (any free port), served by ``processes``
    listener processes, and its signed-in facilitator (a test client): app, facilitator,
    consultation id, join code, question id."""
    folder, code, question = meeting_laptop(tmp_path, languages=("ku", "ar"))
    config = {
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "LAN_ADDRESS": HOTSPOT,
        "LAN_PORT": 0,
        "LAN_PROCESSES": processes,
    }
    with site(folder, **config) as app:
        add_user(app, "amira", Role.COORDINATOR)
        with app.app_context():
            record_id = intake.meeting_for(code).consultation.id
        facilitator = app.test_client()
        login(facilitator)
        yield app, facilitator, record_id, code, question


@pytest.fixture(params=[2], ids=["2-processes"])
def office(tmp_path, request):
    """The laptop with its phones let in, its listener's processes as ``request.param``."""
    with signed_in_office(tmp_path, request.param) as (
        app,
        facilitator,
        record_id,
        _code,
        question,
    ):
        facilitator.post(f"/consultations/{record_id}/intake/phones")
        listener = lan.running(record_id)
        assert listener is not None
        try:
            yield app, facilitator, record_id, question, listener
        finally:
            lan.stop(record_id)


def open_code(app, record_id: str) -> str | None:
    """The join code of the consultation's open input, if any."""
    with app.app_context():
        return intake.open_code(record_id)


def stored_submissions(app) -> list[Submission]:
    """The submissions on the laptop (written by the listener's own process)."""
    with app.app_context():
        return db.session.query(Submission).all()


def answer(phone: Phone, code: str, question: str, text: str) -> int:
    """200 when acknowledged, else the status of the refused submission (sent once: with two
    listener processes a second try may reach the other one, which would take it)."""
    return send_status(phone, code, question, text, language="ku")


def test_phone_answers_over_the_hotspot(office):
    app, facilitator, record_id, question, listener = office
    assert listener.host == HOTSPOT
    code = open_code(app, record_id)
    overview = facilitator.get(f"/consultations/{record_id}").get_data(as_text=True)
    assert f"{listener.url}/p/{code}" in overview
    assert 'src="data:image/svg+xml' in overview  # the QR code, made on the laptop
    phone = Phone(listener.url)
    status, page, headers = phone.get(f"/p/{code}")
    assert status == 200
    assert "Kurdî (Kurmancî)" in page
    assert headers["Cache-Control"] == "no-store"
    assert answer(phone, code, question, "Rêya gund vekin") == 200
    [row] = stored_submissions(app)
    body = json.loads(row.body)
    assert body["channel"] == "own_device"
    assert body["answers"] == {question: "Rêya gund vekin"}


def test_facilitator_pages_do_not_exist_on_the_hotspot(office):
    """Even with the facilitator's own cookie, the listener answers 404 (P-07)."""
    _app, facilitator, _record_id, _question, listener = office
    cookie = facilitator.get_cookie("__Host-fieldapp")
    for path in ("/", "/login", "/setup", "/consultations", "/admin/users", "/export", "/import"):
        request = urllib.request.Request(
            listener.url + path, headers={"Cookie": f"__Host-fieldapp={cookie.value}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)  # noqa: S310 -- the test's own listener
        refused.value.close()
        assert refused.value.code == 404, path
    with urllib.request.urlopen(listener.url + "/static/css/app.css", timeout=5) as response:  # noqa: S310
        assert response.status == 200


@pytest.mark.parametrize("office", [1], ids=["1-process"], indirect=True)
def test_one_phone_cannot_flood_or_guess(office):
    """One listener process: 6 submissions a minute and 20 unknown codes per 10 minutes
    from one address, then 429."""
    app, _facilitator, record_id, question, listener = office
    assert len(listener.pids) == 1
    code = open_code(app, record_id)
    phone = Phone(listener.url)
    results = [answer(phone, code, question, f"pêşniyar {n}") for n in range(7)]
    assert results[:6] == [200] * 6
    assert results[6] == 429
    assert len(stored_submissions(app)) == 6
    guesser = Phone(listener.url)
    statuses = [guesser.get(f"/p/AAAAA{n:02d}")[0] for n in range(21)]
    assert statuses[:20] == [404] * 20
    assert statuses[20] == 429


def test_two_listener_processes_never_allow_more_than_the_limit(office):
    """Two processes each count for themselves and allow half: whichever takes each
    connection, one address never gets more than 6 submissions a minute or 20 unknown codes
    in 10 minutes through both, and is refused before either is exceeded."""
    app, _facilitator, record_id, question, listener = office
    assert len(set(listener.pids)) == 2
    code = open_code(app, record_id)
    phone = Phone(listener.url)
    results = [answer(phone, code, question, f"pêşniyar {n}") for n in range(7)]
    assert set(results) == {200, 429}  # 7 over two processes: one of them saw a 4th
    assert 3 <= results.count(200) <= 6
    assert len(stored_submissions(app)) == results.count(200)
    guesser = Phone(listener.url)
    statuses = [guesser.get(f"/p/AAAAA{n:02d}")[0] for n in range(21)]
    assert set(statuses) == {404, 429}  # 21 over two: one of them saw an 11th
    assert 10 <= statuses.count(404) <= 20


def test_closing_input_closes_the_listener(office):
    _app, facilitator, record_id, _question, listener = office
    facilitator.post(f"/consultations/{record_id}/intake/close")
    assert lan.running(record_id) is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(listener.url + "/static/css/app.css", timeout=3)  # noqa: S310


def test_the_listener_never_binds_every_address(tmp_path):
    with pytest.raises(ValueError, match="never all"):
        lan.start("x", tmp_path, "0.0.0.0", 8080)  # noqa: S104 -- the refusal under test
