"""Waiting for a Step Functions execution, for the functional and workflow tiers."""

from __future__ import annotations

import time
from typing import Any

POLL_SECONDS = 0.05


def wait_for_execution(sfn_client: Any, execution_arn: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll DescribeExecution until the execution is no longer RUNNING and return the
    description. Raises AssertionError, naming the execution and its last status, when it
    is still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn_client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        if time.monotonic() > deadline:
            raise AssertionError(
                f"execution {execution_arn} did not finish within {timeout:g}s (last status {described['status']})"
            )
        time.sleep(POLL_SECONDS)
