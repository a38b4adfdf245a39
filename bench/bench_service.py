"""The service's cost: a reconcile pass over N live models (one list call) beside parsing
that list response alone, and the same pass with `--serve` beside it without.

Pass times are the reconciler's own (`pass_duration_seconds` of --metrics-file): the pass
from reading the manifests to its report, without the interpreter's start, as the baseline
(bench/list_only.py) measures the call and the parse in-process. The N live models are
unmanaged (posted straight to the sandbox; one manifest): this isolates the live side; the
manifests' side is what the validate and plan rows measure. With --serve, a scraper polls
/healthz, /readyz and /metrics every 0.2 s during the pass, far more often than a kubelet
and Prometheus would.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench import runner
from bench.bare_client import BODY
from bench.results import Result
from tests.support.cli import write_manifest
from tests.support.sandbox import SandboxProcess, start_sandbox

SCRAPE_EVERY = 0.2


def service_steps(n: int, rounds: int, scratch: Path) -> list[Result]:
    folder = scratch / f"service-{n}"
    write_manifest(folder / "manifests", "bench-managed")
    with start_sandbox("--latency-ms", "0", ready_after=0.0) as sandbox:
        _fill(sandbox, n)
        env = {**sandbox.env, "TENSORMESH_USER_ID": sandbox.user_id, "HF_TOKEN": "bench"}
        base: list[tuple[float, runner.Run]] = []
        plain: list[tuple[float, runner.Run]] = []
        served: list[tuple[float, runner.Run]] = []
        calls = 0
        for index in range(rounds):
            base.append(_list_only(sandbox))
            before = sandbox.stats()["requests"]
            plain.append(_pass(folder, env, f"plain-{index}", serve=False))
            calls = sandbox.stats()["requests"] - before
            served.append(_pass(folder, env, f"served-{index}", serve=True))
        page = _page_render_seconds(folder, env)
    list_s, _ = min(base, key=lambda pair: pair[0])
    plain_s, plain_run = min(plain, key=lambda pair: pair[0])
    served_s, served_run = min(served, key=lambda pair: pair[0])
    return [
        Result(
            "reconcile pass, N live (one list call)", n, plain_s, plain_run.cpu, list_s,
            "list parse", 2.0, plain_run.peak_mb, rounds,
            note=f"{calls} API call(s) in the whole run; in-process pass time; "
            "N unmanaged live models, one manifest",
        ),
        Result(
            "reconcile pass with --serve", n, served_s, served_run.cpu, plain_s,
            "pass w/o serve", 1.1, served_run.peak_mb, rounds,
            note=f"probes and /metrics scraped every {SCRAPE_EVERY} s during the pass; "
            f"the status page of {n} rows renders in {page:.2f} s (on request only)",
        ),
    ]  # fmt: skip


def _fill(sandbox: SandboxProcess, n: int) -> None:
    """N live models, posted straight to the sandbox by 16 kept-alive connections."""
    url = urllib.parse.urlsplit(sandbox.env["TENSORMESH_CONTROL_PLANE_BASE_URL"])
    headers = {
        "Authorization": f"Bearer {sandbox.env['TENSORMESH_CONTROL_PLANE_TOKEN']}",
        "Content-Type": "application/json",
    }
    local = threading.local()

    def create(index: int) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
        body = {**BODY, "modelName": f"live-{index:05d}", "userId": sandbox.user_id}
        conn.request("POST", "/v1/models", body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"bench: create {index} got HTTP {response.status}")

    with ThreadPoolExecutor(16) as pool:
        for _ in pool.map(create, range(n)):
            pass


def _list_only(sandbox: SandboxProcess) -> tuple[float, runner.Run]:
    run = runner.run(
        [
            sys.executable, "-m", "bench.list_only",
            sandbox.env["TENSORMESH_CONTROL_PLANE_BASE_URL"],
            sandbox.env["TENSORMESH_CONTROL_PLANE_TOKEN"], sandbox.user_id,
        ]
    )  # fmt: skip
    if run.exit_code != 0:
        raise SystemExit(f"bench: list_only failed:\n{run.stderr[-2000:]}")
    return float(run.stdout.split()[0]), run


def _pass(folder: Path, env: dict[str, str], name: str, *, serve: bool) -> tuple[float, runner.Run]:
    metrics = folder / f"{name}.prom"
    args = ["reconcile", str(folder / "manifests"), "--state", str(folder / f"{name}.json")]
    args += ["--once", "--detect-only", "--output", "json", "--metrics-file", str(metrics)]
    stop = threading.Event()
    scraper = None
    if serve:
        port = _free_port()
        args += ["--serve", f"127.0.0.1:{port}"]
        scraper = threading.Thread(target=_scrape, args=(port, stop), daemon=True)
        scraper.start()
    try:
        run = runner.cli(*args, env=env)
    finally:
        stop.set()
        if scraper is not None:
            scraper.join()
    if run.exit_code not in (0, 2):
        raise SystemExit(f"bench: reconcile exited {run.exit_code}:\n{run.stderr[-2000:]}")
    for line in metrics.read_text().splitlines():
        if line.startswith("tensormesh_reconciler_pass_duration_seconds "):
            return float(line.split()[1]), run
    raise SystemExit("bench: no pass duration in the metrics file")


def _scrape(port: int, stop: threading.Event) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2.0) as client:
        while not stop.wait(SCRAPE_EVERY):
            for path in ("/healthz", "/readyz", "/metrics"):
                try:
                    client.get(path)
                except httpx.HTTPError:
                    break  # not listening yet, or gone


def _page_render_seconds(folder: Path, env: dict[str, str]) -> float:
    """Build the page of the last pass over N rows, in-process, as a request would."""
    from reconciler import reconcile, service
    from reconciler.session import Session, Settings

    board = service.Board(interval=300.0)
    environ = {**os.environ, **env}
    settings = Settings.resolve(environ, state_path=str(folder / "page.json"))
    with Session(settings) as session:
        report = reconcile.run_pass(
            1,
            [str(folder / "manifests")],
            session,
            options=reconcile.PassOptions(detect_only=True, observe=board.observe),
        )
    board.pass_finished(report, 0.0)
    started = time.perf_counter()
    board.page()
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str]) -> int:
    """`python -m bench.bench_service [N] [ROUNDS]`: just these rows (default 20,000, 3)."""
    import tempfile

    from bench import results

    n = int(argv[0]) if argv else 20000
    rounds = int(argv[1]) if len(argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="tensormesh-bench-service-") as tmp:
        rows = service_steps(n, rounds, Path(tmp))
    print(results.table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
