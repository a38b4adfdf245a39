"""The status page of `reconcile --serve`: one self-contained HTML document.

Pure: the caller passes the rows and the clock reading. No external asset (no script, font,
stylesheet or image from anywhere: the page must work with no internet), a meta refresh so
it follows the loop by itself, and a layout that turns each table row into a card on a
phone. Every piece of text goes through html.escape: names, statuses and errors come from
manifests and the API, which we do not trust to be markup-free.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from reconciler.core.service_status import DeploymentRow, PassRow, SyncStatus, counts


@dataclass(frozen=True, slots=True)
class StatusPage:
    deployments: tuple[DeploymentRow, ...]
    passes: tuple[PassRow, ...]  # newest first
    revision: str | None  # --git: the revision the last pass reconciled
    source: str | None  # --git: "URL BRANCH PATH"
    now: float  # unix seconds
    refresh_seconds: int
    ready: bool
    seen: bool  # whether any pass has shown the deployments yet


_STYLE = """
:root{color-scheme:light dark;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--muted:#6e7781}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:12px}
h1{font-size:1.3em;margin:0 0 4px}h2{font-size:1.1em;margin:20px 0 6px}
.meta{color:var(--muted);margin:0 0 4px;overflow-wrap:anywhere}
code{font:0.9em ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #8884;vertical-align:top}
th{font-size:.85em;color:var(--muted);font-weight:600}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:.85em;
 font-weight:600;color:#fff;white-space:nowrap}
.synced,.ok{background:var(--ok)}.out-of-sync,.unmanaged,.interrupted{background:var(--warn)}
.missing,.failed{background:var(--bad)}
.summary span{margin-right:10px;white-space:nowrap}
.detail{color:var(--muted);font-size:.85em;overflow-wrap:anywhere}
@media (max-width:640px){
 thead{display:none}
 table,tbody,tr,td{display:block;width:100%}
 tr{border:1px solid #8884;border-radius:8px;margin:0 0 10px;padding:4px 0}
 td{border:0;padding:3px 10px;display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px}
 td::before{content:attr(data-label);min-width:7.5em;color:var(--muted);font-size:.85em}
}
"""

_DEPLOYMENT_COLUMNS = (
    "Name",
    "Sync",
    "Live status",
    "Model ID",
    "Endpoint",
    "Last change",
    "Hourly cost",
)
_PASS_COLUMNS = ("Pass", "Finished", "Outcome", "Drift", "Corrections", "Revision", "Error")


def render_status_page(page: StatusPage) -> str:
    refreshed = _time(page.now)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="refresh" content="{int(page.refresh_seconds)}">',
        "<title>Tensormesh reconciler</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<header><h1>Tensormesh reconciler</h1>",
        f'<p class="meta" id="readiness">{"ready" if page.ready else "not ready"}'
        f" · page built {_e(refreshed)}, refreshes every {int(page.refresh_seconds)} s</p>",
    ]
    if page.source is not None:
        parts.append(f'<p class="meta">Source <code>{_e(page.source)}</code></p>')
    revision = page.revision or "(not in git mode)"
    parts.append(f'<p class="meta">Revision <code id="revision">{_e(revision)}</code></p>')
    parts.append("</header><main>")
    parts += _deployments(page)
    parts += _passes(page.passes)
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _deployments(page: StatusPage) -> list[str]:
    out = ["<section><h2>Deployments</h2>"]
    if not page.seen:
        return [*out, '<p class="meta">No pass has looked at the deployments yet.</p></section>']
    tally = counts(page.deployments)
    out.append('<p class="summary">')
    out += [
        f"<span>{_badge(status.value)} {tally[status]}</span>"
        for status in SyncStatus
        if tally[status]
    ]
    out.append("</p>")
    if not page.deployments:
        return [*out, '<p class="meta">No deployments.</p></section>']
    out.append('<table id="deployments"><thead><tr>')
    out += [f"<th>{_e(column)}</th>" for column in _DEPLOYMENT_COLUMNS]
    out.append("</tr></thead><tbody>")
    for row in page.deployments:
        sync = _badge(row.sync.value)
        if row.detail:
            sync += f'<div class="detail">{_e(row.detail)}</div>'
        cells = (
            _e(row.name),
            sync,
            _e(row.live_status or "—"),
            f"<code>{_e(row.model_id)}</code>" if row.model_id else "—",
            f"<code>{_e(row.endpoint)}</code>" if row.endpoint else "—",
            _e(row.last_change or "—"),
            _e(row.hourly_cost or "—"),
        )
        out.append(f'<tr data-name="{_e(row.name)}" data-sync="{_e(row.sync.value)}">')
        out += [
            f'<td data-label="{_e(label)}">{cell}</td>'
            for label, cell in zip(_DEPLOYMENT_COLUMNS, cells, strict=True)
        ]
        out.append("</tr>")
    out.append("</tbody></table></section>")
    return out


def _passes(passes: Sequence[PassRow]) -> list[str]:
    out = ["<section><h2>Last passes</h2>"]
    if not passes:
        return [*out, '<p class="meta">No pass has finished yet.</p></section>']
    out.append('<table id="passes"><thead><tr>')
    out += [f"<th>{_e(column)}</th>" for column in _PASS_COLUMNS]
    out.append("</tr></thead><tbody>")
    for row in passes:
        cells = (
            str(row.number),
            _e(_time(row.finished_at)) + f' <span class="detail">{row.duration:.1f} s</span>',
            _badge(row.outcome),
            str(row.drift),
            str(row.corrections),
            f"<code>{_e(row.revision[:12])}</code>" if row.revision else "—",
            _e(row.error or ""),
        )
        out.append(f'<tr data-outcome="{_e(row.outcome)}">')
        out += [
            f'<td data-label="{_e(label)}">{cell}</td>'
            for label, cell in zip(_PASS_COLUMNS, cells, strict=True)
        ]
        out.append("</tr>")
    out.append("</tbody></table></section>")
    return out


def _badge(value: str) -> str:
    css = value.replace(" ", "-")
    return f'<span class="badge {_e(css)}">{_e(value)}</span>'


def _time(unix: float) -> str:
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _e(text: str) -> str:
    return html.escape(text, quote=True)
