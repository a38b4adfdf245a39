"""Benchmark workload: N manifests in two layouts, a matching state, and a 1%-changed copy.

Writes files only; the state is built with the reconciler's own core code so that a plan
of the unchanged manifests against it is exactly a no-op.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.adapters import manifest_files, state_file
from reconciler.core.model import RecordedEntry, RecordedSecret

GPU_TYPES = ("GPU_TYPE_A100", "GPU_TYPE_H100", "GPU_TYPE_H200", "GPU_TYPE_B200")
DOCS_PER_FILE = 100  # the many-documents layout: one file per 100 deployments

TEMPLATE = """\
# yaml-language-server: $schema=../../schemas/modeldeployment.v1.json
apiVersion: tensormesh.gitops/v1
kind: ModelDeployment
metadata:
  name: model-{index:05d}
  labels:
    team: team-{team}
spec:
  modelPath: meta-llama/Llama-3.1-8B-Instruct
  description: Benchmark deployment {index}
  gpuType: {gpu}
  gpuCount: {count}
  infra:
    cloudProvider: CLOUD_PROVIDER_NEBIUS
    nebiusRegion: NEBIUS_REGION_EU_NORTH1
  kvCacheEnabled: true
  modelSpec:
    maxModelLen: 8192
  hfToken:
    fromEnv: HF_TOKEN
"""


@dataclass(frozen=True, slots=True)
class Workload:
    """Paths of one size's generated inputs."""

    size: int
    one_per_file: Path  # N files, one document each
    multi_doc: Path  # N / DOCS_PER_FILE files, DOCS_PER_FILE documents each
    changed: Path  # one document per file, 1% of them with another gpuCount
    state: Path  # matches the manifests exactly: a no-op plan
    one_file: Path  # a single manifest file, for start-up time


def manifest_text(index: int, *, bump: int = 0) -> str:
    return TEMPLATE.format(
        index=index, team=index % 7, gpu=GPU_TYPES[index % 4], count=1 + (index + bump) % 8
    )


def build(root: Path, size: int) -> Workload:
    """Generate every input of one size under `root` (created, or replaced when present)."""
    if root.exists():
        shutil.rmtree(root)
    work = Workload(
        size=size,
        one_per_file=root / "one-per-file",
        multi_doc=root / "multi-doc",
        changed=root / "changed",
        state=root / "noop.state.json",
        one_file=root / "one" / "model-00000.yaml",
    )
    for folder in (work.one_per_file, work.multi_doc, work.changed, work.one_file.parent):
        folder.mkdir(parents=True)
    step = max(1, size // max(1, size // 100))  # every 100th entry changes: 1%
    batch: list[str] = []
    for index in range(size):
        text = manifest_text(index)
        (work.one_per_file / f"model-{index:05d}.yaml").write_text(text, encoding="utf-8")
        changed = manifest_text(index, bump=1) if index % step == step - 1 else text
        (work.changed / f"model-{index:05d}.yaml").write_text(changed, encoding="utf-8")
        batch.append(text)
        if len(batch) == DOCS_PER_FILE or index == size - 1:
            name = f"models-{index // DOCS_PER_FILE:04d}.yaml"
            (work.multi_doc / name).write_text("---\n".join(batch), encoding="utf-8")
            batch = []
    work.one_file.write_text(manifest_text(0), encoding="utf-8")
    write_matching_state(work.one_per_file, work.state)
    return work


def write_matching_state(manifests: Path, path: Path) -> None:
    """A state recording every manifest as applied (fake IDs), so a plan against it is a no-op."""
    desired = manifest_files.load_desired([str(manifests)])
    state = state_file.fresh_state()
    entries = {
        model.name: RecordedEntry(
            name=model.name,
            model_id=str(uuid.uuid5(uuid.NAMESPACE_URL, model.name)),
            spec=model.spec,
            spec_digest=model.spec_digest,
            status="MODEL_STATUS_UP",
            # No fingerprint: the plan runs without HF_TOKEN and compares the references.
            secrets={
                ref.field: RecordedSecret(ref=ref.as_manifest(), fingerprint=None)
                for ref in model.secrets
            },
        )
        for model in desired
    }
    state_file.save_state(path, replace(state, entries=entries, serial=1))
