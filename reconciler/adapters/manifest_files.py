"""Step "read": find the manifest files under the given paths and check them as one set.

Only discovery and file reading live here; parsing is yaml_loader, rules are core/validate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from reconciler.adapters import schema_files, yaml_loader
from reconciler.core import validate
from reconciler.core.desired import manifests_digest
from reconciler.core.errors import ManifestError, UsageError
from reconciler.core.model import DesiredModel, Issue, Location

MANIFEST_SUFFIXES = (".yaml", ".yml")

__all__ = ["check_manifests", "find_manifest_files", "load_desired", "manifests_digest"]


def find_manifest_files(paths: Sequence[str]) -> tuple[str, ...]:
    """Every manifest file under `paths`, sorted; files named directly count whatever their name.

    Paths keep the form the user gave (relative stays relative) so messages match.
    """
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        names = ", ".join(repr(path) for path in missing)
        raise UsageError(f"manifest path not found: {names}; check the path and try again")
    found: dict[str, str] = {}  # real path -> path as shown, so overlapping arguments read once
    for path in paths:
        for file in _walk(path):
            found.setdefault(os.path.abspath(file), file)
    if not found:
        raise UsageError(
            f"no *.yaml or *.yml files found under {', '.join(paths)}; "
            "point at a manifest file or a folder holding some"
        )
    return tuple(sorted(found.values()))


def _walk(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    files: list[str] = []
    for folder, subfolders, names in os.walk(path):
        # Hidden folders (.git, .github workflows, editor caches) never hold manifests;
        # a hidden folder named on the command line is still read.
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        files.extend(
            os.path.join(folder, name) for name in names if name.endswith(MANIFEST_SUFFIXES)
        )
    return files


def check_manifests(
    paths: Sequence[str],
) -> tuple[tuple[DesiredModel, ...], tuple[Issue, ...], int]:
    """(valid entries sorted by name, every issue sorted by place, number of files read)."""
    files = find_manifest_files(paths)
    documents: list[validate.ManifestDocument] = []
    issues: list[Issue] = []
    for file in files:
        loaded = _read(file)
        documents.extend(loaded.documents)
        issues.extend(loaded.issues)
    result = validate.check_documents(documents, schema_files.load_validators())
    all_issues = tuple(sorted({*issues, *result.issues}))
    return result.desired, all_issues, len(files)


def load_desired(paths: Sequence[str]) -> tuple[DesiredModel, ...]:
    """The desired set, sorted by name; raises ManifestError carrying every issue found."""
    desired, issues, _ = check_manifests(paths)
    if issues:
        raise ManifestError(issues)
    return desired


def _read(file: str) -> yaml_loader.LoadResult:
    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        issue = Issue(Location(file), f"cannot read file: {reason}", "$")
        return yaml_loader.LoadResult((), (issue,))
    return yaml_loader.load_file_bytes(data, file)


def locate_field(model: DesiredModel, dotted: str) -> Location | None:
    """Where `spec.<dotted>` of this entry is written (for an API 400 naming a field);
    None when the file cannot be read again or the field is not written there."""
    result = _read(model.location.file)
    path = ("spec", *dotted.split("."))
    for document in result.documents:
        content = document.content
        metadata = content.get("metadata") if isinstance(content, dict) else None
        if not isinstance(metadata, dict) or metadata.get("name") != model.name:
            continue
        node: object = content
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return document.locator.locate(path, at_key=True)
    return None
