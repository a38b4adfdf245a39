"""Small builders for desired models, recorded entries and states in unit tests."""

from __future__ import annotations

from typing import Any

from reconciler.core.model import DesiredModel, RecordedEntry, RecordedSecret, SecretRef, State
from reconciler.core.spec import fingerprint_secret, normalize_spec, spec_digest

SALT = "ab" * 32
BASE_SPEC: dict[str, Any] = {
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": 1,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
}


def desired(name: str, secrets: tuple[SecretRef, ...] = (), **overrides: Any) -> DesiredModel:
    spec = normalize_spec({**BASE_SPEC, **overrides})
    return DesiredModel(name=name, spec=spec, spec_digest=spec_digest(spec), secrets=secrets)


def recorded(
    model: DesiredModel, model_id: str, *, secret_values: dict[str, str] | None = None
) -> RecordedEntry:
    values = secret_values or {}
    secrets = {
        ref.field: RecordedSecret(
            ref.as_manifest(),
            fingerprint_secret(SALT, ref.field, values[ref.field]) if ref.field in values else None,
        )
        for ref in model.secrets
    }
    return RecordedEntry(
        name=model.name,
        model_id=model_id,
        spec=model.spec,
        spec_digest=model.spec_digest,
        deployment_id=f"dep-{model_id}",
        status="MODEL_STATUS_UP",
        secrets=secrets,
    )


def state(*entries: RecordedEntry, **kwargs: Any) -> State:
    return State(
        lineage="11111111-1111-4111-8111-111111111111",
        salt=SALT,
        serial=1,
        entries={entry.name: entry for entry in entries},
        **kwargs,
    )
