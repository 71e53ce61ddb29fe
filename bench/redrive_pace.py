"""The pace table: how close the redrive comes to ``ratePerSecond``, on the local stack.

For each shard count a stack is prepared once: ``--seconds`` x the highest rate orders,
their partition keys spread over every shard (one key per record), are written to the
stream; the consumer fails each (amount sent as text), so the DLQ holds one pointer per
consumer batch. Then, per (rate, concurrency), one redrive run (the real state machine,
Distributed Map rounds and all) takes the pointers covering about ``rate x --seconds``
records, a rule repairs them and they go to ``--target``: ``invoke`` (the default: the
example consumer, one PutItem a record) or ``queue`` (an SQS queue of the bench's own). After
the run the DLQ is given its pointers back for the next cell. On a 2-core machine the local
targets top out near 90 records/s a lane (invoke) and 45 (queue): above that a cell measures
the machine, not the pacing (see tests/unit/test_core_redrive.py for the limiter itself at
10-1,000 records/s).

Achieved rate (the run report's ``redrive.achievedPerSecond``): the records redriven over
the time from the first batch's send to the end of the last batch's pacing slot (its slot
start plus its records / ratePerSecond, or its send's end if later). The run's limiter
hands out contiguous slots, so this is at most the target, and falls short of it by every
moment no batch was ready to take a slot (Lambda, Step Functions and S3 overheads, the
rounds' barriers). ``sent/s`` is the plain records over first send start to last send
end: a batch may go up to one second before its slot (Wait states wait whole seconds), so
on short cells it can read above the target by up to a second's worth of records.

    .venv/bin/python bench/redrive_pace.py [--seconds 6] [--rates 10,100,1000]
        [--concurrency 1,4,10] [--shards 1,4] [--target queue|invoke]

``pace_table(...)`` returns the cells for another bench script.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redrive_local.engine import LocalEngine, get_engine
from redrive_local.inspect import queue_bodies
from redrive_local.rehearsal import Rehearsal
from redrive_local.scenario import Scenario

SECONDS = 6.0
"""About how long a cell redrives. A run's lanes start one after another (a Distributed Map
child each), so its first half-second or so sends below the rate on 2 cores; six seconds of
sending measure the pacing, not that start (at 3 s, 4 shards at concurrency 10 read 0.7-0.8)."""
CONSUMER_BATCH = 100  # records per pointer (the consumer's batch, failed whole), and so per redrive batch
RULE = {
    "name": "amount-as-number",
    "when": "$type(data.amount) = 'string'",
    "action": "repair",
    "repair": "$merge([data, {'amount': $number(data.amount)}])",
}


@dataclass(frozen=True)
class PaceCell:
    rate: float
    concurrency: int
    shards: int
    records: int
    batch_size: int
    achieved_per_second: float
    sent_per_second: float
    wall_seconds: float
    ordering: str
    status: str
    parent_events: int  # the parent execution's history (the children's are bounded by the slice)

    @property
    def ratio(self) -> float:
        """achieved / target: within [0.9, 1.0] is the goal."""
        return self.achieved_per_second / self.rate


def scenario(records: int, shards: int) -> Scenario:
    return Scenario.model_validate(
        {
            "source": {"type": "kinesis", "shards": shards},
            "consumer": {
                "batchSize": CONSUMER_BATCH,
                "maximumRetryAttempts": 0,
                "bisectBatchOnFunctionError": False,
            },
            "records": [
                {"partitionKey": f"customer-{i}", "data": {"id": f"o-{i}", "amount": str(i)}} for i in range(records)
            ],
            "run": {"rules": [RULE]},
        }
    )


def _results(engine: LocalEngine, bucket: str, run_id: str) -> list[dict[str, Any]]:
    s3 = engine.client("s3")
    prefix = f"runs/{run_id}/results/"
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    return [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]


def _history(engine: LocalEngine, arn: str) -> list[dict[str, Any]]:
    sfn = engine.client("stepfunctions")
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _give_back(engine: LocalEngine, dlq_url: str, pointers: Sequence[str]) -> None:
    """Put back into the DLQ the pointers the run took (the next cell redrives them again:
    the batch claims are per run)."""
    missing = Counter(pointers) - Counter(queue_bodies(dlq_url))
    bodies = list(missing.elements())
    sqs = engine.client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=dlq_url, Entries=entries)


def pace_table(
    rates: Sequence[float] = (10, 100, 1000),
    concurrencies: Sequence[int] = (1, 4, 10),
    shards: Sequence[int] = (1, 4),
    seconds: float = SECONDS,
    engine: LocalEngine | None = None,
    target: str = "invoke",
    on_cell: Callable[[PaceCell], None] = lambda cell: None,
) -> list[PaceCell]:
    """One cell per (shards, rate, concurrency), each from a real run on the local stack
    (``on_cell`` sees each as soon as it is measured)."""
    engine = engine or get_engine()
    cells: list[PaceCell] = []
    most = max(CONSUMER_BATCH, math.ceil(max(rates) * seconds / CONSUMER_BATCH) * CONSUMER_BATCH)
    for shard_count in shards:
        rehearsal = Rehearsal(scenario(most, shard_count), trigger="manual", engine=engine)
        rehearsal.prepare()
        dlq_url = rehearsal.outputs["DeadLetterQueueUrl"]
        pointers = queue_bodies(dlq_url)
        redrive: dict[str, Any] = {"target": target}
        if target == "queue":
            name = f"pace-{rehearsal.outputs['RunBucketName'][-12:]}"
            redrive["queueUrl"] = engine.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        for rate in rates:
            for concurrency in concurrencies:
                messages = max(1, math.ceil(rate * seconds / CONSUMER_BATCH))
                run_input = {
                    "maxMessages": messages,
                    "rules": [RULE],
                    "redrive": {**redrive, "ratePerSecond": rate, "concurrency": concurrency},
                }
                started = time.monotonic()
                report = rehearsal.redrive(run_input)
                wall = time.monotonic() - started
                arn = report["execution"]["arn"]
                run_id = arn.rsplit(":", 1)[-1]
                results = [r for r in _results(engine, rehearsal.outputs["RunBucketName"], run_id) if r["sent"]]
                redriven = sum(r["records"] for r in results)
                span = max((r["sentAt"] for r in results), default=0.0) - min(
                    (r["startedAt"] for r in results), default=0.0
                )
                batch_size = max((r["records"] for r in results), default=0)
                cells.append(
                    PaceCell(
                        rate=rate,
                        concurrency=concurrency,
                        shards=shard_count,
                        records=redriven,
                        batch_size=batch_size,
                        achieved_per_second=report["redrive"]["achievedPerSecond"] or 0.0,
                        sent_per_second=redriven / span if span > 0 else 0.0,
                        wall_seconds=wall,
                        ordering=report["redrive"].get("ordering") or "ordered",
                        status=report["execution"]["status"],
                        parent_events=len(_history(engine, arn)),
                    )
                )
                on_cell(cells[-1])
                _give_back(engine, dlq_url, pointers)
    return cells


def _numbers(text: str, kind: type) -> list[Any]:
    return [kind(part) for part in text.split(",") if part]


HEADER = (
    f"{'shards':>6} {'rate/s':>7} {'conc':>5} {'records':>8} {'batch':>6} {'achieved/s':>11} "
    f"{'achieved/target':>16} {'sent/s':>8} {'events':>7} {'wall s':>7}"
)


def format_cell(c: PaceCell) -> str:
    """One row of the table under :data:`HEADER`; a run that did not succeed says so."""
    flag = "" if c.status == "SUCCEEDED" else f"  {c.status}"
    return (
        f"{c.shards:>6} {c.rate:>7g} {c.concurrency:>5} {c.records:>8} {c.batch_size:>6} "
        f"{c.achieved_per_second:>11.1f} {c.ratio:>16.2f} {c.sent_per_second:>8.1f} "
        f"{c.parent_events:>7} {c.wall_seconds:>7.1f}{flag}"
    )


def summary(cells: Sequence[PaceCell]) -> str:
    ratios = [c.ratio for c in cells]
    within = sum(1 for r in ratios if 0.9 <= round(r, 2) <= 1.0)  # as the table shows them
    return f"pace: worst {min(ratios):.2f}, best {max(ratios):.2f}, {within} of {len(ratios)} cells within [0.9, 1.0]"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="about how long each cell redrives")
    parser.add_argument("--target", choices=["invoke", "queue"], default="invoke")
    parser.add_argument("--rates", default="10,100,1000")
    parser.add_argument("--concurrency", default="1,4,10")
    parser.add_argument("--shards", default="1,4")
    args = parser.parse_args()
    print(HEADER)
    cells = pace_table(
        _numbers(args.rates, float),
        _numbers(args.concurrency, int),
        _numbers(args.shards, int),
        args.seconds,
        target=args.target,
        on_cell=lambda cell: print(format_cell(cell), flush=True),
    )
    print(summary(cells))


if __name__ == "__main__":
    main()
