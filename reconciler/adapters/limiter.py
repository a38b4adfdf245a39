"""Pacing shared by every worker of one run: a global 429 pause, an optional rate, a breaker.

Holds no HTTP knowledge: the client tells it what happened; clock and sleep are injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from reconciler.core.errors import CircuitOpenError


class SharedLimiter:
    """Makes every worker wait while the control plane asked anyone to back off.

    One 429 with Retry-After pushes a global "not before" time; every request of
    every thread waits for it, so a rate-limited run slows down as a whole instead
    of each worker discovering the limit on its own. `rate` (requests/s) spaces
    request starts evenly when set.
    """

    def __init__(
        self,
        *,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("SharedLimiter rate must be positive")
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._not_before = float("-inf")
        self._next_slot = float("-inf")

    @property
    def not_before(self) -> float:
        """The clock time before which no request starts (-inf when unset)."""
        with self._lock:
            return self._not_before

    def acquire(self) -> float:
        """Block until this thread may send a request; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                ready_at = max(self._not_before, self._next_slot)
                if ready_at <= now:
                    if self._interval:
                        self._next_slot = now + self._interval
                    return waited
            # Sleep outside the lock, then look again: another 429 may have moved
            # the pause further while we slept, or another thread took the slot.
            delay = ready_at - now
            self._sleep(delay)
            waited += delay

    def pause_for(self, seconds: float) -> None:
        """Hold every request back for `seconds` from now (never shortens a longer pause)."""
        if seconds <= 0:
            return
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)


class CircuitBreaker:
    """Stops a run from hammering a control plane that keeps failing.

    Counts consecutive failures (5xx, timeouts, unreachable) across all calls and
    threads; at `threshold` it opens and `check` raises CircuitOpenError without
    anything being sent. Any answered request resets the count. With `cooldown`
    set, the breaker lets calls through again after that many seconds, and the
    next failure reopens it at once (half-open); without it, it stays open for
    the life of the client, i.e. the rest of the run.
    """

    def __init__(
        self,
        *,
        threshold: int = 5,
        cooldown: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError("CircuitBreaker threshold must be at least 1")
        self._threshold = threshold
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._is_open_locked()

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._failures

    def check(self, call: str) -> None:
        """Raise CircuitOpenError for `call` if the breaker is open."""
        with self._lock:
            if not self._is_open_locked():
                return
            failures = self._failures
        raise CircuitOpenError(
            call,
            detail=f"not sent: the circuit breaker is open after {failures} consecutive failures",
        )

    def note_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None

    def note_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self._threshold and self._opened_at is None:
                self._opened_at = self._clock()

    def _is_open_locked(self) -> bool:
        if self._opened_at is None:
            return False
        if self._cooldown is not None and self._clock() - self._opened_at >= self._cooldown:
            # Half-open: let calls through; one more failure reopens at once.
            self._opened_at = None
            self._failures = self._threshold - 1
            return False
        return True
