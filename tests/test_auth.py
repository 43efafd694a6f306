"""Accounts as a facilitator meets them: first-run setup, signing in and out, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from fieldapp.config import Defaults
from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import LoginFailure, LoginSession, Role, User
from fieldapp.services import accounts

from .conftest import PASSWORD, UI_LANGUAGES, add_user, login, set_language, translated


def age_rows(app, model, column, delta):
    """Move a timestamp of every row into the past, as if time had passed."""
    with app.app_context(), writing() as session:
        for row in session.execute(select(model)).scalars():
            setattr(row, column, getattr(row, column) - delta)


def test_first_visit_creates_the_first_account_then_shows_home(client, app):
    """No default password exists: the first visitor creates a coordinator account."""
    assert client.get("/").headers["Location"].endswith("/setup")
    assert client.get("/login").headers["Location"].endswith("/setup")
    page = client.get("/setup").get_data(as_text=True)
    assert "Set up fieldapp" in page
    response = client.post(
        "/setup",
        data={
            "username": "Amira",
            "display_name": "Amira Saleh",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    # The account comes first, then what this installation is (laptop or head office).
    assert response.headers["Location"].endswith("/setup/installation")
    response = client.post(
        "/setup/installation?role=headoffice",
        data={"role": "headoffice", "name": "Erbil head office"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Welcome, Amira Saleh" in client.get("/").get_data(as_text=True)
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert user.role == Role.COORDINATOR
        assert user.password_hash.startswith("scrypt:")
        assert PASSWORD not in user.password_hash


def test_setup_is_gone_once_an_account_exists(client, coordinator):
    """Nobody can create a second 'first' account."""
    assert client.get("/setup").headers["Location"].endswith("/login")
    response = client.post(
        "/setup", data={"username": "intruder", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert response.status_code == 404


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_wrong_password_is_refused_with_a_message_in_the_chosen_language(client, coordinator, lang):
    """A wrong password gets 401 and a clear sentence in the user's language."""
    set_language(client, lang)
    response = login(client, password="not the password")
    assert response.status_code == 401
    assert translated(lang, "The username or password is not correct.") in response.get_data(
        as_text=True
    )
    assert client.get("/").status_code == 302


def test_login_shows_home_in_the_chosen_language(client, coordinator):
    """Choosing Sorani on the sign-in page gives a Sorani, right-to-left home page."""
    set_language(client, "ckb")
    response = login(client)
    home = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="ckb-IQ" dir="rtl">' in home
    assert translated("ckb", "Welcome, %(name)s", name="Amira") in home


def test_repeated_failures_pause_the_account_name(client, coordinator):
    """After five wrong passwords even the right one is refused for a while (429)."""
    for _ in range(Defaults.LOGIN_MAX_FAILURES):
        assert login(client, password="wrong password!").status_code == 401
    response = login(client)
    assert response.status_code == 429
    assert "Too many failed sign-ins for this account. Wait 15 minutes" in response.get_data(
        as_text=True
    )


def test_throttling_is_per_account_name(client, app, coordinator):
    """Guessing at one name does not stop a colleague from signing in."""
    add_user(app, "bahar", Role.FACILITATOR)
    for _ in range(Defaults.LOGIN_MAX_FAILURES):
        login(client, password="wrong password!")
    assert login(client, "bahar").status_code == 302


def test_throttle_ends_when_the_window_has_passed(client, app, coordinator):
    """Old failures stop counting after the window (15 minutes)."""
    for _ in range(Defaults.LOGIN_MAX_FAILURES):
        login(client, password="wrong password!")
    age_rows(app, LoginFailure, "at", timedelta(minutes=16))
    assert login(client).status_code == 302


def test_session_is_renewed_at_login(client, app, coordinator):
    """The cookie before sign-in is not the cookie after it (no session fixation)."""
    client.get("/login")
    before = client.get_cookie("__Host-fieldapp")
    login(client)
    after = client.get_cookie("__Host-fieldapp")
    assert after is not None
    assert before is None or before.value != after.value
    with app.app_context():
        assert db.session.execute(select(LoginSession)).scalar_one().ended_at is None


