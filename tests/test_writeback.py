"""Commit messages of the write-back: counts in the subject, one line per entry, [skip ci]."""

from __future__ import annotations

import pytest

from reconciler.core.model import Action
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome
from reconciler.writeback import commit_message

CREATED = EntryOutcome("a", Action.CREATE, Outcome.CREATED, "m1")
REPLACED = EntryOutcome("b", Action.REPLACE, Outcome.REPLACED, "m2")
DELETED = EntryOutcome("c", Action.DELETE, Outcome.DELETED, "m3")
FAILED = EntryOutcome("d", Action.CREATE, Outcome.FAILED, reason="boom")
SAME = EntryOutcome("e", Action.NOOP, Outcome.UNCHANGED, "m5")


@pytest.mark.parametrize(
    ("outcomes", "kwargs", "expected"),
    [
        (
            (CREATED, REPLACED, SAME),
            {},
            "tensormesh: apply 1 created, 1 replaced [skip ci]\n\n"
            "created a model m1\nreplaced b model m2\n",
        ),
        ((DELETED,), {"skip_ci": False}, "tensormesh: apply 1 deleted\n\ndeleted c model m3\n"),
        (
            (CREATED, FAILED),
            {"prefix": "ops:"},
            "ops: apply 1 created, 1 failed [skip ci]\n\ncreated a model m1\nfailed d\n",
        ),
    ],
)
def test_commit_message(outcomes, kwargs, expected) -> None:  # type: ignore[no-untyped-def]
    assert commit_message(ApplyResult(outcomes), **kwargs) == expected
