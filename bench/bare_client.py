"""The floor of the apply benchmark: N creates sent by the barest client this machine has.

`concurrency` threads, each with one kept-alive stdlib `http.client` connection, POST the
same N creates as the apply step to a sandbox with the same latency, and do nothing else
(no manifests, no state, no journal). What this takes above N x latency / concurrency is
the sandbox's and the machine's share of the gap, not the reconciler's.

Run on its own: `python -m bench.bare_client [N]` (default 3,000).
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from tests.support.sandbox import start_sandbox

BODY = {
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "description": "Benchmark deployment",
    "gpuType": "GPU_TYPE_A100",
    "gpuCount": 1,
    "infra": {
        "cloudProvider": "CLOUD_PROVIDER_NEBIUS",
        "nebiusRegion": "NEBIUS_REGION_EU_NORTH1",
    },
    "kvCacheEnabled": True,
    "modelSpec": {"maxModelLen": 8192},
    "hfToken": "bench-hf-token-not-a-secret",
}


def post_creates(n: int, *, latency_ms: float, concurrency: int) -> float:
    """Seconds to create `n` models through a fresh sandbox with `latency_ms` per call."""
    with start_sandbox("--latency-ms", str(latency_ms), ready_after=0.0) as sandbox:
        url = urllib.parse.urlsplit(sandbox.env["TENSORMESH_CONTROL_PLANE_BASE_URL"])
        headers = {
            "Authorization": f"Bearer {sandbox.env['TENSORMESH_CONTROL_PLANE_TOKEN']}",
            "Content-Type": "application/json",
        }
        local = threading.local()

        def create(index: int) -> None:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(
                    url.hostname or "127.0.0.1", url.port
                )
                conn.connect()
                assert conn.sock is not None
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            body = {**BODY, "modelName": f"bare-{index:05d}", "userId": sandbox.user_id}
            conn.request("POST", "/v1/models", body=json.dumps(body).encode(), headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"bench: bare create {index} got HTTP {response.status}")

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            _drain(pool.map(create, range(n)))
        return time.perf_counter() - started


def _drain(results: Iterator[None]) -> None:
    for _ in results:
        pass


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 3000
    wall = post_creates(n, latency_ms=100.0, concurrency=32)
    ideal = n * 0.1 / 32
    print(f"bare client, {n} creates: {wall:.2f} s, {wall / ideal:.3f}x of N x 0.1 s / 32")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
