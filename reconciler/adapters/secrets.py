"""Resolve secret references (`fromEnv`, `fromFile`) to values, at the last moment.

Values stay in memory only: they go into the Deploy Model request and into keyed
fingerprints, never into messages, logs or files. Errors name the reference.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.core.errors import SecretError
from reconciler.core.model import DesiredModel, SecretRef
from reconciler.core.spec import fingerprint_secret

# name -> field -> value
SecretValues = dict[str, dict[str, str]]


def _read(ref: SecretRef, env: Mapping[str, str]) -> str | None:
    if ref.source == "fromEnv":
        return env.get(ref.target) or None
    path = Path(ref.base_dir, ref.target)
    try:
        # Trailing newlines from `echo > file` are not part of the secret.
        return path.read_text(encoding="utf-8").rstrip("\r\n") or None
    except (OSError, UnicodeDecodeError):
        return None


def _problem(name: str, ref: SecretRef) -> str:
    if ref.source == "fromEnv":
        return f"{name}: {ref.field} needs environment variable {ref.target}, which is not set"
    path = Path(ref.base_dir, ref.target)
    return f"{name}: {ref.field} needs file {path}, which is missing, unreadable or empty"


def resolve_secrets(
    models: Sequence[DesiredModel], env: Mapping[str, str] | None = None
) -> SecretValues:
    """Every secret of these models, or SecretError naming ALL that are missing."""
    env = os.environ if env is None else env
    values: SecretValues = {}
    missing = []
    for model in models:
        for ref in model.secrets:
            value = _read(ref, env)
            if value is None:
                missing.append(_problem(model.name, ref))
            else:
                values.setdefault(model.name, {})[ref.field] = value
    if missing:
        raise SecretError(
            "cannot resolve secrets; nothing was called:\n  " + "\n  ".join(sorted(missing))
        )
    return values


def fingerprint_available(
    models: Sequence[DesiredModel], salt: str, env: Mapping[str, str] | None = None
) -> dict[str, dict[str, str | None]]:
    """Fingerprints of the secrets that can be read here; None where a value is unavailable."""
    env = os.environ if env is None else env
    out: dict[str, dict[str, str | None]] = {}
    for model in models:
        for ref in model.secrets:
            value = _read(ref, env)
            fingerprint = None if value is None else fingerprint_secret(salt, ref.field, value)
            out.setdefault(model.name, {})[ref.field] = fingerprint
    return out


def unresolved(models: Sequence[DesiredModel], env: Mapping[str, str] | None = None) -> list[str]:
    """`plan`'s preflight: one warning per reference that cannot be read here (a plan still
    works without it, but cannot check rotation, and apply will fail)."""
    env = os.environ if env is None else env
    warnings = []
    for model in models:
        for ref in model.secrets:
            if _read(ref, env) is None:
                fix = (
                    f"unless {ref.target} is set"
                    if ref.source == "fromEnv"
                    else f"unless {Path(ref.base_dir, ref.target)} can be read"
                )
                warnings.append(
                    f"{_problem(model.name, ref)}: rotation not checked; apply will fail {fix}"
                )
    return sorted(warnings)
