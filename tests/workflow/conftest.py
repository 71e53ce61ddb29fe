"""Workflow tier: whole rehearsals on the local stack (template, state machine, functions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from redrive_local.engine import REPO_ROOT, LocalEngine
from redrive_local.rehearsal import Rehearsal
from redrive_local.scenario import Scenario, load_scenario
from tests.support.stack import deploy, engine, lambda_role_arn, python_function, wait_execution

__all__ = ["deploy", "engine", "lambda_role_arn", "python_function", "wait_execution"]

SCENARIOS = REPO_ROOT / "events" / "scenarios"


def kinesis_scenario(records: list[dict[str, Any]], run: dict[str, Any] | None = None, **extra: Any) -> Scenario:
    """A one-shard Kinesis scenario whose consumer gives up on a poison record at once."""
    body: dict[str, Any] = {
        "source": {"type": "kinesis", "shards": 1},
        "consumer": {"batchSize": 1, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
        "records": records,
        "run": run or {},
        **extra,
    }
    return Scenario.model_validate(body)


Rehearse = Callable[..., tuple[dict[str, Any], Rehearsal]]


@pytest.fixture
def rehearse(engine: LocalEngine) -> Rehearse:
    """``rehearse(scenario, trigger="manual")`` runs a whole rehearsal: (report, rehearsal)."""

    def _run(scenario: Scenario | Path, trigger: str = "manual") -> tuple[dict[str, Any], Rehearsal]:
        if isinstance(scenario, Path):
            scenario = load_scenario(scenario)
        rehearsal = Rehearsal(scenario, trigger=trigger, engine=engine)
        return rehearsal.run(), rehearsal

    return _run


def s3_json(engine: LocalEngine, bucket: str, key: str) -> Any:
    return json.loads(engine.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def s3_keys(engine: LocalEngine, bucket: str, prefix: str) -> list[str]:
    listed = engine.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def run_id_of(report: dict[str, Any]) -> str:
    return str(report["execution"]["arn"]).rsplit(":", 1)[-1]
