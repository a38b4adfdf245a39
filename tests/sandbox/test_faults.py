from __future__ import annotations

import pytest

from reconciler.core.errors import UsageError
from reconciler.sandbox.faults import Fault, FaultInjector, FaultKnobs, updated_knobs


def _sequence(seed: int, knobs: FaultKnobs, n: int = 200) -> list[object]:
    injector = FaultInjector(knobs, seed=seed)
    return [(injector.on_request(), injector.on_create()) for _ in range(n)]


def test_the_same_seed_gives_the_same_sequence() -> None:
    knobs = FaultKnobs(error_rate=0.3, lose_create_rate=0.3, fail_rate=0.3)
    assert _sequence(7, knobs) == _sequence(7, knobs)
    assert _sequence(7, knobs) != _sequence(8, knobs)


def test_rates_are_roughly_honoured() -> None:
    injector = FaultInjector(FaultKnobs(error_rate=0.25), seed=1)
    errors = sum(injector.on_request() is Fault.ERROR for _ in range(2000))
    assert 400 < errors < 600
    assert injector.counts["errors"] == errors


def test_every_nth_request_is_rate_limited() -> None:
    injector = FaultInjector(FaultKnobs(rate_limit_every=3), seed=0)
    faults = [injector.on_request() for _ in range(9)]
    assert [i + 1 for i, f in enumerate(faults) if f is Fault.RATE_LIMITED] == [3, 6, 9]
    assert injector.counts["rateLimited"] == 3


def test_no_knobs_no_faults() -> None:
    injector = FaultInjector(FaultKnobs(), seed=0)
    assert all(injector.on_request() is None for _ in range(100))
    fate = injector.on_create()
    assert not fate.lose_response and not fate.fail_model


def test_knobs_update_by_json_name_and_reject_nonsense() -> None:
    knobs = updated_knobs(FaultKnobs(), {"errorRate": 0.5, "rateLimitEvery": 4})
    assert knobs == FaultKnobs(error_rate=0.5, rate_limit_every=4)
    with pytest.raises(UsageError, match="unknown fault knob"):
        updated_knobs(knobs, {"errorRat": 0.1})
    with pytest.raises(UsageError, match="between 0 and 1"):
        updated_knobs(knobs, {"failRate": 2})
    with pytest.raises(UsageError, match="must be a number"):
        updated_knobs(knobs, {"latencyMs": "fast"})
