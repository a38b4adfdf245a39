"""Saved plans end to end: `plan --out`, `show`, `apply --plan`, stale and broken plan files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import assert_clean_failure, run_cli, write_manifest

pytestmark = pytest.mark.e2e

SECRET = "hf_e2e_secret_value_4f2a9c"


def test_saved_plan_applies_exactly_its_changes(sandbox, tmp_path: Path) -> None:
    manifests, state, plan_file = tmp_path / "m", tmp_path / "state.json", tmp_path / "tfplan.json"
    write_manifest(manifests, "alpha")
    write_manifest(manifests, "beta", hfToken={"fromEnv": "HF_TOKEN"})
    env = {**sandbox.env, "HF_TOKEN": SECRET}

    planned = run_cli(
        ["plan", str(manifests), "--state", str(state), "--out", str(plan_file)], env=env
    )
    assert planned.returncode == 0, planned.stderr
    saved = plan_file.read_text()
    assert SECRET not in saved
    assert json.loads(saved)["summary"]["create"] == 2
    # Same inputs, same bytes.
    again = tmp_path / "again.json"
    run_cli(["plan", str(manifests), "--state", str(state), "--out", str(again)], env=env)
    assert again.read_text() == saved

    shown = run_cli(["show", str(plan_file), "--output", "json"], env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["summary"]["create"] == 2
    markdown = run_cli(["show", str(plan_file), "--output", "markdown"], env=env)
    assert markdown.stdout.startswith("<!-- tensormesh-reconciler plan -->")
    assert SECRET not in markdown.stdout + shown.stdout

    # The manifests gain an entry after the plan: the saved plan must not create it.
    write_manifest(manifests, "gamma")
    applied = run_cli(
        ["apply", "--plan", str(plan_file), "--state", str(state), "--no-wait"], env=env
    )
    assert applied.returncode == 0, applied.stderr
    assert sandbox.stats()["creates"] == {"alpha": 1, "beta": 1}
    recorded = json.loads(state.read_text())["entries"]
    assert sorted(recorded) == ["alpha", "beta"]
    assert SECRET not in state.read_text() + applied.stdout + applied.stderr


def test_stale_plan_is_refused_and_deploys_nothing(sandbox, tmp_path: Path) -> None:
    manifests, state, plan_file = tmp_path / "m", tmp_path / "state.json", tmp_path / "tfplan.json"
    write_manifest(manifests, "alpha")
    env = sandbox.env
    first = run_cli(["apply", str(manifests), "--state", str(state), "--no-wait"], env=env)
    assert first.returncode == 0, first.stderr

    write_manifest(manifests, "alpha", gpuCount=2)
    planned = run_cli(
        ["plan", str(manifests), "--state", str(state), "--out", str(plan_file)], env=env
    )
    assert planned.returncode == 0, planned.stderr
    # Another apply moves the state on before the saved plan is applied.
    write_manifest(manifests, "beta")
    moved = run_cli(["apply", str(manifests), "--state", str(state), "--no-wait"], env=env)
    assert moved.returncode == 0, moved.stderr
    before = sandbox.stats()

    stale = run_cli(["apply", "--plan", str(plan_file), "--state", str(state)], env=env)
    assert_clean_failure(stale)
    assert "stale" in stale.stderr
    assert "alpha" in stale.stderr and "beta" in stale.stderr  # the entries that differ
    after = sandbox.stats()
    assert after["creates"] == before["creates"] and after["deletes"] == before["deletes"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"changes": [', "not valid JSON"),
        ('{"apiVersion": "tensormesh.gitops/v1"}', "not a tensormesh-reconciler plan file"),
        (
            '{"kind": "tensormesh-reconciler/plan", "formatVersion": 2, "toolVersion": "9.9"}',
            "newer",
        ),
        ('{"kind": "tensormesh-reconciler/plan", "formatVersion": 1}', "invalid at"),
    ],
    ids=["corrupt", "foreign", "future", "incomplete"],
)
def test_broken_plan_files_fail_with_one_message(tmp_path: Path, content: str, words: str) -> None:
    plan_file = tmp_path / "tfplan.json"
    plan_file.write_text(content)
    for args in (["show", str(plan_file)], ["apply", "--plan", str(plan_file)]):
        result = run_cli(
            [*args, "--state", str(tmp_path / "s.json")] if args[0] == "apply" else args
        )
        assert_clean_failure(result)
        assert words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_plan_with_paths_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["apply", str(tmp_path), "--plan", str(tmp_path / "p.json")])
    assert_clean_failure(result)
    assert "give no PATH" in result.stderr
