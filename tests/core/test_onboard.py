"""select_models: which live models adopt takes, and the reason for every one it leaves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.model import Action, Intent, LiveModel, State
from reconciler.core.onboard import AdoptResult, SkipReason, select_models, selected
from reconciler.core.ownership import Mark
from tests.support.builders import BASE_SPEC, desired, recorded, state

STATUS_UP = "MODEL_STATUS_UP"
LINEAGE = "11111111-1111-4111-8111-111111111111"  # tests.support.builders.state's


def live(name: str, model_id: str | None = None, status: str = STATUS_UP, **kw) -> LiveModel:
    return LiveModel(model_id or f"id-{name}", name, status, dict(BASE_SPEC), **kw)


def reasons(models: list[LiveModel], st: State | None = None, **options) -> dict[str, object]:
    selection = select_models(models, st or state(), **options)
    out: dict[str, object] = {m.model_name: "adopt" for m in selection.candidates}
    for row in selection.skipped:
        assert row.result is AdoptResult.SKIPPED
        out[row.live.model_name] = row.reason
    return out


def test_each_reason() -> None:
    owned = recorded(desired("owned"), "id-owned")
    held = recorded(desired("held"), "id-other")
    st = replace(
        state(owned, held),
        intents={"pending": Intent("pending", "pending", 1, Action.CREATE, nonce="n")},
    )
    models = [
        live("fresh"),
        live("owned"),
        live("held"),
        live("pending"),
        live("gone", status="MODEL_STATUS_DELETED"),
        live("broken", status="MODEL_STATUS_FAILED"),
        live("Bad_Name"),
        live("theirs", mark=Mark("22222222-2222-4222-8222-222222222222", "n")),
        live("ours", mark=Mark(LINEAGE, "n")),
        live("declared"),
    ]
    assert reasons(models, st, declared={"declared": "m/all.yaml:3:9"}) == {
        "fresh": "adopt",
        "ours": "adopt",  # this state's mark, not recorded: ours to record
        "owned": SkipReason.ALREADY_OWNED,
        "held": SkipReason.NAME_RECORDED,
        "pending": SkipReason.OPEN_INTENT,
        "gone": SkipReason.DELETED,
        "broken": SkipReason.FAILED_STATUS,
        "Bad_Name": SkipReason.INVALID_NAME,
        "theirs": SkipReason.OTHER_STATE,
        "declared": SkipReason.DECLARED,
    }


def test_failed_models_only_with_include_failed_and_deleted_never() -> None:
    models = [
        live("broken", status="MODEL_STATUS_FAILED"),
        live("gone", status="MODEL_STATUS_DELETED"),
    ]
    assert reasons(models, include_failed=True) == {"broken": "adopt", "gone": SkipReason.DELETED}


def test_a_name_of_several_users_is_adopted_for_none_but_a_deleted_twin_does_not_count() -> None:
    models = [
        live("shared", "a", user_id="u1"),
        live("shared", "b", user_id="u2"),
        live("renewed", "old", status="MODEL_STATUS_DELETED"),
        live("renewed", "new"),
    ]
    selection = select_models(models, state())
    assert [m.model_id for m in selection.candidates] == ["new"]
    skipped = {(row.live.model_id, row.reason) for row in selection.skipped}
    assert skipped == {
        ("a", SkipReason.DUPLICATE_NAME),
        ("b", SkipReason.DUPLICATE_NAME),
        ("old", SkipReason.DELETED),
    }


@pytest.mark.parametrize(
    ("targets", "excludes", "chosen"),
    [
        ((), (), {"llama-8b", "llama-70b", "qwen"}),
        (("llama-*",), (), {"llama-8b", "llama-70b"}),
        (("llama-*",), ("*-70b",), {"llama-8b"}),
        ((), ("qwen",), {"llama-8b", "llama-70b"}),
        (("LLAMA-*",), (), set()),  # case matters, as names are lowercase
    ],
)
def test_target_and_exclude_globs(targets, excludes, chosen) -> None:
    models = [live("llama-8b"), live("llama-70b"), live("qwen")]
    selection = select_models(models, state(), targets=targets, excludes=excludes)
    assert {m.model_name for m in selection.candidates} == chosen
    assert selection.not_selected == 3 - len(chosen)
    assert selected("x", targets=(), excludes=())
