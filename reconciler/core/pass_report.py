"""The outcome of one reconcile pass: drift found, the plan run, what each correction did.

Pure values; rendered by core/render_drift.py and counted by core/metrics.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.core.correct import DriftOutcome
from reconciler.core.exit_codes import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from reconciler.core.model import Plan
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome
from reconciler.core.spend import Spend


@dataclass(frozen=True, slots=True)
class PassReport:
    """`result` is None when nothing was carried out (detect-only, nothing to do, an error)."""

    number: int
    drift: tuple[DriftOutcome, ...] = ()
    plan: Plan = field(default_factory=lambda: Plan(()))
    result: ApplyResult | None = None
    detect_only: bool = False
    error: str | None = None
    interrupted: bool = False
    spend: Spend | None = None  # live hourly spend of the managed models; None: not looked at
    auth_failures: int = 0  # 401 answers met in this pass (a retried one included)
    revision: str | None = None  # `reconcile --git`: the commit this pass reconciled

    @property
    def ok(self) -> bool:
        failed = self.result is not None and self.result.failed
        return self.error is None and not self.interrupted and not failed

    @property
    def found_drift(self) -> bool:
        """Drift live, or git-side changes the manifests ask for (as `plan` would show)."""
        return bool(self.drift) or self.plan.has_api_calls

    @property
    def corrections(self) -> tuple[EntryOutcome, ...]:
        """The outcomes of the entries this pass called the API for."""
        if self.result is None:
            return ()
        return tuple(
            o for o in self.result.outcomes if o.result not in (Outcome.UNCHANGED, Outcome.SKIPPED)
        )

    def exit_code(self, *, detailed_exitcode: bool) -> int:
        if not self.ok:
            return EXIT_ERROR
        return EXIT_CHANGES if detailed_exitcode and self.found_drift else EXIT_OK
