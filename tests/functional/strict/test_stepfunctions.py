"""Step Functions rules of the strict stack, each shown lenient (moto accepts) and strict
(AWS refuses)."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import pytest

from redrive_local.engine import ACCOUNT, REGION, LocalEngine
from redrive_local.strict import lenient
from redrive_local.strict import stepfunctions as strict_sfn


def counting_loop(until: int) -> dict[str, Any]:
    """A tiny state machine: a Pass that counts and a Choice that loops until ``until``,
    with a Catch-all that would turn any catchable error into success. Each turn adds 4
    history events (PassStateEntered/Exited, ChoiceStateEntered/Exited)."""
    return {
        "StartAt": "Loop",
        "States": {
            "Loop": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Count",
                        "States": {
                            "Count": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "More?"},
                            "More?": {
                                "Type": "Choice",
                                "Choices": [{"Variable": "$.n", "NumericLessThan": until, "Next": "Count"}],
                                "Default": "Counted",
                            },
                            "Counted": {"Type": "Succeed"},
                        },
                    }
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }


def run(engine: LocalEngine, role: str, definition: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The ended execution's description and its history (read in-process: moto builds a
    long history slowly over the API)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn = engine.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"strict-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input='{"n": 0}')["executionArn"]
    deadline = time.monotonic() + 600
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.1)
    execution = stepfunctions_parser_backends[ACCOUNT][REGION].describe_execution(arn)
    return described, list(execution.exec_worker.env.event_manager.get_event_history())


@pytest.fixture
def small_history_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """The rule with a limit of 200 events, so the pin runs in seconds: moto's interpreter
    takes minutes over 25,000 events (``REDRIVE_FULL_HISTORY_LIMIT=1`` runs AWS's number)."""
    assert strict_sfn.HISTORY_EVENTS_MAX == 25_000, "AWS's quota"
    if os.environ.get("REDRIVE_FULL_HISTORY_LIMIT") == "1":
        return 25_000
    monkeypatch.setattr(strict_sfn, "HISTORY_EVENTS_MAX", 200)
    return 200


@pytest.mark.aws_rule("_sfn_history_events_limit")
def test_an_execution_fails_uncatchably_at_its_history_limit(
    engine: LocalEngine, lambda_role_arn: str, small_history_limit: int
) -> None:
    definition = counting_loop(until=small_history_limit // 4 + 20)  # about 80 events over the limit
    with lenient():
        described, events = run(engine, lambda_role_arn, definition)
    assert described["status"] == "SUCCEEDED"
    assert len(events) > small_history_limit
    assert events[-1]["type"] == "ExecutionSucceeded"

    described, events = run(engine, lambda_role_arn, definition)
    assert described["status"] == "FAILED", "not SUCCEEDED through the Catch-all: the failure is uncatchable"
    assert described["error"] == "States.Runtime"
    assert described["cause"] == f"The execution reached the maximum number of history events ({small_history_limit})."
    assert len(events) == small_history_limit
    assert events[-1]["type"] == "ExecutionFailed"


@pytest.mark.aws_rule("_sfn_history_events_limit")
def test_an_execution_that_ends_on_its_last_allowed_event_succeeds(
    engine: LocalEngine, lambda_role_arn: str, small_history_limit: int
) -> None:
    """Event 25,000 may be ExecutionSucceeded: a run that needs exactly the limit succeeds."""
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    with lenient():
        _, events = run(engine, lambda_role_arn, definition)
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    if small_history_limit != 200:
        pytest.skip("the last-event case is shown with a small limit")
    strict_sfn.HISTORY_EVENTS_MAX = 4  # restored by the fixture
    described, events = run(engine, lambda_role_arn, definition)
    assert described["status"] == "SUCCEEDED" and len(events) == 4
    strict_sfn.HISTORY_EVENTS_MAX = 3
    described, events = run(engine, lambda_role_arn, definition)
    assert described["status"] == "FAILED" and [e["type"] for e in events][-1] == "ExecutionFailed"
    assert len(events) == 3
