"""Record step: the recorded-state transitions, applied live by apply and replayed from the journal.

Pure: returns new State values; never touches files or the clock, and never changes `serial`
(saving a changed state does that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from reconciler import __version__
from reconciler.core.errors import StateError
from reconciler.core.model import STATUS_UP, Action, Intent, RecordedEntry, RecordedSecret, State

FORMAT_VERSION = 1
GENERATOR = f"tensormesh-reconciler {__version__}"

Op = Literal["intent", "entry", "status", "forget", "close", "taint"]
OPS: tuple[Op, ...] = ("intent", "entry", "status", "forget", "close", "taint")


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One state transition: `payload` is an Intent (intent), a RecordedEntry (entry),
    a status string (status), the failure's reason (taint) or None (forget, close)."""

    op: Op
    name: str
    payload: Intent | RecordedEntry | str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "name": self.name}
        if isinstance(self.payload, Intent):
            out["payload"] = intent_to_json(self.payload)
        elif isinstance(self.payload, RecordedEntry):
            out["payload"] = entry_to_json(self.payload)
        elif self.payload is not None:
            out["payload"] = self.payload
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> JournalRecord:
        """Parse a schema-checked record; a malformed one raises StateError, never KeyError."""
        try:
            op = obj["op"]
            name = str(obj["name"])
            raw = obj.get("payload")
            payload: Intent | RecordedEntry | str | None
            if op == "intent":
                payload = intent_from_json(raw)
            elif op == "entry":
                payload = entry_from_json(raw)
            elif op in ("status", "taint"):
                payload = str(raw)
            elif op in ("forget", "close"):
                payload = None
            else:
                raise StateError(f"journal record has unknown op {op!r}; expected one of {OPS}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # Only the kind of error: its message may quote a value (a pasted secret?).
            what = f"no field {exc}" if isinstance(exc, KeyError) else type(exc).__name__
            raise StateError(f"journal record is malformed ({what})") from exc
        return cls(op=op, name=name, payload=payload)


def new_state(*, lineage: str, salt: str) -> State:
    return State(lineage=lineage, salt=salt, serial=0, entries={}, intents={})


def record_intent(state: State, intent: Intent) -> State:
    return replace(state, intents={**state.intents, intent.name: intent})


def record_entry(state: State, entry: RecordedEntry) -> State:
    """Remember what was applied under the entry's name; its deploy is no longer in doubt."""
    intents = {name: i for name, i in state.intents.items() if name != entry.name}
    return replace(state, entries={**state.entries, entry.name: entry}, intents=intents)


def record_status(state: State, name: str, status: str) -> State:
    """Update a recorded entry's status; a name that is not recorded is left alone so that
    replaying a journal never fails on a status that raced a forget. A model seen UP is no
    longer a failed deploy (it came up after the wait gave up)."""
    entry = state.entries.get(name)
    if entry is None:
        return state
    failed = None if status == STATUS_UP else entry.failed
    if entry.status == status and entry.failed == failed:
        return state
    changed = replace(entry, status=status, failed=failed)
    return replace(state, entries={**state.entries, name: changed})


def record_failure(state: State, name: str, reason: str) -> State:
    """Remember that the entry's last deploy failed: the next plan replaces it."""
    entry = state.entries.get(name)
    if entry is None or entry.failed == reason:
        return state
    return replace(state, entries={**state.entries, name: replace(entry, failed=reason)})


def forget_entry(state: State, name: str) -> State:
    entries = {n: e for n, e in state.entries.items() if n != name}
    intents = {n: i for n, i in state.intents.items() if n != name}
    return replace(state, entries=entries, intents=intents)


def close_intent(state: State, name: str) -> State:
    if name not in state.intents:
        return state
    return replace(state, intents={n: i for n, i in state.intents.items() if n != name})


def apply_record(state: State, record: JournalRecord) -> State:
    """The one transition a journal record stands for."""
    payload = record.payload
    if record.op == "intent" and isinstance(payload, Intent):
        return record_intent(state, payload)
    if record.op == "entry" and isinstance(payload, RecordedEntry):
        return record_entry(state, payload)
    if record.op == "status" and isinstance(payload, str):
        return record_status(state, record.name, payload)
    if record.op == "taint" and isinstance(payload, str):
        return record_failure(state, record.name, payload)
    if record.op == "forget":
        return forget_entry(state, record.name)
    if record.op == "close":
        return close_intent(state, record.name)
    raise StateError(
        f"journal record {record.op!r} for {record.name!r} carries the wrong payload "
        f"({type(payload).__name__})"
    )


def replay(state: State, records: Iterable[JournalRecord]) -> State:
    """Every record applied in order. Each op sets or clears one name, so replaying records
    that are already in the state changes nothing (a crash between save and journal removal
    is harmless)."""
    for record in records:
        state = apply_record(state, record)
    return state


def intent_to_json(intent: Intent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": intent.name,
        "modelName": intent.model_name,
        "attempt": intent.attempt,
        "action": intent.action.value,
    }
    if intent.nonce is not None:
        out["nonce"] = intent.nonce
    return out


def intent_from_json(obj: Any) -> Intent:
    nonce = obj.get("nonce")  # absent in files written before marks existed
    return Intent(
        name=str(obj["name"]),
        model_name=str(obj["modelName"]),
        attempt=int(obj["attempt"]),
        action=Action(obj["action"]),
        nonce=None if nonce is None else str(nonce),
    )


def entry_to_json(entry: RecordedEntry) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": entry.name,
        "modelId": entry.model_id,
        "status": entry.status,
        "spec": dict(entry.spec),
        "specDigest": entry.spec_digest,
        "secrets": {
            field: _secret_to_json(secret) for field, secret in sorted(entry.secrets.items())
        },
    }
    # Optional fields are left out rather than written as null, so the file stays minimal.
    if entry.deployment_id is not None:
        out["deploymentId"] = entry.deployment_id
    if entry.user_id is not None:
        out["userId"] = entry.user_id
    if entry.failed is not None:
        out["lastDeployFailed"] = entry.failed
    return out


