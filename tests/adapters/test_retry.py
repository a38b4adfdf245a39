"""Table tests for the pure retry arithmetic: Retry-After parsing, backoff, budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.adapters.retry import (
    RetryPolicy,
    backoff_delay,
    next_delay,
    parse_retry_after,
    should_retry,
)

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("3", 3.0),
        (" 2 ", 2.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-4", 0.0),
        ("120", 120.0),  # parsing does not cap; next_delay does
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("Wed, 01 Jan 2025 12:00:05 GMT", 5.0),
        ("Wed, 01 Jan 2025 12:00:05 -0000", 5.0),
        ("Wed, 01 Jan 2025 13:00:05 +0100", 5.0),
        ("Wed, 01 Jan 2025 11:59:00 GMT", 0.0),  # in the past: go now
        ("Wed, 99 Foo 2025 99:00:00 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.0, 0.5),
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (4, 0.0, 8.0),
        (5, 0.0, 8.0),  # capped at max_delay
        (30, 0.0, 8.0),
        (0, 1.0, 0.375),  # full jitter draw takes off 25 %
        (4, 0.5, 7.0),
    ],
)
def test_backoff_delay(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(RetryPolicy(), attempt, rand=rand) == pytest.approx(expected)


def test_backoff_with_jitter_stays_within_a_quarter_below_nominal() -> None:
    policy = RetryPolicy()
    for attempt in range(6):
        nominal = backoff_delay(policy, attempt, rand=0.0)
        for step in range(10):
            delay = backoff_delay(policy, attempt, rand=step / 10)
            assert 0.75 * nominal <= delay <= nominal


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [
        (None, 2, 2.0),
        (3.0, 2, 3.0),  # the server's advice wins over backoff
        (0.0, 4, 0.0),
        (60.0, 0, 8.0),  # capped at 8 s like the official client
    ],
)
def test_next_delay(retry_after: float | None, attempt: int, expected: float) -> None:
    policy = RetryPolicy(jitter=0.0)
    assert next_delay(policy, attempt, retry_after=retry_after, rand=0.9) == expected


@pytest.mark.parametrize(
    ("attempt", "delay", "elapsed", "expected"),
    [
        (0, 0.5, 0.0, True),
        (4, 8.0, 7.5, True),
        (5, 0.5, 0.0, False),  # five retries used
        (2, 8.0, 22.0, True),  # lands exactly on the 30 s budget
        (2, 8.0, 22.1, False),  # would pass the budget
    ],
)
def test_should_retry(attempt: int, delay: float, elapsed: float, expected: bool) -> None:
    assert should_retry(RetryPolicy(), attempt, delay=delay, elapsed=elapsed) is expected


@pytest.mark.parametrize(
    "kwargs", [{"max_retries": -1}, {"jitter": 1.5}, {"budget": -1.0}, {"base_delay": -0.1}]
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
