"""The operator's part of a rehearsal: start the workflow (through the DLQ alarm, or by
hand), wait for it while the consumer keeps draining a stream target, and answer the
approval email when it arrives (approve, reject, or hand it to a person)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from ..alarms import AlarmWatch, QueueDepthAlarms
from ..approver import decide_through_page, describe, topic_emails
from ..engine import ACCOUNT, REGION, LocalEngine
from ..inspect import execution_running
from .errors import RehearsalError
from .stack import RehearsalStack

Narrate = Callable[[str], None]
APPROVE_MODES = ("auto", "reject", "manual")
EXECUTION_TIMEOUT = 600.0
SETTLE_TIMEOUT = 60.0
ALARM_PERIOD_SECONDS = 0.3
"""A CloudWatch evaluation period of the DLQ alarm during a rehearsal, in real seconds."""


def fresh_approval() -> dict[str, Any]:
    """What the operator knows about the run's approval before it is asked for."""
    return {"requested": False, "decision": None, "email": None}


class RehearsalOperator:
    """Drives one execution on a prepared stack; ``approval`` records the approval email
    and what was answered."""

    def __init__(self, engine: LocalEngine, setup: RehearsalStack, trigger: str, approve: str, say: Narrate) -> None:
        if approve not in APPROVE_MODES:
            raise RehearsalError(f"approve must be one of {', '.join(APPROVE_MODES)}")
        self.engine = engine
        self.setup = setup
        self.trigger = trigger
        self.approve = approve
        self.say = say
        self.approval = fresh_approval()
        self.alarm_watch: AlarmWatch | None = None
        """With the alarm trigger: the DLQ alarm, evaluated every period while a run goes
        on (``transitions`` holds every state change it had)."""

    def start(self, run_input: dict[str, Any] | None = None) -> str:
        """Start the workflow: through the DLQ alarm, or by hand with the scenario's run
        settings (or ``run_input``) as the execution input."""
        if self.trigger == "manual" or run_input is not None:
            run_input = dict(self.setup.scenario.run if run_input is None else run_input)
            run_input.setdefault("dlqUrl", self.setup.outputs["DeadLetterQueueUrl"])
            sfn = self.engine.client("stepfunctions")
            started = sfn.start_execution(
                stateMachineArn=self.setup.outputs["StateMachineArn"], input=json.dumps(run_input)
            )
            return str(started["executionArn"])
        return self._start_through_alarm()

    def _start_through_alarm(self) -> str:
        """Evaluate the DLQ alarm until it goes to ALARM; the EventBridge rule on that
        transition starts the execution, which is returned."""
        sfn = self.engine.client("stepfunctions")
        machine = self.setup.outputs["StateMachineArn"]
        alarm_name = self.setup.outputs["DlqDepthAlarmName"]
        if self.alarm_watch is None:
            alarms = QueueDepthAlarms(
                self.engine.client("cloudwatch"),
                self.engine.client("sqs"),
                self.engine.client("events"),
                ACCOUNT,
                REGION,
            )
            self.alarm_watch = AlarmWatch(alarms, ALARM_PERIOD_SECONDS, alarm_name)
        seen = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
        for _ in range(3):
            changes = self.alarm_watch.evaluate_once()
            if changes and changes[-1].current == "ALARM":
                self.say(f"alarm {alarm_name}: {changes[-1].previous} -> ALARM (DLQ depth {changes[-1].datapoint:g})")
                break
        else:
            raise RehearsalError(f"the DLQ alarm {alarm_name} did not go to ALARM: is the DLQ empty?")
        started = [
            e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["executionArn"] not in seen
        ]
        if not started:
            raise RehearsalError("the alarm fired but EventBridge started no execution")
        return str(started[0]["executionArn"])

    def wait(self, execution_arn: str, drain_stream: bool) -> dict[str, Any]:
        """Poll the execution until it ends, answering the approval email on the way; with
        ``drain_stream`` the consumer's mapping keeps consuming while the redrive writes."""
        sfn = self.engine.client("stepfunctions")
        deadline = time.monotonic() + EXECUTION_TIMEOUT
        stop = threading.Event()
        drainer = None
        if drain_stream:

            def drain() -> None:
                while not stop.wait(0.2):
                    self.setup.consumer.run_until_idle(max_rounds=200)

            drainer = threading.Thread(target=drain, daemon=True)
            drainer.start()
        emails_before = len(topic_emails(self.setup.outputs["OperatorsTopicArn"]))
        if self.alarm_watch is not None:  # CloudWatch goes on evaluating the alarm all along
            self.alarm_watch.start()
        try:
            while True:
                if not execution_running(execution_arn):
                    described = sfn.describe_execution(executionArn=execution_arn)
                    self.wait_settled(execution_arn)
                    return dict(described)
                if not self.approval["requested"]:
                    self._answer_approval(emails_before)
                if time.monotonic() > deadline:
                    raise RehearsalError(f"execution still running after {EXECUTION_TIMEOUT:.0f}s: {execution_arn}")
                time.sleep(0.1)
        finally:
            stop.set()
            if drainer:
                drainer.join()
            if self.alarm_watch is not None:
                self.alarm_watch.stop()
                self._narrate_alarm()

    def _narrate_alarm(self) -> None:
        watch = self.alarm_watch
        if watch is None or len(watch.transitions) < 2:
            return
        states = " -> ".join([watch.transitions[0].previous] + [t.current for t in watch.transitions])
        self.say(f"alarm over the run ({watch.periods} periods): {states}")

    def wait_settled(self, execution_arn: str, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until the run of an ended execution is settled (every message it held back
        in the DLQ or finished, its lock free), letting the reconciler's schedule come
        round as it would on AWS."""
        table = self.setup.stack.resources["RunStateTable"] if self.setup.stack else ""
        dynamodb = self.engine.client("dynamodb")
        key = {"pk": {"S": f"run#{execution_arn.rsplit(':', 1)[-1]}"}}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
            if item is None or item.get("status", {}).get("S") == "settled":
                return
            self.engine.fire_schedules(self.setup.stack.name if self.setup.stack else "")
            time.sleep(0.2)
        raise RehearsalError(f"the run of {execution_arn} was not settled after {timeout:.0f}s")

    def _answer_approval(self, emails_before: int) -> None:
        """When the approval email arrives, act as the operator (or hand it to one)."""
        emails = [e for e in topic_emails(self.setup.outputs["OperatorsTopicArn"])[emails_before:] if e.link]
        if not emails:
            return
        email = emails[0]
        self.approval.update(requested=True, email={"subject": email.subject, "body": email.body})
        if self.approve == "manual":
            self.say("approval email (open the link in a browser and decide):\n" + describe(email))
            return
        decision = "approve" if self.approve == "auto" else "reject"
        self.say("approval email sent to the operators' topic:")
        for line in describe(email).splitlines():
            self.say(f"  | {line}")
        page, answer = decide_through_page(
            str(email.link), decision, name=f"rehearsal ({self.approve})", comment=f"--approve {self.approve}"
        )
        self.approval["page"] = {"status": page.status}
        self.approval["answer"] = {"status": answer.status}
        self.say(
            f"opened the link (GET {page.status}: the decision page, which decides nothing), "
            f"clicked {decision.title()} (POST {answer.status})"
        )
