"""The pull-request comment: summary first, destructive changes flagged, bounded, no secrets."""

from __future__ import annotations

import pytest

from reconciler.core.model import SecretRef, SecretSource
from reconciler.core.plan import make_plan
from reconciler.core.render_markdown import MARKER, MAX_CHARS, render_markdown
from tests.support import builders

SECRET_VALUE = "hf_super_secret_value_123"
HF = SecretRef("hfToken", SecretSource.FROM_ENV, "HF_TOKEN")


def _mixed_plan():  # type: ignore[no-untyped-def]
    old = builders.desired("resized", secrets=(HF,))
    gone = builders.desired("gone")
    same = builders.desired("same")
    state = builders.state(
        builders.recorded(old, "m-resized", secret_values={"hfToken": "old"}),
        builders.recorded(gone, "m-gone"),
        builders.recorded(same, "m-same"),
    )
    wanted = [
        builders.desired("resized", secrets=(HF,), gpuCount=4),
        builders.desired("fresh", secrets=(HF,)),
        same,
    ]
    fingerprints = {"resized": {"hfToken": "hmac-sha256:" + "f" * 64}}
    return make_plan(wanted, state, prune=True, fingerprints=fingerprints)


def test_summary_and_destructive_warning_come_first() -> None:
    text = render_markdown(_mixed_plan())
    lines = text.splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "### Tensormesh plan: 1 to create, 1 to replace, 1 to delete, 1 unchanged"
    warning = "\n".join(lines[2:6])
    assert "**Destructive:**" in warning
    assert "`gone`" in warning and "`resized`" in warning
    assert text.index("Destructive") < text.index("<details>")


def test_one_section_per_changed_entry_and_unchanged_only_counted() -> None:
    text = render_markdown(_mixed_plan())
    assert text.count("<details>") == 3
    assert "- gpuCount: 1\n+ gpuCount: 4" in text
    assert "hfToken: (secret) value changed" in text
    assert "same" not in text.replace("1 unchanged", "")
    assert "1 unchanged deployments not shown" in text


def test_secret_values_never_shown() -> None:
    text = render_markdown(_mixed_plan())
    assert SECRET_VALUE not in text
    assert "old" not in text.split("###", 1)[1].replace("old model", "")
    assert "(secret from fromEnv HF_TOKEN)" in text


def test_1500_creates_stay_within_the_limit_with_summary_first() -> None:
    wanted = [
        builders.desired(f"model-{i:04d}", description="x" * 80, secrets=(HF,)) for i in range(1500)
    ]
    text = render_markdown(make_plan(wanted, builders.state(), prune=False))
    assert len(text) <= MAX_CHARS
    head = text.splitlines()[:3]
    assert head[1].startswith("### Tensormesh plan: 1500 to create, 0 to replace")
    assert "too many to show in full" in text
    assert "tensormesh-reconciler plan PATH" in text[-400:]
    # Every <details> opened is closed: a cut never leaves broken markup.
    assert text.count("<details>") == text.count("</details>")


@pytest.mark.parametrize("limit", [2_000, 10_000, MAX_CHARS])
def test_limit_holds_for_destructive_heavy_plans(limit: int) -> None:
    old = [builders.desired(f"old-{i:03d}") for i in range(400)]
    state = builders.state(*(builders.recorded(m, f"m-{m.name}") for m in old))
    wanted = [builders.desired(m.name, gpuCount=2) for m in old[:200]]
    text = render_markdown(make_plan(wanted, state, prune=True), max_chars=limit)
    assert len(text) <= limit
    assert "**Destructive:** 200 replaced" in text


def test_backticks_in_values_cannot_close_the_fence() -> None:
    plan = make_plan(
        [builders.desired("odd", description="a ``` b")], builders.state(), prune=False
    )
    text = render_markdown(plan)
    assert "````diff" in text


def test_no_changes_says_so() -> None:
    same = builders.desired("same")
    text = render_markdown(
        make_plan([same], builders.state(builders.recorded(same, "m")), prune=False)
    )
    assert "No changes" in text
    assert "<details>" not in text
