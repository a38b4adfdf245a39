"""Baseline: parse every *.yaml under a folder with PyYAML's C loader, nothing else.

Run as `python -m bench.parse_only DIR` so it pays the same interpreter start as the CLI.
"""

from __future__ import annotations

import os
import sys

import yaml


def main(folder: str) -> int:
    documents = 0
    for name in sorted(os.listdir(folder)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(folder, name), "rb") as handle:
                documents += sum(1 for _ in yaml.load_all(handle.read(), Loader=yaml.CSafeLoader))
    print(documents)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
