"""The control-plane client over httpx.MockTransport, with a fake clock and sleep."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from reconciler.adapters.http_api import HttpModelsApi, connect
from reconciler.adapters.limiter import CircuitBreaker
from reconciler.adapters.retry import RetryPolicy
from reconciler.core.errors import (
    ApiAuthError,
    ApiConflictError,
    ApiError,
    ApiInvalidError,
    ApiNotFoundError,
    ApiRateLimitedError,
    ApiServerError,
    ApiTimeoutError,
    ApiUnreachableError,
    CircuitOpenError,
    UsageError,
)
from reconciler.core.model import DeployRequest
from tests.support.clock import FakeClock

TOKEN = "tok-SECRET-1b2c3d4e5f"
API_KEY = "sk-returned-9e8d7c6b5a"
HF_TOKEN = "hf_submitted_0a1b2c3d"
USER = "3f0c6d2e-0000-4000-8000-000000000001"
BASE_URL = "https://cp.test"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class ScriptedServer:
    """Answers requests from a script (the last reply repeats) and records them."""

    def __init__(self, replies: list[Reply], clock: FakeClock) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.arrivals: list[float] = []
        self._clock = clock
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            self.arrivals.append(self._clock())
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    @property
    def methods(self) -> list[str]:
        return [request.method for request in self.requests]


def model(model_id: str = "m-1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "modelId": model_id,
        "modelName": "llama-8b-chat",
        "status": "MODEL_STATUS_INIT",
        "gpuCount": "1",
        "gpuType": "GPU_TYPE_H100",
        "apiKey": API_KEY,
    }
    body.update(fields)
    return body


def ok(body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"x-request-id": "req-ok", **headers})


def fail(
    status: int, message: str = "boom", *, code: int = 13, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"code": code, "message": message, "details": []}
    return httpx.Response(status, json=body, headers={"x-request-id": "req-42", **(headers or {})})


def no_jitter(**kwargs: Any) -> RetryPolicy:
    return RetryPolicy(jitter=0.0, **kwargs)


Harness = tuple[HttpModelsApi, ScriptedServer, FakeClock]


@pytest.fixture
def make_api() -> Iterator[Callable[..., Harness]]:
    made: list[HttpModelsApi] = []

    def build(*replies: Reply, **kwargs: Any) -> Harness:
        clock = FakeClock()
        server = ScriptedServer(list(replies), clock)
        client = httpx.Client(base_url=BASE_URL, transport=httpx.MockTransport(server))
        kwargs.setdefault("policy", no_jitter())
        api = HttpModelsApi(client, token=TOKEN, sleep=clock.sleep, clock=clock, **kwargs)
        made.append(api)
        return api, server, clock

    yield build
    for api in made:
        api.close()


def deploy_request() -> DeployRequest:
    return DeployRequest(
        model_name="llama-8b-chat",
        user_id=USER,
        spec={"modelPath": "meta-llama/Llama-3.1-8B-Instruct", "gpuCount": 1},
        secrets={"hfToken": HF_TOKEN},
    )


def assert_no_secret(text: str) -> None:
    for secret in (TOKEN, API_KEY, HF_TOKEN):
        assert secret not in text


# -- the calls ------------------------------------------------------------------


def test_whoami_sends_the_bearer_token(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(ok({"user": {"id": USER, "email": "a@b"}}))
    assert api.whoami() == USER
    request = server.requests[0]
    assert request.url.path == "/auth/profile"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_list_models_passes_user_id_and_parses(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(ok({"models": [model("m-1"), model("m-2", status="X_NEW")]}))
    models = api.list_models(USER)
    assert [m.model_id for m in models] == ["m-1", "m-2"]
    assert models[1].status == "X_NEW"
    assert models[0].spec["gpuCount"] == 1
    assert server.requests[0].url.params["userId"] == USER


def test_list_models_accepts_a_missing_list(make_api: Callable[..., Harness]) -> None:
    api, _, _ = make_api(ok({}))
    assert api.list_models(USER) == []


def test_get_model_unwraps_the_model(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(ok({"model": model("m-7")}))
    assert api.get_model(USER, "m-7").model_id == "m-7"
    assert server.requests[0].url.path == "/v1/models/m-7"


def test_deploy_posts_the_request_body_once(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(ok({"model": model("m-9")}))
    live = api.deploy_model(deploy_request())
    assert live.model_id == "m-9"
    assert server.methods == ["POST"]
    sent = json.loads(server.requests[0].content)
    assert sent == {
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "gpuCount": 1,
        "modelName": "llama-8b-chat",
        "userId": USER,
        "hfToken": HF_TOKEN,
    }


def test_delete_sends_user_id(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(ok({}))
    api.delete_model(USER, "m-3")
    request = server.requests[0]
    assert (request.method, request.url.path) == ("DELETE", "/v1/models/m-3")
    assert request.url.params["userId"] == USER


def test_model_ids_are_quoted_into_the_path(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(ok({"model": model("m-1")}))
    api.get_model(USER, "../auth/profile?x=1")
    assert server.requests[0].url.raw_path.startswith(b"/v1/models/..%2Fauth%2Fprofile%3Fx%3D1?")


def test_delete_of_an_unknown_model_is_success(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(fail(404, "model not found", code=5))
    api.delete_model(USER, "m-gone")
    assert server.methods == ["DELETE"]


def test_get_of_an_unknown_model_raises_not_found(make_api: Callable[..., Harness]) -> None:
    api, _, clock = make_api(fail(404, "model not found", code=5))
    with pytest.raises(ApiNotFoundError) as caught:
        api.get_model(USER, "m-gone")
    assert "model not found" in str(caught.value)
    assert clock.sleeps == []  # a 404 is an answer, not retried


# -- find_model_by_name ----------------------------------------------------------


def test_find_model_by_name_skips_deleted_and_picks_the_newest(
    make_api: Callable[..., Harness],
) -> None:
    models = [
        model("m-old", createdAt="2025-01-01T10:00:00Z"),
        model("m-deleted", status="MODEL_STATUS_DELETED", createdAt="2025-03-01T10:00:00Z"),
        model("m-new", createdAt="2025-02-01T10:00:00.123456789Z"),
        model("m-other", modelName="qwen-32b", createdAt="2025-04-01T10:00:00Z"),
    ]
    api, _, _ = make_api(ok({"models": models}))
    found = api.find_model_by_name(USER, "llama-8b-chat")
    assert found is not None
    assert found.model_id == "m-new"


def test_find_model_by_name_returns_none_when_only_deleted(
    make_api: Callable[..., Harness],
) -> None:
    api, _, _ = make_api(ok({"models": [model("m-1", status="MODEL_STATUS_DELETED")]}))
    assert api.find_model_by_name(USER, "llama-8b-chat") is None


# -- retries ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_reads_retry_retryable_statuses(make_api: Callable[..., Harness], status: int) -> None:
    api, server, clock = make_api(fail(status), fail(status), ok({"models": []}))
    assert api.list_models(USER) == []
    assert len(server.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_reads_retry_network_errors(make_api: Callable[..., Harness], exc: Exception) -> None:
    api, server, _ = make_api(exc, ok({"user": {"id": USER}}))
    assert api.whoami() == USER
    assert len(server.requests) == 2


def test_delete_is_retried(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(fail(503), httpx.ReadTimeout("t"), fail(404, code=5))
    api.delete_model(USER, "m-1")  # the last answer, 404, means already deleted
    assert server.methods == ["DELETE"] * 3


def test_retry_after_in_seconds_is_honoured(make_api: Callable[..., Harness]) -> None:
    api, server, clock = make_api(fail(429, headers={"retry-after": "3"}), ok({"models": []}))
    api.list_models(USER)
    assert clock.sleeps == [3.0]
    assert server.arrivals == [0.0, 3.0]


def test_retry_after_as_http_date_is_honoured(make_api: Callable[..., Harness]) -> None:
    limited = fail(
        503,
        headers={
            "retry-after": "Wed, 01 Jan 2025 12:00:05 GMT",
            "date": "Wed, 01 Jan 2025 12:00:00 GMT",
        },
    )
    api, _, clock = make_api(limited, ok({"models": []}))
    api.list_models(USER)
    assert clock.sleeps == [5.0]


def test_retry_after_is_capped_at_eight_seconds(make_api: Callable[..., Harness]) -> None:
    api, _, clock = make_api(fail(429, headers={"retry-after": "600"}), ok({"models": []}))
    api.list_models(USER)
    assert clock.sleeps == [8.0]


def test_retries_stop_at_the_time_budget(make_api: Callable[..., Harness]) -> None:
    api, server, clock = make_api(
        fail(503, "overloaded"),
        policy=no_jitter(budget=10.0),
        breaker=CircuitBreaker(threshold=100),
    )
    with pytest.raises(ApiServerError) as caught:
        api.list_models(USER)
    # 0.5 + 1 + 2 + 4 = 7.5 s; the next 8 s wait would end at 15.5 s, past the budget.
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert len(server.requests) == 5
    assert "overloaded" in str(caught.value)


def test_retries_stop_after_five(make_api: Callable[..., Harness]) -> None:
    api, server, clock = make_api(
        httpx.ConnectError("refused"), breaker=CircuitBreaker(threshold=100)
    )
    with pytest.raises(ApiUnreachableError):
        api.whoami()
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert len(server.requests) == 6


def test_rate_limited_read_keeps_retry_after_when_it_gives_up(
    make_api: Callable[..., Harness],
) -> None:
    api, _, _ = make_api(fail(429, headers={"retry-after": "8"}), policy=no_jitter(budget=20.0))
    with pytest.raises(ApiRateLimitedError) as caught:
        api.list_models(USER)
    assert caught.value.retry_after == 8.0


@pytest.mark.parametrize("status", [400, 401, 403, 409, 501])
def test_other_statuses_are_not_retried(make_api: Callable[..., Harness], status: int) -> None:
    api, server, _ = make_api(fail(status))
    with pytest.raises(ApiError):
        api.list_models(USER)
    assert len(server.requests) == 1


# -- deploy is never retried -------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        (fail(502), ApiServerError),
        (fail(503, headers={"retry-after": "1"}), ApiServerError),
        (fail(500), ApiServerError),
        (fail(429, "quota", code=8, headers={"retry-after": "2"}), ApiRateLimitedError),
        (httpx.ReadTimeout("timed out"), ApiTimeoutError),
        (httpx.RemoteProtocolError("Server disconnected"), ApiTimeoutError),
        (httpx.ReadError("connection reset"), ApiTimeoutError),
        (httpx.ConnectError("refused"), ApiUnreachableError),
    ],
)
def test_deploy_is_sent_exactly_once(
    make_api: Callable[..., Harness], reply: Reply, error_type: type[ApiError]
) -> None:
    api, server, clock = make_api(reply, ok({"model": model()}))
    with pytest.raises(error_type) as caught:
        api.deploy_model(deploy_request())
    assert server.methods == ["POST"]
    assert clock.sleeps == []
    assert "POST /v1/models (deploy llama-8b-chat)" in str(caught.value)
    assert_no_secret(str(caught.value))


def test_rate_limited_deploy_reports_retry_after(make_api: Callable[..., Harness]) -> None:
    api, _, _ = make_api(fail(429, headers={"retry-after": "2"}))
    with pytest.raises(ApiRateLimitedError) as caught:
        api.deploy_model(deploy_request())
    assert caught.value.retry_after == 2.0


# -- messages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "hint"),
    [
        (400, ApiInvalidError, "Fix the manifest field"),
        (401, ApiAuthError, "TENSORMESH_CONTROL_PLANE_TOKEN"),
        (403, ApiAuthError, "TENSORMESH_CONTROL_PLANE_TOKEN"),
        (409, ApiConflictError, ""),
        (502, ApiServerError, "try again later"),
    ],
)
def test_error_messages_name_call_status_message_request_id_and_hint(
    make_api: Callable[..., Harness], status: int, error_type: type[ApiError], hint: str
) -> None:
    api, _, _ = make_api(fail(status, "gpuType GPU_TYPE_Z is not offered", code=3))
    with pytest.raises(error_type) as caught:
        api.deploy_model(deploy_request())
    text = str(caught.value)
    assert text.startswith("POST /v1/models (deploy llama-8b-chat) failed")
    assert f"HTTP {status}" in text
    assert "gpuType GPU_TYPE_Z is not offered" in text
    assert "request id req-42" in text
    assert hint in text
    assert caught.value.code == 3
    assert caught.value.request_id == "req-42"
    assert_no_secret(text)


def test_non_json_error_body_is_never_echoed(make_api: Callable[..., Harness]) -> None:
    body = f"<html>bad gateway apiKey={API_KEY} token={TOKEN}</html>"
    reply = httpx.Response(
        400, text=body, headers={"content-type": "text/html", "x-request-id": "r-1"}
    )
    api, _, _ = make_api(reply)
    with pytest.raises(ApiInvalidError) as caught:
        api.get_model(USER, "m-1")
    text = str(caught.value)
    assert "non-JSON body (text/html)" in text
    assert "r-1" in text
    assert_no_secret(text)


def test_secrets_echoed_by_the_server_are_redacted(make_api: Callable[..., Harness]) -> None:
    api, _, _ = make_api(fail(400, f"hfToken {HF_TOKEN} rejected for bearer {TOKEN}"))
    with pytest.raises(ApiInvalidError) as caught:
        api.deploy_model(deploy_request())
    text = str(caught.value)
    assert "hfToken [redacted] rejected" in text
    assert_no_secret(text)


def test_returned_api_key_never_leaves_the_adapter(make_api: Callable[..., Harness]) -> None:
    api, _, _ = make_api(
        ok({"model": model("m-1")}),
        ok({"models": [model("m-1"), model("m-2")]}),
        ok({"model": model("m-1")}),
    )
    results = [api.deploy_model(deploy_request()), *api.list_models(USER)]
    results.append(api.get_model(USER, "m-1"))
    for live in results:
        assert_no_secret(repr(live))
        assert "apiKey" not in live.spec


def test_malformed_model_with_api_key_is_an_error_without_it(
    make_api: Callable[..., Harness],
) -> None:
    api, _, _ = make_api(ok({"model": {"modelName": "x", "apiKey": API_KEY}}))
    with pytest.raises(ApiError) as caught:
        api.deploy_model(deploy_request())
    text = str(caught.value)
    assert "modelId" in text and "req-ok" in text
    assert_no_secret(text)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (httpx.Response(200, text="<html>hi</html>"), "not JSON"),
        (httpx.Response(200, json=["a"]), "not a JSON object"),
        (httpx.Response(200, json={"models": {"m": 1}}), "`models` is not a list"),
        (httpx.Response(200, json={"models": [{"modelName": "x"}]}), "modelId"),
    ],
)
def test_malformed_bodies_are_api_errors(
    make_api: Callable[..., Harness], reply: httpx.Response, expected: str
) -> None:
    api, _, _ = make_api(reply)
    with pytest.raises(ApiError, match=expected) as caught:
        api.list_models(USER)
    assert "GET /v1/models" in str(caught.value)


def test_profile_without_id_is_an_api_error(make_api: Callable[..., Harness]) -> None:
    api, _, _ = make_api(ok({"user": {}}))
    with pytest.raises(ApiError, match="TENSORMESH_USER_ID"):
        api.whoami()


def test_token_never_appears_in_repr_messages_or_logs(
    make_api: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api, _, _ = make_api(
        fail(503), httpx.ConnectError("refused"), fail(401, "bad token"), breaker=None
    )
    with pytest.raises(ApiAuthError) as caught:
        api.whoami()
    assert "retry" in caplog.text  # retries were logged
    for text in (repr(api), str(caught.value), caplog.text):
        assert_no_secret(text)
    assert BASE_URL in repr(api)


# -- breaker and shared limiter ----------------------------------------------------------


def test_breaker_opens_after_consecutive_server_errors(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(fail(502), breaker=CircuitBreaker(threshold=3))
    for _ in range(3):
        with pytest.raises(ApiServerError):
            api.deploy_model(deploy_request())
    with pytest.raises(CircuitOpenError) as caught:
        api.list_models(USER)
    assert len(server.requests) == 3  # the open breaker sent nothing
    assert "GET /v1/models" in str(caught.value)


def test_breaker_stops_a_retrying_read_with_the_real_error(
    make_api: Callable[..., Harness],
) -> None:
    api, server, _ = make_api(fail(503, "overloaded"))  # default breaker: 5 failures
    with pytest.raises(ApiServerError, match="overloaded"):
        api.list_models(USER)
    assert len(server.requests) == 5
    with pytest.raises(CircuitOpenError):
        api.whoami()
    assert len(server.requests) == 5


def test_a_success_resets_the_breaker(make_api: Callable[..., Harness]) -> None:
    replies: list[Reply] = [fail(502), fail(502), ok({"model": model()}), fail(502), fail(502)]
    api, server, _ = make_api(*replies, breaker=CircuitBreaker(threshold=3))
    for _ in range(5):
        with contextlib.suppress(ApiServerError):
            api.deploy_model(deploy_request())
    assert len(server.requests) == 5  # never opened: at most 2 failures in a row


def test_client_errors_do_not_open_the_breaker(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(fail(409, code=6), breaker=CircuitBreaker(threshold=2))
    for _ in range(4):
        with pytest.raises(ApiConflictError):
            api.deploy_model(deploy_request())
    assert len(server.requests) == 4


def test_one_429_delays_every_thread(make_api: Callable[..., Harness]) -> None:
    profile = ok({"user": {"id": USER}})
    api, server, clock = make_api(fail(429, headers={"retry-after": "2"}), profile)
    with pytest.raises(ApiRateLimitedError):
        api.deploy_model(deploy_request())  # the worker that hit the limit
    assert clock.sleeps == []  # a deploy does not wait itself: the caller decides

    results: list[str] = []

    def other_worker() -> None:
        results.append(api.whoami())

    threads = [threading.Thread(target=other_worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == [USER] * 3
    # Every other worker's request reached the server only after the shared pause.
    assert min(server.arrivals[1:]) >= 2.0
    assert len(server.requests) == 4


def test_one_client_serves_many_threads(make_api: Callable[..., Harness]) -> None:
    api, server, _ = make_api(ok({"models": [model()]}))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                assert api.list_models(USER)[0].model_id == "m-1"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(server.requests) == 160


# -- connect --------------------------------------------------------------------------


def test_connect_requires_the_token_variable() -> None:
    with pytest.raises(UsageError, match="TENSORMESH_CONTROL_PLANE_TOKEN is not set"):
        connect(None, environ={})
    with pytest.raises(UsageError):
        connect(None, environ={"TENSORMESH_CONTROL_PLANE_TOKEN": "  "})


@pytest.mark.parametrize(
    ("api_url", "env_url", "expected"),
    [
        (None, None, "https://api.tensormesh.ai"),
        (None, "http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://127.0.0.1:8080", "http://localhost:9"),
    ],
)
def test_connect_picks_the_url(api_url: str | None, env_url: str | None, expected: str) -> None:
    env = {"TENSORMESH_CONTROL_PLANE_TOKEN": TOKEN}
    if env_url:
        env["TENSORMESH_CONTROL_PLANE_BASE_URL"] = env_url
    with connect(api_url, environ=env) as api:
        assert repr(api) == f"HttpModelsApi(base_url={expected!r})"
        assert_no_secret(repr(api))


def test_connect_rejects_a_url_without_scheme() -> None:
    with pytest.raises(UsageError, match="--api-url"):
        connect("api.tensormesh.ai", environ={"TENSORMESH_CONTROL_PLANE_TOKEN": TOKEN})


# The transport connect() builds is tested against a real server in test_http_transport.py.


def test_a_closed_port_is_unreachable() -> None:
    # A real socket, so the mapping of httpx's own ConnectError is exercised.
    client = httpx.Client(base_url="http://127.0.0.1:1", timeout=2.0)
    api = HttpModelsApi(client, token=TOKEN, policy=RetryPolicy(max_retries=0))
    with api, pytest.raises(ApiUnreachableError) as caught:
        api.whoami()
    text = str(caught.value)
    assert text.startswith("GET /auth/profile (who am I) failed: no connection")
    assert "TENSORMESH_CONTROL_PLANE_BASE_URL" in text
    assert "no connection to http://127.0.0.1:1/auth/profile" in text  # the URL tried
    assert_no_secret(text)
