"""SIGINT/SIGTERM for long commands: set a stop flag instead of dying mid-call.

The first signal starts no new API call; calls in flight get a short grace to finish
and be recorded, then the command's clients are cut (a hanging call must not hold the
run: its deploy keeps its intent open for the next run). If the command still has not
ended a few seconds after the signal, the process exits 1 on its own; the journal
already holds every recorded ID and the OS drops the state lock with the process.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Protocol, TypeVar

import click

# Seconds after the signal: calls in flight may finish until GRACE, then they are cut;
# at LIMIT the process leaves whatever it is doing (the bound is 5 s).
GRACE_SECONDS = 2.0
LIMIT_SECONDS = 4.0
EXIT_INTERRUPTED = 1


class Abortable(Protocol):
    def abort(self) -> None: ...


Client = TypeVar("Client")


class OpenClients:
    """The API clients a command opened, to cut all at once when a stop has waited long
    enough. Thread-safe; a client opened after the cut is cut at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: list[Abortable] = []
        self._aborted = False

    def track(self, client: Client) -> Client:
        abort = getattr(client, "abort", None)
        if abort is None:
            return client
        with self._lock:
            self._clients.append(client)  # type: ignore[arg-type]
            aborted = self._aborted
        if aborted:
            abort()
        return client

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            clients = list(self._clients)
        for client in clients:
            client.abort()


@contextmanager
def stop_on_signals(
    stop: threading.Event,
    *,
    doing: str,
    clients: OpenClients | None = None,
    grace: float = GRACE_SECONDS,
    limit: float = LIMIT_SECONDS,
) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM set `stop` and say once what happens next (`doing`);
    after `grace` s the `clients` are cut, after `limit` s the process exits 1. A second
    signal cuts the clients at once."""
    finished = threading.Event()
    cut = clients or OpenClients()

    def watch() -> None:
        if finished.wait(grace):
            return
        click.echo("calls still in flight: cutting them (their outcome is unknown)", err=True)
        cut.abort()
        if finished.wait(max(0.0, limit - grace)):
            return
        click.echo(
            "could not end in time: exiting now; every recorded ID is in the state journal "
            "and the next run resumes from it",
            err=True,
        )
        os._exit(EXIT_INTERRUPTED)

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        if stop.is_set():
            cut.abort()  # asked twice: do not wait for the grace
            return
        click.echo(f"\nreceived {signal.Signals(signum).name}: {doing}", err=True)
        stop.set()
        threading.Thread(target=watch, name="stop-watch", daemon=True).start()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        finished.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
