"""A long-running reconcile loop does not grow: what pass 300 keeps is what pass 50 kept.

The loop is wired as `reconcile --interval` wires it (run_passes, run_pass, one
session and its one HTTP client for the whole loop), with the real HttpModelsApi over an
httpx.MockTransport that lists the models a FakeApi holds.
"""

from __future__ import annotations

import gc
import json
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler import pipeline, reconcile
from reconciler.adapters.http_api import HttpModelsApi
from reconciler.apply import ApplyOptions
from reconciler.core.model import SECRET_FIELDS
from reconciler.core.pass_report import PassReport
from reconciler.session import Session, Settings
from tests.support.fake_api import USER, FakeApi
from tests.test_reconcile import MANIFEST

ENV = {"TENSORMESH_USER_ID": USER}
MODELS = 10
FIRST, LAST = 50, 300  # measure what passes 51..300 left behind
# One pass's leak was a list body and its parse (~1 kB a model): 250 passes leak megabytes.
MARGIN = 256 * 1024


PRICES = json.dumps(
    {
        "pricing": [
            {
                "gpuType": gpu,
                "cloudProvider": "CLOUD_PROVIDER_NEBIUS",
                "hourlyRate": {"currencyCode": "USD", "units": "2", "nanos": 490000000},
                "isActive": True,
            }
            for gpu in ("GPU_TYPE_A100", "GPU_TYPE_H100", "GPU_TYPE_H200", "GPU_TYPE_B200")
        ]
    }
).encode()


def _list_models_body(api: FakeApi) -> bytes:
    """GET /v1/models as the control plane answers it, for what the FakeApi holds."""
    sent = {call.model_name: call.body() for call in api.deploy_calls}
    models = []
    for live in api.models.values():
        body = {k: v for k, v in sent[live.model_name].items() if k not in SECRET_FIELDS}
        models.append({**body, "modelId": live.model_id, "status": live.status})
    return json.dumps({"models": models}).encode()


@pytest.fixture
def _gc_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


@pytest.mark.slow
@pytest.mark.usefixtures("_gc_restored")
def test_retained_memory_is_flat_over_hundreds_of_passes(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for i in range(MODELS):
        (manifests / f"m{i}.yaml").write_text(MANIFEST.format(name=f"m{i}", extra=""))
    state_path = str(tmp_path / "state.json")
    fake, stop = FakeApi(), threading.Event()
    settings = Settings.resolve(ENV, state_path=state_path)
    applied = pipeline.run_apply(
        [str(manifests)],
        Session(settings, api=fake, stop=stop),
        prune=False,
        carry=pipeline.Carry(ApplyOptions(wait=False)),
    )
    assert not applied.result.failed
    listing = _list_models_body(fake)

    def answer(request: httpx.Request) -> httpx.Response:
        # A pass makes two calls: the list, and the one price read of its live spend.
        body = {"/v1/models": listing, "/v1/billing/gpu-pricing": PRICES}[request.url.path]
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    # One session for the whole loop, as `reconcile --interval` keeps: one client.
    client = httpx.Client(base_url="https://cp.test", transport=httpx.MockTransport(answer))
    session = Session(settings, api=HttpModelsApi(client, token="test-token"))

    retained: dict[int, int] = {}

    def run_one(number: int) -> PassReport:
        # Measured as the pass starts: the previous one has ended and been released.
        if number == FIRST + 1:
            tracemalloc.start()
        elif number == LAST + 1:
            retained[LAST] = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            stop.set()
        report = reconcile.run_pass(
            number, [str(manifests)], session, options=reconcile.PassOptions()
        )
        assert report.ok, report.error
        assert not report.drift
        return report

    try:
        reconcile.run_passes(run_one, once=False, interval=0.0, stop=stop, emit=lambda r: None)
    finally:
        tracemalloc.stop()
    assert retained[LAST] < MARGIN, f"{retained[LAST]} bytes kept by passes {FIRST + 1}..{LAST}"
