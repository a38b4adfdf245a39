"""Cost end to end: the real CLI against the real sandbox's pricing and balance, and offline
with --pricing FILE; feasibility, the budget refusal (no call made) and the balance warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import assert_clean_failure, run_cli, write_manifest
from tests.support.output_schemas import PLAN_OUTPUT, RECONCILE_OUTPUT, validate_output
from tests.support.sandbox import start_sandbox

OFFLINE = {
    "TENSORMESH_CONTROL_PLANE_TOKEN": "",
    "TENSORMESH_CONTROL_PLANE_BASE_URL": "http://127.0.0.1:9",
}


def _rate(gpu: str, provider: str, units: str, nanos: int, *, active: bool = True) -> dict:
    rate = {"currencyCode": "USD", "units": units, "nanos": nanos}
    return {"gpuType": gpu, "cloudProvider": provider, "hourlyRate": rate, "isActive": active}


def _pricing_file(folder: Path, rows: list[dict]) -> Path:
    path = folder / "prices.json"
    path.write_text(json.dumps({"pricing": rows}), encoding="utf-8")
    return path


def test_plan_prices_from_the_api_with_one_call(sandbox, tmp_path):
    manifests = tmp_path / "m"
    write_manifest(manifests, "small")
    write_manifest(manifests, "big", gpuType="GPU_TYPE_B200", gpuCount=4)
    before = sandbox.stats()["requests"]
    result = run_cli(
        ["plan", str(manifests), "--state", str(tmp_path / "s.json"), "--output", "json"],
        env=sandbox.env,
    )
    assert result.returncode == 0, result.stderr
    assert sandbox.stats()["requests"] - before == 1  # one GET /v1/billing/gpu-pricing
    document = json.loads(result.stdout)
    validate_output(PLAN_OUTPUT, document)  # the published schema describes the cost
    by_name = {c["name"]: c for c in document["changes"]}
    assert by_name["big"]["cost"]["hourly"] == [
        {"currency": "USD", "before": "0.00", "after": "22.00", "difference": "+22.00"}
    ]
    summary = document["summary"]["cost"]
    assert summary["source"] == "the pricing API"
    assert summary["hourly"][0]["after"] == "24.95"
    assert summary["monthly"][0]["after"] == "18213.50"

    text = run_cli(["plan", str(manifests), "--state", str(tmp_path / "s.json")], env=sandbox.env)
    assert "+ big" in text.stdout and "22.00 USD" in text.stdout
    assert "Total: 0.00 USD/h -> 24.95 USD/h (+24.95 USD/h)" in text.stdout


def test_plan_offline_with_pricing_file_and_without(tmp_path):
    manifests = tmp_path / "m"
    write_manifest(manifests, "small")
    prices = _pricing_file(
        tmp_path, [_rate("GPU_TYPE_H100", "CLOUD_PROVIDER_NEBIUS", "1", 250_000_000)]
    )
    args = ["plan", str(manifests), "--state", str(tmp_path / "s.json")]
    priced = run_cli([*args, "--pricing", str(prices), "--output", "json"], env=OFFLINE)
    assert priced.returncode == 0, priced.stderr
    summary = json.loads(priced.stdout)["summary"]["cost"]
    assert summary["source"] == f"pricing file {prices}"
    assert summary["hourly"][0]["after"] == "1.25"

    unknown = run_cli(args, env=OFFLINE)
    assert unknown.returncode == 0, unknown.stderr
    assert "+ small will be created" in unknown.stdout
    assert "Cost: unknown (no prices: TENSORMESH_CONTROL_PLANE_TOKEN is not set" in unknown.stdout
    as_json = json.loads(run_cli([*args, "--output", "json"], env=OFFLINE).stdout)
    validate_output(PLAN_OUTPUT, as_json)
    assert as_json["summary"]["cost"]["known"] is False


def test_a_gpu_with_no_active_price_is_a_plan_error_unless_allowed(sandbox, tmp_path):
    manifests = tmp_path / "m"
    path = write_manifest(
        manifests,
        "retired",
        gpuType="GPU_TYPE_H200",
        infra={"cloudProvider": "CLOUD_PROVIDER_LAMBDA"},
    )
    write_manifest(manifests, "fine")
    args = ["plan", str(manifests), "--state", str(tmp_path / "s.json")]
    refused = run_cli(args, env=sandbox.env)
    assert_clean_failure(refused)
    assert f"{path}:" in refused.stderr and "retired cannot be deployed" in refused.stderr
    assert "inactive" in refused.stderr and "--allow-unpriced" in refused.stderr
    assert "fine" not in refused.stderr

    allowed = run_cli([*args, "--allow-unpriced", "--output", "json"], env=sandbox.env)
    assert allowed.returncode == 0, allowed.stderr
    document = json.loads(allowed.stdout)
    validate_output(PLAN_OUTPUT, document)
    assert [u["name"] for u in document["summary"]["cost"]["unpriced"]] == ["retired"]
    assert document["summary"]["cost"]["hourly"][0]["after"] == "2.95"


def test_budget_refuses_apply_before_any_change(sandbox, tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "s.json"
    write_manifest(manifests, "small")
    write_manifest(manifests, "big", gpuType="GPU_TYPE_B200", gpuCount=4)
    before = sandbox.stats()
    refused = run_cli(
        ["apply", str(manifests), "--state", str(state), "--max-hourly-increase", "20"],
        env=sandbox.env,
    )
    assert_clean_failure(refused)
    assert "adds 24.95 USD/h, more than --max-hourly-increase 20.00" in refused.stderr
    assert refused.stderr.index("big (create, +22.00 USD/h)") < refused.stderr.index("small")
    after = sandbox.stats()
    assert after["createCalls"] == before["createCalls"] and after["deletes"] == before["deletes"]
    assert after["requests"] - before["requests"] == 1  # the pricing read, nothing else
    assert sandbox.list_models() == []

    ok = run_cli(
        [
            *("apply", str(manifests), "--state", str(state)),
            *("--max-hourly-increase", "24.95 USD", "--no-wait"),
        ],
        env=sandbox.env,
    )
    assert ok.returncode == 0, ok.stderr
    assert "Total: 0.00 USD/h -> 24.95 USD/h" in ok.stdout
    assert len(sandbox.list_models()) == 2


def test_apply_json_carries_the_cost(sandbox, tmp_path):
    manifests = tmp_path / "m"
    write_manifest(manifests, "small")
    applied = run_cli(
        [
            "apply",
            str(manifests),
            "--state",
            str(tmp_path / "s.json"),
            "--no-wait",
            "--output",
            "json",
        ],
        env=sandbox.env,
    )
    assert applied.returncode == 0, applied.stderr
    document = json.loads(applied.stdout)
    assert document["changes"][0]["result"] == "created"
    assert document["changes"][0]["cost"]["hourly"][0]["after"] == "2.95"
    assert document["summary"]["cost"]["hourly"][0]["difference"] == "+2.95"


def test_budget_without_prices_refuses(tmp_path, sandbox):
    manifests = tmp_path / "m"
    write_manifest(manifests, "small")
    prices = _pricing_file(tmp_path, [])  # nothing priced: the deploy is infeasible
    refused = run_cli(
        [
            *("apply", str(manifests), "--state", str(tmp_path / "s.json")),
            *("--pricing", str(prices), "--allow-unpriced", "--max-hourly-increase", "100"),
        ],
        env=sandbox.env,
    )
    assert_clean_failure(refused)
    assert "cannot check --max-hourly-increase 100.00" in refused.stderr
    assert sandbox.stats()["requests"] == 0  # the file priced it: no call at all


def test_apply_warns_when_the_balance_is_low(tmp_path):
    manifests = tmp_path / "m"
    write_manifest(manifests, "small")
    with start_sandbox("--balance", "10.00") as sandbox:
        args = ["apply", str(manifests), "--no-wait"]
        low = run_cli([*args, "--state", str(tmp_path / "a.json")], env=sandbox.env)
        assert low.returncode == 0, low.stderr
        assert "balance 10.00 USD covers 3.3 h of the new hourly total 2.95 USD/h" in low.stderr
        assert "less than 24 h" in low.stderr

        manifests2 = tmp_path / "m2"
        write_manifest(manifests2, "other")
        quiet = run_cli(
            [
                *("apply", str(manifests2), "--no-wait", "--state", str(tmp_path / "b.json")),
                *("--min-balance-hours", "3"),
            ],
            env=sandbox.env,
        )
        assert quiet.returncode == 0, quiet.stderr
        # 10.00 covers 3.3 h of 2.95/h: enough for --min-balance-hours 3.
        assert "balance" not in quiet.stderr


HOSTILE = {
    "bad.json": ('{"pricing": [\n  {"gpuType": "GPU_TYPE_H100",,}\n]}', "bad.json:2:"),
    "nan.json": ('{"pricing": [{"hourlyRate": {"units": NaN}}]}', "NaN is not a number"),
    "negative.json": (
        json.dumps({"pricing": [_rate("GPU_TYPE_H100", "CLOUD_PROVIDER_NEBIUS", "-3", 0)]}),
        "$.pricing[0].hourlyRate: a negative price",
    ),
    "huge-nanos.json": (
        json.dumps({"pricing": [_rate("GPU_TYPE_H100", "CLOUD_PROVIDER_NEBIUS", "1", 10**40)]}),
        "$.pricing[0].hourlyRate.nanos",
    ),
    "float-units.json": (
        '{"pricing": [{"gpuType": "G", "cloudProvider": "P", '
        '"hourlyRate": {"currencyCode": "USD", "units": 1e400}}]}',
        "$.pricing[0].hourlyRate.units",
    ),
    "dup.json": ('{"pricing": [], "pricing": []}', "appears twice"),
    "list.json": ("[]", "must be a JSON object"),
    "deep.json": ("[" * 100_000 + "]" * 100_000, "pricing file"),
    "binary.json": ("\udcff", "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_pricing_files_fail_clearly(tmp_path, name):
    content, expected = HOSTILE[name]
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8", errors="surrogateescape"))
    manifests = tmp_path / "m"
    write_manifest(manifests, "small")
    result = run_cli(
        ["plan", str(manifests), "--state", str(tmp_path / "s.json"), "--pricing", str(path)],
        env=OFFLINE,
    )
    assert_clean_failure(result)
    assert expected in result.stderr
    assert str(path) in result.stderr or name in result.stderr


def test_missing_pricing_file_names_it(tmp_path):
    manifests = tmp_path / "m"
    write_manifest(manifests, "small")
    missing = tmp_path / "nope.json"
    result = run_cli(
        ["plan", str(manifests), "--state", str(tmp_path / "s.json"), "--pricing", str(missing)],
        env=OFFLINE,
    )
    assert_clean_failure(result)
    assert f"pricing file {missing}: cannot read it" in result.stderr


def test_reconcile_reports_live_spend_and_refuses_a_costly_correction(sandbox, tmp_path):
    manifests, state, metrics = tmp_path / "m", tmp_path / "s.json", tmp_path / "m.prom"
    write_manifest(manifests, "small")
    write_manifest(manifests, "big", gpuType="GPU_TYPE_B200", gpuCount=4)
    args = [str(manifests), "--state", str(state)]
    applied = run_cli(["apply", *args, "--no-wait"], env=sandbox.env)
    assert applied.returncode == 0, applied.stderr

    passed = run_cli(
        ["reconcile", *args, "--once", "--output", "json", "--metrics-file", str(metrics)],
        env=sandbox.env,
    )
    assert passed.returncode == 0, passed.stderr
    validate_output(RECONCILE_OUTPUT, json.loads(passed.stdout))
    spend = json.loads(passed.stdout)["spend"]
    assert spend == {
        "known": True,
        "hourly": [{"currency": "USD", "amount": "24.95"}],
        "models": 2,
        "unpriced": [],
    }
    assert 'tensormesh_reconciler_hourly_spend{currency="USD"} 24.95' in metrics.read_text()
    text = run_cli(["reconcile", *args, "--once", "--detect-only"], env=sandbox.env)
    assert "Live spend: 24.95 USD/h for 2 running managed model(s)." in text.stdout

    big = next(m for m in sandbox.list_models() if m["modelName"] == "big")
    sandbox.delete_model(big["modelId"])  # out of band: healing it adds 22.00/h
    before = sandbox.stats()
    refused = run_cli(
        ["reconcile", *args, "--once", "--output", "json", "--max-hourly-increase", "10"],
        env=sandbox.env,
    )
    assert refused.returncode == 1
    report = json.loads(refused.stdout)
    validate_output(RECONCILE_OUTPUT, report)
    assert "refused before any change" in report["error"]
    assert "big (replace, +22.00 USD/h)" in report["error"]
    assert report["spend"]["hourly"] == [{"currency": "USD", "amount": "2.95"}]
    after = sandbox.stats()
    assert after["createCalls"] == before["createCalls"] and after["deletes"] == before["deletes"]

    healed = run_cli(["reconcile", *args, "--once", "--max-hourly-increase", "22"], env=sandbox.env)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert sandbox.stats()["createCalls"] == before["createCalls"] + 1


def test_a_saved_plan_is_priced_again_and_refused_over_budget(sandbox, tmp_path):
    manifests, state, saved = tmp_path / "m", tmp_path / "s.json", tmp_path / "plan.json"
    write_manifest(manifests, "big", gpuType="GPU_TYPE_B200", gpuCount=4)
    made = run_cli(["plan", str(manifests), "--state", str(state), "--out", str(saved)])
    assert made.returncode == 0, made.stderr
    refused = run_cli(
        ["apply", "--plan", str(saved), "--state", str(state), "--max-hourly-increase", "5"],
        env=sandbox.env,
    )
    assert_clean_failure(refused)
    assert "big (create, +22.00 USD/h)" in refused.stderr
    assert sandbox.stats()["createCalls"] == 0 and sandbox.list_models() == []
