"""Adopt step: the recorded entry for a live model taken over by `state import`.

Pure. With the manifest at hand, a model whose live fields match it is recorded with the
manifest's spec and the fingerprints of the current secret values (marked assumed: the
API never returns secrets, so they cannot be checked), so that the next plan is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.model import DesiredModel, LiveModel, RecordedEntry, RecordedSecret
from reconciler.core.spec import live_differences, normalize_spec, spec_digest


def adopted_entry(
    name: str,
    live: LiveModel,
    *,
    owner: str,
    desired: DesiredModel | None = None,
    fingerprints: Mapping[str, str | None] | None = None,
) -> RecordedEntry:
    """The entry recording `live` as `name`. Without a manifest, or when the live model
    differs from it, the live spec without secrets: the next plan then shows the difference
    as a replace. `fingerprints`: field -> fingerprint of the current value, or None."""
    base = RecordedEntry(
        name=name,
        model_id=live.model_id,
        spec=normalize_spec(live.spec),
        spec_digest=spec_digest(normalize_spec(live.spec)),
        deployment_id=live.deployment_id,
        status=live.status,
        user_id=live.user_id or owner,
    )
    if desired is None or live_differences(desired.spec, live.spec):
        return base
    # Identical where the API can tell; the fields it never returns (kvCacheEnabled, nodeId,
    # ...) and the secrets are taken from the manifest: assumed, like the secrets.
    prints = fingerprints or {}
    secrets = {
        ref.field: RecordedSecret(ref.as_manifest(), prints.get(ref.field), assumed=True)
        for ref in desired.secrets
    }
    return RecordedEntry(
        name=name,
        model_id=base.model_id,
        spec=desired.spec,
        spec_digest=desired.spec_digest,
        deployment_id=base.deployment_id,
        status=base.status,
        user_id=base.user_id,
        secrets=secrets,
    )
