"""Rehearse a redrive on the local stack: the product's way to try rules before production.

One scenario, start to finish: deploy template.yaml, write the records, let the consumer's
event source mapping fail on the poison ones (pointers land in the DLQ), trim what the
scenario says the stream loses, start the workflow (through the DLQ alarm, or by hand),
wait for it, and gather a report of what happened to every message and record.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from .alarms import QueueDepthAlarms
from .approver import decide_through_page, describe, topic_emails
from .deploy import DeployedStack, deploy_stack
from .engine import ACCOUNT, REGION, LocalEngine, endpoint_session, get_engine
from .esm import StreamConsumerEmulator
from .inspect import queue_bodies, trim_stream_records
from .scenario import Scenario

Narrate = Callable[[str], None]
APPROVE_MODES = ("auto", "reject", "manual")
EXECUTION_TIMEOUT = 600.0


class RehearsalError(Exception):
    """The rehearsal could not run to its end (the message says where it stopped)."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


class Rehearsal:
    def __init__(
        self,
        scenario: Scenario,
        trigger: str = "alarm",
        narrate: Narrate = lambda line: None,
        engine: LocalEngine | None = None,
        template: Path | None = None,
        approve: str = "auto",
    ) -> None:
        if approve not in APPROVE_MODES:
            raise RehearsalError(f"approve must be one of {', '.join(APPROVE_MODES)}")
        self.scenario = scenario
        self.trigger = trigger
        self.approve = approve
        self.extra_parameters: dict[str, str] = {}  # more template parameters for the deploy
        self.approval: dict[str, Any] = {"requested": False, "decision": None, "email": None}
        self.say = narrate
        self.engine = engine or get_engine()
        self.template = template or self.engine.repo_root / "template.yaml"
        self.stack: DeployedStack | None = None
        self.written: list[tuple[str, str]] = []  # (shard id, sequence number) per scenario record

    # --- set-up -------------------------------------------------------------------------
    def deploy(self) -> DeployedStack:
        name = f"rehearsal-{uuid.uuid4().hex[:8]}"
        parameters = self.scenario.template_parameters()
        parameters["ApprovalBaseUrl"] = self.engine.api.base_url(name)
        parameters.update(self.extra_parameters)
        if self.trigger == "alarm":
            # An alarm-started run takes its settings from the stack, as it would on AWS.
            parameters["RunDefaults"] = json.dumps(self.scenario.run, separators=(",", ":"))
        self.stack = deploy_stack(endpoint_session(self.engine), self.template, name, parameters, REGION, ACCOUNT)
        self.engine.api.mount(name, self.stack.resources["ServerlessHttpApi"])
        self.mapping_uuid = self.stack.resources["OrdersConsumerMapping"]
        self.consumer = StreamConsumerEmulator(self.engine, mapping_uuids=[self.mapping_uuid])
        return self.stack

    @property
    def outputs(self) -> dict[str, str]:
        assert self.stack is not None
        return self.stack.outputs

    def write_records(self) -> None:
        source_arn = self.outputs["ExampleSourceArn"]
        if self.scenario.source.type == "kinesis":
            kinesis = self.engine.client("kinesis")
            for record in self.scenario.records:
                body = record.text if record.text is not None else json.dumps(record.data)
                put = kinesis.put_record(StreamARN=source_arn, Data=body.encode(), PartitionKey=record.partition_key)
                self.written.append((put["ShardId"], put["SequenceNumber"]))
            return
        table = source_arn.split(":", 5)[-1].split("/")[1]
        dynamodb = self.engine.client("dynamodb")
        from boto3.dynamodb.types import TypeSerializer

        serialize = TypeSerializer().serialize
        for record in self.scenario.records:
            item = json.loads(json.dumps(record.item), parse_float=Decimal)
            dynamodb.put_item(TableName=table, Item={k: serialize(v) for k, v in item.items()})
        streams = self.engine.client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=source_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=source_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        page = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
        self.written = [(shard, r["dynamodb"]["SequenceNumber"]) for r in page["Records"]]

    def trim(self) -> list[tuple[str, str]]:
        lost = [self.written[i] for i in self.scenario.trim]
        if lost:
            trim_stream_records(self.outputs["ExampleSourceArn"], lost)
        return lost

    # --- the run --------------------------------------------------------------------------
    def start(self, run_input: dict[str, Any] | None = None) -> str:
        """Start the workflow: through the DLQ alarm, or by hand with the scenario's run
        settings (or ``run_input``) as the execution input."""
        sfn = self.engine.client("stepfunctions")
        machine = self.outputs["StateMachineArn"]
        if self.trigger == "manual" or run_input is not None:
            run_input = dict(self.scenario.run if run_input is None else run_input)
            run_input.setdefault("dlqUrl", self.outputs["DeadLetterQueueUrl"])
            return str(sfn.start_execution(stateMachineArn=machine, input=json.dumps(run_input))["executionArn"])
        alarms = QueueDepthAlarms(
            self.engine.client("cloudwatch"), self.engine.client("sqs"), self.engine.client("events"), ACCOUNT, REGION
        )
        alarm_name = self.outputs["DlqDepthAlarmName"]
        seen = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
        for _ in range(3):
            changes = [t for t in alarms.evaluate() if t.alarm_name == alarm_name]
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
        sfn = self.engine.client("stepfunctions")
        deadline = time.monotonic() + EXECUTION_TIMEOUT
        stop = threading.Event()
        drainer = None
        if drain_stream:
            # With the stream target the mapping keeps consuming while the redrive writes.
            def drain() -> None:
                while not stop.wait(0.2):
                    self.consumer.run_until_idle(max_rounds=200)

            drainer = threading.Thread(target=drain, daemon=True)
            drainer.start()
        emails_before = len(topic_emails(self.outputs["OperatorsTopicArn"]))
        try:
            while True:
                described = sfn.describe_execution(executionArn=execution_arn)
                if described["status"] != "RUNNING":
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

    def _answer_approval(self, emails_before: int) -> None:
        """When the approval email arrives, act as the operator (or hand it to one)."""
        emails = [e for e in topic_emails(self.outputs["OperatorsTopicArn"])[emails_before:] if e.link]
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

    # --- the report -----------------------------------------------------------------------
    def processed_by_consumer(self) -> list[Any]:
        dynamodb = self.engine.client("dynamodb")
        table = self.stack.resources["OrdersSinkTable"] if self.stack else ""
        deserialize = TypeDeserializer().deserialize
        items: list[Any] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items.extend(_plain({k: deserialize(v) for k, v in item.items()}) for item in page["Items"])
        return sorted(items, key=lambda item: str(item.get("id")))

    def state_transitions(self, execution_arn: str) -> int:
        sfn = self.engine.client("stepfunctions")
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return sum(1 for e in events if e["type"].endswith("StateEntered"))

    def run_report(self, execution: dict[str, Any]) -> dict[str, Any]:
        s3 = self.engine.client("s3")
        run_id = execution["executionArn"].rsplit(":", 1)[-1]
        key = f"runs/{run_id}/report.json"
        try:
            body = s3.get_object(Bucket=self.outputs["RunBucketName"], Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return {}
        return dict(json.loads(body))

    def prepare(self) -> None:
        """Deploy, write the records, let the consumer fail, trim, add the extra messages."""
        self.say("deploying template.yaml on the local stack")
        self.deploy()
        self.say(
            f"stack {self.stack.name if self.stack else ''}: {len(self.stack.resources) if self.stack else 0} resources"
        )
        self.write_records()
        self.say(f"wrote {len(self.scenario.records)} records to the {self.scenario.source.type} source")
        consumed = self.consumer.run_until_idle()
        for step in self.consumer.steps:
            self.say("  " + describe_step(step))
        self.say(
            f"consumer: {consumed.invocations} invocations, {len(consumed.processed)} records processed, "
            f"{consumed.failure_messages} failure pointers sent to the DLQ"
        )
        lost = self.trim()
        if lost:
            self.say(f"the stream lost {len(lost)} record(s) to retention: " + ", ".join(s for _, s in lost))
        dlq_url = self.outputs["DeadLetterQueueUrl"]
        sqs = self.engine.client("sqs")
        for body in self.scenario.extra_dlq_messages:
            sqs.send_message(QueueUrl=dlq_url, MessageBody=body)

    def run(self) -> dict[str, Any]:
        """The whole rehearsal; returns the report (see README: Rehearsal report)."""
        self.prepare()
        return self.redrive()

    def redrive(self, run_input: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start the workflow on the prepared stack, wait for it, and report."""
        self.approval = {"requested": False, "decision": None, "email": None}
        dlq_url = self.outputs["DeadLetterQueueUrl"]
        before = queue_bodies(dlq_url)
        self.say(f"DLQ holds {len(before)} message(s)")
        invocations_before = sum(self.engine.runtime.invocations.values())
        execution_arn = self.start(run_input)
        self.say(f"execution started ({self.trigger}): {execution_arn.rsplit(':', 1)[-1]}")
        settings = self.scenario.run if run_input is None else run_input
        target = (settings.get("redrive") or {}).get("target", "invoke")
        execution = self.wait(execution_arn, drain_stream=target == "stream")
        if target == "stream":
            self.consumer.run_until_idle()
        self.say(f"execution {execution['status']}")
        run_report = self.run_report(execution)
        after = queue_bodies(dlq_url)
        return {
            "execution": {
                "arn": execution_arn,
                "status": execution["status"],
                "trigger": self.trigger,
                "error": execution.get("error"),
                "cause": execution.get("cause"),
            },
            "dlq": {"before": before, "after": after},
            "records": [{k: r.get(k) for k in REPORT_RECORD_FIELDS} for r in run_report.get("records", [])],
            "counts": {k: run_report.get("counts", {}).get(k, 0) for k in REPORT_COUNTS},
            "consumer": {"processed": self.processed_by_consumer()},
            "unrecognised": run_report.get("unrecognised", []),
            "summary": run_report.get("summary"),
            "redrive": redrive_section(self.scenario, run_report),
            "approval": {
                **self.approval,
                "decision": (run_report.get("approval") or {}).get("decision"),
                "decidedBy": (run_report.get("approval") or {}).get("decidedBy"),
                "comment": (run_report.get("approval") or {}).get("comment"),
            },
            "metrics": {
                "stateTransitions": self.state_transitions(execution_arn),
                "lambdaInvocations": sum(self.engine.runtime.invocations.values()) - invocations_before,
                "getRecordsCalls": run_report.get("getRecordsCalls", 0),
            },
        }


REPORT_RECORD_FIELDS = (
    "shardId",
    "sequenceNumber",
    "partitionKey",
    "data",
    "text",
    "class",
    "outcome",
    "repaired",
    "rule",
    "reason",
    "originalData",
    "pointer",
)
REPORT_COUNTS = (
    "dlqMessages",
    "pointers",
    "recordsFetched",
    "expired",
    "repaired",
    "discarded",
    "redriven",
    "failed",
    "unrecognised",
)


def redrive_section(scenario: Scenario, run_report: dict[str, Any]) -> dict[str, Any]:
    redrive = scenario.run.get("redrive") or {}
    timing = run_report.get("redrive") or {}
    return {
        "target": run_report.get("target") or redrive.get("target", "invoke"),
        "startedAt": timing.get("startedAt"),
        "finishedAt": timing.get("finishedAt"),
        "ratePerSecond": run_report.get("ratePerSecond") or redrive.get("ratePerSecond"),
        "achievedPerSecond": timing.get("achievedPerSecond"),
    }


def describe_step(step: Any) -> str:
    if hasattr(step, "outcome"):
        seqs = step.sequence_numbers
        span = f"{seqs[0]}..{seqs[-1]}" if len(seqs) > 1 else seqs[0]
        detail = f" ({step.detail})" if step.detail else ""
        return f"invoke #{step.attempt} {step.shard_id} [{span}] {step.outcome}{detail} -> {step.action}"
    return f"gave up {step.shard_id} [{step.sequence_numbers[0]}..{step.sequence_numbers[-1]}] {step.condition} -> DLQ"
