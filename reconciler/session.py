"""One command's session: its settings, resolved once at the edge, and what it owns for its
whole life.

`commands/` builds the `Settings` from the flags and `os.environ`, once
(`Settings.resolve`). The `Session`
then owns, until the command ends: one API client (one connection pool, one circuit
breaker, one 429 pause; "who am I" asked at most once), the stop flag, and the locked
state store with its recorder while a run writes. Nothing below `commands/` reads
`os.environ` or builds a client: it is handed the session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from reconciler.adapters import state_store
from reconciler.adapters.retry import RETRY_BUDGET_ENV
from reconciler.adapters.token_source import TOKEN_ENV
from reconciler.core.model import DesiredModel, Intent, RecordedEntry, State
from reconciler.core.ports import ModelsApi
from reconciler.core.record import JournalRecord

if TYPE_CHECKING:
    from reconciler.adapters.token_source import TokenSource

USER_ID_ENV = "TENSORMESH_USER_ID"
_QUICK_RETRY_BUDGET = "5"  # seconds
_QUICK_TIMEOUT = 10.0  # seconds


@dataclass(frozen=True, slots=True)
class Settings:
    """A command's flags and environment, resolved once by `commands/`.

    `environ` is a read-only copy taken at the edge: the secrets' `fromEnv` values, the
    token's source, network settings, the CI's identity for the audit history."""

    state_path: str
    api_url: str | None = None
    concurrency: int = 8
    lock_timeout: float = 60.0
    timeout: float = 30.0  # seconds per API call, unless the environment sets it
    # Seconds an open circuit stays shut; None: for the whole command (one run). A loop
    # sets it, or one bad spell of the API would fail every later pass.
    breaker_cooldown: float | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def resolve(
        cls,
        environ: Mapping[str, str],
        *,
        state_path: str,
        api_url: str | None = None,
        concurrency: int = 8,
        lock_timeout: float = 60.0,
        quick: bool = False,
        breaker_cooldown: float | None = None,
    ) -> Settings:
        """The settings over a copy of `environ` taken now: later changes are not seen.

        `quick`: a command that needs no API (a plan reading prices) gives an unreachable
        one only a few seconds before it goes on without: short timeout and retry budget,
        unless the environment sets them."""
        copied = dict(environ)
        timeout = 30.0
        if quick:
            timeout = _QUICK_TIMEOUT
            if not copied.get(RETRY_BUDGET_ENV, "").strip():
                copied[RETRY_BUDGET_ENV] = _QUICK_RETRY_BUDGET
        return cls(
            state_path=state_path,
            api_url=api_url,
            concurrency=concurrency,
            lock_timeout=lock_timeout,
            timeout=timeout,
            breaker_cooldown=breaker_cooldown,
            environ=MappingProxyType(copied),
        )

    @property
    def user_id(self) -> str | None:
        """TENSORMESH_USER_ID, else None (then "who am I" is asked once)."""
        return self.environ.get(USER_ID_ENV) or None

    @property
    def has_token(self) -> bool:
        """A token is set in the environment: a read-only command may ask the API."""
        return bool(self.environ.get(TOKEN_ENV, "").strip())


class UserIds:
    """userId per entry: the manifest's, else TENSORMESH_USER_ID, else one whoami per session."""

    def __init__(self, api: ModelsApi, default: str | None) -> None:
        self._api = api
        self._default = default
        self._lock = threading.Lock()

    def for_model(self, model: DesiredModel | None) -> str:
        if model is not None and model.user_id:
            return model.user_id
        return self.default()

    def default(self) -> str:
        with self._lock:
            if self._default is None:
                self._default = self._api.whoami()
            return self._default


