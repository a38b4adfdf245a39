"""Sandbox benchmark: 32 concurrent keep-alive clients (threads) against a sandbox subprocess.

The clients use the standard library's http.client: on 2 cores the load generator shares
the CPU with the server, and httpx clients cost about twice the server's own CPU per
request, so they would measure the clients rather than the sandbox.

Prints requests/s, latency p50/p99 and the server's CPU time per request for a fixed request
count; never asserts on wall time. Run: .venv/bin/python -m bench.bench_sandbox [--requests N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.sandbox import start_sandbox


def _body(name: str) -> dict[str, object]:
    return {
        "modelName": name,
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 1,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
    }


def _client_loop(
    url: str, token: str, worker: int, count: int, seed_ids: list[str], latencies: list[float]
) -> None:
    parsed = urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30.0)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    created = ""
    try:
        for i in range(count):
            kind = i % 10  # per 10 requests: 1 list, 1 create, 1 delete, 7 gets
            started = time.perf_counter()
            if kind == 0:
                connection.request("GET", "/v1/models", headers=headers)
            elif kind == 1:
                body = json.dumps(_body(f"bench-{worker}-{i}"))
                connection.request("POST", "/v1/models", body=body, headers=headers)
            elif kind == 2:
                # Deleting what this client created keeps the user's model count realistic.
                connection.request("DELETE", f"/v1/models/{created}", headers=headers)
            else:
                model_id = seed_ids[(worker + i) % len(seed_ids)]
                connection.request("GET", f"/v1/models/{model_id}", headers=headers)
            response = connection.getresponse()
            payload = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")
            if kind == 1:
                created = json.loads(payload)["model"]["modelId"]
    finally:
        connection.close()


def _cpu_seconds(pid: int) -> float | None:
    # Linux only: utime + stime of the server, to tell a server-bound run from a client-bound one.
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=6400)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    per_client = args.requests // args.clients
    with start_sandbox("--deleted-linger", "1", ready_after=1.0) as sandbox:
        seed_ids = [sandbox.create_model(_body(f"seed-{n}"))["modelId"] for n in range(20)]
        latencies: list[float] = []
        threads = [
            threading.Thread(
                target=_client_loop,
                args=(sandbox.url, sandbox.token, w, per_client, seed_ids, latencies),
            )
            for w in range(args.clients)
        ]
        cpu_before = _cpu_seconds(sandbox.pid)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_seconds(sandbox.pid)
        models = len(sandbox.list_models())
    total = len(latencies)
    cuts = statistics.quantiles(latencies, n=100)
    print(f"sandbox bench: {total} requests, {args.clients} clients, {elapsed:.2f} s")
    print(f"  throughput: {total / elapsed:.0f} requests/s")
    print(f"  latency p50: {cuts[49] * 1000:.1f} ms  p99: {cuts[98] * 1000:.1f} ms")
    if cpu_before is not None and cpu_after is not None:
        per_request = (cpu_after - cpu_before) / total * 1000
        print(f"  server CPU: {per_request:.2f} ms per request (the rest is the clients' share)")
    print(f"  mix: 10% list, 10% create, 10% delete, 70% get; {models} models listed at the end")


if __name__ == "__main__":
    main()
