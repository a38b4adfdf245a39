"""An in-memory control plane behind the ModelsApi port, for unit tests of apply/reconcile.

Faults are scripted per call: `script_deploy(...)` queues what the next deploys do
(e.g. commit the model and then raise a timeout, as a lost response would).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from reconciler.core.errors import ApiConflictError, ApiError, ApiNotFoundError
from reconciler.core.model import (
    SECRET_FIELDS,
    STATUS_DELETED,
    STATUS_UP,
    DeployRequest,
    KnownModels,
    LiveModel,
)
from reconciler.core.ownership import split_mark
from reconciler.core.spec import normalize_spec

USER = "00000000-0000-4000-8000-000000000001"


@dataclass
class DeployFault:
    """What one scripted deploy does: raise `error`, after committing the model or not."""

    error: ApiError
    committed: bool


@dataclass
class FakeApi:
    user_id: str = USER
    ready: bool = True
    models: dict[str, LiveModel] = field(default_factory=dict)
    deploy_calls: list[DeployRequest] = field(default_factory=list)
    delete_calls: list[str] = field(default_factory=list)
    list_calls: int = 0
    whoami_calls: int = 0
    deploy_faults: list[DeployFault] = field(default_factory=list)
    # Deployment logs by deploymentId, oldest first; `logs_error` makes every logs call
    # raise it (e.g. a 500); an API without the endpoint is the default: no lines.
    logs: dict[str, list[str]] = field(default_factory=dict)
    logs_calls: list[tuple[str, str, int]] = field(default_factory=list)
    logs_error: ApiError | None = None
    on_deploy: Callable[[DeployRequest], None] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script_deploy(self, error: ApiError, *, committed: bool) -> None:
        self.deploy_faults.append(DeployFault(error, committed))

    def whoami(self) -> str:
        self.whoami_calls += 1
        return self.user_id

    def list_models(self, user_id: str, *, known: KnownModels | None = None) -> list[LiveModel]:
        with self._lock:
            self.list_calls += 1
            models = [m for m in self.models.values() if m.user_id == user_id]
        return [m if known is None else brief(m, known) for m in models]

    def get_model(self, user_id: str, model_id: str) -> LiveModel:
        with self._lock:
            model = self.models.get(model_id)
        if model is None or model.user_id != user_id:
            raise ApiNotFoundError(f"GET /v1/models/{model_id}", status=404)
        return model

    def deploy_model(self, request: DeployRequest) -> LiveModel:
        if self.on_deploy is not None:
            self.on_deploy(request)
        with self._lock:
            self.deploy_calls.append(request)
            fault = self.deploy_faults.pop(0) if self.deploy_faults else None
            if fault is not None and not fault.committed:
                raise fault.error
            if self.live_named(request.model_name) is not None:
                raise ApiConflictError("POST /v1/models", status=409, server_message="taken")
            model = self._create(request)
        if fault is not None:
            raise fault.error
        return model

    def delete_model(self, user_id: str, model_id: str) -> None:
        with self._lock:
            self.delete_calls.append(model_id)
            model = self.models.get(model_id)
            if model is not None:
                self.models[model_id] = replace(model, status=STATUS_DELETED)

    def find_model_by_name(self, user_id: str, model_name: str) -> LiveModel | None:
        with self._lock:
            self.list_calls += 1
            return self.live_named(model_name)

    def deployment_logs(self, user_id: str, deployment_id: str, *, limit: int) -> tuple[str, ...]:
        with self._lock:
            self.logs_calls.append((user_id, deployment_id, limit))
        if self.logs_error is not None:
            raise self.logs_error
        return tuple(self.logs.get(deployment_id, [])[-limit:])

    # -- helpers for tests -------------------------------------------------

    def live_named(self, name: str) -> LiveModel | None:
        for model in self.models.values():
            if model.model_name == name and model.status != STATUS_DELETED:
                return model
        return None

    def live_names(self) -> list[str]:
        return sorted(m.model_name for m in self.models.values() if m.status != STATUS_DELETED)

    def _create(self, request: DeployRequest) -> LiveModel:
        number = next(self._ids)
        # As the API echoes it: the description sent (with the mark), parsed as the HTTP
        # adapter does (the mark split off).
        body = request.body()
        spec = {k: v for k, v in body.items() if k not in ("modelName", "userId", *SECRET_FIELDS)}
        spec["description"], mark = split_mark(spec.get("description"))
        model = LiveModel(
            model_id=f"model-{number}",
            model_name=request.model_name,
            status=STATUS_UP if self.ready else "MODEL_STATUS_INIT",
            spec=normalize_spec(spec),
            deployment_id=f"dep-{number}",
            user_id=request.user_id,
            mark=mark,
        )
        self.models[model.model_id] = model
        return model


def brief(model: LiveModel, known: KnownModels) -> LiveModel:
    """`model` as a listing with `known` returns it: in full if named, else brief, as the
    HTTP adapter's (live_model.parse_brief keeps these fields only)."""
    if known.names_model(model.model_id, model.model_name):
        return model
    return LiveModel(
        model.model_id,
        model.model_name,
        model.status,
        {},
        user_id=model.user_id,
        endpoint=model.endpoint,
        created_at=model.created_at,
        updated_at=model.updated_at,
        brief=True,
    )
