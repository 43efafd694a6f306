"""Every route's allowed roles, proven by crawling the url map with each role.

``EXPECTED`` is this test's own statement of who may use what: it is written out here, not
read from ``fieldapp.auth.access``, so a change to the app's table that nobody meant shows up
as a failing test. Each route is requested by an account of each role: a role that may not
use it gets 403, a role that may gets anything else (a page, a redirect, a 400 for an empty
form, a 404 for the made-up id).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.routing import Rule

from fieldapp.auth import access
from fieldapp.auth.sessions import PUBLIC_ENDPOINTS
from fieldapp.models import DeviceRole, Role

from .conftest import add_user, login
from .sync_world import Installation, site

F, A, V, C = Role.FACILITATOR, Role.ANALYST, Role.VIEWER, Role.COORDINATOR
EVERYONE = {F, A, V, C}
FIELD = {F, C}
OFFICE = {A, C}
WORKERS = {F, A, C}
COORD = {C}
READERS = {Role.ANALYST, Role.VIEWER, Role.COORDINATOR}

WORKSPACE = [
    "action_edit",
    "action_move",
    "actions",
    "attendance",
    "capture",
    "consultation_edit",
    "consultation_list",
    "consultation_new",
    "consultation_view",
    "intake_phones",
    "intake_switch",
    "kiosk_start",
    "kiosk_unlock",
    "minutes",
    "open_actions",
    "preview",
    "print_summary",
    "question_delete",
    "question_edit",
    "question_move",
    "questions",
    "template_download",
    "template_list",
    "template_save",
]
EXPECTED: dict[str, set[Role]] = {
    "main.home": EVERYONE,
    "auth.change_password": EVERYONE,
    "auth.logout": EVERYONE,
    "auth.setup_installation": COORD,
    "auth.setup_done": COORD,
    "admin.users": COORD,
    "admin.user_new": COORD,
    "admin.user_edit": COORD,
    "admin.user_active": COORD,
    "admin.user_reset_password": COORD,
    "admin.user_role": COORD,
    "sync.export_page": FIELD,
    "sync.export_now": FIELD,
    "sync.export_download": FIELD,
    "sync.import_page": WORKERS,
    "sync.receipt_download": WORKERS,
    "sync.receipt_apply": FIELD,
    "sync.purge_acknowledged": FIELD,
    "sync.devices": COORD,
    "sync.device_page": COORD,
    "sync.device_revoke": COORD,
    "sync.public_key_download": EVERYONE,
    "backup.backup_page": FIELD,
    "backup.backup_download": FIELD,
    **{f"consultations.{name}": FIELD for name in WORKSPACE},
    "review.contributions": WORKERS,
    "review.contribution": WORKERS,
    "review.apply_codes": WORKERS,
    "review.set_state": OFFICE,
    "review.bulk": OFFICE,
    "review.mark_duplicate": OFFICE,
    "codebook.index": WORKERS,
    "codebook.import_file": WORKERS,
    **{f"codebook.{n}": OFFICE for n in ("new", "edit", "retire", "restore", "merge", "download")},
    "conflicts.index": OFFICE,
    "conflicts.record": OFFICE,
    "conflicts.keep": OFFICE,
    "conflicts.combine": OFFICE,
    "activity.index": COORD,
    "analysis.dashboard": READERS,
    "analysis.exact_counts": OFFICE,
    "analysis.export": OFFICE,
    "analysis.tables_export": READERS,
    "analysis.report": READERS,
    "action_plans.index": READERS,
    "action_plans.action": READERS,
    "action_plans.link": OFFICE,
}
# Requests that would end the crawling account's own session are checked on their own.
SKIP_IN_CRAWL = {"auth.logout"}


def staff_endpoints(app: Flask) -> Iterator[Rule]:
    """Every rule that needs a signed-in account (not public, not a participant page)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith("kiosk."):
            continue
        yield rule


