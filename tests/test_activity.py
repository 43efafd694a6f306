"""The Activity page: who did what, where; filtered, paged, for coordinators only, append-only."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from werkzeug.routing.converters import IntegerConverter

from fieldapp.cli import cli
from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import AuditEvent, DeviceRole, RecordVersion, Role, Submission, User
from fieldapp.services import activity, audit, demo, records, workspace
from fieldapp.services.sync import schema
from fieldapp.services.sync.revisions import next_version

from .conftest import PASSWORD, add_user, login, set_language, translated
from .sync_world import Installation, site

FAST = "scrypt:1024:8:1"
DUMMY_ID = "00000000-0000-4000-8000-000000000000"


# ---- every test here also proves the log is never edited ------------------------------------

_WATCHED: list[str] = []


def _watch(_conn, _cursor, statement: str, _params, _context, _executemany) -> None:
    """Keep every statement that would change or remove an audit_event row.

    (Migrations may add columns to the table; they never touch its rows.)
    """
    sql = " ".join(statement.split()).lower()
    if (
        "audit_event" in sql
        and re.match(r"(update|delete|replace|truncate|drop)\b", sql)
        or re.match(r"insert\b.*\bor\s+replace\b.*audit_event", sql)
    ):
        _WATCHED.append(statement)


@pytest.fixture(autouse=True)
def audit_log_never_edited():
    """Whatever a test does through pages, services and commands, audit_event only grows."""
    _WATCHED.clear()
    event.listen(Engine, "before_cursor_execute", _watch)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", _watch)
    assert _WATCHED == [], f"audit_event changed: {_WATCHED}"


# ---- installations and browsers --------------------------------------------------------------


@pytest.fixture
def offices(tmp_path):
    """A head office and a laptop registered there, the laptop with demo data."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    ho.register(laptop)
    with laptop.session():
        demo.fill(consultations=1, submissions=6, seed=3)
    return ho, laptop


@pytest.fixture
def laptop(offices):
    """The laptop's app with a coordinator, Amira (no app context held open)."""
    _ho, installation = offices
    with site(installation.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "amira", Role.COORDINATOR, display_name="Amira Hassan")
        yield app


@pytest.fixture
def headoffice(offices):
    """The head office's app with a coordinator, Amira."""
    ho, _laptop = offices
    with site(ho.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "amira", Role.COORDINATOR, display_name="Amira Hassan")
        yield app


def signed_in(app, username="amira", lang=None):
    client = app.test_client()
    if lang:
        set_language(client, lang)
    assert login(client, username).status_code == 302
    return client


def page(client, **args) -> str:
    response = client.get("/activity", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)[-1500:]
    return response.get_data(as_text=True)


def rows(html: str) -> list[str]:
    """The table rows of the log, newest first."""
    body = html.split("<tbody>", 1)[1] if "<tbody>" in html else ""
    return re.findall(r'<tr id="entry-\d+">(.*?)\n    </tr>', body, re.S)


def actor(user_id: int, username: str = "amira", name: str = "Amira Hassan") -> records.Actor:
    return records.Actor(user_id, username, name)


def user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.execute(select(User.id).where(User.username == username)).scalar_one()


# ---- what the log shows ------------------------------------------------------------------------


def test_account_changes_show_who_made_them(laptop):
    """A new account, its role changed, disabled, a password reset: each with the coordinator."""
    browser = signed_in(laptop)
    response = browser.post(
        "/admin/users/new",
        data={
            "username": "dilan",
            "display_name": "Dilan",
            "role": "facilitator",
            "password": "river stones and figs",
            "confirm": "river stones and figs",
        },
    )
    assert response.status_code == 302
    dilan = user_id(laptop, "dilan")
    browser.post(f"/admin/users/{dilan}/role", data={"role-role": "analyst"})
    browser.post(
        f"/admin/users/{dilan}/password",
        data={
            "reset-password": "a brand new secret phrase",
            "reset-confirm": "a brand new secret phrase",
        },
    )
    browser.post(f"/admin/users/{dilan}/active")
    html = page(browser, action="accounts")
    shown = rows(html)
    labels = [
        label
        for label in (
            "Account disabled",
            "Password reset",
            "Role changed",
            "Account created",
            "Signed in",
        )
        if label in html
    ]
    assert labels == [
        "Account disabled",
        "Password reset",
        "Role changed",
        "Account created",
        "Signed in",
    ]
    assert "Account disabled" in shown[0]
    assert "Amira Hassan" in shown[0]
    assert "dilan:analyst" in shown[2]
    # Never a password, nor its hash, on the page.
    assert "a brand new secret phrase" not in html
    assert "scrypt:" not in html
    assert "river stones" not in html