def _secret_to_json(secret: RecordedSecret) -> dict[str, Any]:
    out: dict[str, Any] = {"ref": dict(secret.ref), "fingerprint": secret.fingerprint}
    if secret.assumed:
        out["assumed"] = True
    return out


def entry_from_json(obj: Any) -> RecordedEntry:
    secrets = {
        str(field): RecordedSecret(
            ref={str(k): str(v) for k, v in raw["ref"].items()},
            fingerprint=raw["fingerprint"],
            assumed=bool(raw.get("assumed", False)),
        )
        for field, raw in obj["secrets"].items()
    }
    return RecordedEntry(
        name=str(obj["name"]),
        model_id=str(obj["modelId"]),
        spec=dict(obj["spec"]),
        spec_digest=str(obj["specDigest"]),
        deployment_id=obj.get("deploymentId"),
        status=str(obj["status"]),
        user_id=obj.get("userId"),
        secrets=secrets,
        failed=obj.get("lastDeployFailed"),  # absent in files written before it existed
    )


def state_to_json(state: State) -> dict[str, Any]:
    """The state file's document; dump it with sort_keys for byte-stable output."""
    out: dict[str, Any] = {
        "formatVersion": FORMAT_VERSION,
        "lineage": state.lineage,
        "serial": state.serial,
        "salt": state.salt,
        "entries": {name: entry_to_json(e) for name, e in sorted(state.entries.items())},
        "intents": {name: intent_to_json(i) for name, i in sorted(state.intents.items())},
        "generator": GENERATOR,
    }
    # Left out outside git, so such files stay as they were before revisions existed.
    if state.revision is not None:
        out["revision"] = state.revision
    return out


def state_from_json(obj: Mapping[str, Any]) -> State:
    """A State from a schema-checked document (the adapter validates before calling this)."""
    return State(
        lineage=str(obj["lineage"]),
        salt=str(obj["salt"]),
        serial=int(obj["serial"]),
        entries={str(name): entry_from_json(raw) for name, raw in obj["entries"].items()},
        intents={str(name): intent_from_json(raw) for name, raw in obj["intents"].items()},
        format_version=int(obj["formatVersion"]),
        revision=obj.get("revision"),
    )


def same_content(a: State, b: State) -> bool:
    """Equal apart from the serial: whether saving `a` over `b` would change anything."""
    return replace(a, serial=b.serial) == b