def sample_path(rule: Rule) -> str:
    """The rule's path with a made-up value for each argument."""
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name]  # noqa: SLF001 -- werkzeug keeps them here
        values[name] = (
            999_999 if type(converter).__name__ == "IntegerConverter" else str(uuid.UUID(int=7))
        )
        if name == "direction":
            values[name] = "up"
        if name == "action":
            values[name] = "open"
    path = rule.rule
    for name, value in values.items():
        path = path.replace(f"<{name}>", str(value))
        for converter_name in ("int", "path", "string"):
            path = path.replace(f"<{converter_name}:{name}>", str(value))
    return path


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """A head office with one account of each role."""
    folder = tmp_path_factory.mktemp("roles") / "office"
    Installation(folder, DeviceRole.HEADOFFICE, "Erbil head office")
    with site(folder, WTF_CSRF_ENABLED=False) as app:
        for role in Role:
            add_user(app, f"user-{role.value}", role)
        yield app


def test_every_route_is_in_the_table_and_the_table_is_as_expected(office: Flask) -> None:
    """No route is left without a decision, and the decisions are the ones written here."""
    table = office.extensions["fieldapp_access"]
    endpoints = {rule.endpoint for rule in staff_endpoints(office)}
    assert endpoints - set(table) == set(), "routes nobody decided on"
    assert endpoints - set(EXPECTED) == set(), "routes this test does not state"
    for endpoint in endpoints:
        assert set(table[endpoint]) == EXPECTED[endpoint], endpoint


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_gets_exactly_its_routes(office: Flask, role: Role) -> None:
    """Every route, requested by an account of ``role``: 403 exactly where it may not go."""
    client = office.test_client()
    assert login(client, f"user-{role.value}").status_code == 302
    wrong = []
    for rule in staff_endpoints(office):
        if rule.endpoint in SKIP_IN_CRAWL:
            continue
        path = sample_path(rule)
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(path, method=method)
        allowed = role in EXPECTED[rule.endpoint]
        if (response.status_code == 403) == allowed:
            wrong.append((rule.endpoint, method, path, response.status_code))
        if "POST" in rule.methods and method == "GET" and not allowed:
            posted = client.post(path)
            if posted.status_code != 403:
                wrong.append((rule.endpoint, "POST", path, posted.status_code))
    assert wrong == []


def test_a_signed_out_visitor_reaches_no_staff_route(office: Flask) -> None:
    """Without a session every staff route sends the visitor to sign in."""
    client = office.test_client()
    for rule in staff_endpoints(office):
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(sample_path(rule), method=method)
        assert response.status_code == 302, rule.endpoint
        assert "/login" in response.headers["Location"], rule.endpoint


def test_a_forged_role_is_refused_and_changes_nothing(office: Flask) -> None:
    """A role the app does not have, posted by hand, gets a clear message; nothing changes.
    A facilitator posting a role change for themselves gets 403."""
    from fieldapp.extensions import db
    from fieldapp.models import User

    with office.app_context():
        target = db.session.query(User).filter_by(username="user-viewer").one().id
        db.session.remove()
    coordinator = office.test_client()
    assert login(coordinator, "user-coordinator").status_code == 302
    page = coordinator.post(
        f"/admin/users/{target}/role", data={"role": "superuser"}, follow_redirects=True
    )
    assert "Please choose a role." in page.get_data(as_text=True)
    facilitator = office.test_client()
    assert login(facilitator, "user-facilitator").status_code == 302
    assert (
        facilitator.post(f"/admin/users/{target}/role", data={"role": "coordinator"}).status_code
        == 403
    )
    with office.app_context():
        assert db.session.get(User, target).role == Role.VIEWER
        db.session.remove()


def test_signing_out_is_open_to_every_role(office: Flask) -> None:
    """The one route left out of the crawl: every role may sign out."""
    for role in Role:
        client = office.test_client()
        assert login(client, f"user-{role.value}").status_code == 302
        assert client.post("/logout").status_code == 302
        assert client.get("/").status_code == 302  # signed out now


def test_a_route_nobody_listed_is_refused_to_every_role(tmp_path) -> None:
    """The table fails closed: a new page that no table names is 403 even for a coordinator."""
    from .conftest import make_app

    app = make_app(tmp_path / "fresh")
    app.add_url_rule("/unlisted", "unlisted_page", lambda: "secret")
    app.extensions["fieldapp_access"] = access.endpoint_roles()
    add_user(app, "amira", Role.COORDINATOR)
    client = app.test_client()
    assert login(client, "amira").status_code == 302
    assert client.get("/unlisted").status_code == 403
