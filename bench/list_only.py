"""Baseline of the service bench: one GET /v1/models and parsing its JSON, nothing else.

Run as `python -m bench.list_only URL TOKEN USER_ID`; prints the in-process seconds of the
call and the parse (the interpreter's start excluded, as the pass time the reconciler
reports excludes it) and the number of models.
"""

from __future__ import annotations

import json
import sys
import time

import httpx


def main(url: str, token: str, user_id: str) -> int:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        started = time.perf_counter()
        response = client.get("/v1/models", params={"userId": user_id})
        models = json.loads(response.content)["models"]
        seconds = time.perf_counter() - started
    print(f"{seconds:.6f} {len(models)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
