"""The EventBridge workarounds (``workarounds/eventbridge.py``), pinned."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from redrive_local.engine import ACCOUNT, REGION, LocalEngine
from redrive_local.workarounds import event_with_iso_time
from tests.support.stack import PythonFunction

from .moto_probes import (
    PASS,
    UUID,
    create_machine,
    moto_source,
    saved,
    started_inputs,
)


@pytest.mark.pins("_state_machine_targets_for_eventbridge")
def test_event_with_iso_time() -> None:
    """``event_with_iso_time`` (used by ``_state_machine_targets_for_eventbridge``): moto keeps
    the event ``time`` as epoch seconds; EventBridge writes ``2019-10-02T17:04:40Z``."""
    from moto.events.models import EventsBackend

    assert "unix_time()" in moto_source("moto.events.models", "EventsBackend.put_events")
    epoch = datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC).timestamp()
    assert event_with_iso_time({"time": epoch, "a": 1}) == {"time": "2019-10-02T17:04:40Z", "a": 1}
    assert event_with_iso_time({"time": int(epoch)})["time"] == "2019-10-02T17:04:40Z"
    assert event_with_iso_time({"time": "2019-10-02T17:04:40Z"}) == {"time": "2019-10-02T17:04:40Z"}
    assert event_with_iso_time(["not", "an", "event"]) == ["not", "an", "event"]
    assert EventsBackend.put_events is not None


@pytest.mark.pins("_state_machine_targets_for_eventbridge")
def test_state_machine_targets_for_eventbridge(
    engine: LocalEngine, lambda_role_arn: str, rules: Callable[..., str]
) -> None:
    """``_state_machine_targets_for_eventbridge``: moto's ``Rule.send_to_targets`` raises
    NotImplementedError for a Step Functions target; here a matching event starts an
    execution (unnamed, so a UUID) with the InputTransformer output, the constant Input, or
    the whole event, its ``time`` in ISO-8601."""
    from moto.events.models import Rule, events_backends

    recorder = create_machine(engine, lambda_role_arn, PASS)
    source = f"tests.{uuid.uuid4().hex[:8]}"
    rule = rules(
        {"source": [source]},
        [
            {
                "Id": "transformed",
                "Arn": recorder,
                "RoleArn": lambda_role_arn,
                "InputTransformer": {
                    "InputPathsMap": {"who": "$.detail.who", "time": "$.time"},
                    "InputTemplate": '{"trigger": "test", "who": "<who>", "at": "<time>"}',
                },
            },
            {"Id": "constant", "Arn": recorder, "RoleArn": lambda_role_arn, "Input": '{"constant": true}'},
            {"Id": "whole", "Arn": recorder, "RoleArn": lambda_role_arn},
        ],
    )
    events = engine.client("events")
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    events.put_events(Entries=[{"Source": "other", "DetailType": "t", "Detail": "{}", "Time": when}])
    put = events.put_events(
        Entries=[{"Source": source, "DetailType": "Probe", "Detail": '{"who": "me"}', "Time": when, "Resources": []}]
    )
    assert put["FailedEntryCount"] == 0

    started = started_inputs(engine, recorder, 3)
    assert all(UUID.match(s["name"]) for s in started)
    inputs = sorted((s["input"] for s in started), key=json.dumps)
    whole = next(i for i in inputs if "detail" in i)
    assert {"trigger": "test", "who": "me", "at": "2024-05-06T07:08:09Z"} in inputs
    assert {"constant": True} in inputs
    assert len(inputs) == 3, "the event of another source started nothing"
    assert whole["time"] == "2024-05-06T07:08:09Z"
    assert (whole["source"], whole["detail-type"], whole["detail"]) == (source, "Probe", {"who": "me"})
    assert (whole["account"], whole["region"]) == (ACCOUNT, REGION)

    # moto's own delivery refuses the Step Functions target.
    rule_model = events_backends[ACCOUNT][REGION].event_buses["default"].rules[rule]
    event = {"source": source, "detail-type": "Probe", "detail": {"who": "me"}, "time": when.timestamp()}
    with pytest.raises(NotImplementedError):
        saved(Rule.send_to_targets)(rule_model, {**event, "ingestion-time": when.timestamp()})


@pytest.mark.pins("_state_machine_targets_for_eventbridge")
def test_lambda_targets_for_eventbridge(
    engine: LocalEngine, python_function: PythonFunction, rules: Callable[..., str]
) -> None:
    """``_state_machine_targets_for_eventbridge`` (Lambda targets, ``_invoke_async``): moto's
    ``Rule.send_to_targets`` raises NotImplementedError for a Lambda target; here the function
    is invoked asynchronously with the event (its ``time`` in ISO-8601)."""
    from moto.events.models import Rule, events_backends

    sqs = engine.client("sqs")
    queue = sqs.create_queue(QueueName=f"wa-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    forwarder = python_function(
        """
        import json, os
        import boto3

        def handler(event, context):
            boto3.client("sqs").send_message(QueueUrl=os.environ["OUT"], MessageBody=json.dumps(event))
        """,
        env={"OUT": queue},
    )
    arn = engine.client("lambda").get_function_configuration(FunctionName=forwarder)["FunctionArn"]
    source = f"tests.{uuid.uuid4().hex[:8]}"
    rule = rules({"source": [source]}, [{"Id": "fn", "Arn": arn}])
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    engine.client("events").put_events(
        Entries=[{"Source": source, "DetailType": "Probe", "Detail": '{"n": 1}', "Time": when}]
    )
    deadline = time.monotonic() + 10  # the strict stack's long poll waits less than its WaitTimeSeconds
    received: list[Any] = []
    while not received and time.monotonic() < deadline:
        received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10).get("Messages", [])
    assert len(received) == 1
    event = json.loads(received[0]["Body"])
    assert (event["source"], event["detail"], event["time"]) == (source, {"n": 1}, "2024-05-06T07:08:09Z")

    rule_model = events_backends[ACCOUNT][REGION].event_buses["default"].rules[rule]
    with pytest.raises(NotImplementedError):
        saved(Rule.send_to_targets)(
            rule_model,
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "source": source,
                "detail-type": "Probe",
                "account": ACCOUNT,
                "region": REGION,
                "resources": [],
                "detail": {},
                "time": when.timestamp(),
                "ingestion-time": when.timestamp(),
            },
        )


@pytest.mark.pins("_state_machine_targets_for_eventbridge")
def test_other_targets_still_go_to_moto(engine: LocalEngine, rules: Callable[..., str]) -> None:
    """``_state_machine_targets_for_eventbridge`` hands targets other than Step Functions and
    Lambda to moto's own code, which delivers an SQS target."""
    sqs = engine.client("sqs")
    queue = sqs.create_queue(QueueName=f"wa-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = f"tests.{uuid.uuid4().hex[:8]}"
    rules({"source": [source]}, [{"Id": "queue", "Arn": queue_arn}])
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    put = engine.client("events").put_events(
        Entries=[{"Source": source, "DetailType": "Probe", "Detail": '{"n": 1}', "Time": when}]
    )
    assert put["FailedEntryCount"] == 0
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert json.loads(message["Body"])["time"] == "2024-05-06T07:08:09Z"


@pytest.mark.pins("_state_machine_targets_for_eventbridge")
def test_a_scheduled_rule_gets_no_bus_event(engine: LocalEngine, lambda_role_arn: str) -> None:
    """moto matches a rule that has a ScheduleExpression and no EventPattern against every
    event put on the bus; EventBridge only fires it on its schedule."""
    from moto.events.models import events_backends

    events = engine.client("events")
    recorder = create_machine(engine, lambda_role_arn, PASS)
    name = f"scheduled-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule=name, Targets=[{"Id": "t", "Arn": recorder, "RoleArn": lambda_role_arn}])
    rule = events_backends[ACCOUNT][REGION].event_buses["default"].rules[name]
    assert rule.event_pattern.matches_event({"source": "anything"}), "moto: no pattern matches every event"
    put = events.put_events(Entries=[{"Source": "tests.anything", "DetailType": "Probe", "Detail": "{}"}])
    assert put["FailedEntryCount"] == 0
    sfn = engine.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=recorder)["executions"] == []
    events.remove_targets(Rule=name, Ids=["t"])
    events.delete_rule(Name=name)
