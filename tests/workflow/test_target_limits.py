"""AWS's limits met by a whole rehearsal on the strict stack: a record too big for the
target and a consumer that runs past its Timeout each end with a per-record outcome naming
the limit, their messages back in the DLQ, the rest of the run redriven."""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from redrive_local.engine import REPO_ROOT, LocalEngine
from redrive_local.rehearsal import Rehearsal
from redrive_local.runtime import CODE_BUCKET
from tests.support.rules import AMOUNT_AS_NUMBER

from .conftest import kinesis_scenario

PADDED = 1_100_000  # the repaired record's data: over Kinesis's 1 MiB record limit

GROW_BIG = {
    "name": "grow-big",
    "when": "data.id = 'big'",
    "action": "repair",
    "repair": f"$merge([data, {{'amount': $number(data.amount), 'pad': $pad('', {PADDED}, 'x')}}])",
    "reason": "a repair that makes the record too big for the stream",
}

ORDERS = [{"partitionKey": "pk-0", "data": {"id": "o-0", "amount": "0.5"}}]
BIG = {"partitionKey": "pk-big", "data": {"id": "big", "amount": "9.5"}}


def records_by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str((r.get("data") or {}).get("id")): r for r in report["records"]}


def test_a_record_too_big_for_the_stream_fails_alone_naming_the_limit(engine: LocalEngine) -> None:
    scenario = kinesis_scenario(
        [ORDERS[0], BIG], {"rules": [GROW_BIG, AMOUNT_AS_NUMBER], "redrive": {"target": "stream", "batchSize": 10}}
    )
    report = Rehearsal(scenario, trigger="manual", engine=engine).run()
    assert report["execution"]["status"] == "SUCCEEDED", "one record too big does not fail the run"
    assert report["counts"]["redriven"] == 1
    assert report["counts"]["failed"] == 1
    big = records_by_id(report)["big"]
    assert big["outcome"] == "failed"
    assert "over Kinesis's record size limit of 1,048,576 bytes" in big["reason"]
    processed = {item["id"] for item in report["consumer"]["processed"]}
    assert processed == {"o-0"}
    assert len(report["dlq"]["after"]) == 1, "the big record's message is back in the DLQ"


SLOW_CONSUMER = """
import time

def handler(event, context):
    time.sleep(3)
    return None
"""


def slow_consumer(engine: LocalEngine, name: str, tmp_path: Path) -> None:
    """The consumer replaced by one that takes 3 s, with a Timeout of 2 s."""
    module = f"slow_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / module
    folder.mkdir()
    (folder / f"{module}.py").write_text(textwrap.dedent(SLOW_CONSUMER))
    lambda_client = engine.client("lambda")
    lambda_client.update_function_code(
        FunctionName=name, S3Bucket=CODE_BUCKET, S3Key=os.path.relpath(folder, REPO_ROOT)
    )
    lambda_client.update_function_configuration(FunctionName=name, Handler=f"{module}.handler", Timeout=2)


def test_a_consumer_past_its_timeout_is_invoked_once_and_its_record_returned(
    engine: LocalEngine, tmp_path: Path
) -> None:
    rehearsal = Rehearsal(
        kinesis_scenario([ORDERS[0]], {"rules": [AMOUNT_AS_NUMBER], "redrive": {"target": "invoke"}}),
        trigger="manual",
        engine=engine,
    )
    rehearsal.prepare()
    consumer = rehearsal.outputs["ExampleConsumerFunction"]
    slow_consumer(engine, consumer, tmp_path)
    before = engine.runtime.invocations[consumer]
    report = rehearsal.redrive()
    assert engine.runtime.invocations[consumer] - before == 1, "one invoke for the batch: no SDK retry"
    assert report["execution"]["status"] == "SUCCEEDED"
    [record] = report["records"]
    assert record["outcome"] == "failed"
    assert "Sandbox.Timedout" in record["reason"] and "Task timed out after 2.00 seconds" in record["reason"]
    assert len(report["dlq"]["after"]) == 1


@pytest.fixture(autouse=True)
def _strict() -> None:
    from redrive_local.strict import enabled

    assert enabled(), "these show the strict stack"
