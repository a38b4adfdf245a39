"""The ASGI layer in front of every route: request ids, bearer auth, latency and request faults.

Runs before routing so that 401s, unknown routes and injected faults all carry an
x-request-id. /_sandbox/ admin routes are authenticated but never delayed or faulted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from reconciler.sandbox.faults import Fault, FaultInjector
from reconciler.sandbox.problems import (
    RESOURCE_EXHAUSTED,
    UNAUTHENTICATED,
    UNAVAILABLE,
    ApiProblem,
)
from reconciler.sandbox.store import ModelStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMIN_PREFIX = "/_sandbox/"


class Gate:
    def __init__(self, app: Asgi, *, token: str, store: ModelStore, faults: FaultInjector) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()
        self._store = store
        self._faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        problem = self._admit(scope)
        if problem is None and not scope["path"].startswith(ADMIN_PREFIX):
            problem = await self._delay_and_fault(scope)
        if problem is not None:
            await _send_problem(send_with_id, problem)
            return
        await self._app(scope, receive, send_with_id)

    def _admit(self, scope: Scope) -> ApiProblem | None:
        supplied = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                supplied = value
                break
        if not hmac.compare_digest(supplied, self._expected):
            return ApiProblem(
                401,
                UNAUTHENTICATED,
                "missing or invalid bearer token; send 'Authorization: Bearer <token>' "
                "with the token the sandbox printed at start",
            )
        return None

    async def _delay_and_fault(self, scope: Scope) -> ApiProblem | None:
        if scope["method"] == "POST" and scope["path"] == "/v1/models":
            self._store.create_calls += 1
        # Decide on arrival, so the sequence follows request order, not sleep jitter.
        fault = self._faults.on_request()
        latency = self._faults.knobs.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        if fault is Fault.RATE_LIMITED:
            return ApiProblem(
                429,
                RESOURCE_EXHAUSTED,
                "rate limit exceeded; retry after 1 second",
                headers={"retry-after": "1"},
            )
        if fault is Fault.ERROR:
            return ApiProblem(503, UNAVAILABLE, "service unavailable (sandbox injected fault)")
        return None


async def _send_problem(send: Send, problem: ApiProblem) -> None:
    body = json.dumps(problem.body()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in problem.headers.items()),
    ]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
