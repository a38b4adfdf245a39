"""The status page's rows and HTML: sync statuses, escaping, and nothing secret."""

from __future__ import annotations

from reconciler.core.drift import Drift
from reconciler.core.model import Action, Change, DriftKind, LiveModel, Plan
from reconciler.core.money import Money
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome
from reconciler.core.pass_report import PassReport
from reconciler.core.render_status import StatusPage, render_status_page
from reconciler.core.service_status import (
    DeploymentRow,
    SyncStatus,
    cost_from_spend,
    deployment_rows,
    pass_row,
    spend_summary,
)
from reconciler.core.spend import Spend
from tests.support.builders import desired, recorded, state


def live(model_id: str, name: str, status: str = "MODEL_STATUS_UP", **extra: object) -> LiveModel:
    return LiveModel(
        model_id=model_id,
        model_name=name,
        status=status,
        spec={"apiKey": "sk-live-secret", "modelPath": "m"},
        **extra,  # type: ignore[arg-type]
    )


def test_each_sync_status_comes_from_what_the_pass_saw() -> None:
    names = ["ok", "gone", "broken", "edited", "new", "healed", "bad"]
    models = {name: desired(name) for name in names}
    entries = [recorded(models[n], f"id-{n}") for n in names if n != "new"]
    rows = deployment_rows(
        list(models.values()),
        state(*entries),
        [
            live("id-ok", "ok", endpoint="https://ok.example/v1", updated_at="2026-01-02T03:04Z"),
            live("id-broken", "broken", "MODEL_STATUS_FAILED"),
            live("id-edited", "edited"),
            live("id-x", "stranger<b>"),
        ],
        drift=[
            Drift("gone", DriftKind.MISSING, "id-gone", status="MODEL_STATUS_DELETED"),
            Drift("broken", DriftKind.FAILED, "id-broken"),
            Drift("edited", DriftKind.CHANGED, "id-edited", fields=("gpuCount",)),
            Drift("healed", DriftKind.MISSING, "id-healed"),
            Drift("stranger<b>", DriftKind.UNMANAGED, live_model_id="id-x"),
        ],
        plan=Plan((Change("new", Action.CREATE),)),
        result=ApplyResult(
            (
                EntryOutcome("healed", Action.REPLACE, Outcome.REPLACED, "id-healed-2"),
                EntryOutcome("bad", Action.REPLACE, Outcome.FAILED, reason="quota exceeded"),
            )
        ),
        cost_of=lambda name: "1.50 USD" if name == "ok" else None,
    )
    by_name = {row.name: row for row in rows}
    assert {name: row.sync for name, row in by_name.items()} == {
        "ok": SyncStatus.SYNCED,
        "gone": SyncStatus.MISSING,
        "broken": SyncStatus.FAILED,
        "edited": SyncStatus.OUT_OF_SYNC,
        "new": SyncStatus.OUT_OF_SYNC,
        "healed": SyncStatus.SYNCED,
        "bad": SyncStatus.FAILED,
        "stranger<b>": SyncStatus.UNMANAGED,
    }
    ok = by_name["ok"]
    assert (ok.live_status, ok.endpoint, ok.last_change, ok.hourly_cost) == (
        "MODEL_STATUS_UP",
        "https://ok.example/v1",
        "2026-01-02T03:04Z",
        "1.50 USD",
    )
    assert by_name["healed"].model_id == "id-healed-2"
    assert by_name["bad"].detail == "quota exceeded"
    assert by_name["edited"].detail == "gpuCount"
    assert by_name["stranger<b>"].model_id == "id-x"
    assert by_name["new"].model_id is None
    shown = page(deployments=rows)
    assert "sk-live-secret" not in shown and "apiKey" not in shown
    assert "1.50 USD" in shown