def test_a_record_edit_shows_its_diff_and_links_to_its_page(laptop):
    """Changing a consultation's place: old and new value, the installation, the link."""
    amira = user_id(laptop, "amira")
    with laptop.app_context(), records.acting_as(actor(amira)):
        item = workspace.list_consultations()[0]
        head = records.current(item.id)
        body = {k: v for k, v in json.loads(head.body).items() if k not in activity.STAMPS}
        records.update(item.id, {**body, "place": "Bashiqa youth centre"}, head.winner_rev)
        old_place = body["place"]
    html = page(signed_in(laptop), action="record.updated")
    [row] = rows(html)
    assert "Record changed" in row
    assert "Amira Hassan" in row
    assert "Bashiqa laptop" in row
    assert f'href="/consultations/{item.id}"' in row
    assert re.search(r'Consultation: <span lang="en" dir="auto">\w', row)  # its title
    assert "<details>" in row
    assert "Place" in row
    assert old_place in row
    assert "Bashiqa youth centre" in row
    assert "updated_at" not in row  # stamps are columns, not changes


def test_records_made_from_the_command_line_say_so(laptop):
    """demo.fill ran with nobody signed in: its entries say "the command line"."""
    html = page(signed_in(laptop), action="record.created")
    assert "the command line" in rows(html)[0]
    assert "Record created" in html


def test_a_review_state_change_links_to_the_contribution(laptop):
    """Received, then approved: the review's diff and the contribution it belongs to."""
    amira = user_id(laptop, "amira")
    with laptop.app_context(), records.acting_as(actor(amira)):
        submission = db.session.execute(select(Submission).limit(1)).scalar_one()
        question = sorted(json.loads(submission.body)["answers"])[0]
        submission_id = submission.uuid
        body = {
            "submission": submission.uuid,
            "question": question,
            "consultation": submission.consultation_id,
            "state": "received",
        }
        record_id = schema.contribution_record_id("review", *[body["submission"], body["question"]])
        _id, rev = records.create("review", body, record_id=record_id)
        records.update(record_id, {**body, "state": "approved"}, rev)
        entries = activity.events(activity.Filters(action="review.state")).entries
    assert [e.label for e in entries] == [activity.BY_KEY["review.state"].label] * 2
    assert entries[0].link == (
        "review.contribution",
        {"submission": submission_id, "question": question},
    )
    assert [(c.name, c.old, c.new) for c in entries[0].changes] == [
        ("state", "received", "approved")
    ]
    html = page(signed_in(laptop), action="review")
    [newest, first] = rows(html)
    assert "Review state set" in newest
    assert "Received" in newest
    assert "Approved" in newest
    if "review.contribution" in laptop.view_functions:  # the Contributions pages are built
        assert submission_id in newest.split("href=", 1)[1]
    assert "Review state set" in first

    with laptop.app_context(), records.acting_as(actor(amira)):
        records.save_many("review", {record_id: {**body, "state": "has_issues"}}, "review.bulk")
    [bulk] = rows(page(signed_in(laptop), action="review.bulk"))
    assert "Review of a selection" in bulk
    assert "1 record" in bulk
    assert "Review states" in bulk


