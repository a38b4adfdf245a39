"""The ASGI layer in front of every route: request ids, bearer auth, latency and request faults.

Runs before routing so that 401s, unknown routes and injected faults all carry an
x-request-id. /_sandbox/ admin routes are authenticated but never delayed or faulted.
Latency holds the answer back, not the work: a call is answered `latencyMs` after it
arrived (later only when the sandbox is too busy), as a remote control plane would be.
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
        loop = asyncio.get_running_loop()
        request_id = uuid.uuid4().hex.encode()
        delayed = not scope["path"].startswith(ADMIN_PREFIX)
        # The latency knob is the time from a request's arrival to its answer: the work
        # is done at once and the answer held back until then, so the sandbox's own
        # processing time is inside the latency, not on top of it.
        answer_at = loop.time() + (self._faults.knobs.latency_ms / 1000.0 if delayed else 0.0)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
                wait = answer_at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            await send(message)

        problem = self._admit(scope)
        if problem is None and delayed:
            problem = self._fault(scope)
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

    def _fault(self, scope: Scope) -> ApiProblem | None:
        if scope["method"] == "POST" and scope["path"] == "/v1/models":
            self._store.create_calls += 1
        # Decided on arrival, so the sequence follows request order.
        fault = self._faults.on_request()
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
