"""deepdiff is imported only when a changed nested object's detail is rendered."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys
    from reconciler.core import plan, render_json, render_text
    from tests.support.builders import desired, recorded, state

    before = desired("llama")
    after = desired("llama", infra={"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "region": "eu"})
    made = plan.make_plan([after], state(recorded(before, "m-1")), prune=False)
    assert made.has_work
    print("deepdiff" in sys.modules)
    text = render_text.render_plan(made)
    print("deepdiff" in sys.modules)
    print(text)
    """
)


def test_planning_does_not_import_deepdiff_and_rendering_the_detail_does() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    after_plan, after_render, *text = done.stdout.splitlines()
    assert (after_plan, after_render) == ("False", "True")
    assert any("infra.region" in line for line in text), text
