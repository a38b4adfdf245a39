"""The mark a create appends to the description: exact round trip, and who owns what."""

from __future__ import annotations

import pytest

from reconciler.core.ownership import Mark, Ownership, add_mark, judge, split_mark
from reconciler.core.spec import live_differences

MARK = Mark("6f1c2b7e-3d4a-4c5b-8e9f-0a1b2c3d4e5f", "a1b2c3d4e5f60718")


@pytest.mark.parametrize(
    "description", [None, "", "Chat model", "two\nlines", "ends with newline\n", "\n", " x "]
)
def test_the_mark_round_trips_the_users_description_exactly(description):
    sent = add_mark(description, MARK)
    assert sent.splitlines()[-1] == f"managed-by: tensormesh-reconciler {MARK.lineage}/{MARK.nonce}"
    back, mark = split_mark(sent)
    assert mark == MARK
    assert back == (description or None)


@pytest.mark.parametrize(
    "description",
    [
        "managed-by: tensormesh-reconciler x",  # no nonce
        "managed-by: someone-else 6f1c/abc",
        "managed-by: tensormesh-reconciler a/b c",  # trailing text
        "text\nmanaged-by: tensormesh-reconciler a/b\nmore",  # not the last line
    ],
)
def test_text_that_is_not_a_mark_stays_the_users(description):
    assert split_mark(description) == (description, None)


def test_judge():
    assert judge(None, lineage=MARK.lineage, nonce=MARK.nonce) is Ownership.FOREIGN
    assert judge(MARK, lineage="other", nonce=MARK.nonce) is Ownership.FOREIGN
    assert judge(MARK, lineage=MARK.lineage, nonce=MARK.nonce) is Ownership.THIS_ATTEMPT
    assert judge(MARK, lineage=MARK.lineage, nonce="zz") is Ownership.THIS_STATE
    assert judge(MARK, lineage=MARK.lineage, nonce=None) is Ownership.THIS_STATE


def test_live_differences_ignore_the_mark():
    spec = {"modelPath": "m", "description": "mine"}
    live = {"modelPath": "m", "description": add_mark("mine", MARK)}
    assert live_differences(spec, live) == ()
    assert (
        live_differences(
            {"modelPath": "m"}, {"modelPath": "m", "description": add_mark(None, MARK)}
        )
        == ()
    )
    assert live_differences(spec, {**live, "description": add_mark("theirs", MARK)}) == (
        "description",
    )
