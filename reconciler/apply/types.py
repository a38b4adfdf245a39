"""What every part of an apply shares: its options, its context, the Recorder it writes
through, and the errors that end one entry (never the run)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.core.errors import (
    ApiError,
    ApiMalformedError,
    ApiServerError,
    ApiTimeoutError,
    ApiUnreachableError,
    CircuitOpenError,
)
from reconciler.core.model import Intent, LiveModel, RecordedEntry
from reconciler.core.ownership import Ownership, judge
from reconciler.core.ports import ModelsApi
from reconciler.session import UserIds

# Errors after which a create may or may not have happened: only a lookup tells. A 409 is
# not one of them: it is a definite answer (our create did not happen; the name is held).
UNCLEAR = (ApiTimeoutError, ApiUnreachableError, ApiServerError, ApiMalformedError)


# A 429 is a refusal (nothing created); it is retried only after a lookup by name.
MAX_RATE_LIMITED_ATTEMPTS = 4


class Recorder(Protocol):
    """Durable record of outcomes (the state store's journal); thread-safe.

    Each call is durable when it returns, except `record_entry`, which may be durable only
    by the next call or `flush()`: it is only ever called while the entry's name has a
    durable open intent (recorded by this run, or left by an interrupted one).
    """

    def record_intent(self, intent: Intent) -> None: ...
    def record_intents(self, intents: Sequence[Intent]) -> None: ...
    def record_entry(self, entry: RecordedEntry) -> None: ...
    def record_status(self, name: str, status: str) -> None: ...
    def record_failure(self, name: str, reason: str) -> None: ...
    def forget(self, name: str) -> None: ...
    def close_intent(self, name: str) -> None: ...
    def flush(self) -> None: ...


Progress = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    concurrency: int = 8
    wait: bool = True
    wait_timeout: float = 1800.0
    poll_interval: float = 2.0
    max_poll_interval: float = 15.0
    # A line at least this often while waiting for UP, so a CI log (no progress lines, no
    # terminal) never looks hung: the beat plus one poll interval stays under 60 s.
    heartbeat_interval: float = 45.0


class EntryFailedError(Exception):
    """One entry failed; the others go on. Internal to this module."""

    def __init__(self, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


class DeployRefusedError(Exception):
    """The deploy was definitely not carried out (never sent, or a 4xx refusal)."""

    def __init__(self, cause: ApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def is_definite_refusal(exc: ApiError) -> bool:
    """Nothing happened on the server: the request was never sent (no connection, the circuit
    open), or a 4xx answer other than 409 (the ownership rules) and 429 (looked up first)."""
    if isinstance(exc, ApiTimeoutError):
        return False  # sent, no answer: unknown
    if isinstance(exc, ApiUnreachableError | CircuitOpenError):
        return True
    return exc.status is not None and 400 <= exc.status < 500 and exc.status not in (409, 429)


@dataclass(frozen=True, slots=True)
class ApplyContext:
    api: ModelsApi
    recorder: Recorder
    users: UserIds
    secrets: Mapping[str, Mapping[str, str]]
    salt: str
    attempts: Mapping[str, int]
    stop: threading.Event
    progress: Progress
    lineage: str  # this state's: the mark of every create, the proof of ownership
    open_intents: Mapping[str, Intent] = field(default_factory=dict)  # left by earlier runs
    heartbeat: Callable[[str], None] = lambda message: None  # while waiting for UP

    def owner(self, live: LiveModel, nonce: str | None) -> Ownership:
        return judge(live.mark, lineage=self.lineage, nonce=nonce)

    def open_nonce(self, name: str) -> str | None:
        intent = self.open_intents.get(name)
        return None if intent is None else intent.nonce
