from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import persistence
from reconciler.sandbox.problems import ApiProblem
from reconciler.sandbox.records import StoredModel
from reconciler.sandbox.store import ModelStore
from reconciler.sandbox.validation import validate_deploy
from tests.sandbox.clock import FakeClock

USER = "u1"


def _body(name: str = "llama", **extra: Any) -> Any:
    request = {
        "modelName": name,
        "modelPath": "meta/x",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 1,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        "hfToken": "hf_TOPSECRET",
        **extra,
    }
    return validate_deploy(request)


def _store(clock: FakeClock, **kwargs: Any) -> ModelStore:
    return ModelStore(clock=clock, ready_after=3, deleted_linger=60, **kwargs)


def test_create_then_status_moves_with_the_clock() -> None:
    clock = FakeClock()
    store = _store(clock)
    model = store.create_model(USER, _body(), fail=False)
    assert model.ready_at == clock.now + 3
    assert store.list_models(USER) == [model]
    assert store.list_models("someone-else") == []
    assert store.creates == {"llama": 1}


def test_a_taken_name_is_409_until_deleted_then_free_at_once() -> None:
    clock = FakeClock()
    store = _store(clock)
    first = store.create_model(USER, _body(), fail=False)
    with pytest.raises(ApiProblem) as caught:
        store.create_model(USER, _body(), fail=False)
    assert (caught.value.status, caught.value.code) == (409, 6)
    store.delete_model(USER, first.model_id)
    second = store.create_model(USER, _body(), fail=False)
    assert {m.model_id for m in store.list_models(USER)} == {first.model_id, second.model_id}


def test_deleted_models_linger_then_vanish() -> None:
    clock = FakeClock()
    store = _store(clock)
    model = store.create_model(USER, _body(), fail=False)
    store.delete_model(USER, model.model_id)
    clock.advance(59)
    assert store.get_model(USER, model.model_id).deleted_at is not None
    with pytest.raises(ApiProblem, match="already deleted"):
        store.delete_model(USER, model.model_id)
    clock.advance(1)
    assert store.list_models(USER) == []
    with pytest.raises(ApiProblem) as caught:
        store.get_model(USER, model.model_id)
    assert caught.value.status == 404


def test_patch_changes_spec_out_of_band_and_refuses_identities() -> None:
    clock = FakeClock()
    store = _store(clock)
    model = store.create_model(USER, _body(), fail=False)
    clock.advance(5)
    patched = store.patch_model(model.model_id, {"gpuCount": "4", "replicas": 2})
    assert patched.spec["gpuCount"] == 4
    assert patched.replicas == 2
    assert patched.patched_at == clock.now
    with pytest.raises(ApiProblem, match="modelId: cannot be patched"):
        store.patch_model(model.model_id, {"modelId": "x"})


def test_force_status_fails_a_model() -> None:
    store = _store(FakeClock())
    model = store.create_model(USER, _body(), fail=False)
    assert store.force_status(model.model_id, "MODEL_STATUS_FAILED").forced_status == (
        "MODEL_STATUS_FAILED"
    )


def test_api_keys_are_generated_stable_and_never_persisted(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    saved: list[list[StoredModel]] = []
    store = _store(
        FakeClock(),
        on_change=lambda models: (saved.append(models), persistence.save_models(path, models)),
    )
    model = store.create_model(USER, _body(apiKey="user_KEY_SECRET"), fail=False)
    key = store.api_key(model.model_id)
    assert key.startswith("tmk-") and store.api_key(model.model_id) == key
    text = path.read_text()
    for secret in ("hf_TOPSECRET", "user_KEY_SECRET", key):
        assert secret not in text
    assert saved and persistence.load_models(path) == saved[-1]
    assert json.loads(text)["version"] == 1


def test_a_corrupt_data_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("{not json")
    with pytest.raises(
        persistence.SandboxDataError, match=r"cannot load sandbox data from .*remove"
    ):
        persistence.load_models(path)
    assert persistence.load_models(tmp_path / "missing.json") == []
