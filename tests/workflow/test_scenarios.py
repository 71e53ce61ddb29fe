"""The shipped scenarios, end to end: every record accounted for, and each kind of record
ending where the issue says it must."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from redrive_local.engine import LocalEngine

from .conftest import SCENARIOS, Rehearse, run_id_of, s3_json, s3_keys

SHIPPED = ["demo.json", "kinesis-shards.json", "dynamodb.json"]


@pytest.mark.parametrize(
    ("name", "trigger"), [*((name, "alarm") for name in SHIPPED), ("kinesis-shards.json", "manual")]
)
def test_every_record_of_a_scenario_is_accounted_for(
    name: str, trigger: str, rehearse: Rehearse, engine: LocalEngine
) -> None:
    report, rehearsal = rehearse(SCENARIOS / name, trigger)
    assert report["execution"]["status"] == "SUCCEEDED", report["execution"]
    assert report["execution"]["trigger"] == trigger

    given_up = [(f.shard_id, seq) for f in rehearsal.consumer.failures for seq in f.sequence_numbers]
    lost = set(rehearsal.written[i] for i in rehearsal.scenario.trim)
    reported = Counter((r["shardId"], r["sequenceNumber"]) for r in report["records"] if r["outcome"] != "expired")
    # Every record the consumer gave up on appears exactly once, unless the stream lost it.
    assert {key: 1 for key in given_up if key not in lost} == dict(reported)
    expired = [r for r in report["records"] if r["outcome"] == "expired"]
    assert len(expired) == len([key for key in given_up if key in lost])
    for record in expired:
        assert record["pointer"]["shardId"] == record["shardId"]
        assert int(record["pointer"]["startSequenceNumber"]) <= int(record["pointer"]["endSequenceNumber"])
    counts = report["counts"]
    assert counts["recordsFetched"] == len(reported)
    assert counts["expired"] == len(expired)
    assert counts["redriven"] + counts["discarded"] + counts["failed"] + counts["expired"] == len(report["records"])
    assert counts["unrecognised"] == len(rehearsal.scenario.extra_dlq_messages)


@pytest.mark.parametrize("name", ["kinesis-shards.json", "dynamodb.json"])
def test_each_kind_of_record_ends_where_it_should(name: str, rehearse: Rehearse, engine: LocalEngine) -> None:
    report, rehearsal = rehearse(SCENARIOS / name, "alarm")
    records = report["records"]
    processed = {item["id"]: item for item in report["consumer"]["processed"]}

    repaired = [r for r in records if r["repaired"]]
    assert repaired, "the scenario has repairable records"
    for record in repaired:
        assert record["outcome"] == "redriven"
        assert record["rule"] == "amount-as-number"
        assert isinstance(record["data"]["amount"], int | float)
        assert processed[record["data"]["id"]] == record["data"], "the consumer processed the repaired data"

    bucket = rehearsal.outputs["RunBucketName"]
    archived = s3_keys(engine, bucket, f"runs/{run_id_of(report)}/discarded/")
    discarded = [r for r in records if r["outcome"] == "discarded"]
    assert discarded and len(archived) == len(discarded)
    for key in archived:
        archive = s3_json(engine, bucket, key)
        assert archive["rule"] == "drop-test-events"
        assert archive["reason"] == "test traffic"
        assert archive["record"]["sequenceNumber"]

    failed = [r for r in records if r["outcome"] == "failed"]
    assert failed, "the scenario has unrepairable records"
    requeued = [json.loads(b)["streamRedrive"] for b in report["dlq"]["after"] if b.startswith('{"streamRedrive"')]
    assert sorted(m["record"]["sequenceNumber"] for m in requeued) == sorted(r["sequenceNumber"] for r in failed)
    for message in requeued:
        assert message["kind"] == "record"
        assert message["record"]["shardId"] and message["reason"]
        assert message["failure"]["condition"] == "RetryAttemptsExhausted"

    for body in rehearsal.scenario.extra_dlq_messages:
        assert body in report["dlq"]["after"], "an unrecognised message returns untouched"
    assert len(report["dlq"]["after"]) == len(failed) + len(rehearsal.scenario.extra_dlq_messages)


def test_the_report_has_every_section_the_readme_documents(rehearse: Rehearse, engine: LocalEngine) -> None:
    report, rehearsal = rehearse(SCENARIOS / "demo.json", "alarm")
    assert set(report) >= {"execution", "dlq", "records", "counts", "consumer", "redrive", "metrics"}
    assert set(report["execution"]) >= {"arn", "status", "trigger"}
    record_fields = {"shardId", "sequenceNumber", "partitionKey", "data", "text", "class", "outcome", "rule", "reason"}
    assert all(record_fields <= set(r) for r in report["records"])
    metrics: dict[str, Any] = report["metrics"]
    assert metrics["stateTransitions"] > 5
    assert metrics["lambdaInvocations"] >= 6  # prepare, collect, fetch, plan, redrive, finalize
    assert metrics["getRecordsCalls"] >= 1
    sfn = engine.client("stepfunctions")
    ended = len(sfn.get_execution_history(executionArn=report["execution"]["arn"], maxResults=1000)["events"])
    assert 0 < metrics["historyEvents"] < ended, "counted by Finalize, before its own end and the Succeed state"
    # The parent and its Distributed Map children, counted by DescribeMapRun; locally their
    # histories cannot be listed (as EXPRESS children's cannot on AWS).
    assert metrics["executions"] >= 2 and metrics["unreadableExecutions"] == metrics["executions"] - 1
    assert metrics["lambdaBilledSeconds"] > 0 and metrics["lambdaGbSeconds"] > 0
    finalize = rehearsal.stack.resources["FinalizeFunction"] if rehearsal.stack else ""
    run = report["execution"]["arn"].rsplit(":", 1)[-1]
    emf = [
        json.loads(line)
        for name, text in engine.runtime.logs
        if name == finalize and run in text  # this run's (the alarm may start another meanwhile)
        for line in text.splitlines()
        if '"CloudWatchMetrics"' in line
    ]
    assert emf, "Finalize publishes its counts as CloudWatch metrics (embedded metric format)"
    assert emf[-1]["RecordsRedriven"] == [float(report["counts"]["redriven"])]
    assert emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "StreamRedrive"
    redrive = report["redrive"]
    assert redrive["target"] == "invoke"
    assert redrive["achievedPerSecond"] <= redrive["ratePerSecond"]
