"""heap: the cycle collector pauses while long-lived objects are built, then ignores them."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from reconciler import heap


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_collection_pauses_inside_and_what_was_built_is_frozen_after() -> None:
    gc.enable()
    gc.unfreeze()
    with heap.building_long_lived():
        assert not gc.isenabled()
        kept = [{"n": i} for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)
    heap.release_long_lived()
    assert gc.get_freeze_count() == 0


def test_a_collector_that_was_off_stays_off_even_after_an_error() -> None:
    gc.disable()
    with pytest.raises(RuntimeError), heap.building_long_lived():
        raise RuntimeError("bad manifest")
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_release_frees_the_cycles_a_pass_left_before_the_next_freeze_can_keep_them() -> None:
    gc.enable()
    with heap.building_long_lived():
        pass
    garbage = _Cycle()
    gone = weakref.ref(garbage)
    del garbage
    heap.release_long_lived()
    with heap.building_long_lived():  # the next pass: its freeze must not find the cycle
        pass
    assert gone() is None


def test_paused_collection_freezes_nothing_and_restores_the_collector() -> None:
    was_enabled = gc.isenabled()
    gc.enable()
    frozen_before = gc.get_freeze_count()
    try:
        with heap.paused_collection():
            assert not gc.isenabled()
            kept = [[i] for i in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() == frozen_before  # a pass's garbage stays collectable
        assert len(kept) == 1000
    finally:
        if not was_enabled:
            gc.disable()


def test_collection_resumes_inside_a_pause_and_pauses_again_after() -> None:
    gc.enable()
    with heap.paused_collection():
        assert not gc.isenabled()
        with heap.resumed_collection():
            assert gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # neither freezes anything
