"""The DLQ lock's lease outlasts the longest approval wait a run may be given, however it is
given: the run input, the stack's default (APPROVAL_TIMEOUT_SECONDS), or the template's
parameter. A lease that ran out while a run waited for its decision would let a second run
collect the same DLQ (issue: the 72 h lock against a 168 h approval wait)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from redrive.adapters.state_table import LEASE_SECONDS, StateTable
from redrive.contracts.run import LONGEST_APPROVAL_WAIT_SECONDS, parse_manual_input
from redrive.errors import ConfigurationError, InvalidInput
from redrive.settings import PrepareSettings

TEMPLATE = yaml_parse((Path(__file__).resolve().parents[2] / "template.yaml").read_text())
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"


class RecordingDynamoDb:
    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.puts.append(request)
        return {}


def test_the_lock_is_taken_for_longer_than_the_longest_approval_wait() -> None:
    dynamodb = RecordingDynamoDb()
    StateTable(dynamodb, "state").acquire_lock(QUEUE_ARN, "run-1", now=1_000.0)
    [put] = dynamodb.puts
    expires = float(put["Item"]["expiresAt"]["N"])
    assert expires - 1_000.0 == LEASE_SECONDS
    assert LEASE_SECONDS >= LONGEST_APPROVAL_WAIT_SECONDS + 3600, "room for the steps before and after the wait"


def test_no_way_of_asking_waits_longer_than_that() -> None:
    assert TEMPLATE["Parameters"]["ApprovalTimeoutSeconds"]["MaxValue"] == LONGEST_APPROVAL_WAIT_SECONDS
    longest = {"approval": {"timeoutSeconds": LONGEST_APPROVAL_WAIT_SECONDS}}
    assert parse_manual_input(longest).approval.timeout_seconds == LONGEST_APPROVAL_WAIT_SECONDS
    with pytest.raises(InvalidInput, match="timeoutSeconds"):
        parse_manual_input({"approval": {"timeoutSeconds": LONGEST_APPROVAL_WAIT_SECONDS + 1}})
    with pytest.raises(ConfigurationError, match="APPROVAL_TIMEOUT_SECONDS"):
        PrepareSettings.from_env(_prepare_env(APPROVAL_TIMEOUT_SECONDS=str(LONGEST_APPROVAL_WAIT_SECONDS + 1)))


def _prepare_env(**overrides: str) -> dict[str, str]:
    return {"STATE_TABLE": "state", "RUN_BUCKET": "runs", "DLQ_URL": "https://sqs/q", **overrides}
