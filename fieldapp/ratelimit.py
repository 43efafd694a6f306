"""Counting requests per client in a sliding window (participant listener only).

Kept in memory: the counts protect a running listener from one phone flooding it or guessing
join codes, and need not survive a restart.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class SlidingWindow:
    """At most ``limit`` events per key within ``seconds``."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        while events and now - events[0] > self.seconds:
            events.popleft()
        return events

    def allowed(self, key: str) -> bool:
        """True while ``key`` is under its limit (does not count an event)."""
        with self._lock:
            return len(self._trim(key, time.monotonic())) < self.limit

    def hit(self, key: str) -> None:
        """Count one event for ``key``."""
        with self._lock:
            now = time.monotonic()
            self._trim(key, now).append(now)
