"""Adopt step "convert": a live model as the manifest document that describes it.

Pure. The spec is the live model's live fields (`spec.LIVE_FIELDS`) normalised exactly as
drift detection compares them (`spec.normalize_spec`, then `spec.live_view`: zero values
dropped, the mark split off), so the manifest read back plans as a no-op. Fields the API never
reports (UNREPORTED_FIELDS) are named, not guessed: the writer leaves them as commented-out
lines for the user to decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.model import API_VERSION_V1, KIND_MODEL_DEPLOYMENT, SECRET_FIELDS, LiveModel
from reconciler.core.spec import live_view, normalize_spec

# Accepted by Deploy Model but never returned by it, so never in a live model: what the
# model was deployed with is unknown (tests/core/test_live_manifest.py checks this list
# against the schema, so a new spec field cannot be forgotten here).
UNREPORTED_FIELDS: tuple[str, ...] = ("kvCacheEnabled", "cpuOffloadingEnabled", "nodeId")
# The value each unreported field takes when absent: uncommenting it as written changes
# nothing (zero values normalise away), so only a deliberate edit plans a replace.
UNREPORTED_PLACEHOLDERS: Mapping[str, str] = {
    "kvCacheEnabled": "false",
    "cpuOffloadingEnabled": "false",
    "nodeId": '""',
}
# Manifest order of the live fields; anything else the API adds sorts after them.
_SPEC_ORDER = ("modelPath", "gpuType", "gpuCount", "infra", "description", "modelSpec")
_INFRA_ORDER = ("cloudProvider", "nebiusRegion", "lambdaRegion", "onpremRegion")
NAME_MAX = 63
_NAME_CHARS = re.compile(r"[a-z0-9-]")


@dataclass(frozen=True, slots=True)
class ManifestDraft:
    """The manifest for one live model: the document and what it leaves to the user.

    `document` holds secret references only (`{fromEnv: NAME}`), never values.
    `unreported` lists the spec fields left commented out, secrets without a reference
    included.
    """

    name: str
    model_id: str
    document: Mapping[str, Any]
    unreported: tuple[str, ...]


def manifest_from_live(
    live: LiveModel, *, secret_envs: Mapping[str, str], user_id: str | None = None
) -> ManifestDraft:
    """The manifest for `live`. `secret_envs`: secret field -> environment variable named in
    its `{fromEnv: ...}` reference. `user_id` is written as spec.userId when given."""
    reported = live_view(normalize_spec(live.spec))
    spec: dict[str, Any] = {key: reported[key] for key in _SPEC_ORDER if key in reported}
    spec.update({key: reported[key] for key in sorted(reported) if key not in spec})
    infra = spec.get("infra")
    if isinstance(infra, Mapping):
        ordered = {key: infra[key] for key in _INFRA_ORDER if key in infra}
        spec["infra"] = {**ordered, **{k: infra[k] for k in sorted(infra) if k not in ordered}}
    if user_id:
        spec["userId"] = user_id
    for field in SECRET_FIELDS:
        if field in secret_envs:
            spec[field] = {"fromEnv": secret_envs[field]}
    document = {
        "apiVersion": API_VERSION_V1,
        "kind": KIND_MODEL_DEPLOYMENT,
        "metadata": {"name": live.model_name},
        "spec": spec,
    }
    unreported = (*UNREPORTED_FIELDS, *(f for f in SECRET_FIELDS if f not in secret_envs))
    return ManifestDraft(live.model_name, live.model_id, document, unreported)


def name_problem(name: str) -> str | None:
    """The rule of `metadata.name` that `name` breaks, in words; None when it is valid.

    Same rule as the schema's pattern `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`.
    """
    if not name:
        return "it is empty (a name needs 1-63 characters)"
    if len(name) > NAME_MAX:
        return f"it is {len(name)} characters long (at most {NAME_MAX})"
    bad = sorted({char for char in name if not _NAME_CHARS.fullmatch(char)})
    if bad:
        shown = ", ".join(ascii(char) for char in bad)
        return f"it holds characters other than lowercase letters, digits and '-' ({shown})"
    if name[0] == "-" or name[-1] == "-":
        return "it must start and end with a lowercase letter or digit, not '-'"
    return None
