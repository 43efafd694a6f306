"""The same code on PostgreSQL, for a head office that outgrows SQLite.

Runs against the server on 127.0.0.1:5432 (user postgres, database test), each test in its own
schema; skipped with the reason shown when no server answers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from fieldapp.extensions import db
from fieldapp.models import Counter, Role

from .conftest import PASSWORD, add_user, login, make_app
from .test_database import check_models_match_migrations, increment_in_parallel

PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


def _server_available() -> str | None:
    try:
        import psycopg2
    except ImportError:
        return "psycopg2 is not installed"
    try:
        psycopg2.connect(connect_timeout=3, **PG_DSN).close()
    except psycopg2.OperationalError as exc:
        return f"no PostgreSQL server on 127.0.0.1:5432 ({str(exc).strip()})"
    return None


pytestmark = pytest.mark.postgres
_reason = _server_available()
if _reason:
    pytestmark = [pytest.mark.postgres, pytest.mark.skip(reason=_reason)]


@pytest.fixture
def pg_app(instance) -> Iterator:
    """An app whose database is a fresh schema on the PostgreSQL server."""
    import psycopg2

    schema = "fieldapp_" + secrets.token_hex(6)
    with psycopg2.connect(**PG_DSN) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    app = make_app(instance, SQLALCHEMY_DATABASE_URI=url)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with psycopg2.connect(**PG_DSN) as conn, conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA {schema} CASCADE")


def test_migrations_match_models_on_postgresql(pg_app):
    """The migrations build the same schema on PostgreSQL as the models describe."""
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"
    check_models_match_migrations(pg_app)


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

    from .sync_world import clone, opened

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
