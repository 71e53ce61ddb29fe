"""The one execution poller the functional and workflow tiers share, against a fake client."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.executions import wait_for_execution

ARN = "arn:aws:states:us-east-1:123456789012:execution:machine:run-1"


class FakeStepFunctions:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.calls = 0

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return {"executionArn": executionArn, "status": status}


def test_returns_the_description_once_the_execution_ends() -> None:
    sfn = FakeStepFunctions(["RUNNING", "RUNNING", "FAILED"])
    assert wait_for_execution(sfn, ARN, timeout=5) == {"executionArn": ARN, "status": "FAILED"}
    assert sfn.calls == 3


def test_a_timeout_is_an_assertion_naming_the_execution_and_its_last_status() -> None:
    with pytest.raises(AssertionError) as raised:
        wait_for_execution(FakeStepFunctions(["RUNNING"]), ARN, timeout=0.1)
    assert ARN in str(raised.value)
    assert "last status RUNNING" in str(raised.value)
