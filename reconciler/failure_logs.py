"""A failed model's latest deployment log lines, for `failed` drift and failed applies.

Best effort: the logs explain a failure, so a call that fails is logged and leaves no
lines; it never fails the pass or the entry. The adapter already returns nothing for an
API without the endpoint, strips control characters and scrubs known secrets.
"""

from __future__ import annotations

import logging

from reconciler.core.errors import ReconcilerError
from reconciler.core.model import LiveModel
from reconciler.core.ports import ModelsApi

LINES = 5  # enough to see why; short enough for a table row and a log line

log = logging.getLogger("reconciler.logs")


def read_failure_logs(api: ModelsApi, model: LiveModel, *, user_id: str | None) -> tuple[str, ...]:
    """Up to LINES lines, oldest first; () when there are none or the call failed."""
    user = model.user_id or user_id
    if not model.deployment_id or not user:
        return ()
    try:
        return api.deployment_logs(user, model.deployment_id, limit=LINES)
    except ReconcilerError as exc:
        log.warning(
            "could not read the deployment logs of %s: %s",
            model.model_name,
            exc,
            extra={"fields": {"name": model.model_name, "deploymentId": model.deployment_id}},
        )
        return ()


def describe(lines: tuple[str, ...]) -> str:
    """The lines as a reason's tail: `; recent logs: a | b`."""
    return f"; recent logs: {' | '.join(lines)}" if lines else ""
