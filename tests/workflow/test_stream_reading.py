"""Reading the streams back on the strict stack: DynamoDB Streams read to the end through
empty pages and trimmed positions, and a shard's many pointers read in one paced walk into
S3 chunks (strict.kinesis throttles a shard past 5 GetRecords calls a second)."""

from __future__ import annotations

from typing import Any

import pytest

from redrive_local.engine import LocalEngine
from redrive_local.rehearsal import Rehearsal
from redrive_local.scenario import Scenario
from tests.support.executions import wait_for_execution
from tests.support.rules import AMOUNT_AS_NUMBER

from .conftest import kinesis_scenario, run_id_of, s3_json, s3_keys

TEXT_AMOUNTS = [{"pk": f"order#{i}", "id": f"d-{i}", "amount": f"{i}.5"} for i in range(6)]


def test_dynamodb_streams_are_read_to_the_end_and_what_was_trimmed_is_expired(engine: LocalEngine) -> None:
    """The first two records were trimmed (the oldest, as retention trims): GetShardIterator at
    the first pointer's start fails TrimmedDataAccessException on the strict stack, the read
    goes on from TRIM_HORIZON and walks on into the second pointer's range. The trimmed two are
    expired, the other four redriven, the run succeeds. (The empty pages a positioned iterator
    answers first are met by every DynamoDB scenario in test_scenarios.)"""
    scenario = Scenario.model_validate(
        {
            "source": {"type": "dynamodb"},
            "consumer": {"batchSize": 3, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
            "records": [{"item": item} for item in TEXT_AMOUNTS],
            "trim": [0, 1],
            "run": {"rules": [AMOUNT_AS_NUMBER], "redrive": {"target": "invoke", "batchSize": 10}},
        }
    )
    report = Rehearsal(scenario, trigger="manual", engine=engine).run()
    assert report["execution"]["status"] == "SUCCEEDED", report["execution"]
    assert (report["counts"]["redriven"], report["counts"]["expired"]) == (4, 2)
    assert sorted(item["id"] for item in report["consumer"]["processed"]) == [f"d-{i}" for i in range(2, 6)]
    assert report["dlq"]["after"] == []


def test_a_shards_pointers_are_read_in_one_paced_walk_into_chunks(engine: LocalEngine) -> None:
    """24 pointers of one record each (consumer batch size 1) on one shard: one walk reads
    them, at the run's pace (4 calls a second, within the strict stack's 5), and the records
    land in S3 chunks that the plan reads back."""
    records: list[dict[str, Any]] = [
        {"partitionKey": f"pk-{i}", "data": {"id": f"t-{i}", "amount": f"{i}.5"}} for i in range(24)
    ]
    run = {"rules": [AMOUNT_AS_NUMBER], "fetch": {"getRecordsPerSecondPerShard": 4}, "redrive": {"batchSize": 24}}
    rehearsal = Rehearsal(kinesis_scenario(records, run), trigger="manual", engine=engine)
    report = rehearsal.run()
    assert report["execution"]["status"] == "SUCCEEDED", report["execution"]
    assert (report["counts"]["pointers"], report["counts"]["redriven"]) == (24, 24)
    assert report["metrics"]["getRecordsCalls"] <= 2, "one walk, not a read per pointer"
    bucket, run_id = rehearsal.outputs["RunBucketName"], run_id_of(report)
    chunks = s3_keys(engine, bucket, f"runs/{run_id}/fetched-chunks/")
    assert chunks, "the records are in chunk objects"
    (group_key,) = [k for k in s3_keys(engine, bucket, f"runs/{run_id}/fetched/") if "inline-" not in k]
    group = s3_json(engine, bucket, group_key)
    assert group["records"] == [] and group["chunks"] == chunks
    assert sum(len(s3_json(engine, bucket, key)["records"]) for key in chunks) == 24


def test_a_shard_throttled_past_the_budget_fails_the_fetch_by_name_and_loses_nothing(engine: LocalEngine) -> None:
    """Every GetRecords of the shard answers ProvisionedThroughputExceededException: the read
    backs off within its budget (1 s here), FetchShard fails with ShardReadThrottled, is tried
    once more, and the run releases: every DLQ message is back as it was, the lock is free."""
    from moto.core.exceptions import JsonRESTError
    from moto.kinesis.models import KinesisBackend

    from tests.support.faults import Fault, dlq_messages, injected

    from .test_faults import assert_balanced, assert_lock_free, poison
    from .test_invariants import finished_report, prepared, start

    rehearsal = prepared(engine, poison(3, "thr"))
    dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
    before = dlq_messages(dlq_url)
    throttled = Fault(
        KinesisBackend,
        "get_records",
        lambda: JsonRESTError("ProvisionedThroughputExceededException", "Rate exceeded for shard"),
        times=10_000,
    )
    with injected(throttled):
        arn = start(rehearsal, {"rules": [AMOUNT_AS_NUMBER], "fetch": {"throttleBudgetSeconds": 1}})
        described = wait_for_execution(engine.client("stepfunctions"), arn, timeout=60)
    assert described["status"] == "FAILED"
    assert "ShardReadThrottled" in (described.get("cause") or "") + (described.get("error") or "")
    assert throttled.calls >= 4, "backed off and retried before giving up"
    report = finished_report(engine, rehearsal.outputs["RunBucketName"], arn.rsplit(":", 1)[-1])
    assert_balanced(before, dlq_messages(dlq_url), report)
    assert dlq_messages(dlq_url) == before
    assert_lock_free(engine, rehearsal)


def test_a_scenario_record_over_1_mib_stops_the_rehearsal_naming_the_limit(engine: LocalEngine) -> None:
    """AWS refuses a Kinesis record over 1 MiB (strict.kinesis); the rehearsal says so."""
    from redrive_local.rehearsal import RehearsalError

    scenario = kinesis_scenario([{"partitionKey": "big", "text": "x" * (2 * 1024 * 1024)}])
    with pytest.raises(RehearsalError, match=r"ValidationException.*(1 MiB|1048576)"):
        Rehearsal(scenario, trigger="manual", engine=engine).prepare()
