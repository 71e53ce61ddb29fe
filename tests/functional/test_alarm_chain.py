"""The alarm -> EventBridge -> StartExecution chain on the local stack.

moto evaluates no alarm and emits no "CloudWatch Alarm State Change" event, so
``alarms.QueueDepthAlarms`` does both, one period per ``evaluate()``; the stack's
EventBridge rule (SAM EventBridgeRule with an InputTransformer) then starts the redrive
through the Step Functions target workaround.

The event shape follows the AWS CloudWatch User Guide, "Alarm events and EventBridge"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html),
single metric alarm example.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from redrive_local.alarms import AlarmTransition, QueueDepthAlarms
from redrive_local.deploy import DeployedStack
from redrive_local.engine import ACCOUNT, REGION, LocalEngine
from tests.support.executions import wait_for_execution
from tests.support.stack import Deploy

ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ALARM_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")  # as in the documented example
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def alarms(engine: LocalEngine) -> QueueDepthAlarms:
    return QueueDepthAlarms(engine.client("cloudwatch"), engine.client("sqs"), engine.client("events"), ACCOUNT, REGION)


def mine(transitions: list[AlarmTransition], name: str) -> list[AlarmTransition]:
    """Every alarm of every stack on the engine is evaluated; keep this test's."""
    return [t for t in transitions if t.alarm_name == name]


def alarm_state(engine: LocalEngine, name: str) -> str:
    (alarm,) = engine.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(alarm["StateValue"])


def drain(engine: LocalEngine, url: str) -> None:
    """Delete every message (PurgeQueue is allowed once a minute per queue)."""
    sqs = engine.client("sqs")
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def executions(engine: LocalEngine, stack: DeployedStack) -> list[dict[str, Any]]:
    sfn = engine.client("stepfunctions")
    return list(sfn.list_executions(stateMachineArn=stack.outputs["StateMachineArn"])["executions"])


def assert_documented_state_change_event(event: dict[str, Any], alarm: dict[str, Any], current: str) -> None:
    """The fields the AWS example shows for a single metric alarm's state change."""
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert event["version"] == "0" and UUID.match(event["id"])
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["source"] == "aws.cloudwatch"
    assert (event["account"], event["region"]) == (ACCOUNT, REGION)
    assert ISO_SECONDS.match(event["time"])
    assert event["resources"] == [alarm["AlarmArn"]]
    detail = event["detail"]
    assert {"alarmName", "state", "previousState", "configuration"} <= set(detail)
    assert detail["alarmName"] == alarm["AlarmName"]
    state = detail["state"]
    assert state["value"] == current and state["reason"]
    assert ALARM_TIMESTAMP.match(state["timestamp"])
    assert json.loads(state["reasonData"])["version"] == "1.0"
    assert {"value", "reason", "timestamp"} <= set(detail["previousState"])
    assert ALARM_TIMESTAMP.match(detail["previousState"]["timestamp"])
    metrics = detail["configuration"]["metrics"]
    if not alarm.get("Metrics"):
        (metric,) = metrics
        assert metric["returnData"] is True and metric["id"]
        stat = metric["metricStat"]
        assert stat["metric"] == {
            "namespace": alarm["Namespace"],
            "name": alarm["MetricName"],
            "dimensions": {d["Name"]: d["Value"] for d in alarm["Dimensions"]},
        }
        assert (stat["period"], stat["stat"]) == (alarm["Period"], alarm["Statistic"])
    else:  # metric math, as the AWS example for such an alarm shows it: each query, one returns data
        assert [m["id"] for m in metrics] == [q["Id"] for q in alarm["Metrics"]]
        (returned,) = [m for m in metrics if m["returnData"]]
        assert returned["expression"] == "visible + inFlight"
        for metric, query in zip(metrics, alarm["Metrics"], strict=True):
            if "MetricStat" in query:
                assert metric["metricStat"]["metric"] == {
                    "namespace": "AWS/SQS",
                    "name": query["MetricStat"]["Metric"]["MetricName"],
                    "dimensions": {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]},
                }
    assert detail["configuration"]["description"] == alarm.get("AlarmDescription", "")


def test_dlq_depth_alarm_starts_the_redrive_once(engine: LocalEngine, deploy: Deploy) -> None:
    # A dry run (the stack's default for alarm-started runs) ends without waiting for approval.
    stack = deploy(RunDefaults=json.dumps({"dryRun": True}))
    name = stack.outputs["DlqDepthAlarmName"]
    dlq = stack.outputs["DeadLetterQueueUrl"]
    sqs = engine.client("sqs")
    evaluator = alarms(engine)
    try:
        # A new alarm has no data; an empty DLQ makes it OK, an event the rule does not match.
        assert alarm_state(engine, name) == "INSUFFICIENT_DATA"
        (first,) = mine(evaluator.evaluate(), name)
        assert (first.previous, first.current, first.datapoint) == ("INSUFFICIENT_DATA", "OK", 0.0)
        assert mine(evaluator.evaluate(), name) == []
        assert executions(engine, stack) == []

        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"note": "not a failure pointer"}))
        (change,) = mine(evaluator.evaluate(), name)
        assert (change.previous, change.current, change.datapoint) == ("OK", "ALARM", 1.0)
        assert alarm_state(engine, name) == "ALARM"
        (alarm,) = engine.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
        assert_documented_state_change_event(change.event, alarm, "ALARM")

        # EventBridge matched the rule and started the stack's state machine.
        (execution,) = executions(engine, stack)
        assert UUID.match(execution["name"])
        started = engine.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])
        assert json.loads(started["input"]) == {
            "trigger": "alarm",
            "alarmName": name,
            "alarmTime": change.event["time"],
            "alarmReason": change.event["detail"]["state"]["reason"],
        }
        assert ISO_SECONDS.match(json.loads(started["input"])["alarmTime"])
        assert (
            wait_for_execution(engine.client("stepfunctions"), execution["executionArn"], timeout=30)["status"]
            == "SUCCEEDED"
        )

        # Still deep (a dry run puts every message back): no state change, no event.
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"note": "another"}))
        assert mine(evaluator.evaluate(), name) == []
        assert alarm_state(engine, name) == "ALARM"
        assert len(executions(engine, stack)) == 1

        # Below the threshold: OK, an event the rule does not match, no execution.
        drain(engine, dlq)
        (back,) = mine(evaluator.evaluate(), name)
        assert (back.previous, back.current, back.datapoint) == ("ALARM", "OK", 0.0)
        assert_documented_state_change_event(back.event, alarm, "OK")
        assert back.event["detail"]["previousState"]["value"] == "ALARM"
        assert alarm_state(engine, name) == "OK"
        assert len(executions(engine, stack)) == 1
    finally:
        drain(engine, dlq)