class StoreRecorder:
    """Apply's Recorder, backed by the locked state store's durable journal."""

    def __init__(self, store: state_store.StateStore) -> None:
        self._store = store

    def record_intent(self, intent: Intent) -> None:
        self._store.record(JournalRecord("intent", intent.name, intent))

    def record_intents(self, intents: Sequence[Intent]) -> None:
        self._store.record_many([JournalRecord("intent", i.name, i) for i in intents])

    def record_entry(self, entry: RecordedEntry) -> None:
        # Not waited for: apply records an entry only while its name has a durable open
        # intent, which makes a lost line harmless (the next run finds the model by name).
        self._store.record(JournalRecord("entry", entry.name, entry), wait=False)

    def record_status(self, name: str, status: str) -> None:
        self._store.record(JournalRecord("status", name, status))

    def record_failure(self, name: str, reason: str) -> None:
        self._store.record(JournalRecord("taint", name, reason))

    def forget(self, name: str) -> None:
        self._store.record(JournalRecord("forget", name))

    def close_intent(self, name: str) -> None:
        self._store.record(JournalRecord("close", name))

    def flush(self) -> None:
        self._store.flush()


@dataclass(frozen=True, slots=True)
class Locked:
    """The state store under its lock, and the recorder writing to it."""

    store: state_store.StateStore
    recorder: StoreRecorder

    @property
    def state(self) -> State:
        return self.store.state


class Session:
    """What one command owns from start to end: see the module's docstring.

    `api`: an API to use instead of connecting (tests pass an in-memory fake). `track`:
    sees the client once it is built (the signal handler cuts it on a second signal).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        api: ModelsApi | None = None,
        tokens: TokenSource | None = None,
        stop: threading.Event | None = None,
        track: Callable[[Any], Any] = lambda client: client,
    ) -> None:
        self.settings = settings
        self.stop = stop or threading.Event()
        self._api = api
        self._tokens = tokens
        self._track = track
        self._lock = threading.Lock()
        self._users: UserIds | None = None
        self.clients_built = 0  # how many API clients this session made: one at most

    @property
    def tokens(self) -> TokenSource:
        """The token's source for the session's life: a rotated token file is picked up
        between calls and after a 401; its 401 count feeds the auth-failure metric."""
        with self._lock:
            if self._tokens is None:
                from reconciler.adapters import token_source

                self._tokens = token_source.from_environment(self.settings.environ)
            return self._tokens

    @property
    def api(self) -> ModelsApi:
        """The one API client, built on first use; building it checks the token's source
        and the URL (a usage error) and makes no call."""
        if self._api is not None:
            return self._api
        tokens = self.tokens
        with self._lock:
            if self._api is None:
                from reconciler.adapters import http_api

                settings = self.settings
                self._api = self._track(
                    http_api.connect(
                        settings.api_url,
                        concurrency=settings.concurrency,
                        timeout=settings.timeout,
                        environ=settings.environ,
                        tokens=tokens,
                        breaker_cooldown=settings.breaker_cooldown,
                    )
                )
                self.clients_built += 1
            return self._api

    def connect(self) -> None:
        """Build the client now: a bad token's source or URL is a usage error at once."""
        self.api  # noqa: B018 - the property builds it

    def moved_to(self, state_path: str) -> Session:
        """The same session (client, whoami, stop flag) over another state location: the
        one `reconcile --git` keeps in its own clone, known only once it is cloned."""
        moved = Session(
            replace(self.settings, state_path=state_path),
            api=self._api,
            tokens=self._tokens,
            stop=self.stop,
            track=self._track,
        )
        moved._users, moved.clients_built = self._users, self.clients_built
        return moved

    @property
    def users(self) -> UserIds:
        api = self.api
        with self._lock:
            if self._users is None:
                self._users = UserIds(api, self.settings.user_id)
            return self._users

    def read_state(self) -> State:
        """The recorded state, without the lock (plan, detection)."""
        return state_store.read_state(self.settings.state_path)

    @contextmanager
    def locked_state(self, command: str) -> Iterator[Locked]:
        """The state store under its lock for one run that writes; the history row of a
        database state says who ran it (git identity, CI variables from `environ`)."""
        with state_store.StateStore.open(
            self.settings.state_path, command=command, lock_timeout=self.settings.lock_timeout
        ) as store:
            store.note_run(env=self.settings.environ)
            yield Locked(store, StoreRecorder(store))

    def close(self) -> None:
        with self._lock:
            api, self._api = self._api, None
        close = getattr(api, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
