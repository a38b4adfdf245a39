"""Locate and load the JSON Schemas of the manifest versions, compiled once per process.

Reads files only; the rules they express are applied in core/validate.py.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from reconciler.core.errors import ReconcilerError
from reconciler.core.manifest_versions import VERSIONS
from reconciler.core.validate import SchemaValidator, compile_schema


def schemas_dir() -> Traversable:
    """The installed wheel's `reconciler/schemas`, else the repository's `schemas/`."""
    packaged = files("reconciler") / "schemas"
    if packaged.is_dir():
        return packaged
    # Editable installs and source checkouts: the top-level folder beside the package.
    return Path(__file__).resolve().parents[2] / "schemas"


@functools.cache
def load_schema(file_name: str) -> Mapping[str, Any]:
    path = schemas_dir() / file_name
    try:
        schema: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReconcilerError(
            f"cannot load the manifest schema {file_name} from {path}: {exc}; "
            "the installation looks broken, reinstall tensormesh-reconciler"
        ) from exc
    return schema


@functools.cache
def load_validators() -> Mapping[str, SchemaValidator]:
    """apiVersion -> compiled validator, for every supported manifest version."""
    return {
        api_version: compile_schema(load_schema(version.SCHEMA_FILE))
        for api_version, version in VERSIONS.items()
    }
