"""The sandbox's fixed vocabulary: known enums, the modelName rule and the GPU price list.

Static data only; no behaviour. Values follow the reference; docs/sandbox.md marks
the inferred ones.
"""

from __future__ import annotations

import re

from reconciler.core.model import GPU_TYPES, STATUS_DELETED, STATUS_INIT, STATUS_UP

__all__ = [
    "CLOUD_PROVIDERS",
    "EVENT_ERROR",
    "EVENT_INFO",
    "GPU_PRICING",
    "GPU_TYPES",
    "INACTIVE_PRICING",
    "MODEL_NAME_PATTERN",
    "STATUS_DELETED",
    "STATUS_FAILED",
    "STATUS_INIT",
    "STATUS_UP",
]

# Not in the documented enum list, but the lifecycle needs a terminal failure state.
STATUS_FAILED = "MODEL_STATUS_FAILED"

# Only the _UNSPECIFIED event type is documented; these two are the sandbox's own.
EVENT_INFO = "MODEL_EVENT_TYPE_INFO"
EVENT_ERROR = "MODEL_EVENT_TYPE_ERROR"

CLOUD_PROVIDERS: tuple[str, ...] = (
    "CLOUD_PROVIDER_NEBIUS",
    "CLOUD_PROVIDER_LAMBDA",
    "CLOUD_PROVIDER_YOTTA",
    "CLOUD_PROVIDER_ONPREM",
)

# Same rule as manifests' metadata.name: lowercase alphanumerics and '-', 1-63, alnum at both ends.
MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")

# (cloudProvider, gpuType) -> hourly USD rate in nanos, realistic on-demand list prices.
GPU_PRICING: dict[tuple[str, str], int] = {
    ("CLOUD_PROVIDER_NEBIUS", "GPU_TYPE_A100"): 1_800_000_000,
    ("CLOUD_PROVIDER_NEBIUS", "GPU_TYPE_H100"): 2_950_000_000,
    ("CLOUD_PROVIDER_NEBIUS", "GPU_TYPE_H200"): 3_500_000_000,
    ("CLOUD_PROVIDER_NEBIUS", "GPU_TYPE_B200"): 5_500_000_000,
    ("CLOUD_PROVIDER_LAMBDA", "GPU_TYPE_A100"): 1_290_000_000,
    ("CLOUD_PROVIDER_LAMBDA", "GPU_TYPE_H100"): 2_490_000_000,
    ("CLOUD_PROVIDER_LAMBDA", "GPU_TYPE_H200"): 3_290_000_000,  # inactive, see below
    ("CLOUD_PROVIDER_LAMBDA", "GPU_TYPE_B200"): 4_990_000_000,
    ("CLOUD_PROVIDER_YOTTA", "GPU_TYPE_H100"): 2_100_000_000,
    ("CLOUD_PROVIDER_YOTTA", "GPU_TYPE_H200"): 3_000_000_000,
}

# Rows listed with isActive=false (hidden by activeOnly=true): a guess at how a retired
# offer looks, so that clients meet one.
INACTIVE_PRICING: frozenset[tuple[str, str]] = frozenset(
    {("CLOUD_PROVIDER_LAMBDA", "GPU_TYPE_H200")}
)
