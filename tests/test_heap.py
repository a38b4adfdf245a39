"""heap: the cycle collector pauses while long-lived objects are built, then ignores them."""

from __future__ import annotations

import gc
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
