"""A listing read with KnownModels: the known models in full, every other one brief.

What is checked when: every listed model's modelId (a plain identifier) and the texts it
shows, always; a known model's other fields, its nesting depth and nested apiKeys, when
it is read in full. Every model's own apiKey is scrubbed from later messages either way.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.adapters import http_api
from reconciler.adapters.http_api import HttpModelsApi
from reconciler.adapters.http_settings import NetworkSettings
from reconciler.adapters.retry import RetryPolicy
from reconciler.core.errors import ApiError, ApiMalformedError, UsageError
from reconciler.core.model import KnownModels

USER = "3f0c6d2e-0000-4000-8000-000000000001"
API_KEY = "sk-unmanaged-4c3b2a1f0e"
KNOWN = KnownModels(model_ids=frozenset({"m-recorded"}), names=frozenset({"desired"}))
JUNK = {"gpuCount": "99999999999999999999", "deploymentId": "../evil", "events": "junk"}


def model(model_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "modelId": model_id,
        "modelName": name,
        "status": "MODEL_STATUS_UP",
        "gpuCount": "2",
        "gpuType": "GPU_TYPE_H100",
        "endpoint": f"https://{name}.example/v1",
        **fields,
    }


def api_answering(*bodies: Any) -> HttpModelsApi:
    """An API whose calls get `bodies` in turn (a dict: 200 with it; a str: a 500 saying it)."""
    replies = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        body = replies.pop(0)
        if isinstance(body, str):
            return httpx.Response(500, json={"code": 13, "message": body})
        return httpx.Response(200, json=body, headers={"x-request-id": "req-list"})

    client = httpx.Client(base_url="https://cp.test", transport=httpx.MockTransport(handler))
    return HttpModelsApi(client, token="tok-1a2b3c4d", policy=RetryPolicy(max_retries=0))


def listed(*models: dict[str, Any]) -> dict[str, Any]:
    return {"models": list(models)}


def test_known_models_are_read_in_full_and_the_others_brief() -> None:
    api = api_answering(
        listed(
            model("m-recorded", "renamed"),
            model("m-2", "desired"),
            model("m-3", "foreign", apiKey=API_KEY),
        )
    )
    by_name = {live.model_name: live for live in api.list_models(USER, known=KNOWN)}
    assert not by_name["renamed"].brief and by_name["renamed"].spec["gpuCount"] == 2
    assert not by_name["desired"].brief and by_name["desired"].spec["gpuCount"] == 2
    foreign = by_name["foreign"]
    assert foreign.brief and foreign.spec == {}
    assert (foreign.model_id, foreign.status) == ("m-3", "MODEL_STATUS_UP")
    assert foreign.endpoint == "https://foreign.example/v1"


def test_without_known_every_model_is_read_in_full() -> None:
    api = api_answering(listed(model("m-3", "foreign")))
    (live,) = api.list_models(USER)
    assert not live.brief and live.spec["gpuCount"] == 2


def test_junk_in_an_unmanaged_model_is_not_read_so_not_refused() -> None:
    api = api_answering(listed(model("m-3", "foreign", **JUNK)))
    (live,) = api.list_models(USER, known=KNOWN)
    assert live.brief and live.model_id == "m-3"


@pytest.mark.parametrize(
    "known_model",
    [model("m-recorded", "any", **JUNK), model("m-2", "desired", gpuCount="²")],
    ids=["by-id", "by-name"],
)
def test_junk_in_a_known_model_is_refused(known_model: dict[str, Any]) -> None:
    api = api_answering(listed(model("m-3", "foreign"), known_model))
    with pytest.raises(ApiMalformedError) as caught:
        api.list_models(USER, known=KNOWN)
    text = str(caught.value)
    assert "GET /v1/models" in text and "malformed response" in text and "req-list" in text
    assert "evil" not in text and text.isprintable()


@pytest.mark.parametrize("hostile", ["../../v1/models", "a\x1b[2Jb", 7, None])
def test_a_hostile_model_id_is_refused_in_any_model(hostile: Any) -> None:
    api = api_answering(listed(model("m-recorded", "desired"), model(hostile, "foreign")))
    with pytest.raises(ApiMalformedError) as caught:
        api.list_models(USER, known=KNOWN)
    assert "../" not in str(caught.value) and str(caught.value).isprintable()


def test_a_known_model_nested_too_deep_is_refused_an_unmanaged_one_is_not_read() -> None:
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    api = api_answering(
        listed(model("m-3", "foreign", modelSpec={"a": deep})),
        listed(model("m-2", "desired", modelSpec={"a": deep})),
    )
    assert api.list_models(USER, known=KNOWN)[0].brief
    with pytest.raises(ApiMalformedError, match="nested deeper than 64"):
        api.list_models(USER, known=KNOWN)


def test_an_unmanaged_models_api_key_is_scrubbed_from_a_later_message() -> None:
    nested_key = "sk-nested-in-a-known-model-9f8e"
    api = api_answering(
        listed(
            model("m-3", "foreign", apiKey=API_KEY),
            model("m-2", "desired", modelSpec={"extra": {"apiKey": nested_key}}),
        ),
        f"model m-3 (key {API_KEY}, escaped {json.dumps(API_KEY)[1:-1]}) and {nested_key}",
    )
    listing = api.list_models(USER, known=KNOWN)
    assert all(API_KEY not in repr(live) for live in listing)
    with pytest.raises(ApiError) as caught:
        api.get_model(USER, "m-3")
    assert API_KEY not in str(caught.value) and nested_key not in str(caught.value)
    assert "[redacted]" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "proxies", "tls"),
    [
        ("http://127.0.0.1:8080", (), False),
        ("HTTP://sandbox:8080", (("http://", "http://proxy:3128"), ("all://x", None)), False),
        ("https://api.tensormesh.ai", (), True),
        ("http://127.0.0.1:8080", (("all://", "https://proxy:3128"),), True),
        ("http://127.0.0.1:8080", (("all://", "socks5://proxy:1080"),), True),
    ],
)
def test_a_ca_bundle_is_loaded_only_when_a_connection_may_be_tls(
    url: str, proxies: tuple[tuple[str, str | None], ...], tls: bool
) -> None:
    settings = NetworkSettings(proxies=proxies)
    assert http_api._uses_tls(url, settings) is tls


def test_plain_http_loads_no_trust_roots_but_still_checks_tensormesh_ca_bundle(
    tmp_path: Any,
) -> None:
    env = {"TENSORMESH_CONTROL_PLANE_TOKEN": "tok-1a2b3c4d"}
    missing = str(tmp_path / "nope.pem")
    # The generic variables only matter to TLS: not loaded, so not refused, for http://.
    http_api.connect("http://127.0.0.1:9", environ={**env, "SSL_CERT_FILE": missing}).close()
    with pytest.raises(UsageError, match="SSL_CERT_FILE"):
        http_api.connect("https://127.0.0.1:9", environ={**env, "SSL_CERT_FILE": missing})
    with pytest.raises(UsageError, match="TENSORMESH_CA_BUNDLE"):
        http_api.connect("http://127.0.0.1:9", environ={**env, "TENSORMESH_CA_BUNDLE": missing})
