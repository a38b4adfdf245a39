"""The shared limiter and the circuit breaker, on a fake clock (no real sleeping)."""

from __future__ import annotations

import threading

import pytest

from reconciler.adapters.limiter import CircuitBreaker, SharedLimiter
from reconciler.core.errors import CircuitOpenError
from tests.support.clock import FakeClock


def test_acquire_does_not_wait_without_a_pause() -> None:
    clock = FakeClock()
    limiter = SharedLimiter(clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(5)] == [0.0] * 5
    assert clock.sleeps == []


def test_a_pause_holds_back_the_next_request_until_it_ends() -> None:
    clock = FakeClock()
    limiter = SharedLimiter(clock=clock, sleep=clock.sleep)
    limiter.pause_for(3.0)
    assert limiter.acquire() == 3.0
    assert clock.now == 3.0
    assert limiter.acquire() == 0.0  # the pause is over


def test_a_shorter_pause_never_shortens_a_longer_one() -> None:
    clock = FakeClock()
    limiter = SharedLimiter(clock=clock, sleep=clock.sleep)
    limiter.pause_for(5.0)
    limiter.pause_for(1.0)
    limiter.pause_for(0.0)
    assert limiter.not_before == 5.0
    assert limiter.acquire() == 5.0


def test_rate_spaces_request_starts() -> None:
    clock = FakeClock()
    limiter = SharedLimiter(rate=4.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    assert clock.now == pytest.approx(1.0)  # 5 starts at 4/s: 0, .25, .5, .75, 1.0


def test_one_pause_holds_back_every_thread() -> None:
    clock = FakeClock()
    limiter = SharedLimiter(clock=clock, sleep=clock.sleep)
    limiter.pause_for(2.0)
    started_at: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter.acquire()
        with lock:
            started_at.append(clock())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(started_at) == 4
    assert min(started_at) >= 2.0


def test_limiter_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError):
        SharedLimiter(rate=0)


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(threshold=3)
    for _ in range(2):
        breaker.note_failure()
    breaker.check("GET /v1/models")  # still closed
    breaker.note_failure()
    assert breaker.is_open
    with pytest.raises(CircuitOpenError) as caught:
        breaker.check("GET /v1/models")
    assert "GET /v1/models" in str(caught.value)
    assert "3 consecutive failures" in str(caught.value)


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(threshold=3)
    breaker.note_failure()
    breaker.note_failure()
    breaker.note_success()
    breaker.note_failure()
    breaker.note_failure()
    assert not breaker.is_open
    assert breaker.consecutive_failures == 2


def test_breaker_without_cooldown_stays_open() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, clock=clock)
    breaker.note_failure()
    clock.sleep(3600)
    assert breaker.is_open


def test_breaker_half_opens_after_cooldown_and_reopens_on_one_failure() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown=10.0, clock=clock)
    for _ in range(3):
        breaker.note_failure()
    clock.sleep(9.0)
    assert breaker.is_open
    clock.sleep(1.0)
    breaker.check("GET /v1/models")  # half-open: one trial goes through
    breaker.note_failure()
    assert breaker.is_open


def test_breaker_counts_failures_from_many_threads() -> None:
    breaker = CircuitBreaker(threshold=40)

    def fail_ten_times() -> None:
        for _ in range(10):
            breaker.note_failure()

    threads = [threading.Thread(target=fail_ten_times) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert breaker.consecutive_failures == 40
    assert breaker.is_open
