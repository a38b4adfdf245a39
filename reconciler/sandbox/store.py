"""The sandbox's models: create, list, get, delete and out-of-band changes, per user.

In memory, driven by an injected clock; a persistence hook sees every mutation. Never keeps
request secrets; the generated inference apiKeys live only in memory.
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.sandbox.catalog import STATUS_DELETED, STATUS_FAILED, STATUS_UP
from reconciler.sandbox.problems import ALREADY_EXISTS, ApiProblem, invalid, not_found
from reconciler.sandbox.records import StoredModel
from reconciler.sandbox.validation import DeployBody

Clock = Callable[[], float]
OnChange = Callable[[list[StoredModel]], None]

# Fields an out-of-band PATCH may change (everything a drift could touch, not identities).
PATCHABLE_SPEC_FIELDS = frozenset(
    {
        "description",
        "modelPath",
        "gpuType",
        "gpuCount",
        "infra",
        "modelSpec",
        "kvCacheEnabled",
        "cpuOffloadingEnabled",
        "nodeId",
    }
)


class ModelStore:
    def __init__(
        self,
        *,
        clock: Clock,
        ready_after: float,
        deleted_linger: float,
        models: Iterable[StoredModel] = (),
        on_change: OnChange | None = None,
        failed_status: str = STATUS_FAILED,
    ) -> None:
        self.failed_status = failed_status
        self._clock = clock
        self._ready_after = ready_after
        self._deleted_linger = deleted_linger
        self._models: dict[str, StoredModel] = {m.model_id: m for m in models}
        # Indexes that keep a create O(1) (two scans of every model made a 20,000-model
        # benchmark measure the sandbox): (user, name) -> live model, and deleted models
        # awaiting purge. Names and users never change; only delete_model deletes.
        self._live_by_name = {
            (m.user_id, m.model_name): m.model_id
            for m in self._models.values()
            if m.deleted_at is None
        }
        self._lingering = sum(1 for m in self._models.values() if m.deleted_at is not None)
        self._api_keys: dict[str, str] = {}
        self._on_change = on_change
        self.creates: Counter[str] = Counter()
        self.create_calls = 0
        self.profile_calls = 0  # GET /auth/profile: a session asks "who am I" at most once
        self.deletes = 0

    def now(self) -> float:
        return self._clock()

    def api_key(self, model_id: str) -> str:
        # Generated on first sight (also after a restart): keys are never persisted.
        key = self._api_keys.get(model_id)
        if key is None:
            key = self._api_keys[model_id] = "tmk-" + secrets.token_hex(16)
        return key

    def list_models(self, user_id: str) -> list[StoredModel]:
        self._purge()
        return sorted(
            (m for m in self._models.values() if m.user_id == user_id),
            key=lambda m: (m.created_at, m.model_id),
        )

    def get_model(self, user_id: str, model_id: str) -> StoredModel:
        self._purge()
        model = self._models.get(model_id)
        if model is None or model.user_id != user_id:
            raise not_found(f"model {model_id} not found")
        return model

    def find_live_by_name(self, user_id: str, model_name: str) -> StoredModel | None:
        """The model holding that name: any not yet deleted (a deleted name is free at once)."""
        model = self._models.get(self._live_by_name.get((user_id, model_name), ""))
        if model is None or model.deleted_at is not None:
            return None
        return model

    def create_model(self, user_id: str, body: DeployBody, *, fail: bool) -> StoredModel:
        self._purge()
        taken = self.find_live_by_name(user_id, body.model_name)
        if taken is not None:
            raise ApiProblem(
                409,
                ALREADY_EXISTS,
                f"modelName {body.model_name!r} is already taken by model {taken.model_id}; "
                "delete it first or choose another name",
            )
        now = self.now()
        model = StoredModel(
            model_id=str(uuid.uuid4()),
            deployment_id="dep-" + secrets.token_hex(8),
            user_id=user_id,
            model_name=body.model_name,
            spec=dict(body.spec),
            created_at=now,
            ready_at=now + self._ready_after,
            outcome=self.failed_status if fail else STATUS_UP,
        )
        self._models[model.model_id] = model
        self._live_by_name[(user_id, model.model_name)] = model.model_id
        self.creates[model.model_name] += 1
        self._changed()
        return model

    def delete_model(self, user_id: str, model_id: str) -> StoredModel:
        model = self.get_model(user_id, model_id)
        if model.deleted_at is not None:
            raise not_found(f"model {model_id} is already deleted")
        model = self._models[model_id] = replace(model, deleted_at=self.now())
        if self._live_by_name.get((model.user_id, model.model_name)) == model_id:
            del self._live_by_name[(model.user_id, model.model_name)]
        self._lingering += 1
        self.deletes += 1
        self._changed()
        return model

    def force_status(self, model_id: str, status: str) -> StoredModel:
        model = self._any_model(model_id)
        if model.deleted_at is not None:
            raise invalid(f"model {model_id} is deleted; its status cannot change")
        model = self._models[model_id] = replace(model, forced_status=status, forced_at=self.now())
        self._changed()
        return model

    def patch_model(self, model_id: str, changes: Mapping[str, Any]) -> StoredModel:
        """Simulated drift: change fields behind the reconciler's back."""
        model = self._any_model(model_id)
        spec = dict(model.spec)
        updates: dict[str, Any] = {}
        for key, value in changes.items():
            if key in PATCHABLE_SPEC_FIELDS:
                if key == "gpuCount" and isinstance(value, str) and value.isdigit():
                    value = int(value)
                spec[key] = value
            elif key == "replicas" and isinstance(value, int | str) and str(value).isdigit():
                updates["replicas"] = int(value)
            elif key == "status" and isinstance(value, str):
                return self._patch_status(model_id, value, spec)
            else:
                allowed = ", ".join(sorted({*PATCHABLE_SPEC_FIELDS, "replicas", "status"}))
                raise invalid(f"{key}: cannot be patched; patchable fields: {allowed}")
        model = self._models[model_id] = replace(model, spec=spec, patched_at=self.now(), **updates)
        self._changed()
        return model

    def _patch_status(self, model_id: str, status: str, spec: dict[str, Any]) -> StoredModel:
        model = self._models[model_id] = replace(self._models[model_id], spec=spec)
        if status == STATUS_DELETED:
            return self.delete_model(model.user_id, model_id)
        return self.force_status(model_id, status)

    def _any_model(self, model_id: str) -> StoredModel:
        self._purge()
        model = self._models.get(model_id)
        if model is None:
            raise not_found(f"model {model_id} not found")
        return model

    def _purge(self) -> None:
        # Deleted models stay listed for the linger time, then vanish.
        if not self._lingering:
            return
        cutoff = self.now() - self._deleted_linger
        gone = [
            m.model_id
            for m in self._models.values()
            if m.deleted_at is not None and m.deleted_at <= cutoff
        ]
        self._lingering -= len(gone)
        for model_id in gone:
            del self._models[model_id]
            self._api_keys.pop(model_id, None)
        if gone:
            self._changed()

    def reset(self) -> None:
        """Forget every model and counter (`POST /_sandbox/reset`), as a fresh start would."""
        self._models.clear()
        self._live_by_name.clear()
        self._lingering = 0
        self._api_keys.clear()
        self.creates.clear()
        self.create_calls = 0
        self.profile_calls = 0
        self.deletes = 0
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(list(self._models.values()))
