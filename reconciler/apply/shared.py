"""What the workers of one apply share: intents journaled ahead, and one listing per user.

Both exist so that a worker seldom waits on anything but its own API call: the disk
(an fsync per intent) and the API (a list call per resumed entry) are paid once per batch.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.core import named
from reconciler.core.model import Action, Change, Intent, LiveModel
from reconciler.core.ports import ModelsApi

# Intents are journaled up to this many deploys ahead of the workers, in one fsync, so that
# a worker seldom waits for the disk before its deploy. The price: after a crash, up to this
# many entries that were never sent also carry an open intent (one lookup by name each).
INTENTS_AHEAD = 32


class IntentRecorder(Protocol):
    """The part of apply's Recorder that journals intents; durable when a call returns."""

    def record_intent(self, intent: Intent) -> None: ...
    def record_intents(self, intents: Sequence[Intent]) -> None: ...


class IntentsAhead:
    """Journals the intents of a plan's deploys a batch at a time, ahead of the workers.

    Every deploy still has its intent on disk before it is sent: the first worker to need
    an intent that is not durable yet journals it together with the next ones in plan
    order (the order the workers take entries in), in one write and one fsync. Resumed
    entries are not journaled ahead: their intent follows their lookup by name.
    """

    def __init__(
        self,
        changes: Sequence[Change],
        recorder: IntentRecorder,
        attempts: Mapping[str, int],
        *,
        ahead: int,
        new_nonce: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self._changes = [
            change for change in changes if change.action is not Action.DELETE and not change.resume
        ]
        self._position = {change.name: i for i, change in enumerate(self._changes)}
        self._recorder = recorder
        self._attempts = attempts
        self._ahead = max(1, ahead)
        self._journaled = 0  # the intents of _changes[:_journaled] are durable
        self._new_nonce = new_nonce
        self._made: dict[str, Intent] = {}  # journaled ahead, by name
        self._lock = threading.Lock()

    def ensure(self, change: Change) -> Intent:
        """Return `change`'s intent once it is durable; its nonce goes into the create's mark."""
        position = self._position.get(change.name)
        if position is None:
            intent = self._intent(change)
            self._recorder.record_intent(intent)
            return intent
        if position < self._journaled:
            return self._made[change.name]
        with self._lock:
            if position < self._journaled:
                return self._made[change.name]  # journaled by the worker we waited for
            end = max(position + 1, self._journaled + self._ahead)
            batch = [self._intent(c) for c in self._changes[self._journaled : end]]
            self._recorder.record_intents(batch)
            self._made.update((intent.name, intent) for intent in batch)
            self._journaled += len(batch)
            return self._made[change.name]

    def journaled(self) -> list[str]:
        """Names whose intent was journaled ahead."""
        with self._lock:
            return [change.name for change in self._changes[: self._journaled]]

    def _intent(self, change: Change) -> Intent:
        attempt = self._attempts.get(change.name, 0) + 1
        # A resumed no-op that finds nothing live deploys again: it replaces the recorded entry.
        action = Action.REPLACE if change.recorded is not None else Action.CREATE
        return Intent(change.name, change.name, attempt, action, self._new_nonce())


class ListedByName:
    """Lookups by name for entries an interrupted run left open: one list call per user for
    the whole run, not one per entry (a killed apply leaves up to INTENTS_AHEAD + its
    concurrency names open, and a list of a large account is megabytes).

    A list taken before this run deploys anything is as good as a fresh one for these
    names: each is deployed only after its own lookup, and a model made in between by
    someone else surfaces as a conflict on deploy, which is looked up afresh.
    """

    def __init__(self, api: ModelsApi) -> None:
        self._api = api
        self._lock = threading.Lock()
        self._by_user: dict[str, list[LiveModel]] = {}

    def find(self, user_id: str, name: str) -> LiveModel | None:
        with self._lock:
            models = self._by_user.get(user_id)
            if models is None:
                models = self._by_user[user_id] = self._api.list_models(user_id)
        return named.model_named(models, name)


@dataclass(frozen=True, slots=True)
class Shared:
    """What the workers of one apply share besides the context."""

    intents: IntentsAhead
    listed: ListedByName
