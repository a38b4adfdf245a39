"""Generated API answers through the response parser: only our errors may escape.

Hypothesis builds JSON-ish answers (models with every field of any type, huge and
non-finite numbers, control characters, deep nesting, junk bytes) and feeds them to
`live_model.parse_model` and `parse_brief` (which must agree) and, as raw bytes over
httpx.MockTransport, to the client's deploy, list (in full and brief), get and whoami.
Each either parses to a LiveModel whose IDs are plain identifiers and whose texts are
printable, or raises an ApiError.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.adapters import live_model
from reconciler.adapters.http_api import HttpModelsApi
from reconciler.adapters.retry import RetryPolicy
from reconciler.core.errors import ApiError
from reconciler.core.model import DeployRequest, KnownModels, LiveModel
from tests.support.examples import examples

USER = "3f0c6d2e-0000-4000-8000-000000000001"
FIELDS = [
    "modelId",
    "deploymentId",
    "modelName",
    "status",
    "gpuCount",
    "gpuType",
    "replicas",
    "events",
    "modelSpec",
    "infra",
    "description",
    "modelPath",
    "userId",
    "endpoint",
    "apiKey",
    "createdAt",
]


class Digits(str):
    """A number written out as is (Python cannot format a 5000-digit int)."""


def to_json(value: Any) -> str:
    if isinstance(value, Digits):
        return str.__str__(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


texts = st.text(max_size=40) | st.sampled_from(
    ["m-1", "../x", "a/b", "\x1b[2J", "x" * 200, "MODEL_STATUS_UP", "GPU_TYPE_UNSPECIFIED", "²"]
)
numbers = (
    st.integers()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(19, 6000).map(lambda n: Digits("9" * n))
    | st.integers(19, 6000).map(lambda n: "9" * n)  # the int64-as-string form, too long
)
leaves = st.none() | st.booleans() | numbers | texts
json_ish = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | texts, children, max_size=5)
    ),
    max_leaves=20,
)
models = st.dictionaries(st.sampled_from(FIELDS), json_ish, max_size=len(FIELDS)) | json_ish
answers = (
    models.map(lambda m: {"model": m})
    | models
    | st.lists(models, max_size=3).map(lambda ms: {"models": ms})
    | st.builds(lambda u: {"user": {"id": u}}, json_ish)
)


def assert_clean(live: LiveModel) -> None:
    assert live_model.PLAIN_ID.fullmatch(live.model_id)
    assert live.deployment_id is None or live_model.PLAIN_ID.fullmatch(live.deployment_id)
    for text in (live.status, live.model_name, *(e.log for e in live.events)):
        assert text.isprintable()
    assert -(2**63) <= live.replicas < 2**63


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models)
def test_parse_model_raises_only_our_error(obj: Any) -> None:
    try:
        live = live_model.parse_model(obj, call="test")
    except ApiError:
        return
    assert_clean(live)


SHOWN = ("model_id", "model_name", "status", "user_id", "endpoint", "created_at", "updated_at")


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models)
def test_a_brief_parse_refuses_no_more_than_the_full_one_and_agrees_on_what_it_reads(
    obj: Any,
) -> None:
    try:
        full = live_model.parse_model(obj, call="test")
    except ApiError:
        full = None
    try:
        brief = live_model.parse_brief(obj, call="test")
    except ApiError:
        assert full is None  # a model the full parse accepts is never refused brief
        return
    assert_clean(brief)
    if full is not None:
        assert [getattr(brief, f) for f in SHOWN] == [getattr(full, f) for f in SHOWN]


def client_answering(body: bytes) -> HttpModelsApi:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    client = httpx.Client(base_url="https://cp.test", transport=httpx.MockTransport(handler))
    return HttpModelsApi(
        client, token="tok-fuzz-123456", policy=RetryPolicy(max_retries=0), sleep=lambda s: None
    )


def call_everything(api: HttpModelsApi) -> None:
    calls = [
        lambda: api.deploy_model(DeployRequest("a", USER, {"gpuCount": 1}, {})),
        lambda: api.list_models(USER),
        lambda: api.list_models(USER, known=KnownModels()),  # every model brief
        lambda: api.list_models(USER, known=KnownModels(frozenset({"m-1"}), frozenset({"m-1"}))),
        lambda: api.get_model(USER, "m-1"),
        api.whoami,
    ]
    for call in calls:
        try:
            result = call()
        except ApiError:
            continue
        for live in result if isinstance(result, list) else [result]:
            if isinstance(live, LiveModel):
                assert_clean(live)
            else:
                assert live_model.PLAIN_ID.fullmatch(live)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers)
def test_generated_answers_through_the_client_raise_only_our_errors(answer: Any) -> None:
    call_everything(client_answering(to_json(answer).encode()))


@settings(max_examples=examples(100), deadline=None)
@given(st.binary(max_size=200) | st.integers(1, 200_000).map(lambda n: b"[" * n))
def test_junk_bytes_through_the_client_raise_only_our_errors(body: bytes) -> None:
    call_everything(client_answering(body))
