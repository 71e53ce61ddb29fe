"""How close the redrive's achieved rate comes to ``ratePerSecond``.

Runs a rehearsal per (rate, concurrency, batch size) on the local stack: N orders whose
amount was sent as text fail their first delivery, a rule repairs them, and the redrive
invokes the consumer. Prints the achieved rate (records / time from the first batch's
start to the end of the last batch's pacing slot) next to the limit. The limit is an upper
bound by construction; the ratio shows the overhead the pacing leaves unused.

    .venv/bin/python bench/redrive_pace.py [--records 60]
"""

from __future__ import annotations

import argparse
import time

from redrive_local.rehearsal import Rehearsal
from redrive_local.scenario import Scenario

CASES = [(10, 1, 5), (10, 2, 5), (25, 2, 5), (25, 4, 5), (50, 2, 10), (50, 4, 10)]


def scenario(records: int, rate: float, concurrency: int, batch_size: int) -> Scenario:
    return Scenario.model_validate(
        {
            "source": {"type": "kinesis", "shards": 2},
            "consumer": {"batchSize": 1000, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
            "records": [
                {"partitionKey": f"customer-{i % 7}", "data": {"id": f"o-{i}", "amount": str(i)}}
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
                "redrive": {
                    "target": "invoke",
                    "ratePerSecond": rate,
                    "concurrency": concurrency,
                    "batchSize": batch_size,
                },
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=60)
    args = parser.parse_args()
    print(f"{'rate/s':>7} {'conc':>5} {'batch':>6} {'records':>8} {'achieved/s':>11} {'of limit':>9} {'wall s':>7}")
    for rate, concurrency, batch_size in CASES:
        started = time.monotonic()
        report = Rehearsal(scenario(args.records, rate, concurrency, batch_size), trigger="manual").run()
        wall = time.monotonic() - started
        achieved = report["redrive"]["achievedPerSecond"] or 0.0
        redriven = report["counts"]["redriven"]
        print(
            f"{rate:>7} {concurrency:>5} {batch_size:>6} {redriven:>8} {achieved:>11.2f} "
            f"{achieved / rate:>8.0%} {wall:>7.1f}"
        )


if __name__ == "__main__":
    main()
