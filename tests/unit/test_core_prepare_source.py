"""Prepare with an S3 source: only the stack's failure bucket, never the run data, and one
run per prefix at a time (beside any DLQ run)."""

from __future__ import annotations

from typing import Any

import pytest

from redrive.contracts.run import S3_FAILURE_PREFIX
from redrive.contracts.vocab import Trigger
from redrive.settings import PrepareSettings as Settings
from tests.unit.test_core_prepare import EXECUTION_ARN, FakeLock, invalid, prepare_run, queue_arn, settings

__all__ = ["settings"]  # the fixture, shared

FAILURE_BUCKET = "orders-failures"


@pytest.fixture
def s3_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"failure_bucket": FAILURE_BUCKET})


def s3_input(**s3: Any) -> dict[str, Any]:
    return {"source": {"s3": {"bucket": FAILURE_BUCKET, **s3}}}


def test_the_failure_bucket_with_aws_prefix_by_default(s3_settings: Settings) -> None:
    lock = FakeLock()
    run = prepare_run({**s3_input(), "trigger": "object-created"}, EXECUTION_ARN, s3_settings, lock)
    assert run.source is not None and run.source.s3.prefix == S3_FAILURE_PREFIX == "aws/lambda/"
    assert run.trigger is Trigger.OBJECT_CREATED
    assert run.lock_key == f"arn:aws:s3:::{FAILURE_BUCKET}/aws/lambda/"
    assert lock.calls == [(run.lock_key, EXECUTION_ARN)], "the prefix is locked, not the DLQ"
    lease = lock.lease(run.run_id)
    assert lease is not None and lease.queue_arn == run.lock_key
    assert run.to_state()["source"] == {
        "s3": {"bucket": FAILURE_BUCKET, "prefix": "aws/lambda/", "lockPrefix": "aws/lambda/"}
    }


def test_a_dlq_run_and_an_s3_run_do_not_lock_each_other_out(s3_settings: Settings) -> None:
    lock = FakeLock(holder="arn:aws:states:us-east-1:123456789012:execution:stream-redrive:dlq-run")
    assert queue_arn(s3_settings.dlq_url) in lock.locks
    assert prepare_run(s3_input(), EXECUTION_ARN, s3_settings, lock).locked


def test_a_second_run_on_the_failure_prefix_is_not_locked(s3_settings: Settings) -> None:
    lock = FakeLock()
    first = prepare_run(s3_input(), EXECUTION_ARN, s3_settings, lock)
    second = prepare_run(s3_input(), EXECUTION_ARN + "-2", s3_settings, lock)
    assert first.locked and not second.locked and second.lock_holder == EXECUTION_ARN
    narrower = prepare_run(s3_input(prefix="aws/lambda/other-esm/"), EXECUTION_ARN + "-3", s3_settings, lock)
    assert not narrower.locked, "a narrower prefix overlaps the first run's objects: the same lock"


def test_no_source_is_the_dlq(s3_settings: Settings) -> None:
    run = prepare_run({}, EXECUTION_ARN, s3_settings, FakeLock())
    assert run.source is None and run.lock_key == run.dlq_arn


def test_a_stack_without_a_failure_bucket_refuses_an_s3_source(settings: Settings) -> None:
    assert "FailureBucketName" in invalid(s3_input(), settings)


def test_another_bucket_is_refused(s3_settings: Settings) -> None:
    says = invalid({"source": {"s3": {"bucket": "someone-elses"}}}, s3_settings)
    assert says.startswith("source.s3.bucket:") and FAILURE_BUCKET in says


@pytest.mark.parametrize("prefix", ["runs/", "runs/x/", "", "ru"])
def test_a_prefix_over_the_run_data_is_refused(s3_settings: Settings, prefix: str) -> None:
    shared = s3_settings.model_copy(update={"failure_bucket": s3_settings.bucket})
    says = invalid({"source": {"s3": {"bucket": s3_settings.bucket, "prefix": prefix}}}, shared)
    assert says.startswith("source.s3.prefix:") and "runs/" in says


def test_only_under_the_stacks_failure_prefix(s3_settings: Settings) -> None:
    says = invalid(s3_input(prefix="elsewhere/"), s3_settings)
    assert says.startswith("source.s3.prefix:") and "FailureBucketPrefix" in says
    narrower = s3_settings.model_copy(update={"failure_prefix": "aws/lambda/one-esm/"})
    assert "FailureBucketPrefix" in invalid(s3_input(), narrower), "the default prefix is wider than the stack's"
    assert prepare_run(s3_input(prefix="aws/lambda/one-esm/shardId-1/"), EXECUTION_ARN, narrower, FakeLock()).locked


def test_the_run_bucket_may_be_the_failure_bucket_under_another_prefix(s3_settings: Settings) -> None:
    shared = s3_settings.model_copy(update={"failure_bucket": s3_settings.bucket})
    run = prepare_run({"source": {"s3": {"bucket": s3_settings.bucket}}}, EXECUTION_ARN, shared, FakeLock())
    assert run.source is not None and run.source.s3.prefix == "aws/lambda/"


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"s3": {"bucket": FAILURE_BUCKET, "prefix": "/aws/lambda/"}}, "source.s3.prefix"),
        ({"s3": {"bucket": FAILURE_BUCKET, "prefix": 5}}, "source.s3.prefix"),
        ({"s3": {"bucket": "ab"}}, "source.s3.bucket"),
        ({"s3": {}}, "source.s3.bucket"),
        ({"s3": {"bucket": FAILURE_BUCKET, "region": "x"}}, "source.s3.region"),
        ({"sqs": {}}, "source.sqs"),
        ({}, "source.s3"),
        ("s3://orders-failures/aws/lambda/", "source"),
    ],
)
def test_malformed_sources_name_the_field(s3_settings: Settings, source: Any, field: str) -> None:
    says = invalid({"source": source}, s3_settings)
    assert f"{field}:" in says, says
