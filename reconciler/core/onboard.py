"""Adopt step "select": which live models `adopt` takes over, and why it leaves the others.

Pure: gets the listed models, the recorded state and the names the manifests already
declare; decides, never calls the API or touches files. Reasons are an enum; words for
them live in core/render_adopt.py.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.core import selection as name_selection
from reconciler.core.drift import is_failed_status
from reconciler.core.live_manifest import name_problem
from reconciler.core.model import LiveModel, State


class AdoptResult(enum.Enum):
    ADOPTED = "adopted"
    SKIPPED = "skipped"
    FAILED = "failed"  # could not be written or recorded (an I/O error): exit 1


class SkipReason(enum.Enum):
    ALREADY_OWNED = "already-owned"  # its model ID is recorded in the state
    NAME_RECORDED = "name-recorded"  # the state records the name for another model
    OPEN_INTENT = "open-intent"  # an interrupted apply of this state is resolving the name
    OTHER_STATE = "other-state"  # carries another state's mark: that state owns it
    DELETED = "deleted"  # never adopted
    FAILED_STATUS = "failed-status"  # adopted only with --include-failed
    INVALID_NAME = "invalid-name"  # the name cannot be a manifest's metadata.name
    DUPLICATE_NAME = "duplicate-name"  # several listed models (of several users) share it
    DECLARED = "declared-in-manifests"  # a manifest under --out already declares the name
    INVALID_MANIFEST = "invalid-manifest"  # its manifest would not pass validate
    FILE_EXISTS = "file-exists"  # never overwritten
    WRITE_ERROR = "write-error"  # the file could not be written (result FAILED)


@dataclass(frozen=True, slots=True)
class AdoptRow:
    """What adopt did (or, with --dry-run, would do) with one listed model."""

    live: LiveModel
    result: AdoptResult
    reason: SkipReason | None = None
    detail: str = ""  # the specifics: the rule broken, the file, the entry, the error
    file: str | None = None
    written: bool = False  # False for an adopted model whose identical file already existed
    assumed_secrets: tuple[str, ...] = ()
    unreported: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AdoptReport:
    """One adopt run: a row per selected model, sorted by name."""

    rows: tuple[AdoptRow, ...]
    not_selected: int  # listed, but left out by --target / --exclude
    out_dir: str
    state_path: str
    dry_run: bool
    secret_envs: Mapping[str, str]  # secret field -> environment variable of its reference
    # How the next steps name the state on a command line (none: `--state STATE_PATH`), and
    # whether it is a file to commit (a PostgreSQL state is not: it lives in the database).
    state_flags: tuple[str, ...] = ()
    state_in_repo: bool = True

    @property
    def failed(self) -> bool:
        return any(row.result is AdoptResult.FAILED for row in self.rows)

    def count(self, result: AdoptResult) -> int:
        return sum(1 for row in self.rows if row.result is result)


@dataclass(frozen=True, slots=True)
class Selection:
    candidates: tuple[LiveModel, ...]  # to convert, write and record, sorted by name
    skipped: tuple[AdoptRow, ...]
    not_selected: int  # left out by --target / --exclude; not listed


def selected(name: str, *, targets: Sequence[str], excludes: Sequence[str]) -> bool:
    """Shell globs on names: any --target must match (when given), no --exclude may."""
    # The same glob rule as --target/--exclude on plan, apply and reconcile.
    return name_selection.Selection(tuple(targets), tuple(excludes)).selects(name, None)


def select_models(
    live: Sequence[LiveModel],
    state: State,
    *,
    targets: Sequence[str] = (),
    excludes: Sequence[str] = (),
    include_failed: bool = False,
    declared: Mapping[str, str] | None = None,
) -> Selection:
    """Sort the listed models into candidates and skips. `declared`: name -> where a
    manifest under the output folder declares it."""
    declared = declared or {}
    chosen = [m for m in live if selected(m.model_name, targets=targets, excludes=excludes)]
    owned = {entry.model_id: entry.name for entry in state.entries.values()}
    # Deleted models linger under names a new model may hold; they never clash.
    names = Counter(m.model_name for m in chosen if not m.is_deleted)
    candidates: list[LiveModel] = []
    skipped: list[AdoptRow] = []
    for model in sorted(chosen, key=lambda m: (m.model_name, m.model_id)):
        reason, detail = _skip_reason(
            model, state, owned, names, declared, include_failed=include_failed
        )
        if reason is None:
            candidates.append(model)
        else:
            skipped.append(AdoptRow(model, AdoptResult.SKIPPED, reason, detail))
    return Selection(tuple(candidates), tuple(skipped), len(live) - len(chosen))


def _skip_reason(
    model: LiveModel,
    state: State,
    owned: Mapping[str, str],
    names: Counter[str],
    declared: Mapping[str, str],
    *,
    include_failed: bool,
) -> tuple[SkipReason | None, str]:
    name = model.model_name
    if model.is_deleted:
        return SkipReason.DELETED, ""
    if model.model_id in owned:
        return SkipReason.ALREADY_OWNED, owned[model.model_id]
    problem = name_problem(name)
    if problem is not None:
        return SkipReason.INVALID_NAME, problem
    if model.mark is not None and model.mark.lineage != state.lineage:
        return SkipReason.OTHER_STATE, model.mark.lineage
    if name in state.entries:
        return SkipReason.NAME_RECORDED, state.entries[name].model_id
    if name in state.intents:
        return SkipReason.OPEN_INTENT, ""
    if is_failed_status(model.status) and not include_failed:
        return SkipReason.FAILED_STATUS, model.status
    if names[name] > 1:
        return SkipReason.DUPLICATE_NAME, str(names[name])
    if name in declared:
        return SkipReason.DECLARED, declared[name]
    return None, ""
