"""Durability benchmark: what recording every outcome costs, in bytes and CPU, per entry.

Applies N creates through `reconciler.apply.apply_plan` and the real `StateStore` (journal
fsyncs, final state save) against an in-memory API fake, so the figures isolate durability.
Prints journal + state bytes, bytes per entry and time per record; never asserts on time.
Run: .venv/bin/python -m bench.bench_durability [--sizes 500 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.adapters import state_file
from reconciler.adapters.state_store import StateStore
from reconciler.apply import ApplyContext, ApplyOptions, apply_plan
from reconciler.core import plan as planning
from reconciler.core.model import DeployRequest, LiveModel
from reconciler.session import StoreRecorder, UserIds
from tests.support.builders import desired
from tests.support.fake_api import USER, FakeApi


class FastApi(FakeApi):
    """FakeApi whose deploy is O(1) (the test fake scans every model for a name clash)."""

    def deploy_model(self, request: DeployRequest) -> LiveModel:
        with self._lock:
            return self._create(request)


def run(size: int, folder: Path) -> dict[str, float]:
    path = folder / f"state-{size}.json"
    models = [desired(f"bench-{i:05d}", gpuCount=1 + i % 4) for i in range(size)]
    api = FastApi()
    with StateStore.open(path, command="bench") as store:
        plan = planning.make_plan(models, store.state, prune=False)
        context = ApplyContext(
            api=api,
            recorder=StoreRecorder(store),
            users=UserIds(api, USER),
            secrets={},
            salt=store.state.salt,
            attempts={},
            stop=threading.Event(),
            progress=lambda name, message: None,
        )
        cpu, wall = time.process_time(), time.perf_counter()
        result = apply_plan(plan, context, ApplyOptions(concurrency=8, wait=False))
        cpu_apply, wall_apply = time.process_time() - cpu, time.perf_counter() - wall
        journal_bytes = store.journal_bytes_written
        records = store.journal_records_written
        store.commit()
    assert not result.failed and len(state_file.read_state(path).entries) == size
    state_bytes = path.stat().st_size
    return {
        "entries": size,
        "records": records,
        "journal_bytes": journal_bytes,
        "state_bytes": state_bytes,
        "bytes_per_entry": (journal_bytes + state_bytes) / size,
        "cpu_ms_per_record": 1000 * cpu_apply / records,
        "wall_s": wall_apply,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    args = parser.parse_args()
    print(
        f"{'entries':>8} {'records':>8} {'journal B':>11} {'state B':>10} {'B/entry':>8} "
        f"{'CPU ms/record':>14} {'wall s':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            row = run(size, Path(tmp))
            print(
                f"{row['entries']:>8.0f} {row['records']:>8.0f} {row['journal_bytes']:>11.0f} "
                f"{row['state_bytes']:>10.0f} {row['bytes_per_entry']:>8.1f} "
                f"{row['cpu_ms_per_record']:>14.3f} {row['wall_s']:>7.2f}"
            )


if __name__ == "__main__":
    main()
