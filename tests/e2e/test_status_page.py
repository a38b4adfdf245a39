"""`reconcile --serve` seen as a user sees it: the real CLI loop against the real sandbox,
its page opened in headless Chromium (Debian's `chromium`), probes and /metrics over HTTP.

Skips without chromium, except under CI=true where a missing browser fails the run (`make
test` installs it). The phone-sized screenshot is kept under test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cli import write_manifest
from tests.support.gitrepos import cli_env, commit_all, git, make_remote
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SECRET = "hf_status_page_secret_value_123"
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing under CI=true; `make deps-chromium` installs it")
        pytest.skip("needs chromium (`make deps-chromium`, or apt-get install chromium)")
    return found


def browse(browser: str, url: str, profile: Path, *extra: str) -> str:
    result = subprocess.run(
        [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll until `check` holds; the deadline only stops a hung test, it asserts no timing."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def loop(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`reconcile --git REMOTE --serve 127.0.0.1:0 --detect-only` over alpha and beta,
    applied first from a clone; yields the page's base URL and the seed clone."""
    remote = make_remote(tmp_path)  # main holds alpha
    seed = tmp_path / "seed"
    write_manifest(seed / "manifests", "alpha", hfToken={"fromEnv": "HF_TOKEN"})
    write_manifest(seed / "manifests", "beta", gpuCount=2)
    commit_all(seed, "alpha reads HF_TOKEN; add beta")
    git(seed, "push", "-q", "origin", "HEAD:main")
    env = {**cli_env(sandbox.env, tmp_path), "HF_TOKEN": SECRET, "NO_COLOR": "1"}
    env.setdefault("PYTHONPATH", str(PROJECT_ROOT))
    state = str(tmp_path / "state.json")
    cli = [sys.executable, "-m", "reconciler"]
    applied = subprocess.run(
        [*cli, "apply", "manifests", "--state", state, "--no-wait"],
        env=env,
        cwd=seed,
        capture_output=True,
        text=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    source = ["--git", str(remote), "--ref", "main", "--path", "manifests"]
    source += ["--workdir", str(tmp_path / "work"), "--state", state]
    serve = ["--interval", "0.5", "--detect-only", "--serve", "127.0.0.1:0"]
    err = tmp_path / "loop.err"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [*cli, "reconcile", *source, *serve],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        eventually(lambda: "serving the status page on" in err.read_text(), "the bound address")
        url = re.search(r"on (http://\S+)/", err.read_text())
        assert url is not None
        yield url.group(1), seed
    finally:
        proc.send_signal(signal.SIGTERM)
        # 1 when the signal cut a pass short (documented), else 0; never a traceback.
        assert proc.wait(timeout=60) in (0, 1), err.read_text()[-2000:]
        assert "Traceback" not in err.read_text()


def test_the_status_page_in_a_real_browser(
    loop: tuple[str, Path], sandbox: SandboxProcess, tmp_path: Path
) -> None:
    browser = chromium()
    base, seed = loop
    revision = git(seed, "rev-parse", "HEAD")
    eventually(lambda: httpx.get(f"{base}/readyz").status_code == 200, "readiness")
    assert httpx.get(f"{base}/healthz").text == "ok\n"
    scrape = httpx.get(f"{base}/metrics")
    assert scrape.headers["content-type"].startswith("text/plain")
    assert 'tensormesh_reconciler_passes_total{result="ok"}' in scrape.text
    assert httpx.get(f"{base}/nothing-here").status_code == 404

    dom = browse(browser, f"{base}/", tmp_path / "profile", "--dump-dom")
    assert '<meta name="viewport"' in dom
    assert re.search(r'data-name="alpha" data-sync="synced"', dom), dom
    assert 'data-name="beta" data-sync="synced"' in dom
    assert "<script" not in dom  # the page runs nothing
    assert "MODEL_STATUS_" in dom  # live status
    assert f'<code id="revision">{revision}</code>' in dom
    assert SECRET not in dom and "apiKey" not in dom and "hfToken" not in dom

    # Out-of-band delete through the sandbox's admin side: the next pass shows the drift.
    alpha = next(m for m in sandbox.list_models() if m["modelName"] == "alpha")
    sandbox.delete_model(alpha["modelId"])
    eventually(lambda: 'data-sync="missing"' in httpx.get(f"{base}/").text, "the drift")
    dom = browse(browser, f"{base}/", tmp_path / "profile", "--dump-dom")
    assert re.search(r'data-name="alpha" data-sync="missing"', dom), dom
    assert re.search(r'data-outcome="ok"', dom)

    # A commit pushed while the loop runs is fetched by the next pass: a new revision, and
    # gamma out of sync (detect-only: nothing is deployed).
    write_manifest(seed / "manifests", "gamma")
    newer = commit_all(seed, "add gamma")
    git(seed, "push", "-q", "origin", "HEAD:main")
    eventually(lambda: newer in httpx.get(f"{base}/").text, "the new revision")
    dom = browse(browser, f"{base}/", tmp_path / "profile", "--dump-dom")
    assert 'data-name="gamma" data-sync="out of sync"' in dom
    assert (
        'tensormesh_reconciler_revision_info{revision="' + newer
        in httpx.get(f"{base}/metrics").text
    )

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status-page-phone.png"
    shot.unlink(missing_ok=True)
    browse(
        browser,
        f"{base}/",
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=390,844",
        "--hide-scrollbars",
    )
    assert shot.stat().st_size > 0
    print(f"status page screenshot: {shot}")
