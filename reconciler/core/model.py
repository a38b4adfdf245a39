"""The values that cross module boundaries: manifests, desired models, recorded state, plans.

Pure data: frozen dataclasses and enums, no I/O. Raw dicts appear only for the
opaque spec payload (the Deploy Model request body without secrets).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.ownership import Mark, add_mark

API_VERSION_V1 = "tensormesh.gitops/v1"
KIND_MODEL_DEPLOYMENT = "ModelDeployment"

# Spec fields that hold secret references; their values never leave the process.
SECRET_FIELDS: tuple[str, ...] = ("apiKey", "hfToken")

GPU_TYPES: tuple[str, ...] = ("GPU_TYPE_A100", "GPU_TYPE_H100", "GPU_TYPE_H200", "GPU_TYPE_B200")

STATUS_INIT = "MODEL_STATUS_INIT"
STATUS_UP = "MODEL_STATUS_UP"
STATUS_DELETED = "MODEL_STATUS_DELETED"


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a manifest file; line and column are 1-based."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True, order=True)
class Issue:
    """One problem found in a manifest, pointing at the offending key or value."""

    location: Location
    message: str
    json_path: str = "$"

    def __str__(self) -> str:
        return f"{self.location}: {self.message} (at {self.json_path})"


class SecretSource(enum.Enum):
    """Where a secret's value is read: the value is the manifest's key (`{fromEnv: NAME}`)."""

    FROM_ENV = "fromEnv"
    FROM_FILE = "fromFile"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A reference to a secret: `{fromEnv: NAME}` or `{fromFile: PATH}`.

    `base_dir` is the folder of the manifest, against which a relative fromFile
    path is resolved.
    """

    field: str
    source: SecretSource
    target: str
    base_dir: str = "."

    def as_manifest(self) -> dict[str, str]:
        return {self.source.value: self.target}

    def describe(self) -> str:
        return f"{self.source.value} {self.target}"


class ReplaceStrategy(enum.Enum):
    """How a changed deployment is replaced (there is no update call)."""

    DELETE_FIRST = "deleteFirst"


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    """Per-entry policy from the manifest's optional `reconcile:` block."""

    # None: the default (recreate missing and failed models, report changed ones);
    # True: also replace a running model that changed out of band; False: report only.
    self_heal: bool | None = None
    replace_strategy: ReplaceStrategy = ReplaceStrategy.DELETE_FIRST
    protect: bool = False  # refuse any run that would delete or replace this entry

    def heals(self, *, changed: bool, heal_changed: bool = False) -> bool:
        """Whether reconcile replaces a drifted entry under this policy."""
        if self.self_heal is False:
            return False
        if changed:
            return self.self_heal is True or heal_changed
        return True


