"""Run independent jobs on a fixed set of threads, each thread taking the next job itself.

Apply runs thousands of ~100 ms API calls, `--concurrency` at a time, in one interpreter.
concurrent.futures costs that client more than it needs to: a Future per job whose
condition variable wakes the main thread once per job, and threads started one per
submit while the first jobs already run, so that the last of 32 workers began ~50 ms late.
Here every thread is started before any job runs, each pulls the next job from a shared
counter, and the main thread only waits for them to end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


def run_all(
    jobs: Sequence[Job], run: Callable[[Job], Result], *, threads: int, name: str = "worker"
) -> list[Result]:
    """`run(job)` for every job on up to `threads` threads; the results in job order.

    `run` reports a job's own failures in its result. An exception escaping it is a fault
    of the whole run: no thread takes a new job, and once the running ones are over the
    first such exception is raised here.
    """
    results: list[Result | None] = [None] * len(jobs)
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Event()  # all threads exist before any job runs
    taken = 0

    def take() -> int | None:
        nonlocal taken
        with lock:
            if failures or taken >= len(jobs):
                return None
            taken += 1
            return taken - 1

    def work() -> None:
        start.wait()
        while (index := take()) is not None:
            try:
                results[index] = run(jobs[index])
            except BaseException as exc:
                with lock:
                    failures.append(exc)
                return

    pool = [
        # Daemons: a thread still blocked in a call cut by SIGTERM must not hold the exit.
        threading.Thread(target=work, name=f"{name}-{number}", daemon=True)
        for number in range(max(1, min(threads, len(jobs))))
    ]
    for thread in pool:
        thread.start()
    start.set()
    for thread in pool:
        thread.join()
    if failures:
        raise failures[0]
    return results  # type: ignore[return-value] # every slot is filled when nothing failed