def test_logout_makes_a_copied_cookie_worthless(app, coordinator):
    """A cookie copied before sign-out no longer opens any page afterwards."""
    browser = app.test_client()
    login(browser)
    stolen = browser.get_cookie("__Host-fieldapp").value
    thief = app.test_client()
    thief.set_cookie("__Host-fieldapp", stolen)
    assert thief.get("/").status_code == 200
    response = browser.post("/logout")
    assert response.status_code == 302
    assert "cache" in response.headers["Clear-Site-Data"]
    assert thief.get("/").status_code == 302
    assert browser.get("/").status_code == 302


def test_disabling_an_account_ends_its_sessions(app, coordinator):
    """A coordinator disables a colleague; the colleague's open browser is signed out."""
    facilitator_id = add_user(app, "bahar", Role.FACILITATOR)
    colleague = app.test_client()
    login(colleague, "bahar")
    assert colleague.get("/").status_code == 200
    coordinator_browser = app.test_client()
    login(coordinator_browser)
    coordinator_browser.post(f"/admin/users/{facilitator_id}/active")
    assert colleague.get("/").status_code == 302
    assert login(colleague, "bahar").status_code == 401


def test_idle_session_times_out_with_an_explanation(client, app, coordinator):
    """After 30 minutes without activity the facilitator must sign in again, and is told why."""
    login(client)
    age_rows(app, LoginSession, "last_seen_at", timedelta(minutes=31))
    response = client.get("/", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "without activity" in page
    assert 'name="password"' in page


def test_absolute_timeout_after_twelve_hours(client, app, coordinator):
    """A session never lasts longer than 12 hours, even when busy."""
    login(client)
    age_rows(app, LoginSession, "created_at", timedelta(hours=13))
    assert client.get("/").status_code == 302


def test_password_rules(app):
    """8 characters at least, long passphrases welcome, common passwords refused."""
    policy = accounts.PasswordPolicy(hash_method="scrypt:1024:8:1")
    for bad in ["short", "password1", "12345678", "aaaaaaaaaaaa", "amira2024!!"]:
        with pytest.raises(accounts.AccountError):
            accounts.check_password(bad, "amira", policy)
    accounts.check_password("tigris river", "amira", policy)
    accounts.check_password("x" * 30 + "yz" + "é" * 40, "amira", policy)  # 72 characters
    accounts.check_password("كلمة سر طويلة جداً", "amira", policy)
    with pytest.raises(accounts.AccountError):
        accounts.check_password("a long passphrase " * 10, "amira", policy)


def test_production_hash_is_scrypt_2_17(app):
    """Outside tests passwords are hashed with scrypt N=2**17, r=8, p=1 (SECURITY.md W-02)."""
    assert Defaults.PASSWORD_HASH_METHOD == "scrypt:131072:8:1"
    policy = accounts.PasswordPolicy()
    with app.app_context():
        user = accounts.create_user("hawre", PASSWORD, Role.FACILITATOR, policy)
        assert user.password_hash.startswith("scrypt:131072:8:1$")
        assert check_password_hash(user.password_hash, PASSWORD)


def test_usernames_differ_by_more_than_case(app, coordinator):
    """'AMIRA' is the same account as 'amira', for creating and for signing in."""
    with app.app_context(), pytest.raises(accounts.AccountError):
        accounts.create_user(
            "AMIRA",
            PASSWORD,
            Role.FACILITATOR,
            accounts.PasswordPolicy(hash_method="scrypt:1024:8:1"),
        )
    assert login(app.test_client(), "AMIRA").status_code == 302


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_change_password_signs_out_other_browsers(app, coordinator, lang):
    """After changing the password, this browser stays in and the others are signed out."""
    laptop, tablet = app.test_client(), app.test_client()
    set_language(laptop, lang)
    login(laptop)
    login(tablet)
    response = laptop.post(
        "/account/password",
        data={"current": PASSWORD, "password": "new river song", "confirm": "new river song"},
    )
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200
    assert tablet.get("/").status_code == 302
    assert login(app.test_client(), password="new river song").status_code == 302


def test_change_password_with_wrong_current_password(signed_in):
    """The current password is checked before anything changes."""
    response = signed_in.post(
        "/account/password",
        data={
            "current": "nope nope nope",
            "password": "new river song",
            "confirm": "new river song",
        },
    )
    assert response.status_code == 200
    assert "The current password is not correct." in response.get_data(as_text=True)
