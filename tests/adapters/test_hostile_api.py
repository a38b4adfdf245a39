"""The client against a hostile control plane on loopback (tests/support/hostile_api.py).

Every case ends in one of our errors, bounded in time by the per-attempt deadline,
with nothing raw (IDs, secrets, control characters) in what it says.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.adapters.http_api import HttpModelsApi, connect
from reconciler.core.errors import (
    ApiAuthError,
    ApiError,
    ApiInvalidError,
    ApiMalformedError,
    ApiTimeoutError,
    UsageError,
)
from reconciler.core.model import DeployRequest
from tests.support.hostile_api import (
    Behaviour,
    HostileApi,
    Request,
    answer,
    answer_json,
    drip,
    endless,
)

TOKEN = "tok-HOSTILE-5f4e3d2c1b"
API_KEY = "sk-returned-7a6b5c4d3e"
HF_TOKEN = "hf_sent_1a2b3c4d5e"
USER = "3f0c6d2e-0000-4000-8000-000000000001"
ENV = {
    "TENSORMESH_CONTROL_PLANE_TOKEN": TOKEN,
    "TENSORMESH_TIMEOUT_SECONDS": "1",  # the per-attempt deadline every case runs under
    "TENSORMESH_RETRY_BUDGET": "0",  # one attempt: a hang shows as one deadline, not six
}


def request(name: str = "llama-8b-chat") -> DeployRequest:
    return DeployRequest(
        name, USER, {"gpuCount": 1, "gpuType": "GPU_TYPE_H100"}, {"hfToken": HF_TOKEN}
    )


def model(**fields: Any) -> dict[str, Any]:
    return {"modelId": "m-1", "modelName": "llama-8b-chat", "status": "MODEL_STATUS_INIT", **fields}


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[HostileApi] = []
    clients: list[HttpModelsApi] = []

    def start(behaviour: Behaviour, **env: str) -> tuple[HostileApi, HttpModelsApi]:
        server = HostileApi(behaviour).__enter__()
        servers.append(server)
        api = connect(server.url, environ={**ENV, **env})
        clients.append(api)
        return server, api

    yield start
    for api in clients:
        api.close()
    for server in servers:
        server.close()


def assert_says_nothing_raw(error: BaseException, *raw: str) -> None:
    text = str(error)
    for value in raw:
        assert value not in text
    assert text.isprintable()


# -- time ----------------------------------------------------------------------------------


def test_a_dripped_body_ends_at_the_deadline(serve: Any) -> None:
    stop = threading.Event()

    def behaviour(req: Request, sock: socket.socket) -> None:
        # 200 bytes at a byte per 0.1 s: each read sees progress, the whole takes 20 s.
        drip(sock, json.dumps(model(description="x" * 150)).encode(), every=0.1, stop=stop)

    server, api = serve(behaviour)
    try:
        with pytest.raises(ApiTimeoutError) as caught:
            api.deploy_model(request())
    finally:
        stop.set()
    assert "deadline" in str(caught.value)
    assert len(server.requests) == 1  # a deploy is never sent twice


def test_dripped_headers_end_at_the_deadline(serve: Any) -> None:
    def behaviour(req: Request, sock: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            sock.sendall(bytes([byte]))
            if server_stop.wait(0.1):
                return

    server_stop = threading.Event()
    _, api = serve(behaviour)
    try:
        with pytest.raises(ApiTimeoutError):
            api.whoami()
    finally:
        server_stop.set()


def test_an_answer_that_never_comes_ends_at_the_deadline(serve: Any) -> None:
    _, api = serve(lambda req, sock: None)  # reads the request, says nothing
    with pytest.raises(ApiTimeoutError) as caught:
        api.deploy_model(request())
    assert "outcome unknown" in str(caught.value)


# -- size ----------------------------------------------------------------------------------


def test_a_body_announced_over_the_cap_is_refused_unread(serve: Any) -> None:
    server, api = serve(lambda req, sock: endless(sock, announce=400_000_000, stop=server.stop))
    with pytest.raises(ApiMalformedError) as caught:
        api.whoami()
    assert "400000000 bytes" in str(caught.value)
    assert "33554432-byte cap" in str(caught.value)


def test_an_endless_chunked_body_is_refused_at_the_cap(serve: Any) -> None:
    server, api = serve(
        lambda req, sock: endless(sock, announce=None, stop=server.stop),
        TENSORMESH_MAX_RESPONSE_BYTES="1048576",
        TENSORMESH_TIMEOUT_SECONDS="30",
    )
    with pytest.raises(ApiMalformedError) as caught:
        api.list_models(USER)
    assert "over the 1048576-byte cap" in str(caught.value)


def test_a_gzip_bomb_is_refused_at_the_cap(serve: Any) -> None:
    bomb = gzip.compress(b"[" + b" " * 8_000_000 + b"]")

    def behaviour(req: Request, sock: socket.socket) -> None:
        answer(sock, 200, bomb, headers={"Content-Encoding": "gzip"})

    _, api = serve(behaviour, TENSORMESH_MAX_RESPONSE_BYTES="1048576")
    assert len(bomb) < 1048576
    with pytest.raises(ApiMalformedError, match="over the 1048576-byte cap"):
        api.list_models(USER)


# -- content -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json {",
        b'{"modelId": "m-1", "gpuCount": NaN}',
        b'{"modelId": "m-1", "gpuCount": Infinity}',
        b'{"modelId": "m-1", "modelSpec": {"x": 1e999}}',
        b'{"modelId": "m-1", "gpuCount": ' + b"9" * 5000 + b"}",
        b'{"modelId": "m-1", "replicas": ' + b"1" * 5000 + b"}",
        b'{"modelId": "m-1", "modelSpec": {"a": [' + b"7" * 5000 + b"]}}",
        b'{"modelId": "m-1", "gpuCount": "' + b"9" * 5000 + b'"}',
        b'{"modelId": "m-1", "gpuCount": "99999999999999999999"}',
        b'{"modelId": "m-1", "gpuCount": "\xc2\xb2"}',
        b'{"model": ' * 100_000 + b"1" + b"}" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'["a list, not an object"]',
    ],
    ids=[
        "not-json",
        "nan",
        "infinity",
        "float-overflow",
        "5000-digit-int",
        "5000-digit-replicas",
        "5000-digit-nested",
        "5000-digit-string",
        "over-int64-string",
        "superscript-digit",
        "deep-object",
        "deep-list",
        "not-an-object",
    ],
)
def test_an_unusable_deploy_answer_is_malformed(serve: Any, body: bytes) -> None:
    server, api = serve(lambda req, sock: answer(sock, 200, body))
    with pytest.raises(ApiMalformedError) as caught:
        api.deploy_model(request())
    assert_says_nothing_raw(caught.value, "9" * 100, "1" * 100, "7" * 100)
    assert len(server.requests) == 1


HOSTILE_IDS = [
    "../../v1/models",
    "a/b",
    "a\\b",
    "id with space",
    "id\nX-Injected: 1",
    "\x1b[31mred\x1b[0m",
    "m" * 129,
    "..",
    "",
    "\u202eevil",
]


ID_CASES = [
    (field, hostile)
    for field in ("modelId", "deploymentId")
    for hostile in HOSTILE_IDS
    if hostile or field == "modelId"  # an empty deploymentId means "none yet"
]


@pytest.mark.parametrize(("field", "hostile"), ID_CASES, ids=range(len(ID_CASES)))
def test_an_id_that_is_not_a_plain_identifier_is_malformed(
    serve: Any, field: str, hostile: str
) -> None:
    _, api = serve(lambda req, sock: answer_json(sock, 200, {"model": model(**{field: hostile})}))
    with pytest.raises(ApiMalformedError) as caught:
        api.deploy_model(request())
    if hostile:
        assert_says_nothing_raw(caught.value, hostile)


@pytest.mark.parametrize("hostile", [5, None, ["m-1"], {"id": "m-1"}, True])
def test_a_model_id_of_another_type_is_malformed(serve: Any, hostile: Any) -> None:
    _, api = serve(lambda req, sock: answer_json(sock, 200, model(modelId=hostile)))
    with pytest.raises(ApiMalformedError):
        api.deploy_model(request())


def test_a_hostile_model_in_a_listing_is_malformed(serve: Any) -> None:
    listing = {"models": [model(), model(modelId="../evil")]}
    _, api = serve(lambda req, sock: answer_json(sock, 200, listing))
    with pytest.raises(ApiMalformedError):
        api.list_models(USER)


def test_a_hostile_user_id_from_the_profile_is_malformed(serve: Any) -> None:
    _, api = serve(lambda req, sock: answer_json(sock, 200, {"user": {"id": "u/../../x"}}))
    with pytest.raises(ApiMalformedError) as caught:
        api.whoami()
    assert_says_nothing_raw(caught.value, "u/../../x")


def test_control_characters_in_api_text_are_stripped(serve: Any) -> None:
    events = [{"log": "pulling\x1b[2J\x07 image\r\nFAKE: line", "eventType": "X\x00Y"}]
    body = model(status="MODEL_STATUS_UP\x1b]0;pwned\x07", events=events, modelName="a\x1bb")
    _, api = serve(lambda req, sock: answer_json(sock, 200, body))
    live = api.deploy_model(request())
    texts = [live.status, live.model_name, *(e.log for e in live.events)]
    texts += [e.event_type for e in live.events]
    assert all(text.isprintable() for text in texts), texts
    assert live.status == "MODEL_STATUS_UP]0;pwned"
    assert live.model_name == "a\ufffdb"  # never equal to a manifest name by stripping


def test_control_characters_in_a_server_message_are_stripped(serve: Any) -> None:
    message = "bad\x1b[31m field\r\nX-Fake: 1\u202e"
    _, api = serve(
        lambda req, sock: answer_json(
            sock, 400, {"code": 3, "message": message}, headers={"X-Request-Id": "r\x1b1"}
        )
    )
    with pytest.raises(ApiInvalidError) as caught:
        api.deploy_model(request())
    assert str(caught.value).isprintable()
    assert "bad[31m fieldX-Fake: 1" in str(caught.value)
    assert caught.value.request_id == "r1"


# -- redirects and auth --------------------------------------------------------------------


def test_a_redirect_is_not_followed_and_says_where_it_pointed(serve: Any) -> None:
    def behaviour(req: Request, sock: socket.socket) -> None:
        answer(sock, 307, b"", headers={"Location": "https://elsewhere.test/v1/models"})

    server, api = serve(behaviour)
    with pytest.raises(ApiError) as caught:
        api.deploy_model(request())
    assert caught.value.status == 307
    assert "https://elsewhere.test/v1/models" in str(caught.value)
    assert "not followed" in str(caught.value)
    assert str(caught.value).isprintable()
    assert [r.method for r in server.requests] == ["POST"]


def test_a_redirect_to_an_unreadable_location_is_a_clean_error(serve: Any) -> None:
    def behaviour(req: Request, sock: socket.socket) -> None:
        answer(sock, 302, b"", headers={"Location": "https://elsewhere.test/\x1b[2J"})

    server, api = serve(behaviour)
    with pytest.raises(ApiError) as caught:
        api.deploy_model(request())
    assert str(caught.value).isprintable()
    assert [r.method for r in server.requests] == ["POST"]


def test_a_401_after_a_200_is_an_auth_error(serve: Any) -> None:
    answers = iter([200, 401])

    def behaviour(req: Request, sock: socket.socket) -> None:
        if next(answers) == 200:
            answer_json(sock, 200, {"user": {"id": USER}})
        else:
            answer_json(sock, 401, {"code": 16, "message": f"token {TOKEN} expired"})

    _, api = serve(behaviour)
    assert api.whoami() == USER
    with pytest.raises(ApiAuthError) as caught:
        api.list_models(USER)
    assert_says_nothing_raw(caught.value, TOKEN)
    assert "[redacted]" in str(caught.value)


# -- secrets -------------------------------------------------------------------------------


def test_an_api_key_returned_earlier_is_scrubbed_from_a_later_message(serve: Any) -> None:
    def behaviour(req: Request, sock: socket.socket) -> None:
        if req.method == "POST":
            answer_json(sock, 200, {"model": model(apiKey=API_KEY)})
        else:
            message = f"model m-1 (key {API_KEY}, escaped {json.dumps(API_KEY)[1:-1]}) is busy"
            answer_json(sock, 500, {"code": 13, "message": message})

    _, api = serve(behaviour)
    api.deploy_model(request())
    with pytest.raises(ApiError) as caught:
        api.get_model(USER, "m-1")
    assert_says_nothing_raw(caught.value, API_KEY)
    assert "[redacted]" in str(caught.value)


def test_secrets_echoed_in_their_escaped_forms_are_scrubbed(serve: Any) -> None:
    secret = 'hf_"quoted"\\x'
    message = f"bad token {json.dumps(secret)[1:-1]} / {secret!r} / {secret}"
    _, api = serve(lambda req, sock: answer_json(sock, 400, {"message": message}))
    sent = DeployRequest("a", USER, {}, {"hfToken": secret})
    with pytest.raises(ApiInvalidError) as caught:
        api.deploy_model(sent)
    assert_says_nothing_raw(caught.value, secret, json.dumps(secret)[1:-1], repr(secret)[1:-1])


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "1e999", "soon", "3s"])
def test_a_bad_timeout_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="TENSORMESH_TIMEOUT_SECONDS"):
        connect("http://127.0.0.1:9", environ={**ENV, "TENSORMESH_TIMEOUT_SECONDS": value})


@pytest.mark.parametrize("value", ["0", "-5", "10", "32MiB", "1e9", "9" * 30])
def test_a_bad_body_cap_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="TENSORMESH_MAX_RESPONSE_BYTES"):
        connect("http://127.0.0.1:9", environ={**ENV, "TENSORMESH_MAX_RESPONSE_BYTES": value})


def test_a_missing_ca_bundle_is_a_usage_error(tmp_path: Any) -> None:
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(UsageError, match="TENSORMESH_CA_BUNDLE") as caught:
        connect("https://127.0.0.1:9", environ={**ENV, "TENSORMESH_CA_BUNDLE": missing})
    assert "no such file" in str(caught.value)


def test_a_ca_bundle_that_is_no_certificate_is_a_usage_error(tmp_path: Any) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(UsageError, match="TENSORMESH_CA_BUNDLE"):
        connect("https://127.0.0.1:9", environ={**ENV, "TENSORMESH_CA_BUNDLE": str(junk)})


@pytest.mark.parametrize("token", ["abc\r\ndef", "abc\ndef", "t\u00f6ken", "a b", "tok\x00"])
def test_a_token_with_control_or_non_ascii_characters_is_refused_unechoed(token: str) -> None:
    with pytest.raises(UsageError) as caught:
        connect("http://127.0.0.1:9", environ={**ENV, "TENSORMESH_CONTROL_PLANE_TOKEN": token})
    assert token not in str(caught.value)
    assert repr(token)[1:-1] not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://a\nb", "http://host/\x1b", "http://h\u00f6st", "http://a b"]
)
def test_a_url_with_control_characters_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="control"):
        connect(url, environ=ENV)
