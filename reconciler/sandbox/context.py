"""What every sandbox route shares: config, store, faults, tokens, the render cache, and helpers
to name the caller and answer with Model JSON. Holds no state of its own beyond those.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from reconciler.sandbox.config import SandboxConfig
from reconciler.sandbox.faults import FaultInjector
from reconciler.sandbox.model_json import RenderCache
from reconciler.sandbox.problems import PERMISSION_DENIED, ApiProblem, invalid
from reconciler.sandbox.records import StoredModel
from reconciler.sandbox.store import ModelStore
from reconciler.sandbox.tokens import TokenBook


class Context:
    def __init__(
        self,
        config: SandboxConfig,
        store: ModelStore,
        injector: FaultInjector,
        tokens: TokenBook,
    ) -> None:
        self.config = config
        self.shape = config.shape
        self.store = store
        self.injector = injector
        self.tokens = tokens
        self.user_id = config.user_id
        self.cache = RenderCache(config.shape)

    def caller(self, requested: Any) -> str:
        # One token, one user: any other userId is somebody else's, hence 403.
        if requested in (None, ""):
            return self.user_id
        if requested != self.user_id:
            raise ApiProblem(
                403,
                PERMISSION_DENIED,
                f"userId {requested} is not the caller's; this token belongs to user "
                f"{self.user_id}",
            )
        return self.user_id

    def encoded(self, model: StoredModel) -> bytes:
        return self.cache.encode(
            model, self.store.now(), api_key=self.store.api_key(model.model_id)
        )

    def model_response(self, model: StoredModel) -> Response:
        return raw_json(b'{"model":' + self.encoded(model) + b"}")

    def models_response(self, models: list[StoredModel]) -> Response:
        return raw_json(b'{"models":[' + b",".join(self.encoded(m) for m in models) + b"]}")


def raw_json(content: bytes) -> Response:
    return Response(content=content, media_type="application/json")


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError as exc:
        raise invalid(f"request body is not valid JSON: {exc}") from exc


async def json_object(request: Request, what: str) -> dict[str, Any]:
    body = await json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid(f"request body must be a JSON object ({what})")
    return body
