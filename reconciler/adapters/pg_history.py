"""Audit step for a PostgreSQL state: one append-only history row per run that wrote.

Who (git identity and the CI's variables where present), when (the server's clock), the
command, the manifests' git revision, the plan summary and each entry's outcome and IDs.
Never holds a secret: outcomes carry names, results, model IDs and statuses only.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.core.model import Intent, Plan, RecordedEntry
from reconciler.core.outcome import ApplyResult
from reconciler.core.record import JournalRecord

# CI variables worth keeping (names, run ids, links); none of them is a secret.
CI_VARIABLES = (
    "GITHUB_ACTOR",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_WORKFLOW",
    "GITHUB_SHA",
    "GITLAB_USER_LOGIN",
    "GITLAB_USER_EMAIL",
    "CI_PROJECT_PATH",
    "CI_PIPELINE_ID",
    "CI_JOB_ID",
    "CI_COMMIT_SHA",
    "BUILD_URL",
)


def current_actor(env: Mapping[str, str]) -> dict[str, Any]:
    actor: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    with contextlib.suppress(KeyError, OSError):
        actor["user"] = getpass.getuser()
    name, email = _git("config", "user.name"), _git("config", "user.email")
    if name or email:
        actor["git"] = f"{name or '?'} <{email or '?'}>"
    ci = {key: env[key] for key in CI_VARIABLES if env.get(key)}
    if ci:
        actor["ci"] = ci
    return actor


def current_revision(env: Mapping[str, str], manifests: Sequence[str] = ()) -> str | None:
    """The git commit of the manifests' checkout (else of the working folder, else CI's)."""
    where = Path(manifests[0]) if manifests else Path.cwd()
    folder = str(where if where.is_dir() else where.parent)
    return (
        _git("-C", folder, "rev-parse", "HEAD") or env.get("GITHUB_SHA") or env.get("CI_COMMIT_SHA")
    )


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def history_entry(
    command: str,
    records: Sequence[JournalRecord],
    *,
    plan: Plan | None = None,
    result: ApplyResult | None = None,
    env: Mapping[str, str] | None = None,
    manifests: Sequence[str] = (),
    revision: str | None = None,
) -> dict[str, Any] | None:
    """The row for a run, or None for one that neither planned nor recorded anything (a
    `state rm` that found no entry); a no-op apply is kept: who looked, and found it so.

    `revision`: the checkout's commit when the run knows it (the one the state records);
    else it is looked up from the manifests' folder, the working folder or the CI."""
    if not records and plan is None:
        return None
    env = {} if env is None else env  # the session notes its environment (session.py)
    outcomes = _outcomes_of(result) if result is not None else _outcomes_from(records)
    return {
        "actor": current_actor(env),
        "command": command,
        "revision": revision or current_revision(env, manifests),
        "summary": plan.summary() if plan is not None else None,
        "outcomes": outcomes,
    }


def _outcomes_of(result: ApplyResult) -> list[dict[str, Any]]:
    rows = []
    for outcome in result.outcomes:
        row: dict[str, Any] = {
            "name": outcome.name,
            "action": outcome.action.value,
            "result": outcome.result.value,
        }
        for key, value in (
            ("modelId", outcome.model_id),
            ("status", outcome.status),
            ("requestId", outcome.request_id),
        ):
            if value is not None:
                row[key] = value
        rows.append(row)
    return rows


def _outcomes_from(records: Sequence[JournalRecord]) -> list[dict[str, Any]]:
    """Without an apply result (state rm/import, reconcile): what each record did."""
    last: dict[str, dict[str, Any]] = {}
    for rec in records:
        if isinstance(rec.payload, RecordedEntry):
            last[rec.name] = {
                "name": rec.name,
                "result": "recorded",
                "modelId": rec.payload.model_id,
            }
        elif isinstance(rec.payload, Intent):
            last.setdefault(
                rec.name, {"name": rec.name, "result": f"intent {rec.payload.action.value}"}
            )
        elif rec.op == "forget":
            last[rec.name] = {"name": rec.name, "result": "forgotten"}
        elif rec.op == "status" and rec.name in last:
            last[rec.name]["status"] = rec.payload
    return [last[name] for name in sorted(last)]


def append(conn: Any, workspace_id: int, entry: Mapping[str, Any]) -> None:
    conn.execute(
        """INSERT INTO tensormesh_history
               (workspace_id, actor, command, revision, summary, outcomes)
           VALUES (%s, %s::jsonb, %s, %s, %s::jsonb, %s::jsonb)""",
        (
            workspace_id,
            json.dumps(entry["actor"], sort_keys=True),
            entry["command"],
            entry["revision"],
            None if entry["summary"] is None else json.dumps(entry["summary"], sort_keys=True),
            json.dumps(entry["outcomes"], sort_keys=True),
        ),
    )


def read_history(conn: Any, workspace_id: int, *, limit: int | None) -> list[dict[str, Any]]:
    """Newest first."""
    rows = conn.execute(
        """SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                  actor, command, revision, summary, outcomes
           FROM tensormesh_history WHERE workspace_id = %s ORDER BY id DESC LIMIT %s""",
        (workspace_id, limit),
    ).fetchall()
    return [
        {
            "id": row[0],
            "at": row[1],
            "actor": row[2],
            "command": row[3],
            "revision": row[4],
            "summary": row[5],
            "outcomes": row[6],
        }
        for row in rows
    ]
