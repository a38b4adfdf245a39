"""Token sources: the variable, a rotated token file, `tm`'s auth.json; and the client
picking up a rotated token before a call and after a 401 (httpx.MockTransport)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import httpx
import pytest

from reconciler.adapters import token_source
from reconciler.adapters.http_api import HttpModelsApi, connect
from reconciler.adapters.retry import RetryPolicy
from reconciler.core.errors import ApiAuthError, UsageError
from reconciler.core.model import DeployRequest

OLD = "tok-OLD-0123456789"
NEW = "tok-NEW-9876543210"
USER = "3f0c6d2e-0000-4000-8000-000000000001"
FILE_ENV = "TENSORMESH_CONTROL_PLANE_TOKEN_FILE"


def write(path: Path, text: str) -> None:
    """Rewrite as a rotation does: a new file moved into place (new inode)."""
    temp = path.with_suffix(".tmp")
    temp.write_text(text)
    os.replace(temp, path)


# -- precedence and reading -------------------------------------------------------


def test_the_variable_wins_over_the_file_and_the_login(tmp_path: Path) -> None:
    (tmp_path / "file").write_text(OLD)
    (tmp_path / "auth.json").write_text(json.dumps({"access_token": NEW}))
    env = {
        "TENSORMESH_CONTROL_PLANE_TOKEN": " tok-ENV-1 \n",
        FILE_ENV: str(tmp_path / "file"),
        "TM_CONFIG_HOME": str(tmp_path),
    }
    assert token_source.from_environment(env).current() == "tok-ENV-1"
    del env["TENSORMESH_CONTROL_PLANE_TOKEN"]
    assert token_source.from_environment(env).current() == OLD
    del env[FILE_ENV]
    assert token_source.from_environment(env).current() == NEW


def test_the_login_defaults_to_home_config_tensormesh(tmp_path: Path) -> None:
    folder = tmp_path / ".config" / "tensormesh"
    folder.mkdir(parents=True)
    (folder / "auth.json").write_text(json.dumps({"access_token": NEW, "refresh_token": "r"}))
    assert token_source.from_environment({"HOME": str(tmp_path)}).current() == NEW
    # TM_CONFIG_HOME blank means the default, as `tm` reads it; `~` is expanded.
    env = {"HOME": str(tmp_path), "TM_CONFIG_HOME": "  "}
    assert token_source.from_environment(env).current() == NEW
    tilde = {"HOME": "/h", "TM_CONFIG_HOME": "~/tm"}
    assert token_source.auth_json_path(tilde) == "/h/tm/auth.json"


def test_no_token_anywhere_names_every_way_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        token_source.from_environment({"HOME": str(tmp_path)})
    message = str(caught.value)
    assert "TENSORMESH_CONTROL_PLANE_TOKEN is not set" in message
    assert FILE_ENV in message and "tm auth login" in message
    assert str(tmp_path / ".config" / "tensormesh" / "auth.json") in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty"),
        (b"  \n", "is empty"),
        (b"tok\r\nX-Evil: 1", "control character"),
        ("tök".encode(), "non-ASCII"),
        (b"x" * 70_000, "larger than"),
    ],
)
def test_a_bad_token_file_is_one_usage_error_without_the_value(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "token"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=problem) as caught:
        token_source.from_environment({FILE_ENV: str(path)})
    assert FILE_ENV in str(caught.value) and str(path) in str(caught.value)
    assert "X-Evil" not in str(caught.value)


def test_a_missing_token_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"{FILE_ENV} .*cannot be read"):
        token_source.from_environment({FILE_ENV: str(tmp_path / "nope")})


@pytest.mark.parametrize(
    "document", ["not json", "[]", '{"refresh_token": "r"}', '{"access_token": ""}', "{}"]
)
def test_an_auth_json_without_an_access_token_says_log_in_again(
    tmp_path: Path, document: str
) -> None:
    (tmp_path / "auth.json").write_text(document)
    with pytest.raises(UsageError, match="tm auth login") as caught:
        token_source.from_environment({"TM_CONFIG_HOME": str(tmp_path)})
    assert "access_token" in str(caught.value)


# -- rotation ---------------------------------------------------------------------


def test_a_rewritten_file_is_read_again_before_the_next_call(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(OLD + "\n")
    source = token_source.from_environment({FILE_ENV: str(path)})
    assert source.current() == OLD
    write(path, NEW + "\n")
    assert source.current() == NEW
    assert set(source.known()) == {OLD, NEW}


def test_a_file_emptied_mid_rotation_keeps_the_last_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(OLD)
    source = token_source.from_environment({FILE_ENV: str(path)})
    path.write_text("")  # a writer that truncates first
    assert source.current() == OLD
    path.unlink()  # or a moment with no file at all
    assert source.current() == OLD
    path.write_text(NEW)
    assert source.current() == NEW


def test_renew_reads_the_file_even_when_its_stat_did_not_change(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(OLD)
    source = token_source.from_environment({FILE_ENV: str(path)})
    stat = path.stat()
    with open(path, "r+") as file:  # same inode, same size
        file.write(NEW.replace("NEW", "OLX")[: len(OLD)])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime
    assert source.current() == OLD  # the stat says unchanged: not read
    assert source.renew(OLD) == path.read_text()
    assert source.renew(path.read_text()) is None  # still the refused one


def test_the_login_file_is_rotated_too(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"access_token": OLD}))
    source = token_source.from_environment({"TM_CONFIG_HOME": str(tmp_path)})
    write(path, json.dumps({"access_token": NEW, "refresh_token": "r2"}))  # `tm auth refresh`
    assert source.current() == NEW


# -- the client -------------------------------------------------------------------


class Server:
    """Accepts only `accepted`; records the bearer tokens it saw; can run a step on the
    first request (e.g. rotate the file while the call is on its way)."""

    def __init__(self, accepted: set[str], on_first: object = None) -> None:
        self.accepted = accepted
        self.seen: list[str] = []
        self.on_first = on_first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        self.seen.append(token)
        if len(self.seen) == 1 and callable(self.on_first):
            self.on_first()
        if token not in self.accepted:
            body = {"code": 16, "message": f"access token expired: {token}", "details": []}
            return httpx.Response(401, json=body)
        if request.method == "POST":
            return httpx.Response(200, json={"model": {"modelId": "m-1", "modelName": "a"}})
        return httpx.Response(200, json={"user": {"id": USER}, "models": []})


def api_for(server: Server, source: token_source.TokenSource) -> HttpModelsApi:
    client = httpx.Client(base_url="https://cp.test", transport=httpx.MockTransport(server))
    return HttpModelsApi(client, token=source, policy=RetryPolicy(max_retries=0))


def test_a_401_reads_the_file_again_and_sends_that_call_once_more(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token"
    path.write_text(OLD)
    source = token_source.from_environment({FILE_ENV: str(path)})
    # The file is rotated while the first call is on its way: it meets the 401.
    server = Server({NEW}, on_first=lambda: write(path, NEW))
    caplog.set_level(logging.INFO)
    with api_for(server, source) as api:
        assert api.whoami() == USER
        assert api.list_models(USER) == []
    assert server.seen == [OLD, NEW, NEW]
    assert source.rejections == 1
    assert OLD not in caplog.text and NEW not in caplog.text


def test_a_deploy_refused_with_401_is_sent_once_more_with_the_new_token(
    tmp_path: Path,
) -> None:
    path = tmp_path / "token"
    path.write_text(OLD)
    source = token_source.from_environment({FILE_ENV: str(path)})
    server = Server({NEW}, on_first=lambda: write(path, NEW))
    request = DeployRequest(model_name="a", user_id=USER, spec={"gpuCount": 1})
    with api_for(server, source) as api:
        assert api.deploy_model(request).model_id == "m-1"
    assert server.seen == [OLD, NEW]  # a 401 did nothing: one more send is safe


def test_a_401_with_no_new_token_fails_once_saying_how_to_get_one(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(OLD)
    source = token_source.from_environment({FILE_ENV: str(path)})
    server = Server(set())
    with api_for(server, source) as api, pytest.raises(ApiAuthError) as caught:
        api.whoami()
    message = str(caught.value)
    assert server.seen == [OLD]  # the file had nothing new: not sent again
    assert "tm auth login" in message and "tm auth print-token" in message
    assert FILE_ENV in message and str(path) in message
    assert OLD not in message
    assert source.rejections == 1


def test_a_static_token_is_never_sent_twice_on_401() -> None:
    server = Server(set())
    source = token_source.StaticToken(OLD)
    with api_for(server, source) as api, pytest.raises(ApiAuthError) as caught:
        api.whoami()
    assert server.seen == [OLD]
    assert "TENSORMESH_CONTROL_PLANE_TOKEN" in str(caught.value)
    assert "tm auth print-token" in str(caught.value) and OLD not in str(caught.value)


def test_a_new_token_refused_too_is_not_tried_a_third_time(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(OLD)
    source = token_source.from_environment({FILE_ENV: str(path)})
    server = Server(set(), on_first=lambda: write(path, NEW))
    with api_for(server, source) as api, pytest.raises(ApiAuthError) as caught:
        api.whoami()
    assert server.seen == [OLD, NEW]
    assert source.rejections == 2
    assert OLD not in str(caught.value) and NEW not in str(caught.value)  # scrubbed


def test_connect_reads_the_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(NEW + "\n")
    with connect("https://cp.test", environ={FILE_ENV: str(path)}) as api:
        assert "tok-" not in repr(api)


def test_a_fifo_or_a_folder_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        token_source.from_environment({FILE_ENV: str(fifo)})
    with pytest.raises(UsageError, match=r"not a regular file|cannot be read"):
        token_source.from_environment({FILE_ENV: str(tmp_path)})


def test_a_kubernetes_style_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    """A Secret volume: token -> ..data/token, ..data -> a timestamped folder, swapped."""
    first, second = tmp_path / "..2026_01", tmp_path / "..2026_02"
    for folder, token in ((first, OLD), (second, NEW)):
        folder.mkdir()
        (folder / "token").write_text(token)
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "token").symlink_to("..data/token")
    source = token_source.from_environment({FILE_ENV: str(tmp_path / "token")})
    assert source.current() == OLD
    (tmp_path / "..data_tmp").symlink_to(second.name)
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert source.current() == NEW
