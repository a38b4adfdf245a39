"""Keep CPython's cycle collector off the objects a command builds to keep.

A large plan builds millions of objects (parsed manifests, desired models, the recorded
state) that live until the command ends and form no reference cycles; the collector would
rescan the growing heap again and again while they are built (docs/performance.md). So it
pauses while they are built, and `gc.freeze()` then puts them out of its sight; it runs
as usual for everything allocated after (API responses, outcomes).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def building_long_lived() -> Iterator[None]:
    """Inside: no cyclic collection. After: what was built is frozen, collection resumes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


@contextmanager
def paused_collection() -> Iterator[None]:
    """Inside: no cyclic collection; nothing is frozen. For what lives one pass only (a
    live listing, a pass's detection): frozen, its garbage would outlive the pass (see
    release_long_lived); what it drops by the end was never scanned."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def resumed_collection() -> Iterator[None]:
    """Inside a pause: cyclic collection as usual, for long work whose garbage must not
    wait for the pause to end (corrections send many calls and may poll for minutes)."""
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if not was_enabled:
            gc.disable()


def release_long_lived() -> None:
    """Between passes of a long-running loop: collect what the pass left, then unfreeze.

    Without the collect, the next pass's freeze would put this pass's cyclic garbage (httpx
    responses with their bodies, closed clients) out of the collector's reach for good.
    Collecting before unfreezing skips the frozen heap: milliseconds, not a full scan.
    """
    gc.collect()
    gc.unfreeze()
