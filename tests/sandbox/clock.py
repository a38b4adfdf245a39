"""A settable clock for in-process sandbox tests: time moves only when a test moves it."""

from __future__ import annotations

START = 1_750_000_000.0


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
