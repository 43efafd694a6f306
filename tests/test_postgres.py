"""The same code on PostgreSQL, for a head office that outgrows SQLite.

Runs against the server on 127.0.0.1:5432 (user postgres, database test), each test in its own
schema; skipped with the reason shown when no server answers. Database URLs are written as the
README writes them (``postgresql://...``, no driver named), so what is tested is what a head
office configures.
"""

from __future__ import annotations

import io
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp.cli import cli
from fieldapp.extensions import db
from fieldapp.models import Counter, DeviceRole, Role, Submission

from .conftest import PASSWORD, add_user, login, make_app, set_language, translated
from .test_database import check_models_match_migrations, increment_in_parallel

PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _server_available() -> str | None:
    try:
        import psycopg
    except ImportError:
        return 'psycopg (3) is not installed: pip install -e ".[test]"'
    try:
        psycopg.connect(connect_timeout=3, **PG_DSN).close()
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL server on 127.0.0.1:5432 ({str(exc).strip()})"
    return None


pytestmark = pytest.mark.postgres
_reason = _server_available()
if _reason:
    pytestmark = [pytest.mark.postgres, pytest.mark.skip(reason=_reason)]


def _execute(statement: str) -> None:
    import psycopg

    with psycopg.connect(autocommit=True, **PG_DSN) as conn:
        conn.execute(statement)


@pytest.fixture
def pg_urls() -> Iterator:
    """Make database URLs, each a fresh schema on the PostgreSQL server, dropped after."""
    schemas: list[str] = []

    def make() -> str:
        schema = "fieldapp_" + secrets.token_hex(6)
        _execute(f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        return f"{PG_SERVER}/test?options=-csearch_path%3D{schema}"

    try:
        yield make
    finally:
        for schema in schemas:
            _execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_app(instance, pg_urls) -> Iterator:
    """An app whose database is a fresh schema on the PostgreSQL server."""
    app = make_app(instance, SQLALCHEMY_DATABASE_URI=pg_urls())
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_migrations_match_models_on_postgresql(pg_app):
    """The migrations build the same schema on PostgreSQL as the models describe."""
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"
    check_models_match_migrations(pg_app)


def test_the_readme_url_works_as_written(tmp_path, pg_urls):
    """``SQLALCHEMY_DATABASE_URI = "postgresql://..."`` in config.py: init, a user, stats."""
    instance = tmp_path / "ho"
    url = pg_urls()
    assert url.startswith("postgresql://")
    instance.mkdir()
    (instance / "config.py").write_text(f"SQLALCHEMY_DATABASE_URI = {url!r}\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["--instance", str(instance), "init"]).exit_code == 0
    made = runner.invoke(
        cli,
        ["--instance", str(instance), "create-user", "amira", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    stats = runner.invoke(cli, ["--instance", str(instance), "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["counts"]["consultations"] == 0
    from fieldapp import create_app

    app = create_app(instance_path=instance)
    with app.app_context():
        assert db.engine.driver == "psycopg"
        assert db.session.execute(db.text("SELECT current_schema()")).scalar() in url
        db.session.remove()
        db.engine.dispose()
    assert not (instance / "fieldapp.sqlite3").exists()  # everything went to PostgreSQL


def test_a_database_that_does_not_exist_is_named(tmp_path):
    """A typo in the database name: a message naming it (no password), exit code 2."""
    instance = tmp_path / "ho"
    assert CliRunner().invoke(cli, ["--instance", str(instance), "init"]).exit_code == 0
    missing = "fieldapp_no_such_" + secrets.token_hex(4)
    result = CliRunner().invoke(
        cli,
        ["--instance", str(instance), "stats"],
        env={"FIELDAPP_DATABASE_URL": f"postgresql://postgres:s3cret@127.0.0.1:5432/{missing}"},
    )
    assert result.exit_code == 2
    assert f"postgresql+psycopg://postgres:***@127.0.0.1:5432/{missing}" in result.output
    assert f'database "{missing}" does not exist' in result.output
    assert "s3cret" not in result.output
    assert "Traceback" not in result.output


def test_accounts_work_on_postgresql(pg_app):
    """Sign-in, sessions and sign-out behave the same on PostgreSQL."""
    add_user(pg_app, "amira", Role.COORDINATOR)
    client = pg_app.test_client()
    assert login(client, password="wrong password").status_code == 401
    assert login(client, password=PASSWORD).status_code == 302
    assert client.get("/").status_code == 200
    client.post("/logout")
    assert client.get("/").status_code == 302


def test_parallel_counters_lose_nothing_on_postgresql(pg_app):
    """30 threads x 20 increments: 600, no lost update, no duplicate number."""
    numbers, errors = increment_in_parallel(pg_app)
    assert errors == []
    assert sorted(numbers) == list(range(1, 601))
    with pg_app.app_context():
        assert db.session.get(Counter, "burst").value == 600


@pytest.fixture(scope="module")
def sync_world(tmp_path_factory):
    from .sync_world import build_world

    return build_world(tmp_path_factory.mktemp("pgworld"))


def test_merge_on_postgresql_gives_the_same_digest(sync_world, pg_app, tmp_path):
    """The same files merged into a PostgreSQL head office give SQLite's digest."""
    import shutil
    from pathlib import Path

    from fieldapp.models import Device
    from fieldapp.services.sync.merge import merge_files
    from fieldapp.services.sync.stats import stats

    from .sync_world import clone, opened  # noqa: F401 -- opened is used below

    files = [sync_world["files"][name] for name in ("A1", "B1", "A2", "A1")]
    sqlite_ho = clone(sync_world["ho"], tmp_path / "sqlite-ho")
    sqlite_ho.merge(*files)
    expected = sqlite_ho.stats()
    # The PostgreSQL head office is the same installation: same keys, same registered devices.
    folder = Path(pg_app.instance_path)
    shutil.copytree(sync_world["ho"].folder / "keys", folder / "keys")
    with opened(sync_world["ho"].folder):
        devices = [
            {c.name: getattr(d, c.name) for c in Device.__table__.columns if c.name != "id"}
            for d in db.session.query(Device)
        ]
    from fieldapp.database import writing

    with pg_app.app_context():
        with writing() as session:
            for device in devices:
                session.add(Device(**device))
        summaries = merge_files(files, folder)
        assert all(s.ok for s in summaries), [s.error for s in summaries]
        assert summaries[3].already_merged
        assert stats() == expected


FAST = "scrypt:1024:8:1"


def pg_installation(folder: Path, url: str, role, name: str, headoffices=()):
    """An installation whose database is on PostgreSQL, set up as README says (config.py)."""
    from .sync_world import Installation

    folder.mkdir(parents=True)
    (folder / "config.py").write_text(f"SQLALCHEMY_DATABASE_URI = {url!r}\n", encoding="utf-8")
    return Installation(folder, role, name, tuple(headoffices), PASSWORD_HASH_METHOD=FAST)


def test_a_meeting_day_on_postgresql(tmp_path, pg_urls):
    """Sign in, plan, open the kiosk, a participant submits, export; head office imports."""
    from .sync_world import site
    from .test_workspace import CONSULTATION, district_code, question_ids

    ho = pg_installation(tmp_path / "ho", pg_urls(), DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = pg_installation(
        tmp_path / "laptop", pg_urls(), DeviceRole.FIELD, "Bashiqa laptop", (ho,)
    )
    ho.register(laptop)
    with site(laptop.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        with app.app_context():
            assert db.engine.dialect.name == "postgresql"
        add_user(app, "amira", Role.COORDINATOR)
        browser = app.test_client()
        assert login(browser).status_code == 302
        set_language(browser, "ckb")
        data = {**CONSULTATION, "district": district_code("Al-Hamdaniya")}
        created = browser.post("/consultations/new", data=data)
        assert created.status_code == 302, created.get_data(as_text=True)[-1500:]
        record_id = created.headers["Location"].rsplit("/", 1)[-1]
        added = browser.post(
            f"/consultations/{record_id}/questions",
            data={"type": "free_text", "text_ar": "ماذا تقترح؟", "original_language": "ar"},
        )
        assert added.status_code == 302
        [question] = question_ids(app, record_id)
        code = browser.post(f"/consultations/{record_id}/kiosk").headers["Location"].split("/")[-1]
        assert browser.get("/consultations").headers["Location"].endswith(f"/p/{code}")
        browser.post(f"/p/{code}", data={"language": "ar"})
        browser.post(f"/p/{code}/consent", data={"choice": "agree"})
        browser.post(f"/p/{code}/q/1", data={f"q_{question}": "مدرسة للبنات", "go": "next"})
        browser.post(f"/p/{code}/about", data={"go": "next"})
        assert "/thanks" in browser.post(f"/p/{code}/review").headers["Location"]
        assert browser.post("/kiosk/unlock", data={"password": "wrong guess"}).status_code == 401
        assert browser.post("/kiosk/unlock", data={"password": PASSWORD}).status_code == 302
        page = browser.post("/export", follow_redirects=True).get_data(as_text=True)
        link = re.search(r'href="(/export/1/download)"', page).group(1)
        with browser.get(link) as download:
            bundle = download.data
    with site(ho.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "amira", Role.COORDINATOR)
        office = app.test_client()
        assert login(office).status_code == 302
        set_language(office, "ar")
        response = office.post(
            "/import",
            data={"bundles": [(io.BytesIO(bundle), "bashiqa.fieldsync")]},
            content_type="multipart/form-data",
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Bashiqa laptop" in page
        again = office.post(
            "/import",
            data={"bundles": [(io.BytesIO(bundle), "bashiqa.fieldsync")]},
            content_type="multipart/form-data",
        )
        assert translated("ar", "Merged before; nothing changed.") in again.get_data(as_text=True)
        with app.app_context():
            [submission] = db.session.query(Submission).all()
    assert json.loads(submission.body)["answers"] == {question: "مدرسة للبنات"}
    assert ho.stats() == laptop.stats()


def test_a_browser_on_a_postgresql_backed_server(tmp_path, pg_urls):
    """run.py on an installation whose config.py names PostgreSQL, driven in chromium."""
    from .serving import serving
    from .test_browser import CHROMIUM, chromium_page

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    folder = tmp_path / "ho"
    folder.mkdir()
    url = pg_urls()
    (folder / "config.py").write_text(f"SQLALCHEMY_DATABASE_URI = {url!r}\n", encoding="utf-8")
    runner = CliRunner()
    made = runner.invoke(
        cli, ["--instance", str(folder), "init", "--role", "headoffice", "--name", "Erbil"]
    )
    assert made.exit_code == 0, made.output
    made = runner.invoke(
        cli,
        ["--instance", str(folder), "create-user", "amira", "--role", "coordinator"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert made.exit_code == 0, made.output
    with serving(folder) as address, chromium_page() as page:
        page.goto(address + "/")
        page.wait_for_url(re.compile(r".*/login.*"))
        page.fill("#username", "amira")
        page.fill("#password", PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.wait_for_url(address + "/")
        page.goto(address + "/consultations/new")
        page.fill("#title_en", "Town hall in Bashiqa")
        page.select_option("#governorate", "IQ-NI")
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_url(re.compile(r".*/consultations/[0-9a-f-]{36}$"))
        assert "Town hall in Bashiqa" in page.inner_text("main")
        assert page.requested_hosts == {address.removeprefix("http://")}
    assert not (folder / "fieldapp.sqlite3").exists()
    from fieldapp import create_app

    app = create_app(instance_path=folder)
    with app.app_context():
        names = [row[0] for row in db.session.execute(db.text('SELECT username FROM "user"'))]
        db.session.remove()
        db.engine.dispose()
    assert names == ["amira"]
