"""Ownership: which live models this state may adopt, replace or delete.

A state owns a model when its ID is recorded there, when the user imported it, or when the
model carries this state's mark: a trailer line that every create appends to `description`
(`managed-by: tensormesh-reconciler <lineage>/<nonce>`), which the API echoes back. A model
found by name without the mark is foreign: reported, never adopted, replaced or deleted.
Pure: parses and judges text; never calls the API.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

MARK_PREFIX = "managed-by: tensormesh-reconciler "
_MARK = re.compile(r"managed-by: tensormesh-reconciler ([0-9A-Za-z-]{1,64})/([0-9A-Za-z]{1,64})")


@dataclass(frozen=True, slots=True)
class Mark:
    """Which state (lineage) and which create attempt (the intent's nonce) made a model."""

    lineage: str
    nonce: str

    def line(self) -> str:
        return f"{MARK_PREFIX}{self.lineage}/{self.nonce}"


class Ownership(enum.Enum):
    THIS_ATTEMPT = "this-attempt"  # our mark with the nonce of the attempt being resolved
    THIS_STATE = "this-state"  # our mark, another attempt (another runner of this state)
    FOREIGN = "foreign"  # no mark, or another state's: never adopted, replaced or deleted

    @property
    def ours(self) -> bool:
        return self is not Ownership.FOREIGN


def add_mark(description: str | None, mark: Mark) -> str:
    """The description to send: the user's own, then the mark on a line of its own."""
    return f"{description}\n{mark.line()}" if description else mark.line()


def split_mark(description: str | None) -> tuple[str | None, Mark | None]:
    """The user's description and the mark, from a description as the API returns it.

    Exactly inverts `add_mark`, so the user's description compares equal to the manifest's.
    """
    if not description:
        return description, None
    head, _, last = description.rpartition("\n")
    match = _MARK.fullmatch(last)
    if match is None:
        return description, None
    return (head or None), Mark(match.group(1), match.group(2))


def judge(mark: Mark | None, *, lineage: str, nonce: str | None) -> Ownership:
    """Whose model this is, from its mark: this attempt's, this state's, or foreign."""
    if mark is None or mark.lineage != lineage:
        return Ownership.FOREIGN
    return (
        Ownership.THIS_ATTEMPT
        if nonce is not None and mark.nonce == nonce
        else (Ownership.THIS_STATE)
    )


def foreign_message(name: str, model_id: str) -> str:
    """Why an entry fails on a name held by a model this state does not own, and the ways out."""
    return (
        f"the name {name!r} is held by model {model_id}, which this state does not own (it was "
        "not created by this state's apply); it was neither adopted nor changed. Adopt it with "
        f"`state import {name} {model_id}`, or give the manifest another name"
    )
