"""Git settings that merge the state file with `state merge-driver` during one git command.

The write-back's own rebase uses them, so `--push` merges state files even in a clone where
nobody installed the driver. Builds `git -c ...` arguments and a temporary attributes file;
never writes the repository's configuration, runs no git itself.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

NAME = "tensormesh-state"  # merge=tensormesh-state in .gitattributes
_PATTERN_SPECIALS = re.compile(r"([*?\[\]\\])")


def driver_command() -> str:
    """The driver's command line for this very installation (git runs it through a shell)."""
    return f"{shlex.quote(sys.executable)} -m reconciler state merge-driver %O %A %B"


def attributes_line(state_relative: str) -> str:
    """`/path/to/state.json merge=tensormesh-state`, the path taken literally."""
    pattern = "/" + _PATTERN_SPECIALS.sub(r"\\\1", state_relative)
    if any(char.isspace() for char in pattern):
        pattern = '"' + pattern.replace('"', '\\"') + '"'
    return f"{pattern} merge={NAME}"


@contextmanager
def git_settings(state_relative: str, *, user_attributes: Sequence[str]) -> Iterator[list[str]]:
    """`-c` arguments for one git command: an attributes file naming the state file (after
    the user's own global attributes, which it replaces for that command) and the driver."""
    handle, name = tempfile.mkstemp(prefix="tensormesh-attributes-", text=True)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("\n".join([*user_attributes, attributes_line(state_relative)]) + "\n")
        yield [
            "-c",
            f"core.attributesFile={name}",
            "-c",
            f"merge.{NAME}.name=tensormesh-reconciler state merge driver",
            "-c",
            f"merge.{NAME}.driver={driver_command()}",
        ]
    finally:
        Path(name).unlink(missing_ok=True)
