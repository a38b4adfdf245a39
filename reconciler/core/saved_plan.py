"""Saved plans: a Plan plus what it was made from, to and from a JSON document (`plan --out`).

Pure (de)serialisation and the staleness check; no files. Holds secret references, never values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler import __version__
from reconciler.core.errors import PlanFileError
from reconciler.core.model import (
    Action,
    ActionReason,
    Change,
    DesiredModel,
    DriftKind,
    FieldChange,
    Location,
    Plan,
    ReconcilePolicy,
    ReplaceStrategy,
    SecretRef,
    SecretSource,
    State,
)
from reconciler.core.record import entry_from_json, entry_to_json
from reconciler.core.render_json import change_to_json
from reconciler.core.spec import spec_digest

KIND = "tensormesh-reconciler/plan"
FORMAT_VERSION = 1
SCHEMA_NAME = "plan.v1.json"
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]{0,39}")


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A plan and its origin. `lineage` is None when no state file existed yet (serial 0)."""

    plan: Plan
    lineage: str | None
    serial: int
    manifests_digest: str
    prune: bool
    tool_version: str = __version__

    @property
    def desired(self) -> tuple[DesiredModel, ...]:
        return tuple(c.desired for c in self.plan.changes if c.desired is not None)


def make_saved_plan(plan: Plan, state: State, *, manifests_digest: str, prune: bool) -> SavedPlan:
    # A state that was never saved has a throwaway lineage (a new one on every read),
    # so it cannot identify anything: serial 0 stands for "no state file yet".
    lineage = state.lineage if state.serial > 0 else None
    return SavedPlan(plan, lineage, state.serial, manifests_digest, prune)


def saved_plan_to_json(saved: SavedPlan) -> dict[str, Any]:
    """The file's document; dump it with sorted keys for byte-stable output."""
    return {
        "kind": KIND,
        "formatVersion": FORMAT_VERSION,
        "toolVersion": saved.tool_version,
        "state": {"lineage": saved.lineage, "serial": saved.serial},
        "manifestsDigest": saved.manifests_digest,
        "prune": saved.prune,
        "summary": saved.plan.summary(),
        "changes": [_change_to_json(change) for change in saved.plan.changes],
        # Entries --target/--exclude/--selector left out: not part of the plan, so their
        # recorded state does not make it stale.
        "leftOut": list(saved.plan.left_out),
    }


