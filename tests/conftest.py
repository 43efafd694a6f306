"""Shared fixtures: an app on a fresh instance folder per test, clients, and account helpers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, g, request_started
from flask.testing import FlaskClient

from fieldapp import create_app
from fieldapp.config import create_secret_key
from fieldapp.models import Role
from fieldapp.services import accounts
from fieldapp.startup import upgrade_database

# Cheap scrypt so tests stay fast; the production setting is checked in test_auth.py.
FAST_HASH = "scrypt:1024:8:1"
PASSWORD = "olive grove at dawn"
UI_LANGUAGES = ["en", "ar", "ckb", "ku"]

# Marks on ``g``: an app context held open by a test for service calls, or one a request used.
SERVICE_CONTEXT = "_fieldapp_tests_service_context"
_REQUEST_SEEN = "_fieldapp_tests_request_seen"


def _one_request_per_context(_sender: Flask, **_extra: object) -> None:
    """Fail a request that would share its app context (and so ``g``) with other code.

    Flask reuses an app context that is already pushed for the same app, and Flask-Login keeps
    the signed-in user on ``g``: a second client would then be "signed in" without a cookie, and
    every "not signed in" check after it would pass for the wrong reason.
    """
    if g.get(SERVICE_CONTEXT):
        raise AssertionError(
            "a request was made inside an app context held open for service calls; "
            "make requests outside it (see tests/sync_world.py: site)"
        )
    if g.get(_REQUEST_SEEN):
        raise AssertionError(
            "two requests shared one app context: the signed-in user would leak from one "
            "client to the next; push app contexts only around service calls"
        )
    setattr(g, _REQUEST_SEEN, True)


def isolate_requests(app: Flask) -> Flask:
    """Make every test-client request on ``app`` prove that it saw only its own cookies."""
    request_started.connect(_one_request_per_context, app)
    return app


def make_app(instance: Path, **overrides: object) -> Flask:
    """Create an app on ``instance`` with its database migrated to the newest schema."""
    instance.mkdir(parents=True, exist_ok=True)
    create_secret_key(instance)
    config = {"TESTING": True, "WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": FAST_HASH}
    config.update(overrides)
    app = create_app(config, instance_path=instance)
    upgrade_database(app)
    return isolate_requests(app)


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """An empty instance folder."""
    return tmp_path / "instance"


@pytest.fixture
def app(instance: Path) -> Iterator[Flask]:
    """An app with CSRF checks off (turned on in the tests that prove them)."""
    app = make_app(instance)
    yield app
    from fieldapp.extensions import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def csrf_app(instance: Path) -> Iterator[Flask]:
    """An app with CSRF protection on, as in production."""
    app = make_app(instance, WTF_CSRF_ENABLED=True)
    yield app
    from fieldapp.extensions import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser without a session."""
    return app.test_client()


def add_user(
    app: Flask,
    username: str = "amira",
    role: Role = Role.COORDINATOR,
    password: str = PASSWORD,
    display_name: str = "",
) -> int:
    """Create an account through the service layer and return its id."""
    with app.app_context():
        user = accounts.create_user(
            username,
            password,
            role,
            accounts.PasswordPolicy(hash_method=FAST_HASH),
            display_name=display_name,
        )
        return user.id


# Head office's people in the analysis tests: one account of each role, named after it.
OFFICE_STAFF = (
    ("amira", Role.COORDINATOR),
    ("layla", Role.ANALYST),
    ("hawre", Role.FACILITATOR),
    ("dilan", Role.VIEWER),
)


def add_office_staff(app: Flask) -> None:
    """The accounts of :data:`OFFICE_STAFF` (password :data:`PASSWORD`)."""
    for name, role in OFFICE_STAFF:
        add_user(app, name, role, display_name=name.title())


def login(client: FlaskClient, username: str = "amira", password: str = PASSWORD) -> object:
    """Sign in through the login form."""
    return client.post("/login", data={"username": username, "password": password})


def set_language(client: FlaskClient, code: str) -> None:
    """Remember a language the way the switcher does."""
    client.post("/language", data={"lang": code, "next": "/"})


def csrf_token(html: str) -> str:
    """The CSRF token embedded in a rendered form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def coordinator(app: Flask) -> int:
    """A coordinator account."""
    return add_user(app, "amira", Role.COORDINATOR, display_name="Amira")


@pytest.fixture
def signed_in(client: FlaskClient, coordinator: int) -> FlaskClient:
    """A browser signed in as the coordinator."""
    response = login(client)
    assert response.status_code == 302
    return client


def translated(lang: str, msgid: str, **params: object) -> str:
    """The text a page in ``lang`` shows for ``msgid``, HTML-escaped as templates render it.

    Outside English the translation must exist and differ from the English source.
    """
    from babel.support import Translations
    from markupsafe import escape

    from fieldapp.i18n import BY_CODE, TRANSLATIONS_DIR

    text = msgid
    if lang != "en":
        catalogue = Translations.load(str(TRANSLATIONS_DIR), [BY_CODE[lang].locale])
        text = catalogue.gettext(msgid)
        assert text != msgid, f"{msgid!r} is not translated into {lang}"
    if params:
        text = text % params
    return str(escape(text))


def translated_plural(lang: str, singular: str, plural: str, num: int) -> str:
    """Like :func:`translated` for a message with plural forms, ``%(num)s`` filled in."""
    from babel.support import Translations
    from markupsafe import escape

    from fieldapp.i18n import BY_CODE, TRANSLATIONS_DIR

    text = singular if num == 1 else plural
    if lang != "en":
        catalogue = Translations.load(str(TRANSLATIONS_DIR), [BY_CODE[lang].locale])
        text = catalogue.ngettext(singular, plural, num)
        assert text not in (singular, plural), f"{plural!r} is not translated into {lang}"
    return str(escape(text % {"num": num}))
