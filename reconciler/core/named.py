"""Which live model answers to a name: the rule behind every lookup by `modelName`.

Pure: takes models already listed. Names are unique per user among models that are not
deleted, but deleted ones linger in lists, and a race may leave two live ones for a while.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from reconciler.core.model import LiveModel


def model_named(models: Iterable[LiveModel], name: str) -> LiveModel | None:
    """The model called `name` that is not deleted; of several, the newest (then highest id)."""
    matches = [model for model in models if model.model_name == name and not model.is_deleted]
    if not matches:
        return None
    return max(matches, key=lambda model: (_created_at(model), model.model_id))


def _created_at(model: LiveModel) -> datetime:
    if model.created_at:
        try:
            parsed = datetime.fromisoformat(model.created_at)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)
