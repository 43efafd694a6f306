"""Named counters, incremented under the write lock so no number is ever handed out twice."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from ..database import writing
from ..extensions import db
from ..models import Counter


def next_value(name: str) -> int:
    """Increment the counter ``name`` (starting at 1) and return its new value, committed.

    The increment is one UPDATE ... RETURNING, so it is atomic on PostgreSQL too, where
    transactions are not serialised by a database-wide write lock.
    """
    increment = (
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    )
    with writing() as session:
        value = session.execute(increment).scalar_one_or_none()
        if value is None:
            try:
                with session.begin_nested():
                    session.add(Counter(name=name, value=1))
                value = 1
            except IntegrityError:  # another writer created it first (PostgreSQL only)
                value = session.execute(increment).scalar_one()
    return value


def current_value(name: str) -> int:
    """Return the counter's value without changing it (0 if it was never used)."""
    counter = db.session.get(Counter, name)
    return counter.value if counter else 0
