"""The rehearsal report (see README: Rehearsal report): what the execution did, read from
the run's own report.json, the DLQ before and after, the consumer's table, and counts of
state transitions and Lambda invocations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from redrive.contracts.paths import RunPaths

from ..engine import LocalEngine
from ..scenario import Scenario

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

# From the run's own report.json (counted when it was settled): see contracts/report.py RunMetrics.
RUN_METRICS = ("historyEvents", "executions", "unreadableExecutions", "lambdaBilledSeconds", "lambdaGbSeconds")


@dataclass
class RunObservations:
    """What the rehearsal saw of one execution, besides the run's own report."""

    execution_arn: str
    execution: dict[str, Any]  # DescribeExecution once it ended
    trigger: str
    dlq_before: list[Any]
    dlq_after: list[Any]
    approval: dict[str, Any]  # what the operator saw and answered
    lambda_invocations: int


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def processed_by_consumer(engine: LocalEngine, table: str) -> list[Any]:
    """The consumer's sink table as plain JSON, sorted by id."""
    dynamodb = engine.client("dynamodb")
    deserialize = TypeDeserializer().deserialize
    items: list[Any] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items.extend(_plain({k: deserialize(v) for k, v in item.items()}) for item in page["Items"])
    return sorted(items, key=lambda item: str(item.get("id")))


def state_transitions(engine: LocalEngine, execution_arn: str) -> int:
    """StateEntered events of the whole execution, read page by page (moto answers in one)."""
    sfn = engine.client("stepfunctions")
    entered, token = 0, None
    while True:
        page = sfn.get_execution_history(
            executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        entered += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
        token = page.get("nextToken")
        if not token:
            return entered


def run_report(engine: LocalEngine, bucket: str, execution: dict[str, Any]) -> dict[str, Any]:
    """The run's report.json in the run bucket ({} when the run wrote none)."""
    s3 = engine.client("s3")
    run_id = execution["executionArn"].rsplit(":", 1)[-1]
    try:
        body = s3.get_object(Bucket=bucket, Key=RunPaths(run_id).report)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {}
    return dict(json.loads(body))


def assemble_report(
    seen: RunObservations,
    run: dict[str, Any],
    scenario: Scenario,
    consumer_processed: list[Any],
    transitions: int,
) -> dict[str, Any]:
    """The rehearsal report from what was observed and the run's own report ``run``."""
    execution = seen.execution
    approval = run.get("approval") or {}
    return {
        "execution": {
            "arn": seen.execution_arn,
            "status": execution["status"],
            "trigger": seen.trigger,
            "error": execution.get("error"),
            "cause": execution.get("cause"),
        },
        "dlq": {"before": seen.dlq_before, "after": seen.dlq_after},
        "records": [{k: r.get(k) for k in REPORT_RECORD_FIELDS} for r in run.get("records", [])],
        "counts": {k: run.get("counts", {}).get(k, 0) for k in REPORT_COUNTS},
        "consumer": {"processed": consumer_processed},
        "unrecognised": run.get("unrecognised", []),
        "summary": run.get("summary"),
        "redrive": redrive_section(scenario, run),
        "approval": {
            **seen.approval,
            "decision": approval.get("decision"),
            "decidedBy": approval.get("decidedBy"),
            "comment": approval.get("comment"),
        },
        "metrics": {
            **{k: v for k, v in (run.get("metrics") or {}).items() if k in RUN_METRICS},
            "stateTransitions": transitions,
            "lambdaInvocations": seen.lambda_invocations,
            "getRecordsCalls": run.get("getRecordsCalls", 0),
        },
    }


def redrive_section(scenario: Scenario, run_report: dict[str, Any]) -> dict[str, Any]:
    redrive = scenario.run.get("redrive") or {}
    timing = run_report.get("redrive") or {}
    return {
        "target": run_report.get("target") or redrive.get("target", "invoke"),
        "startedAt": timing.get("startedAt"),
        "finishedAt": timing.get("finishedAt"),
        "ratePerSecond": run_report.get("ratePerSecond") or redrive.get("ratePerSecond"),
        "achievedPerSecond": timing.get("achievedPerSecond"),
        "concurrency": run_report.get("concurrency"),
        "batchSize": run_report.get("batchSize"),
        "largestBatch": (run_report.get("summary") or {}).get("largestBatch"),
        "ordering": run_report.get("ordering"),
    }


def describe_step(step: Any) -> str:
    """One line for an invocation or a given-up batch of the consumer's emulator."""
    if hasattr(step, "outcome"):
        seqs = step.sequence_numbers
        span = f"{seqs[0]}..{seqs[-1]}" if len(seqs) > 1 else seqs[0]
        detail = f" ({step.detail})" if step.detail else ""
        return f"invoke #{step.attempt} {step.shard_id} [{span}] {step.outcome}{detail} -> {step.action}"
    return f"gave up {step.shard_id} [{step.sequence_numbers[0]}..{step.sequence_numbers[-1]}] {step.condition} -> DLQ"
