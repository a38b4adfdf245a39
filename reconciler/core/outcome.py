"""Outcomes of an apply: what happened to each entry. Pure values, rendered by core/render_*."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.core.model import Action


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """What happened to one entry. `result`: created, replaced, adopted, deleted,
    unchanged, skipped, failed or not-started."""

    name: str
    action: Action
    result: str
    model_id: str | None = None
    status: str | None = None
    reason: str | None = None
    request_id: str | None = None
    user_id: str | None = None

    @property
    def failed(self) -> bool:
        return self.result in ("failed", "not-started")


@dataclass(frozen=True, slots=True)
class ApplyResult:
    outcomes: tuple[EntryOutcome, ...]
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        return self.interrupted or any(outcome.failed for outcome in self.outcomes)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.result] = counts.get(outcome.result, 0) + 1
        return dict(sorted(counts.items()))
