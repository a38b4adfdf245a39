"""The sandbox's settings, as parsed from the command line, and the caller identity they imply.

Pure values; the token is a sandbox credential printed at start, so it is not a secret here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.sandbox.faults import FaultKnobs

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - a documented local default, not a credential
# Fixed namespace: the same token always maps to the same user id, across restarts and machines.
_USER_NAMESPACE = uuid.UUID("6f1e2c1a-4c8e-5b7d-9a0e-7e6d5c4b3a21")


def user_id_for(token: str) -> str:
    return str(uuid.uuid5(_USER_NAMESPACE, f"tensormesh-sandbox:{token}"))


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
    balance: str = "100.00"  # GET /v1/billing/balance, a decimal amount (USD)

    @property
    def user_id(self) -> str:
        return user_id_for(self.token)
