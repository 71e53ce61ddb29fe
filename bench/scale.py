"""Whole rehearsals of N records on the local stack, and what each one counted.

N orders whose amount was sent as text fail their first delivery (the consumer's mapping
gives up on whole batches: pointers land in the DLQ), a rule repairs them, and the run
redrives them to the consumer with the stack's default concurrency, at a rate high enough
that the pacing is not what is measured (the pacing's billed wait is priced apart, in
bench/__main__.py). The run's own report.json gives its metrics (contracts/report.py
RunMetrics); the bench counts the rest while the execution runs: every request the local
AWS answers (by service, and in DynamoDB request units), every Lambda invocation and how
long it took, and each Distributed Map child's duration.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redrive.adapters.executions import StepFunctionsHistory
from redrive_local import workarounds
from redrive_local.engine import LocalEngine, get_engine
from redrive_local.rehearsal import Rehearsal
from redrive_local.scenario import Scenario

REPO = Path(__file__).resolve().parents[1]
RATE_PER_SECOND = 10_000.0  # far above what the local stack reaches: the work is measured, not the pacing
SHARDS = 2
CONSUMER_BATCH = 500  # the mapping's batch, and so the redrive's at the stack's default (500)
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")


def template_default(parameter: str) -> str:
    """A template parameter's Default, read from template.yaml's text."""
    text = (REPO / "template.yaml").read_text()
    found = re.search(rf"^  {parameter}:\n(?:    .*\n)*?    Default: (.+)$", text, re.MULTILINE)
    assert found, f"template.yaml has no Default for {parameter}"
    return found.group(1).strip().strip("\"'")


def architecture() -> str:
    found = re.search(r"Architectures: \[(\w+)\]", (REPO / "template.yaml").read_text())
    return found.group(1) if found else "x86_64"


def child_workflow_type() -> str:
    """The type of the children of the state machine's Distributed Maps ("" with none)."""

    def walk(states: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for state in states.values():
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            if state.get("Type") == "Map":
                yield processor.get("ProcessorConfig", {})
            yield from walk(processor.get("States", {}))
            for branch in state.get("Branches", []):
                yield from walk(branch.get("States", {}))

    definition = json.loads((REPO / "statemachines" / "redrive.asl.json").read_text())
    kinds = {c.get("ExecutionType", "STANDARD") for c in walk(definition["States"]) if c.get("Mode") == "DISTRIBUTED"}
    return "EXPRESS" if "EXPRESS" in kinds else ("STANDARD" if kinds else "")


def scenario(records: int, redrive: dict[str, Any] | None = None) -> Scenario:
    """``records`` orders over two shards, each failing its first delivery."""
    return Scenario.model_validate(
        {
            "source": {"type": "kinesis", "shards": SHARDS},
            "consumer": {"batchSize": CONSUMER_BATCH, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
            "records": [
                {"partitionKey": f"customer-{i}", "data": {"id": f"o-{i}", "amount": str(i % 1000)}}
                for i in range(records)
            ],
            "run": {
                "rules": [
                    {
                        "name": "amount-as-number",
                        "when": "$type(data.amount) = 'string'",
                        "action": "repair",
                        "repair": "$merge([data, {'amount': $number(data.amount)}])",
                    }
                ],
                "redrive": {"target": "invoke", "ratePerSecond": RATE_PER_SECOND, **(redrive or {})},
                "approval": {"skip": True},
            },
        }
    )


@dataclass
class Counted:
    """What the local AWS and the local Lambda runtime did while a block ran."""

    api_calls: Counter[str] = field(default_factory=Counter)  # per service
    s3_puts: int = 0  # PUT, POST and LIST (one price tier)
    s3_gets: int = 0
    write_units: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # per table
    read_units: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # per table
    invocations: Counter[str] = field(default_factory=Counter)  # per function name
    lambda_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # measured
    memory_mb: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gb_seconds(self) -> float:
        return sum(self.lambda_seconds[f] * self.memory_mb.get(f, 128) / 1024 for f in self.lambda_seconds)

    def count_request(self, environ: dict[str, Any]) -> None:
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(1) if scope else "unsigned"
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        units: list[tuple[str, float, float]] = []
        if service == "dynamodb" and target:
            units = _dynamodb_units(target.rsplit(".", 1)[-1], _body(environ))
        with self.lock:
            self.api_calls[service] += 1
            if service == "s3":
                method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
                listing = method == "GET" and path.strip("/").count("/") == 0
                if method in ("PUT", "POST") or listing:
                    self.s3_puts += 1
                elif method in ("GET", "HEAD"):
                    self.s3_gets += 1
            for table, write, read in units:
                self.write_units[table] += write
                self.read_units[table] += read


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        return dict(json.loads(raw or b"{}"))
    except ValueError:
        return {}


def _dynamodb_units(operation: str, body: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(table, write, read) request units of one request, for items under 1 KB (writes) and
    4 KB (reads): a transactional write is two units per item, an eventually consistent read
    half a unit."""
    table = str(body.get("TableName", ""))
    read = 1.0 if body.get("ConsistentRead") else 0.5
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [(table, 1.0, 0.0)]
    if operation == "BatchWriteItem":
        return [(name, float(len(items)), 0.0) for name, items in (body.get("RequestItems") or {}).items()]
    if operation == "TransactWriteItems":
        return [
            (str(action.get("TableName", "")), 2.0, 0.0)
            for item in body.get("TransactItems") or []
            for action in item.values()
            if isinstance(action, dict)
        ]
    if operation in ("GetItem", "Query", "Scan"):
        return [(table, 0.0, read)]
    return []


@contextmanager
def counting(engine: LocalEngine) -> Iterator[Counted]:
    """Count every request and Lambda invocation while the block runs."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    counted = Counted()
    answer = DomainDispatcherApplication.__call__

    def counted_call(self: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        counted.count_request(environ)
        return answer(self, environ, start_response)

    def timed_invoke(fn: Any, event: Any) -> tuple[str, bool, str]:
        started = time.monotonic()
        try:
            return engine.runtime.invoke(fn, event)
        finally:
            with counted.lock:
                counted.invocations[fn.function_name] += 1
                counted.lambda_seconds[fn.function_name] += time.monotonic() - started
                counted.memory_mb[fn.function_name] = int(fn.memory_size)

    DomainDispatcherApplication.__call__ = counted_call  # type: ignore[method-assign]
    workarounds.set_lambda_invoker(timed_invoke)
    try:
        yield counted
    finally:
        DomainDispatcherApplication.__call__ = answer  # type: ignore[method-assign]
        workarounds.set_lambda_invoker(engine.runtime.invoke)


@dataclass
class ScaleRun:
    """What one rehearsal of ``records`` records counted."""

    records: int
    batch_size: int
    redriven: int
    batches: int
    seconds: float  # the whole rehearsal, deploy to report
    cpu_seconds: float  # CPU time over it: this process's (moto, the bench) and the functions' sandboxes
    metrics: dict[str, Any]  # the rehearsal report's (the run's own included)
    counted: Counted
    parent_transitions: int
    child_transitions: int
    children: int
    child_seconds: list[float]
    resources: dict[str, str]  # physical name (or ARN) -> template logical id

    def figures(self) -> dict[str, float]:
        """The bench's figures for this run. The example consumer's writes to its own table
        are counted apart (``consumerWriteUnits``): any design that redrives the records pays
        them, whatever the consumer does with a record."""
        consumer = [n for n, logical in self.resources.items() if logical == "OrdersConsumerFunction"]
        sink = {n for n, logical in self.resources.items() if logical == "OrdersSinkTable"}
        writes, reads = self.counted.write_units, self.counted.read_units
        return {
            "historyEvents": float(self.metrics.get("historyEvents") or 0),
            "transitions": float(self.parent_transitions + self.child_transitions),
            "lambdaInvocations": float(sum(self.counted.invocations.values())),
            "consumerInvocations": float(sum(self.counted.invocations[n] for n in consumer)),
            "lambdaGbSeconds": self.counted.gb_seconds(),
            "apiCalls": float(sum(self.counted.api_calls.values())),
            "s3Puts": float(self.counted.s3_puts),
            "s3Gets": float(self.counted.s3_gets),
            "dynamodbWriteUnits": sum(units for table, units in writes.items() if table not in sink),
            "dynamodbReadUnits": sum(units for table, units in reads.items() if table not in sink),
            "consumerWriteUnits": sum(writes[table] for table in sink),
            "sqsRequests": float(self.counted.api_calls["sqs"]),
            "children": float(self.children),
        }


def _children(engine: LocalEngine, execution_arn: str) -> tuple[int, list[float]]:
    """Distributed Map children of the execution and each one's duration in seconds."""
    sfn = engine.client("stepfunctions")
    seconds: list[float] = []
    for map_run in sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", []):
        token: str | None = None
        while True:
            page = sfn.list_executions(mapRunArn=map_run["mapRunArn"], **({"nextToken": token} if token else {}))
            for child in page.get("executions", []):
                if child.get("stopDate") and child.get("startDate"):
                    seconds.append((child["stopDate"] - child["startDate"]).total_seconds())
            token = page.get("nextToken")
            if not token:
                break
    return len(seconds), seconds


def cpu_time(engine: LocalEngine) -> float:
    """CPU seconds so far: this process's and those the functions' sandboxes reported (a
    sandbox reports with each invocation's answer, so its last one is counted)."""
    return time.process_time() + engine.runtime.sandbox_cpu_seconds


def rehearse(records: int, batch_size: int | None = None, engine: LocalEngine | None = None) -> ScaleRun:
    """One rehearsal of ``records`` records; without ``batch_size`` the run chooses its batch
    as it does on AWS (the stack's default, bounded by the consumer's own batch)."""
    engine = engine or get_engine()
    redrive = {"batchSize": batch_size} if batch_size else {}
    rehearsal = Rehearsal(scenario(records, redrive), trigger="manual", engine=engine)
    rehearsal.extra_parameters = {"AllowSkipApproval": "true"}
    started, cpu = time.monotonic(), cpu_time(engine)
    rehearsal.prepare()
    with counting(engine) as counted:
        report = rehearsal.redrive()
    seconds, cpu_seconds = time.monotonic() - started, cpu_time(engine) - cpu
    arn = report["execution"]["arn"]
    assert report["execution"]["status"] == "SUCCEEDED", f"the {records}-record run ended {report['execution']}"
    everything = StepFunctionsHistory(engine.client("stepfunctions")).counts(arn)
    children, child_seconds = _children(engine, arn)
    parent = int(report["metrics"]["stateTransitions"])
    resources = rehearsal.stack.resources if rehearsal.stack else {}
    return ScaleRun(
        records=records,
        batch_size=int(report["redrive"]["largestBatch"]),
        redriven=int(report["counts"]["redriven"]),
        batches=int((report.get("summary") or {}).get("batches", 0) or 0),
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        metrics=report["metrics"],
        counted=counted,
        parent_transitions=parent,
        child_transitions=max(0, everything.state_transitions - parent),
        children=children,
        child_seconds=child_seconds,
        resources={physical: logical for logical, physical in resources.items()},
    )


NAIVE_DEFINITION = {
    "Comment": "The naive redrive: one inline Map iteration and one consumer invoke per record.",
    "StartAt": "EachRecord",
    "States": {
        "EachRecord": {
            "Type": "Map",
            "ItemsPath": "$.events",
            "MaxConcurrency": 10,
            "Iterator": {
                "StartAt": "Invoke",
                "States": {
                    "Invoke": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "${Consumer}", "Payload.$": "$"},
                        "ResultSelector": {"ok": True},
                        "End": True,
                    }
                },
            },
            "ResultPath": None,
            "End": True,
        }
    },
}


@dataclass
class NaiveRun:
    records: int
    transitions: int
    history_events: int
    counted: Counted

    def per_record(self) -> dict[str, float]:
        return {
            "transitions": self.transitions / self.records,
            "historyEvents": self.history_events / self.records,
            "lambdaInvocations": sum(self.counted.invocations.values()) / self.records,
            "lambdaGbSeconds": self.counted.gb_seconds() / self.records,
            "consumerWriteUnits": sum(self.counted.write_units.values()) / self.records,
        }


def _naive_role(engine: LocalEngine, consumer_arn: str) -> str:
    """The naive machine's execution role: Step Functions may assume it, and it may invoke the
    consumer and nothing else (the strict stack runs the machine's Lambda calls as this role)."""
    iam = engine.client("iam")
    name = f"bench-naive-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    invoke = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [consumer_arn, f"{consumer_arn}:*"]}
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="invoke-consumer", PolicyDocument=json.dumps(invoke))
    return arn


def naive(records: int, consumer_arn: str, engine: LocalEngine | None = None) -> NaiveRun:
    """The naive design on the same engine: a state machine the bench deploys, whose input
    holds one Kinesis event per record, each sent to the consumer on its own."""
    engine = engine or get_engine()
    sfn = engine.client("stepfunctions")
    definition = json.dumps(NAIVE_DEFINITION).replace("${Consumer}", consumer_arn)
    machine = sfn.create_state_machine(
        name=f"bench-naive-{uuid.uuid4().hex[:8]}",
        definition=definition,
        roleArn=_naive_role(engine, consumer_arn),
    )["stateMachineArn"]
    events = [
        {
            "Records": [
                {
                    "eventSource": "aws:kinesis",
                    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
                    "kinesis": {
                        "partitionKey": f"customer-{i}",
                        "sequenceNumber": str(i + 1),
                        "data": base64.b64encode(json.dumps({"id": f"n-{i}", "amount": i}).encode()).decode(),
                    },
                }
            ]
        }
        for i in range(records)
    ]
    with counting(engine) as counted:
        arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"events": events}))["executionArn"]
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            time.sleep(0.5)
    status = sfn.describe_execution(executionArn=arn)["status"]
    assert status == "SUCCEEDED", f"the naive run ended {status}"
    events_seen, transitions = StepFunctionsHistory(sfn).history(arn)
    return NaiveRun(records=records, transitions=transitions, history_events=events_seen, counted=counted)
