"""`state` subcommands through the real CLI entry point, on state files written in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.adapters import state_file
from reconciler.adapters.state_lock import StateLock
from reconciler.cli import main
from reconciler.commands.state import fetch_entry
from reconciler.core import record
from reconciler.core.errors import ReconcilerError
from reconciler.core.model import STATUS_DELETED, STATUS_UP, LiveModel, RecordedEntry, State
from reconciler.core.spec import spec_digest
from tests.support.fake_api import USER, FakeApi

SPEC = {"modelPath": "org/model", "gpuType": "GPU_TYPE_H100", "gpuCount": 1}


def write_state(path: Path) -> State:
    state = record.new_state(lineage="6f1c2b7e-3d4a-4c5b-8e9f-0a1b2c3d4e5f", salt="5a" * 32)
    for name, model_id, deployment in [
        ("llama-8b-chat", "m-llama", "dep-1"),
        ("qwen-32b", "m-qwen", None),
    ]:
        state = record.record_entry(
            state,
            RecordedEntry(
                name=name,
                model_id=model_id,
                spec=SPEC,
                spec_digest=spec_digest(SPEC),
                deployment_id=deployment,
                status="MODEL_STATUS_UP",
            ),
        )
    state_file.save_state(path, state)
    return state


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    path = tmp_path / "tensormesh.state.json"
    write_state(path)
    return path


def test_list_json(state_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["state", "list", "--state", str(state_path), "--output", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["llama-8b-chat", "qwen-32b"]
    assert rows[0] == {
        "name": "llama-8b-chat",
        "modelId": "m-llama",
        "deploymentId": "dep-1",
        "status": "MODEL_STATUS_UP",
        "userId": None,
        "specDigest": spec_digest(SPEC),
    }


def test_list_text_is_an_aligned_table(
    state_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["state", "list", "--state", str(state_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "MODEL", "ID", "STATUS", "DEPLOYMENT", "ID", "USER", "ID"]
    column = lines[0].index("MODEL ID")
    assert lines[1][column:].startswith("m-llama") and lines[2][column:].startswith("m-qwen")
    assert lines[2].split()[3] == "-"  # no deployment id


def test_list_uses_the_env_default(
    state_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENSORMESH_STATE_FILE", str(state_path))
    assert main(["state", "list", "--output", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_list_of_a_missing_file_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["state", "list", "--state", str(tmp_path / "none.json"), "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert not (tmp_path / "none.json").exists()


def test_show_prints_one_entry(state_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["state", "show", "qwen-32b", "--state", str(state_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["name"], shown["modelId"], shown["spec"]) == ("qwen-32b", "m-qwen", SPEC)


def test_show_unknown_name_suggests_close_ones(
    state_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["state", "show", "qwen-23b", "--state", str(state_path)]) == 1
    err = capsys.readouterr().err
    assert "no entry named 'qwen-23b'" in err and "did you mean qwen-32b?" in err


def test_rm_forgets_without_deleting(state_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["state", "rm", "qwen-32b", "--state", str(state_path)]) == 0
    out = capsys.readouterr().out
    assert "Forgot qwen-32b (model m-qwen)" in out and "keeps running" in out
    saved = json.loads(state_path.read_text())
    assert list(saved["entries"]) == ["llama-8b-chat"] and saved["serial"] == 1
    assert main(["state", "rm", "qwen-32b", "--state", str(state_path)]) == 1


def test_rm_refuses_while_another_run_holds_the_lock(
    state_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state_path.read_bytes()
    with StateLock(state_path, command="apply", timeout=0):
        code = main(["state", "rm", "qwen-32b", "--state", str(state_path), "--lock-timeout", "0"])
    assert code == 1
    assert "is locked by `apply`" in capsys.readouterr().err
    assert state_path.read_bytes() == before


def test_unlock(state_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = StateLock(state_path, command="apply", timeout=0)
    lock.acquire()
    assert main(["state", "unlock", "--state", str(state_path)]) == 0
    assert "it was held by `apply`" in capsys.readouterr().out
    lock.release()
    assert main(["state", "unlock", "--state", str(state_path)]) == 0
    assert "was not locked" in capsys.readouterr().out


def test_a_corrupt_state_file_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"formatVersion": 1,')
    assert main(["state", "list", "--state", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: state file") and "truncated" in err
    assert "Traceback" not in err


def test_import_without_a_token_fails_before_touching_state(
    state_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENSORMESH_CONTROL_PLANE_TOKEN", raising=False)
    before = state_path.read_bytes()
    code = main(["state", "import", "mistral-7b", "m-new", "--state", str(state_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "TENSORMESH_CONTROL_PLANE_TOKEN is not set" in err
    assert state_path.read_bytes() == before


def test_import_rejects_an_invalid_name(
    state_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["state", "import", "Bad_Name", "m-1", "--state", str(state_path)]) == 1
    assert "not a valid entry name" in capsys.readouterr().err


def live(model_id: str, name: str, status: str = STATUS_UP) -> LiveModel:
    spec = {**SPEC, "kvCacheEnabled": False, "gpuCount": "2"}  # as the API reports it
    return LiveModel(model_id, name, status, spec, deployment_id="dep-9", user_id=USER)


def test_fetch_entry_adopts_the_live_spec() -> None:
    api = FakeApi(models={"m-9": live("m-9", "mistral-7b")})
    entry = fetch_entry(api, "mistral-7b", "m-9", user_id=None)
    expected_spec = {**SPEC, "gpuCount": 2}
    assert entry == RecordedEntry(
        name="mistral-7b",
        model_id="m-9",
        spec=expected_spec,
        spec_digest=spec_digest(expected_spec),
        deployment_id="dep-9",
        status=STATUS_UP,
        user_id=USER,
    )
    assert api.whoami_calls == 1


@pytest.mark.parametrize(
    ("model", "error"),
    [
        (live("m-9", "other-name"), "is named 'other-name', not 'mistral-7b'"),
        (live("m-9", "mistral-7b", STATUS_DELETED), "is deleted"),
    ],
)
def test_fetch_entry_refusals(model: LiveModel, error: str) -> None:
    api = FakeApi(models={"m-9": model})
    with pytest.raises(ReconcilerError, match=error):
        fetch_entry(api, "mistral-7b", "m-9", user_id=USER)
    assert api.whoami_calls == 0  # the given user id is used as is


def test_migrate_refuses_a_symlink_onto_its_own_target(tmp_path: Path, capsys) -> None:
    real = tmp_path / "real.state.json"
    write_state(real)
    (tmp_path / "link.state.json").symlink_to(real.name)
    code = main(
        [
            "state",
            "migrate",
            "--state",
            str(tmp_path / "link.state.json"),
            "--to",
            str(real),
            "--lock-timeout",
            "0",
        ]
    )
    assert code != 0
    assert "the source and the target are the same state" in capsys.readouterr().err