def test_a_record_with_a_conflict_links_to_the_conflict(laptop):
    """Two live versions of one action point: its entries lead to the Conflicts page."""
    with laptop.app_context():
        action = workspace.open_actions()[0]
        [version] = [v for v in records.load_versions(action.id) if v.rev == action.rev]
        mine = next_version(version, {**version.body, "responsible": "Mayor's office"})
        theirs = next_version(version, {**version.body, "responsible": "Youth network"})
        with writing():
            records.store_versions("action_point", action.id, [mine, theirs])
        assert records.current(action.id).conflicts == 1
        entries = [e for e in activity.events().entries if e.record_id == action.id]
    assert entries
    assert all(e.link == ("conflicts.record", {"record_id": action.id}) for e in entries)

    amira = user_id(laptop, "amira")
    with laptop.app_context(), records.acting_as(actor(amira)):
        leaves = records.live_leaves(action.id)
        body = {k: v for k, v in leaves[0].body.items() if k not in activity.STAMPS}
        records.resolve_conflict(
            action.id,
            {**body, "responsible": "Mayor's office and youth network"},
            [v.rev for v in leaves],
        )
        [resolved] = activity.events(activity.Filters(action="conflicts")).entries
    assert resolved.label == activity.BY_KEY["record.resolved"].label
    assert resolved.username == "amira"
    # Compared with the winner it was built on; no conflict left, so the link is the meeting's.
    [change] = resolved.changes
    assert change.name == "responsible"
    assert change.new == "Mayor's office and youth network"
    assert resolved.link == ("consultations.consultation_view", {"record_id": body["consultation"]})
    html = page(signed_in(laptop), action="record.resolved")
    assert "Conflict resolved" in rows(html)[0]


