"""SIGINT/SIGTERM for long commands: set a stop flag instead of dying mid-call.

The first signal starts no new API call; calls in flight finish and are recorded.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click


@contextmanager
def stop_on_signals(stop: threading.Event, *, doing: str) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM set `stop` and say once what happens next (`doing`)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        if not stop.is_set():
            click.echo(f"\nreceived {signal.Signals(signum).name}: {doing}", err=True)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
