"""The DLQ alarm evaluated continuously, as CloudWatch does, over runs that put messages
back: no run the alarm starts takes them again, and nobody is asked twice."""

from __future__ import annotations

import time
from typing import Any

from redrive.contracts.messages import RETURNED_ATTRIBUTE
from redrive_local.alarms import AlarmWatch
from redrive_local.approver import decide_through_page, topic_emails
from redrive_local.engine import LocalEngine
from redrive_local.inspect import queue_bodies
from redrive_local.rehearsal import Rehearsal
from tests.support.dlq import backend_attributes, send
from tests.support.executions import wait_for_execution

from .conftest import kinesis_scenario, s3_json

RECORDS = [
    {"partitionKey": "a", "data": {"id": "loop-1", "amount": "5"}},
    {"partitionKey": "b", "data": {"id": "loop-2", "amount": "6"}},
]
PERIOD = 0.3
"""One CloudWatch evaluation period, in real seconds."""


def executions(engine: LocalEngine, rehearsal: Rehearsal) -> list[dict[str, Any]]:
    sfn = engine.client("stepfunctions")
    return list(sfn.list_executions(stateMachineArn=rehearsal.outputs["StateMachineArn"])["executions"])


def approval_emails(rehearsal: Rehearsal) -> int:
    return sum(1 for e in topic_emails(rehearsal.outputs["OperatorsTopicArn"]) if e.link)


def settle_all(engine: LocalEngine, rehearsal: Rehearsal) -> list[dict[str, Any]]:
    sfn = engine.client("stepfunctions")
    ended = [wait_for_execution(sfn, e["executionArn"], timeout=60) for e in executions(engine, rehearsal)]
    for execution in ended:
        rehearsal.operator.wait_settled(execution["executionArn"])
    return ended


def rejected_run(engine: LocalEngine) -> tuple[Rehearsal, AlarmWatch, list[str], str]:
    """An alarm-started run, evaluated period by period as CloudWatch does: ALARM (the DLQ
    filled), OK while the run holds its messages and waits for a decision, rejected, ALARM
    again once they are back. Returns the rehearsal, the alarm, the pointers and the run id."""
    rehearsal = Rehearsal(kinesis_scenario(RECORDS), trigger="alarm", engine=engine, approve="manual")
    rehearsal.prepare()
    topic = rehearsal.outputs["OperatorsTopicArn"]
    pointers = sorted(queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"]))
    arn = rehearsal.start()
    alarm = rehearsal.operator.alarm_watch
    assert alarm is not None
    deadline = time.monotonic() + 30
    while not [e for e in topic_emails(topic) if e.link] and time.monotonic() < deadline:
        time.sleep(0.05)
    (email,) = [e for e in topic_emails(topic) if e.link]
    assert [t.current for t in alarm.evaluate_once()] == ["OK"], "Collect took every message out"
    decide_through_page(str(email.link), "reject", name="test", comment="not now")
    assert wait_for_execution(engine.client("stepfunctions"), arn, timeout=60)["status"] == "SUCCEEDED"
    rehearsal.operator.wait_settled(arn)
    assert sorted(queue_bodies(rehearsal.outputs["DeadLetterQueueUrl"])) == pointers
    assert [t.current for t in alarm.evaluate_once()] == ["ALARM"], "the rejected run's messages are back"
    return rehearsal, alarm, pointers, arn.rsplit(":", 1)[-1]


def test_a_rejected_run_s_messages_go_back_and_start_no_second_approval(engine: LocalEngine) -> None:
    rehearsal, alarm, pointers, run_id = rejected_run(engine)
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    # The second ALARM started a run; CloudWatch goes on evaluating while it finds only
    # returned messages, leaves them, and ends asking nobody.
    with alarm:
        periods = alarm.periods
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alarm.periods < periods + 10:
            time.sleep(PERIOD)
        ended = settle_all(engine, rehearsal)
    assert not alarm.errors
    assert [t.current for t in alarm.transitions] == ["ALARM", "OK", "ALARM"], "it stays in ALARM"
    sfn = engine.client("stepfunctions")
    inputs = [sfn.describe_execution(executionArn=e["executionArn"])["input"] for e in ended]
    assert len(ended) == 2 and all(e["status"] == "SUCCEEDED" for e in ended), inputs
    assert approval_emails(rehearsal) == 1, "the run the second ALARM started asked nobody"
    assert sorted(queue_bodies(dlq_url)) == pointers, "the returned messages are left where they were"
    marks = {attributes.get(RETURNED_ATTRIBUTE) for attributes in backend_attributes(dlq_url).values()}
    assert marks == {run_id}


def test_a_new_pointer_while_the_alarm_stays_in_alarm_gets_a_run_of_its_own(engine: LocalEngine) -> None:
    rehearsal, _, pointers, _ = rejected_run(engine)
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    stack = rehearsal.stack.name if rehearsal.stack else ""
    settle_all(engine, rehearsal)  # the second ALARM's run: quiet, it records what it left
    assert engine.fire_schedules(stack, function="DlqArrivalsFunction") == 1
    settle_all(engine, rehearsal)
    assert len(executions(engine, rehearsal)) == 2, "nothing new in the DLQ: the check starts nothing"
    assert approval_emails(rehearsal) == 1

    new_pointer = pointers[0]  # the consumer gives up on the same batch again: a new message
    send(engine, dlq_url, new_pointer)
    before = {e["executionArn"] for e in executions(engine, rehearsal)}
    assert engine.fire_schedules(stack, function="DlqArrivalsFunction") == 1
    (started,) = [e for e in executions(engine, rehearsal) if e["executionArn"] not in before]
    deadline = time.monotonic() + 30
    while approval_emails(rehearsal) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    emails = [e for e in topic_emails(rehearsal.outputs["OperatorsTopicArn"]) if e.link]
    assert len(emails) == 2, "the new pointer got its run and its approval email"
    decide_through_page(str(emails[1].link), "reject", name="test", comment="seen")
    ended = wait_for_execution(engine.client("stepfunctions"), started["executionArn"], timeout=60)
    assert ended["status"] == "SUCCEEDED"
    run_id = started["executionArn"].rsplit(":", 1)[-1]
    report = s3_json(engine, rehearsal.outputs["RunBucketName"], f"runs/{run_id}/report.json")
    assert report["counts"]["dlqMessages"] == 1, "it took the new message only"
    assert sorted(queue_bodies(dlq_url)) == sorted([*pointers, new_pointer])
