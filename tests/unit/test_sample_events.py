"""The sample events under events/ stay valid: run inputs parse, DLQ samples are pointers,
scenarios load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redrive.contracts.run import ManualInput, parse_manual_input
from redrive.core.messages import classify_message
from redrive.rules import load_rules
from redrive_local.scenario import load_scenario

EVENTS = Path(__file__).resolve().parents[2] / "events"
RUN_INPUTS = ["manual-start.json", "alarm-start-input.json", "s3-start-input.json"]
DLQ_SAMPLES = sorted((EVENTS / "dlq").glob("*.json"))
SCENARIOS = sorted((EVENTS / "scenarios").glob("*.json"))


def test_the_sample_folders_are_not_empty() -> None:
    assert DLQ_SAMPLES, "events/dlq/ holds no samples"
    assert SCENARIOS, "events/scenarios/ holds no scenarios"


@pytest.mark.parametrize("name", RUN_INPUTS)
def test_run_inputs_parse(name: str) -> None:
    parsed = parse_manual_input(json.loads((EVENTS / name).read_text()))
    assert isinstance(parsed, ManualInput)
    load_rules(parsed.rules)


def test_manual_start_is_a_dry_run_with_rules() -> None:
    parsed = parse_manual_input(json.loads((EVENTS / "manual-start.json").read_text()))
    assert parsed.trigger == "manual"
    assert parsed.dry_run is True
    assert [r["name"] for r in parsed.rules] == ["drop-test-events", "amount-as-number"]


def test_alarm_start_input_is_an_alarm_trigger() -> None:
    parsed = parse_manual_input(json.loads((EVENTS / "alarm-start-input.json").read_text()))
    assert parsed.trigger == "alarm"
    assert parsed.alarm_name


@pytest.mark.parametrize("path", DLQ_SAMPLES, ids=lambda p: p.name)
def test_dlq_samples_are_pointers(path: Path) -> None:
    classified = classify_message(path.read_text())
    expected = "kinesis-pointer" if "kinesis" in path.name else "dynamodb-pointer"
    assert classified.kind == expected, classified.reason
    assert classified.pointer is not None
    assert classified.pointer.failure.function_arn


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenarios_load(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.records
    load_rules(scenario.run.get("rules", []))
