"""The sandbox's settings, as parsed from the command line, and the caller identity they imply.

Pure values; the token is a sandbox credential printed at start, so it is not a secret here.
`ApiShape` gathers every guess about the real API (docs/sandbox.md marks each one) so that a
test can switch a guess off instead of trusting it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.sandbox.catalog import (
    CLOUD_PROVIDERS,
    EVENT_ERROR,
    EVENT_INFO,
    STATUS_FAILED,
)
from reconciler.sandbox.faults import FaultKnobs

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - a documented local default, not a credential
# Fixed namespace: the same token always maps to the same user id, across restarts and machines.
_USER_NAMESPACE = uuid.UUID("6f1e2c1a-4c8e-5b7d-9a0e-7e6d5c4b3a21")


def user_id_for(token: str) -> str:
    return str(uuid.uuid5(_USER_NAMESPACE, f"tensormesh-sandbox:{token}"))


@dataclass(frozen=True, slots=True)
class ApiShape:
    """The guesses about the real control plane, each with the SDK's picture as default."""

    emit_zero_values: bool = True  # grpc-gateway v2 default: "description": "", "replicas": "0"
    strict_requests: bool = False  # grpc-gateway discards unknown request fields
    failed_status: str = STATUS_FAILED  # the name a failed model reports (unknown to the SDK)
    terminal_statuses: tuple[str, ...] = ()  # more statuses /_sandbox/ may force a model into
    cloud_providers: tuple[str, ...] = CLOUD_PROVIDERS
    event_info: str = EVENT_INFO
    event_error: str = EVENT_ERROR
    unknown_path_status: int = 501  # an unmatched path; a wrong method is always 501/12
    balance: str = "100.00"  # GET /v1/billing/balance, a decimal amount
    currency: str = "USD"
    token_ttl: float | None = None  # seconds an access token is valid; None: forever


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str = DEFAULT_TOKEN
    ready_after: float = 3.0
    deleted_linger: float = 60.0
    knobs: FaultKnobs = field(default_factory=FaultKnobs)
    seed: int = 0
    data: Path | None = None
    log_level: str = "warning"
    shape: ApiShape = field(default_factory=ApiShape)

    @property
    def user_id(self) -> str:
        return user_id_for(self.token)
