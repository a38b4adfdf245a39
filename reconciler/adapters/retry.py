"""Retry policy of the control-plane client: which failures to retry and how long to wait.

Pure arithmetic (Retry-After parsing, backoff); it sends nothing and never sleeps.
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from datetime import UTC

# Seconds a call may spend on retries in all (the default policy's budget when unset).
RETRY_BUDGET_ENV = "TENSORMESH_RETRY_BUDGET"

# The official client's figures: statuses worth retrying, Retry-After cap, backoff steps.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How reads and deletes are retried; deploys are never retried whatever this says.

    Backoff is `base_delay * 2**attempt` capped at `max_delay` (0.5/1/2/4/8 s),
    shortened by up to `jitter` of itself so that workers do not retry in step.
    No wait may take the call past `budget` seconds since its first attempt.
    """

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 8.0
    jitter: float = 0.25
    budget: float = 30.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.budget < 0:
            raise ValueError("RetryPolicy figures must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("RetryPolicy.jitter must be within [0, 1]")


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None.

    `now` is the current time as a Unix timestamp, used only for the HTTP-date form.
    A date in the past means "now" (0 s); an unreadable value means "no advice".
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return max(0.0, seconds)
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; RFC 9110 dates are always UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def backoff_delay(policy: RetryPolicy, attempt: int, *, rand: float) -> float:
    """The wait before retry number `attempt` (0-based) without server advice.

    `rand` in [0, 1) is the jitter draw; 0 gives the nominal 0.5/1/2/4/8 s.
    """
    nominal = min(policy.max_delay, policy.base_delay * (2.0 ** max(0, attempt)))
    return nominal * (1.0 - policy.jitter * min(max(rand, 0.0), 1.0))


def next_delay(
    policy: RetryPolicy, attempt: int, *, retry_after: float | None, rand: float
) -> float:
    """The wait before retry `attempt`: the server's Retry-After (capped) if given, else backoff."""
    if retry_after is not None:
        return min(policy.retry_after_cap, max(0.0, retry_after))
    return backoff_delay(policy, attempt, rand=rand)


def should_retry(policy: RetryPolicy, attempt: int, *, delay: float, elapsed: float) -> bool:
    """Whether retry `attempt` (0-based) may run: within the retry count and the time budget."""
    return attempt < policy.max_retries and elapsed + delay <= policy.budget
