"""Coordinators manage the accounts of their colleagues."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fieldapp.extensions import db
from fieldapp.models import AuditEvent, Role, User

from .conftest import PASSWORD, UI_LANGUAGES, add_user, login, set_language, translated


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_coordinator_adds_a_facilitator_who_can_sign_in(app, signed_in, lang):
    """A new colleague gets an account, in any interface language, and can sign in with it."""
    set_language(signed_in, lang)
    response = signed_in.post(
        "/admin/users/new",
        data={
            "username": "bahar",
            "display_name": "بهار",
            "role": "facilitator",
            "password": "mountain tea glass",
            "confirm": "mountain tea glass",
        },
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert translated(lang, "The account %(name)s has been created.", name="bahar") in page
    assert "بهار" in page
    colleague = app.test_client()
    assert login(colleague, "bahar", "mountain tea glass").status_code == 302
    assert colleague.get("/admin/users").status_code == 403


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_bad_account_form_is_explained_and_saves_nothing(app, signed_in, lang):
    """Missing username, mismatched passwords and a bad role each get a translated message."""
    set_language(signed_in, lang)
    response = signed_in.post(
        "/admin/users/new",
        data={"username": "", "role": "emperor", "password": "abcdefgh1", "confirm": "other"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert translated(lang, "Please fill in this field.") in page
    assert translated(lang, "The two passwords are not the same.") in page
    assert translated(lang, "Please choose a role.") in page
    assert 'aria-invalid="true"' in page
    with app.app_context():
        assert db.session.execute(select(User)).scalars().all()[0].username == "amira"
        assert len(db.session.execute(select(User)).scalars().all()) == 1


def test_duplicate_username_is_refused(signed_in):
    """Two accounts never share a name."""
    response = signed_in.post(
        "/admin/users/new",
        data={
            "username": "Amira",
            "role": "facilitator",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert "An account with this username exists already." in response.get_data(as_text=True)


def test_reset_password_signs_the_colleague_out(app, signed_in):
    """A forgotten password is replaced; the old one and the old sessions stop working."""
    bahar = add_user(app, "bahar", Role.FACILITATOR)
    colleague = app.test_client()
    login(colleague, "bahar")
    response = signed_in.post(
        f"/admin/users/{bahar}/password",
        data={"reset-password": "fresh figs today", "reset-confirm": "fresh figs today"},
    )
    assert response.status_code == 302
    assert colleague.get("/").status_code == 302
    assert login(app.test_client(), "bahar").status_code == 401
    assert login(app.test_client(), "bahar", "fresh figs today").status_code == 302


def test_role_change_and_last_coordinator_protection(app, signed_in, coordinator):
    """Roles change, but the installation always keeps one active coordinator."""
    bahar = add_user(app, "bahar", Role.FACILITATOR)
    signed_in.post(f"/admin/users/{bahar}/role", data={"role-role": "coordinator"})
    with app.app_context():
        assert db.session.get(User, bahar).role == Role.COORDINATOR
    signed_in.post(f"/admin/users/{bahar}/active")  # disable bahar
    response = signed_in.post(
        f"/admin/users/{coordinator}/role", data={"role-role": "facilitator"}, follow_redirects=True
    )
    assert "The last active coordinator must keep that role." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, coordinator).role == Role.COORDINATOR


def test_account_changes_are_audited(app, signed_in):
    """Who created, disabled or reset an account is recorded (never passwords)."""
    bahar = add_user(app, "bahar", Role.FACILITATOR)
    signed_in.post(f"/admin/users/{bahar}/active")
    with app.app_context():
        actions = [e.action for e in db.session.execute(select(AuditEvent)).scalars()]
        subjects = " ".join(
            e.subject or "" for e in db.session.execute(select(AuditEvent)).scalars()
        )
    assert "account.created" in actions
    assert "account.disabled" in actions
    assert PASSWORD not in subjects


def test_accounts_page_lists_everyone(app, signed_in):
    """The list shows each account, its role, status and how many browsers are signed in."""
    add_user(app, "hawre", Role.FACILITATOR, display_name="هاوڕێ")
    page = signed_in.get("/admin/users").get_data(as_text=True)
    assert "amira" in page
    assert "هاوڕێ" in page
    assert "Facilitator" in page
