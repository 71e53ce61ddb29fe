"""S3 rules of the strict stack, each shown lenient (moto accepts) and strict (AWS refuses),
and the failure-bucket adapter living within them."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError
from moto.s3.models import s3_backends

from redrive.adapters.failure_bucket import FailureBucket
from redrive_local.engine import ACCOUNT, LocalEngine
from redrive_local.strict import lenient

KEYS = 1001
PARTITION = "aws"  # moto keeps S3 buckets per partition, not per region


@pytest.fixture
def bucket(engine: LocalEngine) -> str:
    name = f"strict-{uuid.uuid4().hex[:8]}"
    engine.client("s3").create_bucket(Bucket=name)
    backend = s3_backends[ACCOUNT][PARTITION]  # 1,001 objects at once, not 1,001 requests
    for n in range(KEYS):
        backend.put_object(name, f"aws/lambda/esm/shard/{n:05d}", b"{}")
    return name


def keys(engine: LocalEngine, bucket: str) -> list[str]:
    pages = engine.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.mark.aws_rule("_s3_delete_objects_at_most_1000_keys")
def test_delete_objects_of_more_than_1000_keys_is_refused_as_aws_refuses_it(engine: LocalEngine, bucket: str) -> None:
    s3 = engine.client("s3")
    request = {"Objects": [{"Key": key} for key in keys(engine, bucket)], "Quiet": True}
    assert len(request["Objects"]) == KEYS
    with pytest.raises(ClientError) as refused:
        s3.delete_objects(Bucket=bucket, Delete=request)
    assert refused.value.response["Error"]["Code"] == "MalformedXML"
    assert len(keys(engine, bucket)) == KEYS, "nothing deleted"
    with lenient():
        s3.delete_objects(Bucket=bucket, Delete=request)
    assert keys(engine, bucket) == []


def test_the_failure_bucket_deletes_in_requests_of_1000(engine: LocalEngine, bucket: str) -> None:
    failures = FailureBucket(engine.client("s3"), bucket)
    listed = failures.list_keys("aws/lambda/", limit=5000)
    assert len(listed) == KEYS and listed == sorted(listed)
    assert failures.list_keys("aws/lambda/", limit=7) == listed[:7]
    assert failures.delete(listed) == []
    assert keys(engine, bucket) == []
    assert failures.read(listed[0]) is None, "a gone object reads as None"
