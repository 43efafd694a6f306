"""Named counters, incremented under the write lock so no number is ever handed out twice."""

from __future__ import annotations

from ..database import writing
from ..extensions import db
from ..models import Counter


def next_value(name: str) -> int:
    """Increment the counter ``name`` (starting at 1) and return its new value, committed."""
    with writing() as session:
        counter = session.get(Counter, name)
        if counter is None:
            counter = Counter(name=name, value=0)
            session.add(counter)
        counter.value += 1
        value = counter.value
    return value


def current_value(name: str) -> int:
    """Return the counter's value without changing it (0 if it was never used)."""
    counter = db.session.get(Counter, name)
    return counter.value if counter else 0
