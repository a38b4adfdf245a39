"""The one exception tree. Adapters translate library errors into these at the edge.

Every message says what failed, where (file:line, entry, request id) and what to
try next. No message may contain a secret value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.core.model import Issue


class ReconcilerError(Exception):
    """Base of every error the CLI turns into one clear message and exit 1."""


class ManifestError(ReconcilerError):
    """One or more manifests are invalid; carries every issue found."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class UsageError(ReconcilerError):
    """The command line asks for something impossible (bad flag combination, bad path)."""


class SecretError(ReconcilerError):
    """Secret references could not be resolved; names every missing one, never a value."""


class StateError(ReconcilerError):
    """The state file is unreadable, corrupt, of an unknown version, or cannot be written."""


class StateLockedError(StateError):
    """Another process holds the state lock."""


class StalePlanError(ReconcilerError):
    """A saved plan no longer matches the state it was made from."""


class StaleCheckoutError(ReconcilerError):
    """The state was applied from a git revision this checkout does not have: pull first."""


class PlanFileError(ReconcilerError):
    """A saved plan file is unreadable, corrupt, foreign or of an unknown version."""


class GitError(ReconcilerError):
    """A git step of the write-back failed (no work tree, no identity, rejected push, conflict)."""


class ApiError(ReconcilerError):
    """A control-plane call failed. Carries the call, status, server message and request id."""

    hint = ""

    def __init__(
        self,
        call: str,
        *,
        status: int | None = None,
        code: int | None = None,
        server_message: str = "",
        request_id: str | None = None,
        detail: str = "",
    ) -> None:
        self.call = call
        self.status = status
        self.code = code
        self.server_message = server_message
        self.request_id = request_id
        self.detail = detail
        super().__init__(self.describe())

    def describe(self) -> str:
        parts = [self.call, "failed"]
        if self.status is not None:
            parts.append(f"with HTTP {self.status}")
        text = " ".join(parts)
        if self.server_message:
            text += f": {self.server_message}"
        elif self.detail:
            text += f": {self.detail}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        if self.hint:
            text += f". {self.hint}"
        return text


class ApiUnreachableError(ApiError):
    """No HTTP answer at all: connection refused, DNS failure, timeout, reset."""

    hint = "Check TENSORMESH_CONTROL_PLANE_BASE_URL / --api-url and that the control plane is up"


class ApiTimeoutError(ApiUnreachableError):
    """The call was sent but no answer came in time: its outcome is unknown."""


class ApiAuthError(ApiError):
    """401/403: the token is missing, wrong or expired."""

    hint = (
        "Check TENSORMESH_CONTROL_PLANE_TOKEN (or _TOKEN_FILE, or `tm`'s login): get a token "
        "with `tm auth login`, then `tm auth print-token --yes-i-know`"
    )


class ApiInvalidError(ApiError):
    """400: the control plane refused the request as invalid."""

    hint = "Fix the manifest field the message names"


class ApiNotFoundError(ApiError):
    """404: no such model."""


class ApiConflictError(ApiError):
    """409: the modelName is taken by a model not yet deleted."""


class ApiRateLimitedError(ApiError):
    """429 after the retry budget ran out (or on a call that is never retried)."""

    hint = "The control plane is rate limiting; lower --concurrency or try again later"

    def __init__(self, call: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(call, **kwargs)  # type: ignore[arg-type]


class ApiServerError(ApiError):
    """5xx: the control plane failed; for a create, the outcome is unknown."""

    hint = "The control plane had an internal error; try again later"


class CircuitOpenError(ApiError):
    """Too many consecutive failures: the run stops making calls."""

    hint = "The control plane looks unhealthy; what was done is recorded, run again later"


class ApiMalformedError(ApiError):
    """The control plane answered with something unusable: not JSON, too big, an ID that is
    not a plain identifier, an absurd number. For a deploy its outcome is unknown."""

    hint = "Is the API URL the Tensormesh control plane? Nothing from this answer was recorded"


class ApiInterruptedError(ApiError):
    """The run was stopped (SIGINT/SIGTERM) while this call was waiting or in flight."""

    hint = "Run the command again; an interrupted deploy is looked up by name then"
