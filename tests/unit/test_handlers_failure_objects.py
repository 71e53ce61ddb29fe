"""The handlers on an S3-sourced run: Collect reads the failure bucket (not the DLQ), the
settle deletes the objects it finished and leaves the rest."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from redrive.handlers import collect, finalize, plan, prepare, redrive
from tests.fakes import FakeAdapters
from tests.unit.test_core_failure_objects import key, order
from tests.unit.test_core_finalize import s3_destination_body
from tests.unit.test_handlers import CONTEXT, ENV, sample

FAILURE_BUCKET = "orders-failures"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**ENV, "FAILURE_BUCKET": FAILURE_BUCKET}.items():
        monkeypatch.setenv(name, value)


def test_an_s3_sourced_run_through_the_handlers() -> None:
    ports = FakeAdapters()
    bucket = ports.failure_objects(FAILURE_BUCKET)
    bucket.objects = {key(1): s3_destination_body({5: order(5), 6: order(6)}), key(2): "not a record"}
    before = dict(bucket.objects)
    event: dict[str, Any] = sample("prepare.json")
    event["input"] = {"source": {"s3": {"bucket": FAILURE_BUCKET}}, "trigger": "schedule"}
    run = prepare.handler(event, CONTEXT, adapters=ports)
    assert run["source"] == {"s3": {"bucket": FAILURE_BUCKET, "prefix": "aws/lambda/", "lockPrefix": "aws/lambda/"}}
    assert ports.state.locks == {f"arn:aws:s3:::{FAILURE_BUCKET}/aws/lambda/": run["executionArn"]}
    dlq = ports.dlq(run["dlqUrl"])
    dlq.add("a DLQ message an S3-sourced run leaves alone")

    collected = collect.handler({"run": run}, CONTEXT, adapters=ports)
    assert collected["messages"] == 2 and collected["kinds"] == {"s3-destination": 1, "unrecognised": 1}
    assert bucket.objects == before and len(dlq.visible) == 1, "nothing left either place"
    planned = plan.handler({"run": run}, CONTEXT, adapters=ports)
    for index in range(planned["rounds"]):
        for item in ports.store.get_json(f"{planned['roundsPrefix']}{index}.json"):
            for batch_id in item["batchIds"]:
                redrive.handler({"run": run, "batchId": batch_id, "slot": {}}, CONTEXT, adapters=ports)
    delivered = [r for b in ports.delivered.batches for r in b.records]
    assert sorted(json.loads(base64.b64decode(r.payload or ""))["id"] for r in delivered) == ["o-5", "o-6"]

    finished = finalize.handler({**sample("finalize.json"), "run": run}, CONTEXT, adapters=ports)
    assert finished["counts"]["redriven"] == 2 and finished["counts"]["returnedMessages"] == 1
    assert bucket.objects == {key(2): "not a record"} and bucket.deleted == [key(1)]
    assert dlq.sent == [], "nothing is sent to the DLQ for an object left in its bucket"
    assert ports.state.locks == {}
    subject, body = ports.published.published[-1]
    assert "finished" in subject
    assert f"on s3://{FAILURE_BUCKET}/aws/lambda/" in body and "S3 objects read: 2 (1 unrecognised" in body
