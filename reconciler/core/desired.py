"""Step "desired": build DesiredModels from checked manifest content, and digest a desired set.

Pure: no files, no environment; secret fields become references, never values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core.model import (
    SECRET_FIELDS,
    DesiredModel,
    Location,
    ReconcilePolicy,
    SecretRef,
    SecretSource,
)
from reconciler.core.spec import canonical_json, normalize_spec, spec_digest


def make_desired(
    *,
    name: str,
    spec: Mapping[str, Any],
    labels: Mapping[str, str],
    policy: ReconcilePolicy,
    location: Location,
    base_dir: str,
) -> DesiredModel:
    """One entry: normalised spec and its digest, secret references, labels, policy."""
    normalized = normalize_spec(spec)
    return DesiredModel(
        name=name,
        spec=normalized,
        spec_digest=spec_digest(normalized),
        secrets=read_secret_refs(spec, base_dir=base_dir),
        labels=dict(labels),
        policy=policy,
        location=location,
    )


def read_secret_refs(spec: Mapping[str, Any], *, base_dir: str) -> tuple[SecretRef, ...]:
    """A SecretRef per secret field present; the spec was checked, so each is one-key."""
    refs = []
    for field in sorted(SECRET_FIELDS):
        value = spec.get(field)
        if isinstance(value, Mapping) and len(value) == 1:
            ((source, target),) = value.items()
            # The spec was checked, so the key is fromEnv or fromFile.
            ref = SecretRef(field, SecretSource(source), target, base_dir=base_dir)
            refs.append(ref)
    return tuple(refs)


def manifests_digest(desired: Sequence[DesiredModel]) -> str:
    """A stable digest of the whole desired set (specs, secret refs, labels, policy).

    Order-independent; file positions are left out so moving an entry between
    files does not change it.
    """
    entries = sorted(
        (
            {
                "name": model.name,
                "digest": model.spec_digest,
                "secrets": [
                    [ref.field, ref.source.value, ref.target, ref.base_dir] for ref in model.secrets
                ],
                "labels": dict(model.labels),
                "selfHeal": model.policy.self_heal,
                "protect": model.policy.protect,
                "replaceStrategy": model.policy.replace_strategy.value,
            }
            for model in desired
        ),
        key=lambda entry: str(entry["name"]),
    )
    return "sha256:" + hashlib.sha256(canonical_json(entries).encode()).hexdigest()
