"""Outcomes of an apply: what happened to each entry. Pure values, rendered by core/render_*."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from reconciler.core.model import Action


class Outcome(enum.Enum):
    """What happened to one entry; the value is the word text and JSON show.

    Declared in the order summaries list them ("2 created, 1 failed").
    """

    CREATED = "created"
    REPLACED = "replaced"
    ADOPTED = "adopted"  # found live with this state's mark and recorded, never deployed
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"
    NOT_STARTED = "not-started"  # the run stopped before this entry began

    @property
    def failed(self) -> bool:
        return self in (Outcome.FAILED, Outcome.NOT_STARTED)

    @property
    def deployed(self) -> bool:
        """A model of this entry now runs: what `--wait` waits to be UP."""
        return self in (Outcome.CREATED, Outcome.REPLACED, Outcome.ADOPTED)

    @property
    def corrected(self) -> bool:
        """The call succeeded: the entry matches its manifest again."""
        return self.deployed or self is Outcome.DELETED


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """What happened to one entry."""

    name: str
    action: Action
    result: Outcome
    model_id: str | None = None
    status: str | None = None
    reason: str | None = None
    request_id: str | None = None
    user_id: str | None = None

    @property
    def failed(self) -> bool:
        return self.result.failed


@dataclass(frozen=True, slots=True)
class ApplyResult:
    outcomes: tuple[EntryOutcome, ...]
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        return self.interrupted or any(outcome.failed for outcome in self.outcomes)

    def counts(self) -> dict[Outcome, int]:
        """How many entries had each outcome, in enum order; outcomes nobody had are absent."""
        counts = dict.fromkeys(Outcome, 0)
        for outcome in self.outcomes:
            counts[outcome.result] += 1
        return {result: count for result, count in counts.items() if count}


def counts_to_json(counts: dict[Outcome, int]) -> dict[str, int]:
    """Counts keyed by the outcome's word, sorted by it (the JSON `results` object)."""
    return {result.value: counts[result] for result in sorted(counts, key=_word)}


def _word(result: Outcome) -> str:
    return result.value
