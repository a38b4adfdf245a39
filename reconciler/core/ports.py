"""The control-plane port: what the apply and reconcile steps need of the API.

The HTTP adapter implements it over httpx; unit tests pass an in-memory fake.
"""

from __future__ import annotations

from typing import Protocol

from reconciler.core.model import DeployRequest, KnownModels, LiveModel


class ModelsApi(Protocol):
    def whoami(self) -> str:
        """The caller's user id (GET /auth/profile)."""
        ...

    def list_models(self, user_id: str, *, known: KnownModels | None = None) -> list[LiveModel]:
        """Every model of the user, deleted ones included (GET /v1/models). Retried.

        With `known`, a model it does not name may come back brief (LiveModel.brief)."""
        ...

    def get_model(self, user_id: str, model_id: str) -> LiveModel:
        """One model; raises ApiNotFoundError when unknown. Retried."""
        ...

    def deploy_model(self, request: DeployRequest) -> LiveModel:
        """POST /v1/models, sent exactly once: never retried. An unclear outcome raises
        ApiTimeoutError, ApiUnreachableError or ApiServerError; the caller looks up by name."""
        ...

    def delete_model(self, user_id: str, model_id: str) -> None:
        """DELETE /v1/models/{id}; a 404 counts as already deleted. Retried."""
        ...

    def find_model_by_name(self, user_id: str, model_name: str) -> LiveModel | None:
        """The model of that name that is not deleted, if any (a lookup over list_models)."""
        ...

    def deployment_logs(self, user_id: str, deployment_id: str, *, limit: int) -> tuple[str, ...]:
        """The latest `limit` log lines of a deployment, oldest first (GET
        /v1/observability/deployments/{id}/logs), cleaned of control characters and known
        secrets; () when the API has no such endpoint (404, 501). Retried."""
        ...
