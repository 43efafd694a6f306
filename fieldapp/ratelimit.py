"""Counting requests per client: a sliding window (participant listener) and a growing delay
(the kiosk's unlock form).

Kept in memory: the counts protect a running listener from one phone flooding it or guessing
join codes, and a kiosk from a participant guessing the facilitator's password; they need not
survive a restart.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


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


# A try that has not ended after this long (the request died) no longer blocks the next one.
IN_FLIGHT_SECONDS = 30.0


class GrowingDelay:
    """After ``free`` failures for a key, each further try waits longer: 2, 4, 8 ... seconds
    after the last failure, at most ``cap`` seconds. A success forgets the key, and so does
    ``forget_after`` seconds without a failure.

    For the kiosk's unlock form: a participant guessing at the facilitator's password is
    slowed on that device only, and nobody is ever locked out for long.
    """

    def __init__(
        self,
        free: int,
        cap: float,
        forget_after: float = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.cap = cap
        self.forget_after = forget_after
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # key: (count, time of the last)
        self._trying: dict[str, float] = {}  # key: when its try began (one try at a time)
        self._lock = threading.Lock()

    def delay_after(self, failures: int) -> float:
        """How long to wait after ``failures`` failures in a row."""
        if failures < self.free:
            return 0.0
        return float(min(self.cap, 2 ** (failures - self.free + 1)))

    def begin(self, key: str) -> float:
        """Start a try for ``key``: 0 when it may go ahead, else the seconds to wait.

        One try per key at a time, so tries sent in parallel cannot all slip past the wait;
        end each try that went ahead with :meth:`failed`, :meth:`succeeded` or :meth:`end`.
        """
        with self._lock:
            now = self.clock()
            started = self._trying.get(key)
            if started is not None and now - started < IN_FLIGHT_SECONDS:
                return 1.0
            count, last = self._failures.get(key, (0, 0.0))
            if count and now - last > self.forget_after:
                del self._failures[key]
                count = 0
            wait = max(0.0, last + self.delay_after(count) - now) if count else 0.0
            if wait == 0:
                self._trying[key] = now
            return wait

    def end(self, key: str) -> None:
        """End a try that neither failed nor succeeded (an error on the way)."""
        with self._lock:
            self._trying.pop(key, None)

    def failed(self, key: str) -> None:
        """Count one failure for ``key``."""
        with self._lock:
            now = self.clock()
            stale = [k for k, (_n, at) in self._failures.items() if now - at > self.forget_after]
            for old in stale:  # keep memory bounded by the kiosks in use
                del self._failures[old]
            count, _last = self._failures.get(key, (0, 0.0))
            self._failures[key] = (count + 1, now)
            self._trying.pop(key, None)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key``."""
        with self._lock:
            self._failures.pop(key, None)
            self._trying.pop(key, None)
