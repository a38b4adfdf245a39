"""Write adopted manifests: render a ManifestDraft as YAML and create its file, never
overwriting one.

File I/O and YAML only; what goes into a manifest is decided in core/live_manifest.py.
A file appears whole or not at all (written aside, then hard-linked into place, which fails
when the name exists), so an interrupted adopt never leaves half a manifest.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode

from reconciler.adapters.atomic_file import fsync_dir, write_all
from reconciler.adapters.yaml_loader import STR_TAG, CoreResolver
from reconciler.core.live_manifest import UNREPORTED_PLACEHOLDERS, ManifestDraft

SCHEMA_FILE = "modeldeployment.v1.json"
SCHEMA_ID = "https://schemas.tensormesh.ai/gitops/modeldeployment.v1.json"
_SECRET_PLACEHOLDER_ENV = {"hfToken": "HF_TOKEN", "apiKey": "API_KEY"}
_CORE = CoreResolver()


class _Dumper(yaml.SafeDumper):
    """Quotes every string that YAML 1.1 (PyYAML, many editors) or YAML 1.2 core (our
    loader) would read as something else: PyYAML alone writes `1e5` or `0o17` bare, which
    our loader reads back as numbers."""

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        if kind is ScalarNode and implicit[0] and tag == STR_TAG:
            return _CORE.resolve(kind, value, implicit)
        return tag


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Several lines read best as a literal block (PyYAML falls back to quotes when it must);
    # anything else unprintable (NEL, U+2028, escapes) goes double-quoted, where every
    # character has an escape and none is folded or taken for a line break.
    lines = value.split("\n")
    style: str | None = None
    if len(lines) > 1 and all(line.isprintable() for line in lines):
        style = "|"
    elif not value.isprintable():
        style = '"'
    return dumper.represent_scalar(STR_TAG, value, style=style)


_Dumper.add_representer(str, _represent_str)


def render_manifest(draft: ManifestDraft, *, schema_ref: str, folder: str) -> bytes:
    """The file: schema comment, provenance, the document, then the fields the API does
    not report as commented-out lines (spec is the document's last key, so they land in it)."""
    body = yaml.dump(
        dict(draft.document),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    model_id, folder = _safe(draft.model_id), _safe(folder)
    lines = [
        f"# yaml-language-server: $schema={_safe(schema_ref)}",
        f"# Adopted from live model {model_id} by `tensormesh-reconciler adopt`.",
        body.rstrip("\n"),
    ]
    if draft.unreported:
        lines += [
            "  # Not reported by the API, so unknown here: set them to what the model was",
            "  # deployed with. Uncommented as written, the non-secret ones change nothing;",
            "  # another value or a secret plans a replace. To record them without one:",
            f"  # `state rm {draft.name}`, then `state import {draft.name} {model_id} {folder}`.",
        ]
        lines += [f"  # {_placeholder(f)}  # not reported by the API" for f in draft.unreported]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _safe(text: str) -> str:
    # Comments hold values from the API and the command line: a line break there would
    # end the comment and inject YAML.
    return text if text.isprintable() else ascii(text)


def _placeholder(field: str) -> str:
    if field in _SECRET_PLACEHOLDER_ENV:
        return f"{field}: {{fromEnv: {_SECRET_PLACEHOLDER_ENV[field]}}}"
    return f"{field}: {UNREPORTED_PLACEHOLDERS.get(field, '')}".rstrip()


def schema_ref_for(out_dir: str | Path) -> str:
    """The `$schema` for files in `out_dir`: a relative path to the nearest
    `schemas/modeldeployment.v1.json` in it or a folder above (a config repo's copy), else
    the schema's `$id`."""
    start = Path(os.path.abspath(out_dir))
    for folder in (start, *start.parents):
        candidate = folder / "schemas" / SCHEMA_FILE
        if candidate.is_file():
            return Path(os.path.relpath(candidate, start)).as_posix()
    return SCHEMA_ID


def create_new_file(path: Path, data: bytes) -> None:
    """Create `path` holding `data`; FileExistsError when anything exists under that name
    (a dangling symlink included). Other failures raise OSError and leave nothing behind."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and exclusive: fails with EEXIST, never replaces
        except OSError as exc:
            if exc.errno in (errno.EEXIST,) or not _no_hard_links(exc):
                raise
            _create_exclusive(path, data)  # file systems without hard links
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    fsync_dir(path.parent)


def _no_hard_links(exc: OSError) -> bool:
    return exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV)


def _create_exclusive(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)
