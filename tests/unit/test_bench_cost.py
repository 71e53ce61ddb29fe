"""The bench's cost model and fit (bench/cost.py): arithmetic checked by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import cost


def test_a_million_transitions_and_invocations_at_list_prices() -> None:
    priced = cost.cost(
        cost.Usage(
            standard_transitions=1e6,
            lambda_requests=1e6,
            lambda_gb_seconds=1000,
            s3_puts=1000,
            s3_gets=1000,
            dynamodb_write_units=1e6,
            dynamodb_read_units=1e6,
            sqs_requests=1e6,
        ),
        architecture="x86_64",
    )
    assert priced["Step Functions"] == pytest.approx(25.0)
    assert priced["Lambda"] == pytest.approx(0.20 + 1000 * 0.0000166667)
    assert priced["S3"] == pytest.approx(0.005 + 0.0004)
    assert priced["DynamoDB"] == pytest.approx(0.625 + 0.125)
    assert priced["SQS"] == pytest.approx(0.40)
    assert cost.cost(cost.Usage(lambda_gb_seconds=1000))["Lambda"] == pytest.approx(0.0133334)


def test_express_bills_100_ms_steps_and_64_mb_chunks() -> None:
    assert cost.express_gb_seconds(0.01) == pytest.approx(0.1 * 64 / 1024)
    assert cost.express_gb_seconds(0.25, memory_mb=65) == pytest.approx(0.3 * 2 * 64 / 1024)
    priced = cost.cost(cost.Usage(express_requests=1e6, express_gb_seconds=1e4))
    assert priced["Step Functions"] == pytest.approx(1.0 + 1e4 * 0.00001667)


def test_the_fit_tells_per_record_from_per_batch() -> None:
    truth = cost.Fit(fixed=40, per_record=0.5, per_batch=7)
    runs = [(1000, 100, 0.0), (1000, 20, 0.0), (10000, 1000, 0.0), (5000, 100, 0.0)]
    points = [(r, b, truth.at(r, b)) for r, b, _ in runs]
    found = cost.fit(points)
    assert (found.fixed, found.per_record, found.per_batch) == pytest.approx((40, 0.5, 7))
    assert found.at(1e6, 1e5) == pytest.approx(40 + 0.5e6 + 7e5)
    each = cost.fit_each([(r, b, {"x": truth.at(r, b), "y": 2.0}) for r, b, _ in runs])
    assert each["y"].fixed == pytest.approx(2.0) and each["y"].per_record == pytest.approx(0, abs=1e-9)
