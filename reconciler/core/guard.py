"""Guard rails on destruction: `--max-destroy N` and `reconcile: {protect: true}`.

Pure: judges a finished plan before any API call and returns the refusal's message, or
None. A replace of a model that is already gone (`missing` drift) deletes nothing running
and is not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.model import DesiredModel, Plan


def refuse_plan(
    plan: Plan, desired: Sequence[DesiredModel], *, max_destroy: int | None
) -> str | None:
    """Why this plan must not run, or None; nothing has been called yet either way."""
    destroying = plan.destructive
    protected = {model.name for model in desired if model.policy.protect}
    hit = sorted(change.name for change in destroying if change.name in protected)
    if hit:
        what = ", ".join(f"{c.name} ({c.action.value})" for c in destroying if c.name in hit)
        return (
            f"refused: the plan would delete or replace protected "
            f"{'entry' if len(hit) == 1 else 'entries'} {what} (reconcile: {{protect: true}}). "
            "Nothing was called. Remove the protect line from the manifest to allow it, or "
            "leave the entry out with --exclude"
        )
    if max_destroy is not None and len(destroying) > max_destroy:
        names = ", ".join(change.name for change in destroying[:10])
        more = f" and {len(destroying) - 10} more" if len(destroying) > 10 else ""
        return (
            f"refused: the plan deletes or replaces {len(destroying)} models ({names}{more}), "
            f"more than --max-destroy {max_destroy}. Nothing was called. Check the plan; raise "
            "--max-destroy if it is intended, or narrow the run with --target/--exclude"
        )
    return None
