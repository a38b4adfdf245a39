"""Manifest version `tensormesh.gitops/v1`: checks the schema cannot say, and the conversion.

Pure: gets already-parsed documents, never reads files, never echoes a secret literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.core import desired
from reconciler.core.manifest_versions.base import JsonPath, Problem
from reconciler.core.model import (
    API_VERSION_V1,
    SECRET_FIELDS,
    DesiredModel,
    Location,
    ReconcilePolicy,
    ReplaceStrategy,
    SecretSource,
)

API_VERSION = API_VERSION_V1
SCHEMA_FILE = "modeldeployment.v1.json"
QUIET_PATHS: tuple[JsonPath, ...] = tuple(("spec", name) for name in SECRET_FIELDS)

SECRET_SOURCES = tuple(source.value for source in SecretSource)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# region field -> the only cloudProvider it may be used with
REGION_PROVIDERS = {
    "nebiusRegion": "CLOUD_PROVIDER_NEBIUS",
    "lambdaRegion": "CLOUD_PROVIDER_LAMBDA",
}


def check_document(document: Mapping[str, Any]) -> list[Problem]:
    spec = document.get("spec")
    if not isinstance(spec, Mapping):
        return []
    problems = [p for name in SECRET_FIELDS if name in spec for p in _check_secret(spec, name)]
    infra = spec.get("infra")
    if isinstance(infra, Mapping):
        problems.extend(_check_regions(infra))
    return problems


def _check_secret(spec: Mapping[str, Any], name: str) -> list[Problem]:
    # Messages describe the shape only: the value may be a pasted token.
    value = spec[name]
    path: JsonPath = ("spec", name)
    usage = f"use {name}: {{fromEnv: NAME}} or {name}: {{fromFile: PATH}}"
    if not isinstance(value, Mapping):
        return [Problem(path, f"secret field '{name}' must not hold a literal value; {usage}")]
    keys = [key for key in value if key in SECRET_SOURCES]
    if len(value) != 1 or len(keys) != 1:
        return [
            Problem(
                path, f"secret field '{name}' needs exactly one of fromEnv or fromFile; {usage}"
            )
        ]
    source = keys[0]
    target = value[source]
    if not isinstance(target, str) or not target:
        return [Problem((*path, source), f"{source} must be a non-empty string")]
    if source == SecretSource.FROM_ENV.value and not _ENV_NAME.fullmatch(target):
        return [
            Problem(
                (*path, source), "fromEnv must name an environment variable (letters, digits, '_')"
            )
        ]
    return []


def _check_regions(infra: Mapping[str, Any]) -> list[Problem]:
    provider = infra.get("cloudProvider")
    problems = []
    for region_field, wanted in REGION_PROVIDERS.items():
        if region_field in infra and isinstance(provider, str) and provider != wanted:
            problems.append(
                Problem(
                    ("spec", "infra", region_field),
                    f"{region_field} is only allowed with cloudProvider {wanted}, "
                    f"not {provider}; remove it or change the provider",
                    at_key=True,
                )
            )
    return problems


def to_desired(document: Mapping[str, Any], *, location: Location, base_dir: str) -> DesiredModel:
    metadata: Mapping[str, Any] = document["metadata"]
    reconcile: Mapping[str, Any] = document.get("reconcile") or {}
    self_heal = reconcile.get("selfHeal")
    policy = ReconcilePolicy(
        self_heal=None if self_heal is None else bool(self_heal),
        replace_strategy=ReplaceStrategy(reconcile.get("replaceStrategy", "deleteFirst")),
        protect=bool(reconcile.get("protect", False)),
    )
    return desired.make_desired(
        name=metadata["name"],
        spec=document["spec"],
        labels=metadata.get("labels") or {},
        policy=policy,
        location=location,
        base_dir=base_dir,
    )