def test_no_record_field_can_carry_a_secret(laptop):
    """No record body holds a password or secret, and a diff would leave one out if it did."""
    with laptop.app_context():
        bodies = [json.loads(v.body) for v in db.session.execute(select(RecordVersion)).scalars()]

    def names(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield key
                yield from names(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from names(inner)

    found = {name for body in bodies for name in names(body)}
    assert found
    assert not [n for n in found if any(m in n.lower() for m in activity.SECRET_MARKS)]
    changes = activity.diff({"place": "a"}, {"place": "b", "password": "x", "api_token": "y"})
    assert [c.name for c in changes] == ["place"]


def test_export_download_and_import_outcomes(offices, laptop, headoffice, tmp_path):
    """The laptop writes and downloads an export; head office merges it, twice, and a bad file."""
    browser = signed_in(laptop)
    assert browser.post("/export").status_code == 302
    with browser.get("/export/1/download") as download:
        bundle = download.data
    html = page(browser, action="sync")
    downloaded, written = rows(html)
    assert "Export downloaded" in downloaded
    assert "Export written" in written
    assert "Amira Hassan" in written
    assert "Bashiqa laptop" in written
    assert re.search(r"[0-9a-f]{16}\.fieldsync", written)
    assert "Submissions</bdi>: 6" in written  # the counts, by kind

    office = signed_in(headoffice)
    response = office.post(
        "/import",
        data={
            "bundles": [
                (io.BytesIO(bundle), "from-bashiqa.fieldsync"),
                (io.BytesIO(bundle), "again.fieldsync"),
                (io.BytesIO(b"not an export"), "photo.jpg"),
            ]
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    html = page(office, action="import.ended")
    refused, again, merged = rows(html)
    assert "File refused" in refused
    assert "photo.jpg" in refused
    assert translated("en", "This file is not an encrypted fieldapp export.") in refused
    assert "Merged before; nothing changed." in again
    assert "File imported" in merged
    assert "from-bashiqa.fieldsync" in merged
    assert "Bashiqa laptop" in merged
    assert "Amira Hassan" in merged
    assert re.search(r"\d+ new, 0 updated, 0 with conflicts", merged)

    # The same file merged from the command line: nobody signed in, the file's own name.
    carried = tmp_path / "carried.fieldsync"
    carried.write_bytes(bundle)
    ho, _laptop = offices
    result = CliRunner().invoke(cli, ["--instance", str(ho.folder), "merge", str(carried)])
    assert result.exit_code == 0, result.output
    [latest] = rows(page(office, action="import.ended"))[:1]
    assert "carried.fieldsync" in latest
    assert "the command line" in latest
    assert "Merged before; nothing changed." in latest


def test_kiosk_unlocks_and_failed_unlocks(laptop):
    """A wrong password at the kiosk and the right one: both on the log, with the consultation."""
    browser = signed_in(laptop)
    with laptop.app_context():
        consultation = workspace.list_consultations()[0].id
    browser.post(f"/consultations/{consultation}/kiosk")
    assert browser.post("/kiosk/unlock", data={"password": "not it"}).status_code == 401
    assert browser.post("/kiosk/unlock", data={"password": PASSWORD}).status_code == 302
    unlocked, failed = rows(page(browser, action="kiosk"))
    assert "Kiosk unlocked" in unlocked
    assert "Failed kiosk unlock" in failed
    assert "Amira Hassan" in failed
    assert consultation in failed


# ---- filters and paging ---------------------------------------------------------------------


def _seed(app, count: int, action: str, actor_id: int | None) -> None:
    """``count`` entries of ``action``, numbered in their subject."""
    with app.app_context(), writing():
        for n in range(count):
            audit.record_detail(action, actor_id, f"{action} {n}", {})


def test_filters_combine_and_stay_in_the_url(laptop):
    """Account and activity and dates narrow together; paging links keep them."""
    dilan = add_user(laptop, "dilan", Role.COORDINATOR, display_name="Dilan")
    amira = user_id(laptop, "amira")
    _seed(laptop, 3, "kiosk.unlocked", dilan)
    _seed(laptop, 2, "kiosk.unlock_failed", amira)
    browser = signed_in(laptop)
    assert len(rows(page(browser, action="kiosk"))) == 5
    assert len(rows(page(browser, action="kiosk", account="dilan"))) == 3
    assert len(rows(page(browser, action="kiosk.unlock_failed", account="dilan"))) == 0
    assert len(rows(page(browser, action="kiosk.unlock_failed", account="amira"))) == 2
    today = datetime.now(UTC).date()
    assert len(rows(page(browser, action="kiosk", **{"from": today.isoformat()}))) == 5
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert rows(page(browser, action="kiosk", **{"from": tomorrow})) == []
    yesterday = (today - timedelta(days=1)).isoformat()
    assert rows(page(browser, action="kiosk", to=yesterday)) == []
    assert len(rows(page(browser, account="-", action="records"))) > 0  # demo data: nobody
    html = page(browser, account="dilan", action="kiosk")
    assert 'value="dilan" selected' in html
    assert 'value="kiosk" selected' in html


@pytest.mark.parametrize("lang", ["en", "ar"])
@pytest.mark.parametrize(
    ("args", "msgid", "params"),
    [
        ({"account": "nobody-here"}, "There is no account “%(name)s”.", {"name": "nobody-here"}),
        (
            {"action": "record.erased"},
            "There is no kind of activity “%(name)s”.",
            {"name": "record.erased"},
        ),
        (
            {"from": "12/03/2026"},
            "“%(value)s” is not a date. Write it as 2026-03-12 (year-month-day).",
            {"value": "12/03/2026"},
        ),
        ({"from": "2026-03-12", "to": "2026-03-01"}, "The first day is after the last day.", {}),
        ({"before": "-1"}, "This page of the activity log does not exist.", {}),
    ],
)
def test_a_filter_that_does_not_exist_is_explained(laptop, lang, args, msgid, params):
    """A wrong filter value: the reason in the reader's language, no entries, nothing changed."""
    browser = signed_in(laptop, lang=lang)
    with laptop.app_context():
        before = db.session.execute(select(AuditEvent.id).order_by(AuditEvent.id)).all()
    response = browser.get("/activity", query_string=args)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert translated(lang, msgid, **params) in html
    assert rows(html) == []
    with laptop.app_context():
        assert db.session.execute(select(AuditEvent.id).order_by(AuditEvent.id)).all() == before


def test_paging_older_and_newer_keeps_the_filters(laptop):
    """120 unlocks: pages of 50, 50, 20 by Older, and back by Newer, the filter kept."""
    amira = user_id(laptop, "amira")
    _seed(laptop, 120, "kiosk.unlocked", amira)
    browser = signed_in(laptop)
    html = page(browser, action="kiosk.unlocked")
    seen = []
    pages = []
    while True:
        shown = rows(html)
        pages.append(len(shown))
        seen += [int(n) for n in re.findall(r"kiosk\.unlocked (\d+)", "".join(shown))]
        older = re.search(r'href="(/activity\?[^"]*before=\d+[^"]*)"', html)
        if not older:
            break
        assert "action=kiosk.unlocked" in older.group(1)
        html = browser.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert pages == [50, 50, 20]
    assert seen == list(range(119, -1, -1))  # newest first, each once
    newer = re.search(r'href="(/activity\?[^"]*after=\d+[^"]*)"', html).group(1)
    back = browser.get(newer.replace("&amp;", "&")).get_data(as_text=True)
    numbers = [int(n) for n in re.findall(r"kiosk\.unlocked (\d+)", "".join(rows(back)))]
    assert numbers == list(range(69, 19, -1))
    assert 'rel="prev"' in back
    assert 'rel="next"' in back


def test_paging_never_uses_offset(laptop):
    """Keyset paging: no OFFSET in any statement the page runs."""
    statements: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, parameters, *_rest):
        statements.append((statement.lower(), parameters))

    browser = signed_in(laptop)
    event.listen(Engine, "before_cursor_execute", keep)
    try:
        page(browser, before="100000")
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    read = [(s, p) for s, p in statements if "from audit_event" in s]
    assert read
    # SQLite's dialect writes "LIMIT ? OFFSET ?" for every limit: the offset is always 0.
    assert all(p[-1] == 0 for s, p in read if "offset" in s), read


# ---- who may see it ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ANALYST, Role.FACILITATOR, Role.VIEWER])
def test_only_coordinators_see_the_activity(laptop, role):
    """Analysts, facilitators and viewers are refused, and have no link to it."""
    add_user(laptop, "other", role)
    browser = signed_in(laptop, "other")
    assert browser.get("/activity").status_code == 403
    assert browser.get("/activity", query_string={"action": "accounts"}).status_code == 403
    assert 'href="/activity"' not in browser.get("/").get_data(as_text=True)
    coordinator = signed_in(laptop)
    assert 'href="/activity"' in coordinator.get("/").get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(laptop):
    response = laptop.test_client().get("/activity")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_activity_blueprint_only_reads(laptop):
    """Every route of the activity blueprint answers GET only: nothing there can change the log."""
    rules = [r for r in laptop.url_map.iter_rules() if r.endpoint.startswith("activity.")]
    assert rules
    for rule in rules:
        assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule
    assert laptop.test_client().post("/activity").status_code in (302, 405)
    assert signed_in(laptop).post("/activity").status_code == 405


def test_no_post_route_or_command_edits_the_log(offices, laptop, tmp_path):
    """A sweep of every POST route (with empty forms) and the main commands: audit_event rows
    are only ever inserted (the autouse watcher above fails the test on any UPDATE or DELETE)."""
    browser = signed_in(laptop)
    last = ("auth.logout", "consultations.kiosk_start")
    rules = sorted(
        (r for r in laptop.url_map.iter_rules() if "POST" in (r.methods or set())),
        key=lambda r: (r.endpoint in last, r.endpoint),
    )
    assert len(rules) > 10
    for rule in rules:
        values = {
            name: 1 if isinstance(converter, IntegerConverter) else DUMMY_ID
            for name, converter in rule._converters.items()  # noqa: SLF001 -- the dummy's type
        }
        path = rule.build(values, append_unknown=False)[1]
        try:
            browser.post(path, data={})
        except Exception as exc:  # noqa: BLE001 -- another area's unfinished route is not this test
            print("sweep:", rule.endpoint, type(exc).__name__)
    ho, installation = offices
    runner = CliRunner()
    export = runner.invoke(
        cli, ["--instance", str(installation.folder), "export", "--output", str(tmp_path), "--json"]
    )
    assert export.exit_code == 0, export.output
    path = json.loads(export.output)["path"]
    for args in (
        ["merge", path, path],
        ["stats"],
        ["demo-data", "--consultations", "1", "--submissions", "2", "--seed", "9"],
        ["db", "rebuild-index"],
        ["devices", "list"],
    ):
        result = runner.invoke(cli, ["--instance", str(ho.folder), *args])
        assert result.exit_code == 0, (args, result.output)
    made = runner.invoke(
        cli,
        [
            "--instance",
            str(ho.folder),
            "create-user",
            "samir",
            "--role",
            "analyst",
            "--password-stdin",
        ],
        input="tall cedar by the river\n",
    )
    assert made.exit_code == 0, made.output
    with installation.session():
        written, by_the_sweep = activity.events(activity.Filters(action="export.written")).entries
        assert written.username is None
        assert by_the_sweep.username == "amira"
        assert written.detail["via"] == "command line"
    with ho.session():
        merges = activity.events(activity.Filters(action="import.ended", account="-")).entries
        assert [(e.detail["ok"], e.detail["already_merged"]) for e in merges] == [
            (True, True),
            (True, False),
        ]


# ---- languages --------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_the_page_reads_right_to_left(laptop, lang):
    """Arabic and Sorani pages are right to left, in the reader's words."""
    amira = user_id(laptop, "amira")
    with laptop.app_context(), records.acting_as(actor(amira)):
        item = workspace.list_consultations()[0]
        head = records.current(item.id)
        body = {k: v for k, v in json.loads(head.body).items() if k not in activity.STAMPS}
        records.update(
            item.id,
            {**body, "status": "closed" if body["status"] == "open" else "open"},
            head.winner_rev,
        )
    html = page(signed_in(laptop, lang=lang))
    assert re.search(r'<html lang="[^"]+" dir="rtl"', html)
    assert translated(lang, "Activity") in html
    assert translated(lang, "Record changed") in html
    assert translated(lang, "the command line") in html
    assert translated(lang, "Kind of activity") in html


# ---- PostgreSQL ---------------------------------------------------------------------------------

PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


def _postgres_missing() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg (3) is not installed"
    try:
        psycopg.connect(connect_timeout=3, **PG_DSN).close()
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL server on 127.0.0.1:5432 ({str(exc).strip()})"
    return None


@pytest.fixture
def pg_url():
    """A fresh schema on the PostgreSQL server (dropped after), as a database URL."""
    import secrets

    import psycopg

    schema = "fieldapp_" + secrets.token_hex(6)
    with psycopg.connect(autocommit=True, **PG_DSN) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(autocommit=True, **PG_DSN) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
@pytest.mark.skipif(_postgres_missing() is not None, reason=str(_postgres_missing()))
def test_filters_paging_and_diffs_on_postgresql(tmp_path, pg_url):
    """The same page on PostgreSQL: kind filters (LIKE), dates, an account, paging, a diff."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(
        tmp_path / "laptop",
        DeviceRole.FIELD,
        "Bashiqa laptop",
        (ho,),
        SQLALCHEMY_DATABASE_URI=pg_url,
    )
    with laptop.session():
        demo.fill(consultations=1, submissions=3, seed=5)
    config = {"WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": FAST}
    with site(laptop.folder, SQLALCHEMY_DATABASE_URI=pg_url, **config) as app:
        amira = add_user(app, "amira", Role.COORDINATOR, display_name="Amira Hassan")
        with app.app_context(), records.acting_as(actor(amira)):
            assert db.engine.dialect.name == "postgresql"
            item = workspace.list_consultations()[0]
            head = records.current(item.id)
            body = {k: v for k, v in json.loads(head.body).items() if k not in activity.STAMPS}
            records.update(item.id, {**body, "place": "Youth centre"}, head.winner_rev)
        _seed(app, 60, "kiosk.unlocked", amira)
        browser = signed_in(app)
        [row] = rows(page(browser, action="record.updated", account="amira"))
        assert "Youth centre" in row
        assert f'href="/consultations/{item.id}"' in row
        assert len(rows(page(browser, action="records", account="-"))) > 3
        first = page(browser, action="kiosk")
        assert len(rows(first)) == 50
        older = re.search(r'href="(/activity\?[^"]*before=\d+[^"]*)"', first).group(1)
        assert len(rows(browser.get(older.replace("&amp;", "&")).get_data(as_text=True))) == 10
        today = datetime.now(UTC).date().isoformat()
        assert len(rows(page(browser, action="kiosk", to=today))) == 50
        tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
        assert rows(page(browser, **{"from": tomorrow})) == []
