"""Resolve secret references (`fromEnv`, `fromFile`) to values, at the last moment.

Values stay in memory only: they go into the Deploy Model request and into keyed
fingerprints, never into messages, logs or files. Errors name the reference.
A `fromFile` is read only inside the config repository holding the manifest (see
confined_files): regular files of at most 64 KiB.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.adapters import confined_files
from reconciler.core.errors import SecretError
from reconciler.core.model import SECRET_FIELDS, DesiredModel, Issue, SecretRef, SecretSource
from reconciler.core.spec import fingerprint_secret
from reconciler.core.validate import ManifestDocument, format_json_path

# name -> field -> value
SecretValues = dict[str, dict[str, str]]
MAX_SECRET_BYTES = confined_files.MAX_SECRET_BYTES
_MISSING = "which is missing, unreadable or empty"


def _read(ref: SecretRef, env: Mapping[str, str]) -> str | None:
    value, _ = _read_or_reason(ref, env)
    return value


def _read_or_reason(ref: SecretRef, env: Mapping[str, str]) -> tuple[str | None, str]:
    """(value, "") or (None, why not); the reason never holds the value."""
    if ref.source is SecretSource.FROM_ENV:
        return env.get(ref.target) or None, ""
    path = os.path.join(ref.base_dir, ref.target)
    root = confined_files.config_root(ref.base_dir)
    try:
        data = confined_files.read_file(path, root=root, limit=MAX_SECRET_BYTES)
        # Trailing newlines from `echo > file` are not part of the secret.
        return data.decode("utf-8").rstrip("\r\n") or None, _MISSING
    except confined_files.RefusedFile as exc:
        return None, f"which is refused: {exc}"
    except (OSError, UnicodeDecodeError):
        return None, _MISSING


def _problem(name: str, ref: SecretRef, reason: str) -> str:
    if ref.source is SecretSource.FROM_ENV:
        return f"{name}: {ref.field} needs environment variable {ref.target}, which is not set"
    path = Path(ref.base_dir, ref.target)
    return f"{name}: {ref.field} needs file {path}, {reason}"


def resolve_secrets(models: Sequence[DesiredModel], env: Mapping[str, str]) -> SecretValues:
    """Every secret of these models, or SecretError naming ALL that are missing."""
    values: SecretValues = {}
    missing = []
    for model in models:
        for ref in model.secrets:
            value, reason = _read_or_reason(ref, env)
            if value is None:
                missing.append(_problem(model.name, ref, reason))
            else:
                values.setdefault(model.name, {})[ref.field] = value
    if missing:
        raise SecretError(
            "cannot resolve secrets; nothing was called:\n  " + "\n  ".join(sorted(missing))
        )
    return values


def fingerprint_available(
    models: Sequence[DesiredModel], salt: str, env: Mapping[str, str]
) -> dict[str, dict[str, str | None]]:
    """Fingerprints of the secrets that can be read here; None where a value is unavailable."""
    out: dict[str, dict[str, str | None]] = {}
    for model in models:
        for ref in model.secrets:
            value = _read(ref, env)
            fingerprint = None if value is None else fingerprint_secret(salt, ref.field, value)
            out.setdefault(model.name, {})[ref.field] = fingerprint
    return out


def unresolved(models: Sequence[DesiredModel], env: Mapping[str, str]) -> list[str]:
    """`plan`'s preflight: one warning per reference that cannot be read here (a plan still
    works without it, but cannot check rotation, and apply will fail)."""
    warnings = []
    for model in models:
        for ref in model.secrets:
            value, reason = _read_or_reason(ref, env)
            if value is None:
                fix = (
                    f"unless {ref.target} is set"
                    if ref.source is SecretSource.FROM_ENV
                    else f"unless {Path(ref.base_dir, ref.target)} can be read"
                )
                problem = _problem(model.name, ref, reason)
                warnings.append(f"{problem}: rotation not checked; apply will fail {fix}")
    return sorted(warnings)


def check_secret_files(
    documents: Sequence[ManifestDocument], resolver: confined_files.Resolver | None = None
) -> list[Issue]:
    """Offline check of every `fromFile`: inside the config repository, a regular file,
    at most 64 KiB. Looks without reading; a file not there yet (written by CI before
    apply) is not a problem here, as an unset variable is not."""
    resolver = resolver or confined_files.Resolver()
    issues = []
    for document in documents:
        for field, target in _file_refs(document.content):
            path = os.path.join(document.base_dir, target)
            try:
                root = confined_files.config_root(document.base_dir, resolver)
                confined_files.check_file(
                    path, root=root, limit=MAX_SECRET_BYTES, resolver=resolver
                )
            except confined_files.RefusedFile as exc:
                where: tuple[str | int, ...] = ("spec", field, "fromFile")
                issues.append(
                    Issue(
                        document.locator.locate(where),
                        f"secret file for {field} refused: {exc}",
                        format_json_path(where),
                    )
                )
            except OSError:
                continue  # missing or not looked at: resolving at plan/apply names it
    return issues


def _file_refs(content: Any) -> list[tuple[str, str]]:
    spec = content.get("spec") if isinstance(content, dict) else None
    if not isinstance(spec, dict):
        return []
    refs = []
    for field in SECRET_FIELDS:
        ref = spec.get(field)
        target = ref.get("fromFile") if isinstance(ref, dict) else None
        if isinstance(target, str) and target:
            refs.append((field, target))
    return refs
