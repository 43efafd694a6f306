"""The database keeps every acknowledged write: pragmas, write locking, migrations."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from fieldapp.database import WriteOutsideTransaction, writing
from fieldapp.extensions import db
from fieldapp.models import Counter, Role, User
from fieldapp.services import counters

EXPECTED_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,  # FULL
    "foreign_keys": 1,
    "secure_delete": 1,
}


def test_every_pooled_connection_has_the_durability_pragmas(app):
    """WAL, synchronous=FULL, foreign keys, busy timeout >= 5 s and secure_delete on each one."""
    with app.app_context():
        engine = db.engine
        connections = [engine.connect() for _ in range(4)]  # four distinct pooled connections
        try:
            for conn in connections:
                for name, expected in EXPECTED_PRAGMAS.items():
                    assert conn.exec_driver_sql(f"PRAGMA {name}").scalar() == expected, name
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        finally:
            for conn in connections:
                conn.close()
        # Connections handed back to the pool and taken again keep their settings.
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_foreign_keys_are_enforced(app):
    """A session row pointing at no account is refused by the database itself."""
    from sqlalchemy.exc import IntegrityError

    from fieldapp.models import LoginSession

    with app.app_context(), pytest.raises(IntegrityError), writing() as session:
        session.add(LoginSession(token_hash="x" * 64, user_id=999))


def increment_in_parallel(app, threads: int = 30, rounds: int = 20) -> tuple[list[int], list[str]]:
    """Run ``threads`` x ``rounds`` read-then-write increments; return numbers and errors."""
    numbers: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker() -> None:
        with app.app_context():
            barrier.wait()
            for _ in range(rounds):
                try:
                    value = counters.next_value("burst")
                except Exception as exc:  # noqa: BLE001 -- every failure is reported
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    numbers.append(value)
            db.session.remove()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return numbers, errors


def test_thirty_writers_in_parallel_lose_nothing(app):
    """30 threads x 20 read-then-write transactions through the app's session: 600 commits."""
    numbers, errors = increment_in_parallel(app)
    assert errors == []  # in particular, no "database is locked"
    assert sorted(numbers) == list(range(1, 601))
    with app.app_context():
        assert db.session.get(Counter, "burst").value == 600


def test_writes_outside_writing_are_refused(app):
    """A write that skips BEGIN IMMEDIATE is a programming error, caught before it reaches disk."""
    with app.app_context():
        db.session.add(Counter(name="stray", value=1))
        with pytest.raises(WriteOutsideTransaction):
            db.session.flush()
        db.session.rollback()
        assert db.session.get(Counter, "stray") is None


def test_a_failed_unit_of_work_leaves_nothing_behind(app):
    """If anything fails inside writing(), none of its changes are saved."""
    with app.app_context():

        def half_done() -> None:
            with writing() as session:
                session.add(Counter(name="half", value=1))
                session.flush()
                raise RuntimeError("power cut")

        with pytest.raises(RuntimeError):
            half_done()
        assert db.session.get(Counter, "half") is None


def test_writer_transactions_begin_immediate(app):
    """Writers take the write lock at BEGIN, so a reader-turned-writer never deadlocks."""
    statements: list[str] = []
    with app.app_context():
        from sqlalchemy import event

        def capture(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            counters.next_value("lock")
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
    # The begin event runs through exec_driver_sql, so it is captured too.
    assert statements[0] == "BEGIN IMMEDIATE"


def check_models_match_migrations(app) -> None:
    """Upgrade an empty database to head; autogenerate must then find nothing to change."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, db.metadata)
        assert diff == []
        assert "alembic_version" in inspect(conn).get_table_names()


def test_models_match_the_migrations(app):
    """Schema changes only ever go through migrations."""
    check_models_match_migrations(app)


def test_upgrade_keeps_existing_data(instance):
    """Running the upgrade again on a database with data keeps the data (laptop upgraded)."""
    from .conftest import add_user, make_app

    app = make_app(instance)
    add_user(app, "amira", Role.COORDINATOR)
    again = make_app(instance)
    with again.app_context():
        assert db.session.execute(select(User.username)).scalar_one() == "amira"
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version


def test_bulk_statements_outside_writing_are_refused(app):
    """An UPDATE or DELETE statement, not only an ORM flush, needs writing()."""
    from sqlalchemy import delete

    with app.app_context(), pytest.raises(WriteOutsideTransaction):
        db.session.execute(delete(Counter))
