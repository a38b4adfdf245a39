"""A fake monotonic clock for client and limiter tests: time moves only when someone sleeps."""

from __future__ import annotations

import threading


class FakeClock:
    """Thread-safe: worker threads of a test share it like they share time.monotonic."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds
