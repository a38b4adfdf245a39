"""The edge: a command's flags and the environment, resolved once into session.Settings.

The only place below the CLI where the environment is read for a run; everything under
`commands/` is handed the session built from these settings.
"""

from __future__ import annotations

import os

from reconciler.adapters.retry import RETRY_BUDGET_ENV
from reconciler.session import Settings

_QUICK_RETRY_BUDGET = "5"  # seconds
_QUICK_TIMEOUT = 10.0  # seconds


def resolve(
    *,
    state_path: str,
    api_url: str | None = None,
    concurrency: int = 8,
    lock_timeout: float = 60.0,
    quick: bool = False,
    breaker_cooldown: float | None = None,
) -> Settings:
    """`quick`: a command that needs no API (a plan reading prices) gives an unreachable one
    only a few seconds before it goes on without: short timeout and retry budget, unless
    the environment sets them."""
    environ = dict(os.environ)
    timeout = 30.0
    if quick:
        timeout = _QUICK_TIMEOUT
        if not environ.get(RETRY_BUDGET_ENV, "").strip():
            environ[RETRY_BUDGET_ENV] = _QUICK_RETRY_BUDGET
    return Settings.resolve(
        environ,
        state_path=state_path,
        api_url=api_url,
        concurrency=concurrency,
        lock_timeout=lock_timeout,
        timeout=timeout,
        breaker_cooldown=breaker_cooldown,
    )