@dataclass(frozen=True, slots=True)
class DesiredModel:
    """One deployment as the manifests want it.

    `spec` is the normalised Deploy Model request without modelName and without
    secret fields (zero values dropped, so `kvCacheEnabled: false` equals absent).
    `spec_digest` covers `spec` only; secrets are compared through fingerprints.
    """

    name: str
    spec: Mapping[str, Any]
    spec_digest: str
    secrets: tuple[SecretRef, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    policy: ReconcilePolicy = field(default_factory=ReconcilePolicy)
    location: Location = field(default_factory=lambda: Location("<memory>"))

    @property
    def user_id(self) -> str | None:
        value = self.spec.get("userId")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class RecordedSecret:
    """What the state keeps of a secret: its reference and a keyed fingerprint, never the value."""

    ref: Mapping[str, str]
    fingerprint: str | None
    # The value was not the one this state sent: the fingerprint is of the current value,
    # taken on adoption (state import, a model another runner of this state created).
    assumed: bool = False


@dataclass(frozen=True, slots=True)
class RecordedEntry:
    """One deployment as the state file remembers applying it."""

    name: str
    model_id: str
    spec: Mapping[str, Any]
    spec_digest: str
    deployment_id: str | None = None
    status: str = STATUS_INIT
    user_id: str | None = None
    secrets: Mapping[str, RecordedSecret] = field(default_factory=dict)
    # Why the last deploy of this model failed (became FAILED, or not UP in time); None when
    # it did not. Such an entry plans as a replace (Terraform's taint) until a deploy or a
    # reconcile pass that sees the model UP clears it.
    failed: str | None = None


@dataclass(frozen=True, slots=True)
class Intent:
    """A deploy that was about to be sent: open until its outcome is recorded.

    After a crash, an open intent means "look the model up by name before deploying".
    `nonce` goes into the create's mark, so a model found by name proves it came from
    this attempt (None in intents written before marks existed).
    """

    name: str
    model_name: str
    attempt: int
    action: Action  # CREATE or REPLACE
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class State:
    """The recorded state: what was applied, keyed by entry name."""

    lineage: str
    salt: str
    serial: int = 0
    entries: Mapping[str, RecordedEntry] = field(default_factory=dict)
    intents: Mapping[str, Intent] = field(default_factory=dict)
    format_version: int = 1
    # The commit of the manifests' git checkout last applied from; None outside git. A
    # checkout that lacks it is stale and must not write (see adapters/git_repo.py).
    revision: str | None = None


class DriftKind(enum.Enum):
    """What core/drift.py found live; a Change carries it when the drift shaped the plan."""

    MISSING = "missing"  # recorded, but gone or deleted live
    FAILED = "failed"  # live in a failed or unknown terminal state
    CHANGED = "changed"  # live fields differ from the recorded spec
    UNMANAGED = "unmanaged"  # live under a name nobody manages; never deleted


class Action(enum.Enum):
    CREATE = "create"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {Action.CREATE: "+", Action.REPLACE: "-/+", Action.DELETE: "-", Action.NOOP: " "}


class ActionReason(enum.Enum):
    """Why a change is not simply what the manifests ask (Terraform's ActionReason).

    The value is the text plans show (`reason` in plan JSON); drift and an interrupted
    deploy are a Change's own fields (`drift`, `resume`), not reasons.
    """

    PRUNE_NOT_GIVEN = "removed from the manifests; kept because --prune was not given"
    TAINTED = "last deploy failed"  # replaced although unchanged; shown with what failed
    REPLACE_BY_REQUEST = "forced by --replace"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed top-level spec field; a secret shows no values at all."""

    field: str
    before: Any = None
    after: Any = None
    secret: bool = False
    # Lines set by whoever knows them (secrets, drift, a saved plan); else diff.field_detail.
    detail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """What the plan decides for one entry name."""

    name: str
    action: Action
    model_id: str | None = None
    fields: tuple[FieldChange, ...] = ()
    reason: ActionReason | None = None
    desired: DesiredModel | None = None
    recorded: RecordedEntry | None = None
    resume: bool = False  # an interrupted deploy: look up by name before deploying
    drift: DriftKind | None = None  # live drift seen by reconcile / plan --refresh

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(change.field for change in self.fields)

    @property
    def skipped(self) -> bool:
        """A delete not carried out: the entry stays recorded and its model runs on."""
        return self.reason is ActionReason.PRUNE_NOT_GIVEN

    @property
    def reason_text(self) -> str | None:
        """The reason as plans show it; a failed deploy's with the recorded failure."""
        if self.reason is None:
            return None
        failed = self.recorded.failed if self.recorded is not None else None
        if self.reason is ActionReason.TAINTED and failed is not None:
            return f"{self.reason.value}: {failed}"
        return self.reason.value

    @property
    def makes_api_call(self) -> bool:
        """A deploy or delete: what `--detailed-exitcode` and destructive warnings count."""
        return self.action is not Action.NOOP and not self.skipped

    @property
    def destroys(self) -> bool:
        """The change deletes a model that may be running: what guard rails count."""
        if not self.makes_api_call or self.action not in (Action.DELETE, Action.REPLACE):
            return False
        return self.drift is not DriftKind.MISSING

    @property
    def assumed_secrets(self) -> tuple[str, ...]:
        """Secret fields recorded on adoption: their values were assumed, never verified."""
        if self.recorded is None or self.action is Action.DELETE:
            return ()
        return tuple(sorted(f for f, s in self.recorded.secrets.items() if s.assumed))

    @property
    def runs_in_apply(self) -> bool:
        """Apply has something to do: a call, or an open intent to resolve by a lookup."""
        return self.makes_api_call or (self.resume and not self.skipped)


@dataclass(frozen=True, slots=True)
class Plan:
    """Every entry's change, sorted by name.

    `left_out`: the entries --target/--exclude/--selector left out (never touched).
    `unmanaged`: live models no manifest or entry names (plan --refresh), as (name, model ID).
    """

    changes: tuple[Change, ...]
    left_out: tuple[str, ...] = ()
    unmanaged: tuple[tuple[str, str], ...] = ()

    def counts(self) -> dict[Action, int]:
        """Changes per action, every action present; a delete kept without --prune not counted."""
        counts = dict.fromkeys(Action, 0)
        for change in self.changes:
            if not change.skipped:
                counts[change.action] += 1
        return counts

    def summary(self) -> dict[str, int]:
        """The counts keyed by each action's word: `summary` in plan JSON."""
        return {action.value: count for action, count in self.counts().items()}

    @property
    def excluded(self) -> int:
        return len(self.left_out)

    @property
    def has_api_calls(self) -> bool:
        return any(change.makes_api_call for change in self.changes)

    @property
    def has_work(self) -> bool:
        """Apply must run: a call to make, or an open intent to look up (which alone is no
        change: it counts neither for --detailed-exitcode nor as destructive)."""
        return any(change.runs_in_apply for change in self.changes)

    @property
    def destructive(self) -> tuple[Change, ...]:
        """Deletes and replaces that delete a running model (a missing one's recreate does not)."""
        return tuple(change for change in self.changes if change.destroys)

    @property
    def lookups(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.resume and not change.skipped)


@dataclass(frozen=True, slots=True)
class ModelEvent:
    created_at: str
    log: str
    event_type: str = ""


@dataclass(frozen=True, slots=True)
class LiveModel:
    """A model as the control plane reports it, parsed leniently; the apiKey is already gone.

    `spec` holds the comparable fields in manifest form (int64 strings made ints,
    zero values dropped) so it compares directly with a recorded spec. A `brief` model
    (a listing's model that no KnownModels names) was read for its ID, name, status, user,
    endpoint and times only: its spec, deployment, replicas, events and mark are left empty.
    """

    model_id: str
    model_name: str
    status: str
    spec: Mapping[str, Any]
    deployment_id: str | None = None
    user_id: str | None = None
    endpoint: str | None = None
    replicas: int = 0
    events: tuple[ModelEvent, ...] = ()
    created_at: str | None = None
    updated_at: str | None = None
    mark: Mark | None = None  # this state's mark, split off the description (core/ownership.py)
    brief: bool = False

    @property
    def is_deleted(self) -> bool:
        return self.status == STATUS_DELETED


@dataclass(frozen=True, slots=True)
class KnownModels:
    """The live models a pass reads in full: those recorded (by model ID) and those named
    by a manifest, an entry or an open intent. Any other is unmanaged: only counted and
    shown, so a listing may return it brief (LiveModel.brief)."""

    model_ids: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    def names_model(self, model_id: str, model_name: str) -> bool:
        return model_id in self.model_ids or model_name in self.names


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """A Deploy Model call: the desired spec plus modelName, userId and resolved secrets.

    `secrets` holds values; repr hides them so they cannot leak through logs or tracebacks.
    `mark` is appended to the description: the API echoes it back, the proof of ownership.
    """

    model_name: str
    user_id: str
    spec: Mapping[str, Any]
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    mark: Mark | None = None

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = dict(self.spec)
        if self.mark is not None:
            payload["description"] = add_mark(payload.get("description"), self.mark)
        payload["modelName"] = self.model_name
        payload["userId"] = self.user_id
        payload.update(self.secrets)
        return payload
