"""GET /v1/observability/deployments/{id}/logs over httpx.MockTransport: the query, the
order, cleaning and scrubbing, and an older API without the endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.adapters.http_api import HttpModelsApi
from reconciler.adapters.retry import RetryPolicy
from reconciler.core.errors import ApiMalformedError, ApiServerError

TOKEN = "tok-SECRET-abcdef123"
API_KEY = "tmk-returned-0123456789"
USER = "3f0c6d2e-0000-4000-8000-000000000001"


def make_api(reply: httpx.Response, seen: list[httpx.Request]) -> HttpModelsApi:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"models": [{"modelId": "m-1", "apiKey": API_KEY}]})
        return reply

    client = httpx.Client(base_url="https://cp.test", transport=httpx.MockTransport(handler))
    return HttpModelsApi(client, token=TOKEN, policy=RetryPolicy(max_retries=0))


def logs(*entries: Any) -> httpx.Response:
    return httpx.Response(200, json={"logs": list(entries)})


def test_asks_for_the_latest_lines_and_shows_them_oldest_first() -> None:
    seen: list[httpx.Request] = []
    reply = logs(
        {"timestamp": "2026-01-01T00:00:03Z", "message": "third"},
        {"timestamp": "2026-01-01T00:00:02Z", "message": "second"},
        {"timestamp": "2026-01-01T00:00:01Z", "message": "first"},
    )
    with make_api(reply, seen) as api:
        lines = api.deployment_logs(USER, "dep/1", limit=5)
    assert lines == (
        "2026-01-01T00:00:01Z first",
        "2026-01-01T00:00:02Z second",
        "2026-01-01T00:00:03Z third",
    )
    (request,) = seen
    assert request.url.raw_path.startswith(b"/v1/observability/deployments/dep%2F1/logs?")
    assert dict(request.url.params) == {
        "userId": USER,
        "limit": "5",
        "direction": "LOG_DIRECTION_BACKWARD",
    }


def test_control_characters_are_stripped_and_secrets_scrubbed() -> None:
    seen: list[httpx.Request] = []
    reply = logs(
        {"message": f"\x1b[2Jkey {API_KEY} token {TOKEN}\r\nforged line"},
        {"timestamp": "t\x07", "message": "x" * 1000},
        {"message": ""},
        {"message": 5},
        "not an object",
    )
    with make_api(reply, seen) as api:
        api.list_models(USER)  # an apiKey seen in this run
        lines = api.deployment_logs(USER, "dep-1", limit=5)
    assert len(lines) == 2
    assert len(lines[0]) == 300 and lines[0].startswith("t x")
    assert lines[1] == "[2Jkey [redacted] token [redacted]forged line"
    for line in lines:
        assert line.isprintable()


def test_only_limit_entries_are_kept_even_if_the_api_sends_more() -> None:
    seen: list[httpx.Request] = []
    reply = logs(*({"message": f"m{n}"} for n in range(9, 0, -1)))
    with make_api(reply, seen) as api:
        assert api.deployment_logs(USER, "dep-1", limit=3) == ("m7", "m8", "m9")


@pytest.mark.parametrize("status", [404, 501])
def test_an_api_without_the_endpoint_gives_no_lines(status: int) -> None:
    seen: list[httpx.Request] = []
    reply = httpx.Response(status, json={"code": 12, "message": "Not Implemented"})
    with make_api(reply, seen) as api:
        assert api.deployment_logs(USER, "dep-1", limit=5) == ()


def test_other_failures_are_raised_for_the_caller_to_log() -> None:
    seen: list[httpx.Request] = []
    failing = make_api(httpx.Response(500, json={"code": 13}), seen)
    with failing as api, pytest.raises(ApiServerError):
        api.deployment_logs(USER, "dep-1", limit=5)
    malformed = make_api(httpx.Response(200, json={"logs": {}}), seen)
    with malformed as api, pytest.raises(ApiMalformedError, match="`logs` is not a list"):
        api.deployment_logs(USER, "dep-1", limit=5)