def check_header(obj: Any, *, source: str) -> None:
    """Refuse foreign documents and future versions before the schema gets a say."""
    if not isinstance(obj, dict) or obj.get("kind") != KIND:
        raise PlanFileError(
            f"{source} is not a tensormesh-reconciler plan file (no `kind: {KIND}`); "
            "make one with `tensormesh-reconciler plan PATH... --out FILE`"
        )
    version = obj.get("formatVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PlanFileError(f"plan file {source} has no valid formatVersion; make a new plan")
    if version > FORMAT_VERSION:
        tool = obj.get("toolVersion")
        # Shown only when it looks like a version: the file may have been edited by hand.
        if not (isinstance(tool, str) and _VERSION.fullmatch(tool)):
            tool = "unknown version"
        raise PlanFileError(
            f"plan file {source} has formatVersion {version}: it was made by a newer "
            f"tensormesh-reconciler ({tool}; this one, "
            f"{__version__}, reads version {FORMAT_VERSION}); upgrade, or plan again with this one"
        )


def saved_plan_from_json(obj: Mapping[str, Any], *, source: str) -> SavedPlan:
    """A SavedPlan from a header- and schema-checked document; tampering raises PlanFileError."""
    try:
        changes = tuple(_change_from_json(raw) for raw in obj["changes"])
        state = obj["state"]
        saved = SavedPlan(
            plan=Plan(
                tuple(sorted(changes, key=lambda change: change.name)),
                left_out=tuple(str(name) for name in obj.get("leftOut", ())),
            ),
            lineage=state["lineage"],
            serial=int(state["serial"]),
            manifests_digest=str(obj["manifestsDigest"]),
            prune=bool(obj["prune"]),
            tool_version=str(obj["toolVersion"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A KeyError names a missing field; other messages may quote a value, which in a
        # hand-edited file could be a pasted secret, so only their kind is shown.
        what = f"no field {exc}" if isinstance(exc, KeyError) else type(exc).__name__
        raise PlanFileError(f"plan file {source} is malformed ({what}); make a new plan") from exc
    for change in saved.plan.changes:
        model = change.desired
        # Each desired spec must still hash to its digest: an edited plan is not carried out.
        if model is not None and spec_digest(model.spec) != model.spec_digest:
            raise PlanFileError(
                f"plan file {source} was edited: the spec of {change.name!r} does not match "
                "its digest; make a new plan instead of editing one"
            )
    return saved


def stale_entries(saved: SavedPlan, state: State) -> tuple[str, ...]:
    """Entry names whose recorded state differs from what the plan was made against.

    Compares entries, not only the serial: a journal left by an interrupted apply changes
    entries without a new serial.
    """
    planned = {change.name: change for change in saved.plan.changes}
    differing = []
    names = planned.keys() | state.entries.keys() | state.intents.keys()
    for name in sorted(names - set(saved.plan.left_out)):
        change = planned.get(name)
        recorded_then = change.recorded if change is not None else None
        resumed_then = change is not None and change.resume
        if state.entries.get(name) != recorded_then or (name in state.intents) != resumed_then:
            differing.append(name)
    return tuple(differing)


def describe_staleness(saved: SavedPlan, state: State) -> str | None:
    """Why the plan no longer fits `state`, or None when it can be carried out as saved."""
    then_lineage = saved.lineage
    now_lineage = state.lineage if state.serial > 0 else None
    differing = stale_entries(saved, state)
    if then_lineage == now_lineage and saved.serial == state.serial and not differing:
        return None
    then = _describe_origin(then_lineage, saved.serial)
    now = _describe_origin(now_lineage, state.serial)
    text = f"the state changed since the plan was made (plan made from {then}; state is now {now})"
    if differing:
        shown = ", ".join(differing[:20]) + (" …" if len(differing) > 20 else "")
        text += f"; entries that differ: {shown}"
    return text


def _describe_origin(lineage: str | None, serial: int) -> str:
    if lineage is None:
        return "no state file" if serial == 0 else f"serial {serial}"
    return f"serial {serial} of lineage {lineage}"


def _change_to_json(change: Change) -> dict[str, Any]:
    """The change as `plan --output json` shows it, plus what applying it needs."""
    out = change_to_json(change)
    if change.desired is not None:
        out["desired"] = _desired_to_json(change.desired)
    if change.recorded is not None:
        out["recorded"] = entry_to_json(change.recorded)
    return out


def _change_from_json(raw: Mapping[str, Any]) -> Change:
    change = Change(
        name=str(raw["name"]),
        action=Action(raw["action"]),
        model_id=raw.get("modelId"),
        fields=tuple(_field_from_json(item) for item in raw.get("fieldChanges", ())),
        reason=_reason_from_text(str(raw["reason"])) if "reason" in raw else None,
        desired=_desired_from_json(raw["desired"]) if "desired" in raw else None,
        recorded=entry_from_json(raw["recorded"]) if "recorded" in raw else None,
        resume=bool(raw.get("resume", False)),
        drift=DriftKind(raw["drift"]) if "drift" in raw else None,
    )
    if bool(raw.get("skipped", False)) != change.skipped:
        raise ValueError("skipped disagrees with the reason")  # an edited file
    return change


def _reason_from_text(text: str) -> ActionReason:
    """The reason a plan shows as `text`; a failed deploy's ends with what failed."""
    if text.startswith(f"{ActionReason.TAINTED.value}: "):
        return ActionReason.TAINTED
    return ActionReason(text)  # ValueError for any other text: an edited file


def _field_from_json(raw: Mapping[str, Any]) -> FieldChange:
    return FieldChange(
        field=str(raw["field"]),
        before=raw.get("before"),
        after=raw.get("after"),
        secret=bool(raw.get("secret", False)),
        detail=tuple(str(line) for line in raw.get("detail", ())),
    )


def _desired_to_json(model: DesiredModel) -> dict[str, Any]:
    # Secret *references* only (with the folder a fromFile path is relative to):
    # values are read again at apply time.
    return {
        "name": model.name,
        "spec": dict(model.spec),
        "specDigest": model.spec_digest,
        "secrets": [
            {"field": r.field, "source": r.source.value, "target": r.target, "baseDir": r.base_dir}
            for r in model.secrets
        ],
        "labels": dict(sorted(model.labels.items())),
        "policy": {
            "selfHeal": model.policy.self_heal,
            "protect": model.policy.protect,
            "replaceStrategy": model.policy.replace_strategy.value,
        },
        "location": {
            "file": model.location.file,
            "line": model.location.line,
            "column": model.location.column,
        },
    }


def _desired_from_json(raw: Mapping[str, Any]) -> DesiredModel:
    policy, location = raw["policy"], raw["location"]
    return DesiredModel(
        name=str(raw["name"]),
        spec=dict(raw["spec"]),
        spec_digest=str(raw["specDigest"]),
        secrets=tuple(
            SecretRef(
                str(s["field"]), SecretSource(s["source"]), str(s["target"]), str(s["baseDir"])
            )
            for s in raw["secrets"]
        ),
        labels={str(k): str(v) for k, v in raw["labels"].items()},
        policy=ReconcilePolicy(
            # None (the default policy) since the second week; older files hold a bool.
            self_heal=None if policy["selfHeal"] is None else bool(policy["selfHeal"]),
            protect=bool(policy.get("protect", False)),
            replace_strategy=ReplaceStrategy(policy["replaceStrategy"]),
        ),
        location=Location(str(location["file"]), int(location["line"]), int(location["column"])),
    )
