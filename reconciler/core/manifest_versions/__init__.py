"""The registry of manifest versions: apiVersion -> the module that checks and converts it.

A new version is one schema file plus one small module implementing `ManifestVersion`.
Pure: nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.manifest_versions import v1
from reconciler.core.manifest_versions.base import JsonPath, ManifestVersion, Problem

VERSIONS: Mapping[str, ManifestVersion] = {v1.API_VERSION: v1}


def supported_versions() -> tuple[str, ...]:
    return tuple(sorted(VERSIONS))


__all__ = ["VERSIONS", "JsonPath", "ManifestVersion", "Problem", "supported_versions"]
