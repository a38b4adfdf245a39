"""Golden files for what people read and pipelines parse: the text and JSON plan."""

from __future__ import annotations

from reconciler.core.model import Action, Intent, SecretRef, SecretSource
from reconciler.core.plan import make_plan
from reconciler.core.render_json import dumps, plan_to_json
from reconciler.core.render_text import render_plan
from reconciler.core.spec import fingerprint_secret
from tests.support.builders import SALT, desired, recorded, state
from tests.support.golden import assert_golden

HF = SecretRef("hfToken", SecretSource.FROM_ENV, "HF_TOKEN")


def sample_plan():
    chat = desired("llama-8b-chat", secrets=(HF,), kvCacheEnabled=True)
    qwen_old = desired(
        "qwen-32b",
        modelPath="Qwen/Qwen2.5-32B-Instruct",
        gpuCount=1,
        infra={"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU_NORTH1"},
    )
    qwen_new = desired(
        "qwen-32b",
        secrets=(HF,),
        modelPath="Qwen/Qwen2.5-32B-Instruct",
        gpuCount=2,
        infra={"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU_WEST1"},
    )
    mistral = desired("mistral-7b", modelPath="mistralai/Mistral-7B-Instruct-v0.3")
    resumed = desired("phi-4", modelPath="microsoft/phi-4", gpuType="GPU_TYPE_A100")
    st = state(
        recorded(qwen_old, "9b2f0c1e-0000-4000-8000-000000000002"),
        recorded(mistral, "9b2f0c1e-0000-4000-8000-000000000003"),
        recorded(desired("old-model"), "9b2f0c1e-0000-4000-8000-000000000004"),
        intents={"phi-4": Intent("phi-4", "phi-4", 1, Action.CREATE)},
    )
    fingerprints = {"qwen-32b": {"hfToken": fingerprint_secret(SALT, "hfToken", "hf_value")}}
    return make_plan([chat, qwen_new, mistral, resumed], st, prune=False, fingerprints=fingerprints)


def test_golden_plan_text():
    assert_golden("plan.txt", render_plan(sample_plan()))


def test_golden_plan_json():
    assert_golden("plan.json", dumps(plan_to_json(sample_plan())))


def test_text_has_summary_first_and_symbols():
    lines = render_plan(sample_plan()).splitlines()
    assert lines[0].startswith("Plan: 2 to create, 1 to replace, 0 to delete, 1 unchanged")
    assert any(line.startswith("+ llama-8b-chat") for line in lines)
    assert any(line.startswith("-/+ qwen-32b") for line in lines)
    assert any(line.startswith("- old-model") for line in lines)


def test_color_only_when_asked():
    assert "\x1b[" not in render_plan(sample_plan())
    assert "\x1b[32m" in render_plan(sample_plan(), color=True)


def test_json_matches_contract_shape():
    document = plan_to_json(sample_plan())
    by_name = {c["name"]: c for c in document["changes"]}
    assert by_name["llama-8b-chat"]["action"] == "create"
    assert by_name["qwen-32b"]["fields"] == ["gpuCount", "hfToken", "infra"]
    assert by_name["old-model"] == {
        "name": "old-model",
        "action": "delete",
        "modelId": "9b2f0c1e-0000-4000-8000-000000000004",
        "skipped": True,
        "reason": by_name["old-model"]["reason"],
    }
    assert by_name["mistral-7b"]["action"] == "noop"
    assert document["summary"] == {"create": 2, "replace": 1, "delete": 0, "noop": 1}
    secret = next(f for f in by_name["qwen-32b"]["fieldChanges"] if f["field"] == "hfToken")
    assert "before" not in secret and "after" not in secret
