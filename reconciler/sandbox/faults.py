"""Fault injection: decides, from a seeded random stream, which requests fail and how.

Decides only; the app carries the decision out. Every request draws the same number of
random values whatever the knobs are, so one seed always gives one sequence.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from reconciler.core.errors import UsageError


@dataclass(frozen=True, slots=True)
class FaultKnobs:
    latency_ms: float = 0.0
    rate_limit_every: int = 0  # 0: off; N: every Nth API request is a 429
    error_rate: float = 0.0  # 503 before any effect
    lose_create_rate: float = 0.0  # create committed, answer is a 502
    fail_rate: float = 0.0  # new model ends MODEL_STATUS_FAILED instead of UP
    refuse_creates_status: int = 0  # 0: off; else every create is refused for billing with it
    refuse_creates_code: int = 0  # gRPC code of that refusal; 0: derived from the status

    def to_json(self) -> dict[str, Any]:
        return {_CAMEL[f.name]: getattr(self, f.name) for f in fields(self)}


_CAMEL = {
    "latency_ms": "latencyMs",
    "rate_limit_every": "rateLimitEvery",
    "error_rate": "errorRate",
    "lose_create_rate": "loseCreateRate",
    "fail_rate": "failRate",
    "refuse_creates_status": "refuseCreatesStatus",
    "refuse_creates_code": "refuseCreatesCode",
}
_INT_KNOBS = frozenset({"rate_limit_every", "refuse_creates_status", "refuse_creates_code"})
_SNAKE = {camel: snake for snake, camel in _CAMEL.items()}


class Fault(enum.Enum):
    RATE_LIMITED = "rateLimited"
    ERROR = "errors"


@dataclass(frozen=True, slots=True)
class CreateFate:
    lose_response: bool
    fail_model: bool


def check_knobs(knobs: FaultKnobs) -> FaultKnobs:
    for name in ("error_rate", "lose_create_rate", "fail_rate"):
        value = getattr(knobs, name)
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{_CAMEL[name]} must be a probability between 0 and 1, got {value}")
    if knobs.rate_limit_every < 0 or knobs.latency_ms < 0:
        raise UsageError("rateLimitEvery and latencyMs must be >= 0")
    if knobs.refuse_creates_status and not 400 <= knobs.refuse_creates_status <= 599:
        raise UsageError(
            f"refuseCreatesStatus must be 0 (off) or an HTTP error status 400-599, "
            f"got {knobs.refuse_creates_status}"
        )
    if not 0 <= knobs.refuse_creates_code <= 16:
        raise UsageError(
            f"refuseCreatesCode must be a gRPC code 0-16, got {knobs.refuse_creates_code}"
        )
    return knobs


def updated_knobs(knobs: FaultKnobs, changes: Mapping[str, Any]) -> FaultKnobs:
    """The knobs with `changes` (camelCase JSON names) applied; UsageError names a bad one."""
    values: dict[str, Any] = {}
    for key, value in changes.items():
        name = _SNAKE.get(key)
        if name is None:
            raise UsageError(f"unknown fault knob {key!r}; known: {', '.join(_SNAKE)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"fault knob {key!r} must be a number")
        values[name] = int(value) if name in _INT_KNOBS else float(value)
    return check_knobs(replace(knobs, **values))


class FaultInjector:
    """Holds the live knobs, the seeded stream and the fault counters."""

    def __init__(self, knobs: FaultKnobs, *, seed: int) -> None:
        self.knobs = check_knobs(knobs)
        self._random = random.Random(seed)
        self.requests = 0
        self.counts: dict[str, int] = {
            "rateLimited": 0,
            "errors": 0,
            "lostCreates": 0,
            "failedModels": 0,
        }
        self.billing_refusals = 0  # reported apart: the faults dict's keys are fixed

    def on_request(self) -> Fault | None:
        """Called once per API request (never for /_sandbox/)."""
        self.requests += 1
        draw = self._random.random()
        every = self.knobs.rate_limit_every
        if every and self.requests % every == 0:
            self.counts["rateLimited"] += 1
            return Fault.RATE_LIMITED
        if draw < self.knobs.error_rate:
            self.counts["errors"] += 1
            return Fault.ERROR
        return None

    def on_create(self) -> CreateFate:
        """Called once per create that passed validation, before it is committed."""
        lose_draw, fail_draw = self._random.random(), self._random.random()
        fate = CreateFate(
            lose_response=lose_draw < self.knobs.lose_create_rate,
            fail_model=fail_draw < self.knobs.fail_rate,
        )
        if fate.lose_response:
            self.counts["lostCreates"] += 1
        if fate.fail_model:
            self.counts["failedModels"] += 1
        return fate
