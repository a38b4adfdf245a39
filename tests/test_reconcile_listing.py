"""A pass over a listing read through the real HTTP client: unmanaged models are read
brief, so junk in their unread fields no longer fails the pass; junk in a managed one
still does. And the cycle collector: off while a pass detects, on while it corrects.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import pipeline, reconcile
from reconciler.adapters.http_api import HttpModelsApi
from reconciler.apply import ApplyOptions
from reconciler.core.model import SECRET_FIELDS, DeployRequest, KnownModels, LiveModel
from reconciler.core.pass_report import PassReport
from reconciler.core.ports import ModelsApi
from reconciler.session import Session, Settings
from tests.support.fake_api import USER, FakeApi
from tests.test_reconcile import MANIFEST

ENV = {"TENSORMESH_USER_ID": USER}
JUNK = {"gpuCount": "99999999999999999999", "deploymentId": "../evil", "events": "junk"}


class Applied:
    """One manifest, `llama`, applied to a FakeApi; passes list it over HTTP."""

    def __init__(self, tmp_path: Path) -> None:
        self.manifests = tmp_path / "manifests"
        self.manifests.mkdir()
        (self.manifests / "llama.yaml").write_text(MANIFEST.format(name="llama", extra=""))
        self.state_path = str(tmp_path / "state.json")
        self.fake = FakeApi()
        self.run(self.fake, apply=True)

    def listed(self, **junk: Any) -> list[dict[str, Any]]:
        """What GET /v1/models answers for the applied model, with `junk` over it."""
        (sent,) = self.fake.deploy_calls
        (live,) = self.fake.models.values()
        body = {k: v for k, v in sent.body().items() if k not in SECRET_FIELDS}
        return [{**body, "modelId": live.model_id, "status": live.status, **junk}]

    def session(self, api: ModelsApi) -> Session:
        return Session(Settings.resolve(ENV, state_path=self.state_path), api=api)

    def run(self, api: ModelsApi, *, apply: bool = False) -> PassReport:
        if apply:
            run = pipeline.run_apply(
                [str(self.manifests)],
                self.session(api),
                prune=False,
                carry=pipeline.Carry(ApplyOptions(wait=False)),
            )
            assert not run.result.failed
        return reconcile.run_pass(
            1,
            [str(self.manifests)],
            self.session(api),
            options=reconcile.PassOptions(detect_only=True),
        )

    def pass_over(self, models: list[dict[str, Any]]) -> PassReport:
        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/v1/models":
                return httpx.Response(200, json={"models": models})
            return httpx.Response(404, json={"code": 5, "message": "no pricing here"})

        client = httpx.Client(base_url="https://cp.test", transport=httpx.MockTransport(answer))
        return self.run(HttpModelsApi(client, token="test-token"))


@pytest.fixture
def applied(tmp_path: Path) -> Applied:
    return Applied(tmp_path)


def test_junk_in_an_unmanaged_models_unread_fields_does_not_fail_the_pass(
    applied: Applied,
) -> None:
    foreign = {**applied.listed()[0], "modelId": "m-by-hand", "modelName": "by-hand", **JUNK}
    report = applied.pass_over([*applied.listed(), foreign])
    assert report.error is None
    (item,) = report.drift  # the managed model was read in full and compared: no drift
    assert (item.drift.name, item.drift.kind.value) == ("by-hand", "unmanaged")
    assert (item.drift.live_model_id, item.drift.status) == ("m-by-hand", "MODEL_STATUS_UP")


def test_junk_in_a_managed_model_still_fails_the_pass_with_a_clear_message(
    applied: Applied,
) -> None:
    report = applied.pass_over(applied.listed(**JUNK))
    assert report.error is not None
    assert "GET /v1/models" in report.error and "malformed response" in report.error
    assert "evil" not in report.error and report.error.isprintable()


def test_a_hostile_model_id_of_an_unmanaged_model_still_fails_the_pass(applied: Applied) -> None:
    foreign = {**applied.listed()[0], "modelId": "../../v1/models", "modelName": "by-hand"}
    report = applied.pass_over([*applied.listed(), foreign])
    assert report.error is not None and "modelId" in report.error
    assert "../" not in report.error


class WatchedApi(FakeApi):
    """Notes whether the cycle collector runs during each list and deploy."""

    collecting: list[tuple[str, bool]]

    def list_models(self, user_id: str, *, known: KnownModels | None = None) -> list[LiveModel]:
        self.collecting.append(("list", gc.isenabled()))
        return super().list_models(user_id, known=known)

    def deploy_model(self, request: DeployRequest) -> LiveModel:
        self.collecting.append(("deploy", gc.isenabled()))
        return super().deploy_model(request)


def test_the_collector_is_off_for_a_whole_detect_only_pass(applied: Applied) -> None:
    seen: list[bool] = []
    assert gc.isenabled()
    reconcile.run_pass(
        1,
        [str(applied.manifests)],
        applied.session(applied.fake),
        options=reconcile.PassOptions(
            detect_only=True, observe=lambda refresh, result: seen.append(gc.isenabled())
        ),
    )
    assert seen == [False]  # what the status page is handed, at the end of detection
    assert gc.isenabled()


def test_the_collector_runs_while_a_pass_corrects(applied: Applied) -> None:
    api = WatchedApi()  # knows nothing: the recorded model is missing, and redeployed
    api.collecting = []
    reconcile.run_pass(
        1, [str(applied.manifests)], applied.session(api), options=reconcile.PassOptions()
    )
    # Detection lists with it off; the correction looks the name up, then deploys.
    assert api.collecting[0] == ("list", False)
    assert ("deploy", True) in api.collecting
    assert all(on for call, on in api.collecting[1:])
    assert gc.isenabled()