def test_new_alarm_starts_with_insufficient_data(engine: LocalEngine, deploy: Deploy) -> None:
    """CloudFormation: "When this operation creates an alarm, the alarm state is immediately
    set to INSUFFICIENT_DATA" (moto's own starts OK; workarounds.cloudformation.LocalCloudWatchAlarm)."""
    stack = deploy()
    assert alarm_state(engine, stack.outputs["DlqDepthAlarmName"]) == "INSUFFICIENT_DATA"


# --- EvaluationPeriods / DatapointsToAlarm -------------------------------------------------


@pytest.fixture
def depth_queue(engine: LocalEngine) -> Iterator[tuple[str, str]]:
    """A queue and an alarm on its depth: 2 breaching datapoints of the last 3 (>= 2 messages)."""
    sqs = engine.client("sqs")
    cloudwatch = engine.client("cloudwatch")
    queue_name = f"depth-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    alarm_name = f"{queue_name}-m-of-n"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm_name,
        AlarmDescription="two of three",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=2,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    yield url, alarm_name
    cloudwatch.delete_alarms(AlarmNames=[alarm_name])
    sqs.delete_queue(QueueUrl=url)


def set_depth(engine: LocalEngine, url: str, depth: int) -> None:
    sqs = engine.client("sqs")
    drain(engine, url)
    for n in range(depth):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))


def test_m_of_n_alarm_needs_m_breaching_datapoints_of_the_last_n(
    engine: LocalEngine, depth_queue: tuple[str, str]
) -> None:
    url, name = depth_queue
    evaluator = alarms(engine)
    initial = alarm_state(engine, name)  # moto starts an API-created alarm OK, CloudWatch INSUFFICIENT_DATA
    start = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
    states = []
    # depth per period; window (last 3) and breaching count (>= 2) in the comments
    for minute, depth in enumerate([0, 5, 1, 3, 0, 1, 1, 0, 4, 4]):
        set_depth(engine, url, depth)
        now = start + timedelta(minutes=minute)
        changes = mine(evaluator.evaluate(now=now), name)
        for change in changes:
            assert change.event["time"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert change.datapoint == float(depth)
        states.append((depth, changes[0].current if changes else None, alarm_state(engine, name)))

    assert states == [
        (0, None if initial == "OK" else "OK", "OK"),  # [0]  0 breaching: OK
        (5, None, "OK"),  # [0,5]      1 of 2 needed: stays
        (1, None, "OK"),  # [0,5,1]    1: stays
        (3, "ALARM", "ALARM"),  # [5,1,3]    2: ALARM
        (0, None, "ALARM"),  # [1,3,0]    1: neither ALARM nor clear, stays ALARM
        (1, None, "ALARM"),  # [3,0,1]    1: stays
        (1, "OK", "OK"),  # [0,1,1]    0 breaching: OK
        (0, None, "OK"),  # [1,1,0]
        (4, None, "OK"),  # [1,0,4]    1: stays
        (4, "ALARM", "ALARM"),  # [0,4,4]    2: ALARM
    ]


def test_one_breaching_datapoint_alarms_when_datapoints_to_alarm_is_unset(engine: LocalEngine) -> None:
    """Without DatapointsToAlarm, M = EvaluationPeriods (every datapoint must breach)."""
    sqs = engine.client("sqs")
    cloudwatch = engine.client("cloudwatch")
    queue_name = f"depth-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    alarm_name = f"{queue_name}-two-periods"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm_name,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessages",
        Dimensions=[{"Name": "QueueName", "Value": queue_name}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    try:
        evaluator = alarms(engine)
        sqs.send_message(QueueUrl=url, MessageBody="x")
        assert mine(evaluator.evaluate(), alarm_name) == []  # [1]: 1 of 2
        (change,) = mine(evaluator.evaluate(), alarm_name)  # [1, 1]
        assert change.current == "ALARM"
        assert "2 datapoint(s) [1, 1]" in change.event["detail"]["state"]["reason"]
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm_name])
        sqs.delete_queue(QueueUrl=url)


def test_alarms_on_other_metrics_are_not_evaluated(engine: LocalEngine) -> None:
    cloudwatch = engine.client("cloudwatch")
    name = f"cpu-{uuid.uuid4().hex[:8]}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": "i-0"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=-1,
        ComparisonOperator="GreaterThanThreshold",
    )
    try:
        assert mine(alarms(engine).evaluate(), name) == []
        assert alarm_state(engine, name) == "OK"
    finally:
        cloudwatch.delete_alarms(AlarmNames=[name])