def test_an_endpoint_never_shows_credentials() -> None:
    model = desired("a")
    rows = deployment_rows(
        [model],
        state(recorded(model, "id-a")),
        [live("id-a", "a", endpoint="https://user:tok3n@a.example:8443/v1?key=1")],
        drift=[],
        plan=Plan(()),
        result=None,
    )
    assert rows[0].endpoint == "https://a.example:8443/v1"


def page(**overrides: object) -> str:
    rows = (
        DeploymentRow(
            name="<img src=x onerror=alert(1)>",
            sync=SyncStatus.UNMANAGED,
            live_status="MODEL_STATUS_UP",
            model_id="id-1",
            endpoint=None,
            last_change=None,
        ),
    )
    passes = (
        pass_row(
            PassReport(3, error='API said "<script>"', revision="a" * 40),
            finished_at=0.0,
            duration=1.25,
        ),
    )
    fields = {
        "deployments": rows,
        "passes": passes,
        "revision": "a" * 40,
        "source": "https://git.example/r.git main deploy",
        "now": 86400.0,
        "refresh_seconds": 15,
        "ready": False,
        "seen": True,
        **overrides,
    }
    return render_status_page(StatusPage(**fields))  # type: ignore[arg-type]


def test_the_page_is_self_contained_escaped_and_refreshes_itself() -> None:
    text = page()
    assert '<meta http-equiv="refresh" content="15">' in text
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in text
    assert "@media (max-width:640px)" in text
    # Nothing loaded from anywhere: no script, link, image, font or url().
    for marker in ("<script", "<link", "<img", "src=", "url(", "http://", "@import"):
        assert marker not in text.replace("&lt;img src=x", ""), marker
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "API said &quot;&lt;script&gt;&quot;" in text
    assert 'data-sync="unmanaged"' in text
    assert "a" * 40 in text and "not ready" in text
    assert "1970-01-01 00:00:00 UTC" in text and "1970-01-02 00:00:00 UTC" in text
    assert 'data-outcome="failed"' in text


def test_before_the_first_pass_the_page_says_so() -> None:
    text = page(deployments=(), passes=(), seen=False, revision=None, source=None)
    assert "No pass has looked at the deployments yet." in text
    assert "No pass has finished yet." in text
    assert "(not in git mode)" in text


def test_each_running_model_shows_the_hourly_amount_the_pass_priced() -> None:
    spend = Spend(
        {"USD": 5_900_000_001, "EUR": 2_000_000_000},
        models=2,
        unpriced=("c",),
        by_name={"a": Money("USD", 5_900_000_001), "b": Money("EUR", 2_000_000_000)},
    )
    cost_of = cost_from_spend(spend)
    # Exact decimal strings with the currency: never a float's rounding.
    assert cost_of("a") == "5.900000001 USD/h"
    assert cost_of("b") == "2.00 EUR/h"
    assert cost_of("c") is None  # running, price unknown: unknown, never zero
    assert cost_of("nowhere") is None
    assert cost_from_spend(None)("a") is None
    assert spend_summary(spend) == (
        "2.00 EUR/h, 5.900000001 USD/h for 2 running managed model(s); price unknown for c"
    )
    assert spend_summary(Spend({}, unknown_reason="no prices")) == "unknown (no prices)"
    assert spend_summary(None) is None


def test_the_page_shows_the_live_spend_and_each_cost() -> None:
    model = desired("a")
    rows = deployment_rows(
        [model],
        state(recorded(model, "id-a")),
        [live("id-a", "a")],
        drift=[],
        plan=Plan(()),
        result=None,
        cost_of=cost_from_spend(
            Spend({"USD": 2_950_000_000}, 1, by_name={"a": Money("USD", 2_950_000_000)})
        ),
    )
    text = page(deployments=rows, spend="2.95 USD/h for 1 running managed model(s)")
    assert '<span id="spend">2.95 USD/h for 1 running managed model(s)</span>' in text
    assert '<td data-label="Hourly cost">2.95 USD/h</td>' in text
    assert 'id="spend"' not in page()  # no pass priced anything: no line at all
