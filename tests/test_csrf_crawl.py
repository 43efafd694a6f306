"""W-10/11/12 for every route: no POST without its token, no GET that changes anything, no
POST from another site, found by crawling the url map with the ids that really exist."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from fieldapp.models import DeviceRole, Role
from fieldapp.services import demo, intake, workspace
from fieldapp.services.sync.stats import digest

from .conftest import add_user, csrf_token
from .sync_world import Installation, site
from .webcrawl import crawl

# Bookkeeping a signed-in request may update (the idle timeout's "last seen"): not content.
# The audit log is compared on its own: a download is recorded there on purpose.
BOOKKEEPING = {"login_session", "audit_event"}


def database_dump(folder: Path) -> str:
    """SHA-256 of every row of every table but the session bookkeeping, in a fixed order."""
    connection = sqlite3.connect(folder / "fieldapp.sqlite3")
    try:
        sha = hashlib.sha256()
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        for table in tables:
            if table in BOOKKEEPING:
                continue
            for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY 1'):  # noqa: S608 -- names from sqlite_master
                sha.update(f"{table}\t{row!r}\n".encode())
        return sha.hexdigest()
    finally:
        connection.close()


def audit_actions(folder: Path) -> list[str]:
    """The actions in the audit log, oldest first."""
    connection = sqlite3.connect(folder / "fieldapp.sqlite3")
    try:
        return [
            action for (action,) in connection.execute("SELECT action FROM audit_event ORDER BY id")
        ]
    finally:
        connection.close()


def state(app: Flask, folder: Path) -> tuple[str, str]:
    """The records digest (fieldapp stats) and the dump of all other tables."""
    with app.app_context():
        records_digest = digest()
    return records_digest, database_dump(folder)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Path, dict]]:
    """A head office holding a field laptop's merged records, with CSRF protection on."""
    root = tmp_path_factory.mktemp("csrf")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    ho.register(laptop)
    with laptop.session():
        demo.fill(consultations=2, submissions=12, seed=3)
        intake.open_intake(workspace.list_consultations()[0].id)
    files = root / "files"
    files.mkdir()
    ho.merge(laptop.export(files))
    with site(ho.folder, WTF_CSRF_ENABLED=True) as app:
        add_user(app, "amira", Role.COORDINATOR)
        add_user(app, "bahar", Role.VIEWER)
        client = app.test_client()
        login_with_token(client)
        values = known_values(app, client)
        yield app, ho.folder, values


def login_with_token(client: FlaskClient, username: str = "amira") -> None:
    """Sign in through the login form, token included."""
    from .conftest import PASSWORD

    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def known_values(app: Flask, client: FlaskClient) -> dict[str, set[str]]:
    """The value of each route argument seen in the links of every page (real ids)."""
    adapter = app.url_map.bind("localhost")
    values: dict[str, set[str]] = {}
    for path, _response in crawl(client, ["/"], skip=lambda p: p.startswith("/static")):
        try:
            _endpoint, arguments = adapter.match(path.split("?")[0], method="GET")
        except HTTPException:
            continue
        for name, value in arguments.items():
            values.setdefault(name, set()).add(str(value))
    return values


def real_path(rule: Rule, values: dict[str, set[str]]) -> str:
    """The rule's path filled with an id that exists (a made-up one where none was seen)."""
    path = rule.rule
    for name in rule.arguments:
        seen = sorted(values.get(name, ()))
        value = seen[0] if seen else {"direction": "up", "action": "close"}.get(name)
        if value is None:
            value = "1" if "int:" + name in path else str(uuid.UUID(int=7))
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", value, path)
    return path


def posts(app: Flask) -> list[Rule]:
    """Every route that accepts POST."""
    return [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]


def test_every_post_without_its_token_is_refused_and_changes_nothing(office) -> None:
    """Crawl the url map: each POST, signed in but without the token, is 400 and writes nothing."""
    app, folder, values = office
    client = app.test_client()
    login_with_token(client)
    before = state(app, folder)
    accepted = []
    for rule in posts(app):
        path = real_path(rule, values)
        response = client.post(path, data={"title_en": "changed", "lang": "ar", "note": "x"})
        if response.status_code != 400:
            accepted.append((rule.endpoint, path, response.status_code))
    assert accepted == []
    assert len(posts(app)) > 40
    assert state(app, folder) == before
    assert client.get("/").status_code == 200  # still signed in: /logout was refused too


def test_every_post_from_another_site_is_refused_even_with_the_token(office) -> None:
    """A foreign Origin or Sec-Fetch-Site: cross-site is 403 on every POST route, token or not."""
    app, folder, values = office
    client = app.test_client()
    login_with_token(client)
    token = csrf_token(client.get("/account/password").get_data(as_text=True))
    before = state(app, folder)
    accepted = []
    for rule in posts(app):
        path = real_path(rule, values)
        for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            response = client.post(path, data={"csrf_token": token}, headers=headers)
            if response.status_code != 403:
                accepted.append((rule.endpoint, path, headers, response.status_code))
    assert accepted == []
    assert state(app, folder) == before


@pytest.mark.parametrize("username", ["amira", "bahar"], ids=["coordinator", "viewer"])
def test_no_page_changes_anything_by_being_looked_at(office, username: str) -> None:
    """Every GET page reachable with real ids (url map and links) leaves the database as it was."""
    app, folder, values = office
    client = app.test_client()
    login_with_token(client, username)
    before = state(app, folder)
    audit_before = len(audit_actions(folder))
    adapter_paths = [
        real_path(rule, values)
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint not in ("static",)
    ]
    visited = 0
    for path in adapter_paths:
        with client.get(path) as response:
            response.get_data()
        visited += 1
    for _path, _response in crawl(client, ["/"], skip=lambda p: p.startswith("/static")):
        visited += 1
    assert visited > 40
    assert state(app, folder) == before
    # Only downloads are recorded (who took which file is the activity log's purpose).
    recorded = audit_actions(folder)[audit_before:]
    assert [a for a in recorded if not a.endswith((".exported", ".downloaded"))] == []
