"""Rounds of two CI runners in two clones of one remote, running `apply --push` at the same
moment, against one sandbox. Prints what must stay 0: duplicate live models, live models
missing from the remote state, foreign models deleted, state commits that never reached the
remote. Exit 1 when any of them is not 0.

Even rounds are disjoint (each runner adds a model, replaces one of its own, prunes an old
one of its own, from its own local commit); odd rounds overlap (both runners apply the same
pushed commit, which adds a model and changes a shared one).

Run: `python -m bench.two_runners [--rounds 20]` (about 5 s a round on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.cli import write_manifest
from tests.support.gitrepos import STATE, cli_env, clone, commit_all, git, make_remote
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess, start_sandbox


@dataclass
class Figures:
    rounds: int = 0
    duplicates: int = 0  # names with more than one live model
    missing_from_remote: int = 0  # live model IDs (ours) the remote state does not record
    foreign_deleted: int = 0  # hand-made models that are no longer live
    pushes_lost: int = 0  # runs whose state commit is not on the remote
    exits: Counter[str] = field(default_factory=Counter)  # "disjoint 0", "overlap 1", ...
    rebased: int = 0  # runs that had to rebase onto the other's push
    refused_creates: int = 0  # 409s: both runners sent a create for the same name

    def must_be_zero(self) -> dict[str, int]:
        return {
            "duplicates": self.duplicates,
            "live IDs missing from the remote state (summed over rounds)": (
                self.missing_from_remote
            ),
            "foreign models deleted": self.foreign_deleted,
            "state commits lost": self.pushes_lost,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    figures = Figures()
    with (
        tempfile.TemporaryDirectory(prefix="two-runners-") as tmp,
        start_sandbox(ready_after=0.0) as sandbox,
    ):
        run_rounds(Path(tmp), sandbox, args.rounds, figures)
        stats = sandbox.stats()
        figures.refused_creates = stats["createCalls"] - sum(stats["creates"].values())
    print(f"rounds: {figures.rounds}")
    print(f"runs that rebased onto the other's push: {figures.rebased}")
    print(f"creates refused with 409 (both runners deployed one name): {figures.refused_creates}")
    for kind, count in sorted(figures.exits.items()):
        print(f"exit codes, {kind}: {count}")
    for name, value in figures.must_be_zero().items():
        print(f"{name}: {value}")
    return 1 if any(figures.must_be_zero().values()) else 0


def run_rounds(tmp: Path, sandbox: SandboxProcess, rounds: int, figures: Figures) -> None:
    remote = make_remote(tmp)
    a = clone(remote, tmp / "a", "runner-a")
    b = clone(remote, tmp / "b", "runner-b")
    dev = clone(remote, tmp / "dev", "developer")
    foreign = sandbox.create_model(
        {
            "modelName": "hand-made",
            "userId": sandbox.user_id,
            "modelPath": "org/hand",
            "gpuType": "GPU_TYPE_H200",
            "gpuCount": 4,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        }
    )["modelId"]
    first = apply_now(sandbox, [a], "--push")[0]
    assert first.returncode == 0, first.stderr
    for number in range(rounds):
        for work in (a, b, dev):
            sync(work)
        if number % 2 == 0:
            kind = "disjoint"
            for work, who in ((a, "a"), (b, "b")):
                change_own_models(work, who, number)
        else:
            kind = "overlap"
            write_manifest(dev / "manifests", f"shared-{number}")
            write_manifest(dev / "manifests", "alpha", gpuCount=1 + (number // 2) % 2)
            commit_all(dev, f"round {number}: shared change")
            git(dev, "push", "-q", "origin", "main")
            for work in (a, b):
                sync(work)
        results = apply_now(sandbox, [a, b], "--push", "--prune")
        for result in results:
            figures.exits[f"{kind} {result.returncode}"] += 1
            figures.rebased += "after 1 rebase" in result.stderr
        for work, result in zip((a, b), results, strict=True):
            head = git(work, "rev-parse", "HEAD")
            on_remote = subprocess.run(
                ["git", "merge-base", "--is-ancestor", head, "main"], cwd=remote, check=False
            )
            if on_remote.returncode != 0:
                figures.pushes_lost += 1
                print(f"round {number}: {work.name}'s state commit is not on the remote:")
                print(result.stderr, file=sys.stderr)
        count_round(sandbox, remote, foreign, figures)
        figures.rounds += 1
        print(f"round {number} ({kind}): exits {[r.returncode for r in results]}", flush=True)


def change_own_models(work: Path, who: str, number: int) -> None:
    """A new model, a replace of the one added two rounds ago, a prune of the one before.

    Names sort next to the other runner's (`r4-a`, `r4-b`): their entries are adjacent in
    the state file, where a line-based merge of the two state commits conflicts."""
    folder = work / "manifests"
    write_manifest(folder, f"r{number}-{who}")
    if number >= 2:
        write_manifest(folder, f"r{number - 2}-{who}", gpuCount=2)
    if number >= 4:
        (folder / f"r{number - 4}-{who}.yaml").unlink(missing_ok=True)
    commit_all(work, f"round {number}: {who}'s change")


def sync(work: Path) -> None:
    """The next CI job checks out the remote's main afresh."""
    git(work, "fetch", "-q", "origin")
    git(work, "reset", "-q", "--hard", "origin/main")


def apply_now(sandbox: SandboxProcess, clones: list[Path], *extra: str) -> list[Any]:
    """`apply` in every clone at the same moment; their results in order."""
    args = ["apply", "manifests", "--state", STATE, "--no-wait", *extra]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            cwd=work,
            env={
                **cli_env(sandbox.env, work),
                "NO_COLOR": "1",
                "PYTHONPATH": str(PROJECT_ROOT),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for work in clones
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


def count_round(sandbox: SandboxProcess, remote: Path, foreign: str, figures: Figures) -> None:
    live = [m for m in sandbox.list_models() if m.get("status") != "MODEL_STATUS_DELETED"]
    names = Counter(m["modelName"] for m in live)
    figures.duplicates += sum(1 for count in names.values() if count > 1)
    state = json.loads(git(remote, "show", f"main:{STATE}"))
    recorded = {entry["modelId"] for entry in state["entries"].values()}
    ours = {m["modelId"] for m in live} - {foreign}
    missing = ours - recorded
    if missing:
        print(f"live but not in the remote state: {sorted(missing)}", file=sys.stderr)
    figures.missing_from_remote += len(missing)
    figures.foreign_deleted += foreign not in {m["modelId"] for m in live}


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
