"""Step "read": find the manifest files under the given paths and check them as one set.

Only discovery and file reading live here; parsing is yaml_loader, rules are core/validate.
Nothing under a path is skipped silently: a manifest that is a FIFO, a device, too big or
a symlink leaving the config repository is an issue naming it, found before it is opened.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from reconciler.adapters import confined_files, schema_files, secrets, yaml_loader
from reconciler.core import validate
from reconciler.core.desired import manifests_digest
from reconciler.core.errors import ManifestError, UsageError
from reconciler.core.model import DesiredModel, Issue, Location

MANIFEST_SUFFIXES = (".yaml", ".yml")
MAX_MANIFEST_BYTES = confined_files.MAX_MANIFEST_BYTES

__all__ = ["check_manifests", "find_manifest_files", "load_desired", "manifests_digest"]


def find_manifest_files(paths: Sequence[str]) -> tuple[str, ...]:
    """Every manifest file under `paths`, sorted; files named directly count whatever their name.

    Paths keep the form the user gave (relative stays relative) so messages match.
    """
    return tuple(sorted(_discover(paths, confined_files.Resolver())))


def _discover(paths: Sequence[str], resolver: confined_files.Resolver) -> dict[str, str]:
    """Path as shown -> the config repository it must stay inside."""
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        names = ", ".join(repr(path) for path in missing)
        raise UsageError(f"manifest path not found: {names}; check the path and try again")
    found: dict[str, tuple[str, str]] = {}  # real path -> (as shown, root): read once
    for path in paths:
        folder = path if os.path.isdir(path) else os.path.dirname(path) or "."
        root = confined_files.config_root(folder, resolver)
        files = _walk(path, root, set()) if os.path.isdir(path) else [path]
        for file in files:
            found.setdefault(resolver.realpath(file), (file, root))
    if not found:
        raise UsageError(
            f"no *.yaml or *.yml files found under {', '.join(paths)}; "
            "point at a manifest file or a folder holding some"
        )
    return dict(found.values())


def _walk(folder: str, root: str, seen: set[str]) -> list[str]:
    real = os.path.realpath(folder)
    if real in seen:
        return []  # a symlink loop, or a folder reached twice through links
    seen.add(real)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return [folder]  # reading it as a file reports why it cannot be read
    files: list[str] = []
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            # Hidden folders (.git, .github workflows, editor caches) never hold manifests;
            # a hidden folder named on the command line is still read.
            if name.startswith("."):
                continue
            if os.path.islink(path) and not confined_files.is_inside(os.path.realpath(path), root):
                files.append(path)  # reported when read: a link leading out of the tree
            else:
                files.extend(_walk(path, root, seen))
        elif name.endswith(MANIFEST_SUFFIXES):
            files.append(path)  # whatever it is (FIFO, device, dangling link): checked on read
    return files


def check_manifests(
    paths: Sequence[str],
) -> tuple[tuple[DesiredModel, ...], tuple[Issue, ...], int]:
    """(valid entries sorted by name, every issue sorted by place, number of files read)."""
    resolver = confined_files.Resolver()  # one pass: each folder resolved once
    files = _discover(paths, resolver)
    documents: list[validate.ManifestDocument] = []
    issues: list[Issue] = []
    for file in sorted(files):
        loaded = _read(file, files[file], resolver)
        documents.extend(loaded.documents)
        issues.extend(loaded.issues)
    result = validate.check_documents(documents, schema_files.load_validators())
    issues.extend(secrets.check_secret_files(documents, resolver))
    all_issues = tuple(sorted({*issues, *result.issues}))
    return result.desired, all_issues, len(files)


def load_desired(paths: Sequence[str]) -> tuple[DesiredModel, ...]:
    """The desired set, sorted by name; raises ManifestError carrying every issue found."""
    desired, issues, _ = check_manifests(paths)
    if issues:
        raise ManifestError(issues)
    return desired


def _read(file: str, root: str, resolver: confined_files.Resolver) -> yaml_loader.LoadResult:
    try:
        data = confined_files.read_file(
            file, root=root, limit=MAX_MANIFEST_BYTES, resolver=resolver
        )
    except confined_files.RefusedFile as exc:
        issue = Issue(Location(file), f"not read: {exc}", "$")
        return yaml_loader.LoadResult((), (issue,))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        issue = Issue(Location(file), f"cannot read file: {reason}", "$")
        return yaml_loader.LoadResult((), (issue,))
    return yaml_loader.load_file_bytes(data, file)
