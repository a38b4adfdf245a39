"""How many examples a property test draws: its own count, scaled by
HYPOTHESIS_EXAMPLES_SCALE (`make test-fast` draws a fifth; `make test` all of them)."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("HYPOTHESIS_EXAMPLES_SCALE", "1"))


def examples(count: int) -> int:
    return max(10, round(count * SCALE))
