"""apply's wait sees a failed model whatever the control plane calls the failure.

The real name is unknown (the SDK knows only UP and DELETED): every plausible one must end the
wait as failed, and a starting model must not.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.builders import desired
from tests.support.fake_api import FakeApi
from tests.test_apply import run


@pytest.mark.parametrize(
    "status",
    [
        "MODEL_STATUS_FAILED",
        "MODEL_STATUS_ERROR",
        "MODEL_STATUS_DEPLOYMENT_FAILED",
        "MODEL_STATUS_CRASHED",
    ],
)
def test_wait_reports_a_failed_model_under_any_failure_name(status: str) -> None:
    api = FakeApi(ready=False)
    original = api.list_models

    def list_models(user_id: str):  # type: ignore[no-untyped-def]
        for model_id, model in list(api.models.items()):
            api.models[model_id] = replace(model, status=status)
        return original(user_id)

    api.list_models = list_models  # type: ignore[method-assign]  # a seam of the fake itself
    result, recorder = run([desired("a")], api, wait=True)
    assert result.failed
    assert status in result.outcomes[0].reason
    assert recorder.state.entries["a"].status == status
