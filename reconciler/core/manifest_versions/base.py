"""What every manifest version provides: a schema file, extra checks and a conversion.

Pure: a version module never reads files; the schema is loaded by an adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.core.model import DesiredModel, Location

# A path into a document: mapping keys and sequence indexes.
JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """A finding inside one document, before it is given a file position."""

    path: JsonPath
    message: str
    at_key: bool = False  # point at the key itself rather than at its value


class ManifestVersion(Protocol):
    """The interface a module under `manifest_versions` implements."""

    API_VERSION: str
    SCHEMA_FILE: str
    # Paths whose schema errors are never shown: their own check words the message
    # (a secret's literal must not be echoed back).
    QUIET_PATHS: tuple[JsonPath, ...]

    def check_document(self, document: Mapping[str, Any]) -> list[Problem]:
        """Checks beyond the schema, on a document already shaped like a mapping."""
        ...

    def to_desired(
        self, document: Mapping[str, Any], *, location: Location, base_dir: str
    ) -> DesiredModel:
        """Turn a document that passed every check into the internal model."""
        ...
