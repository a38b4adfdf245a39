"""core.desired: building DesiredModels and the digest of a desired set."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from reconciler.core import desired
from reconciler.core.model import (
    DesiredModel,
    Location,
    ReconcilePolicy,
    SecretRef,
    SecretSource,
)
from reconciler.core.spec import spec_digest

SPEC: dict[str, Any] = {
    "modelPath": "m/p",
    "gpuType": "GPU_TYPE_A100",
    "gpuCount": 1,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_YOTTA", "onpremRegion": ""},
    "kvCacheEnabled": False,
    "apiKey": {"fromEnv": "KEY"},
    "hfToken": {"fromFile": "secrets/hf"},
}


def make(name: str = "a", spec: dict[str, Any] | None = None, **kwargs: Any) -> DesiredModel:
    options: dict[str, Any] = {
        "labels": {},
        "policy": ReconcilePolicy(),
        "location": Location("m.yaml", 4, 9),
        "base_dir": "manifests",
    }
    options.update(kwargs)
    return desired.make_desired(name=name, spec=SPEC if spec is None else spec, **options)


def test_spec_is_normalised_without_secrets_and_digested() -> None:
    model = make()
    assert model.spec == {
        "modelPath": "m/p",
        "gpuType": "GPU_TYPE_A100",
        "gpuCount": 1,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_YOTTA"},
    }
    assert model.spec_digest == spec_digest(model.spec)
    assert model.secrets == (
        SecretRef("apiKey", SecretSource.FROM_ENV, "KEY", base_dir="manifests"),
        SecretRef("hfToken", SecretSource.FROM_FILE, "secrets/hf", base_dir="manifests"),
    )
    assert model.location == Location("m.yaml", 4, 9)


def test_false_and_absent_fields_give_the_same_digest() -> None:
    without_flag = {k: v for k, v in SPEC.items() if k != "kvCacheEnabled"}
    assert make(spec=without_flag).spec_digest == make().spec_digest


def test_manifests_digest_is_order_independent_and_ignores_positions() -> None:
    a, b = make("a"), make("b")
    moved = replace(a, location=Location("elsewhere.yaml", 99, 1))
    assert desired.manifests_digest([a, b]) == desired.manifests_digest([b, moved])


@pytest.mark.parametrize(
    "changed",
    [
        make("a", spec={**SPEC, "gpuCount": 2}),
        make("a", spec={**SPEC, "apiKey": {"fromEnv": "OTHER"}}),
        make("a", base_dir="elsewhere"),
        make("a", labels={"team": "x"}),
        make("a", policy=ReconcilePolicy(self_heal=False)),
        make("renamed"),
    ],
)
def test_manifests_digest_changes_with_any_desired_change(changed: DesiredModel) -> None:
    assert desired.manifests_digest([make("a")]) != desired.manifests_digest([changed])


def test_manifests_digest_is_stable() -> None:
    digest = desired.manifests_digest([make("a")])
    assert digest == desired.manifests_digest([make("a")])
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
