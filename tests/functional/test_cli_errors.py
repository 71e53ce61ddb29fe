"""Bad input to ``redrive-local`` gets a clear error, not a traceback.

A scenario file that is missing, not JSON or not a valid scenario is refused before anything
is deployed: exit code 2, and one line on stderr that names the file and the problem.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from redrive_local.cli import main

VALID_RECORD = {"partitionKey": "customer-1", "data": {"id": "o-1", "amount": 1}}


def scenario(**fields: Any) -> dict[str, Any]:
    return {"source": {"type": "kinesis"}, "records": [VALID_RECORD], **fields}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, content: str | bytes | dict[str, Any], name: str = "scenario.json") -> Path:
    path = tmp_path / name
    if isinstance(content, dict):
        path.write_text(json.dumps(content))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


CASES: dict[str, tuple[Any, list[str]]] = {
    "not JSON": ('{"source": {"type": "kinesis"},\n  records: []}', ["not JSON", "line 2 column 3"]),
    "unknown field": (scenario(colour="red"), ["colour: is not a known field"]),
    "unknown nested field": (
        scenario(consumer={"batchSize": 2, "retries": 3}),
        ["consumer.retries: is not a known field"],
    ),
    "both data and text": (
        scenario(records=[{"partitionKey": "k", "data": {"id": "o-1"}, "text": "o-1"}]),
        ["records[0]", "exactly one of 'data' or 'text'"],
    ),
    "neither data nor text": (
        scenario(records=[VALID_RECORD, {"partitionKey": "k"}]),
        ["records[1]", "exactly one of 'data' or 'text'"],
    ),
    "trim index out of range": (scenario(trim=[0, 1]), ["trim: 1 is not a record index (0..0)"]),
    "negative trim index": (scenario(trim=[-1]), ["trim: -1 is not a record index"]),
    "DynamoDB record without item": (
        {"source": {"type": "dynamodb"}, "records": [{"data": {"id": "o-1"}}]},
        ["records[0]", "needs 'item'"],
    ),
    "DynamoDB item without pk": (
        {"source": {"type": "dynamodb"}, "records": [{"item": {"id": "o-1"}}]},
        ["records[0].item", "string 'pk'"],
    ),
    "Kinesis record with item": (
        scenario(records=[{"partitionKey": "k", "item": {"pk": "a"}}]),
        ["records[0]", "'item' is for DynamoDB"],
    ),
    "unknown source type": ({"source": {"type": "sqs"}, "records": [VALID_RECORD]}, ["source.type"]),
    "no records": (scenario(records=[]), ["records"]),
    "not an object": ([VALID_RECORD], ["scenario", "valid dictionary"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_scenario_is_named_with_exit_code_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, expected = CASES[case]
    path = write(tmp_path, json.dumps(content) if isinstance(content, list) else content)
    code, out, err = run_cli(capsys, "run", str(path), "--report", str(tmp_path / "report.json"))
    assert code == 2
    assert err.startswith(f"redrive-local: ScenarioError: {path}: ")
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "report.json").exists()


def test_missing_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.json"
    code, out, err = run_cli(capsys, "run", str(missing), "--report", str(tmp_path / "r.json"))
    assert code == 2
    assert err.strip() == f"redrive-local: ScenarioError: {missing}: no such scenario file"
    assert out == ""


def test_demo_with_missing_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.json"
    code, _, err = run_cli(capsys, "demo", "--scenario", str(missing))
    assert code == 2
    assert f"{missing}: no such scenario file" in err and "Traceback" not in err


def test_missing_scenario_file_from_the_installed_command(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("redrive-local")
    missing = tmp_path / "nowhere.json"
    done = subprocess.run(
        [str(command), "run", str(missing), "--report", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"redrive-local: ScenarioError: {missing}: no such scenario file"
    assert "Traceback" not in done.stderr + done.stdout


def test_run_without_report_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scenario())
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: redrive-local run" in err
    assert "the following arguments are required: --report" in err


def test_unknown_trigger_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scenario())
    with pytest.raises(SystemExit) as exited:
        main(["run", str(path), "--report", str(tmp_path / "r.json"), "--trigger", "cron"])
    assert exited.value.code == 2
    assert "argument --trigger: invalid choice: 'cron'" in capsys.readouterr().err


def test_scenario_file_that_is_not_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, b"\xff\xfe{\x00")
    code, out, err = run_cli(capsys, "run", str(path), "--report", str(tmp_path / "r.json"))
    assert code == 2
    assert err.strip() == f"redrive-local: ScenarioError: {path}: not a text file (a scenario is UTF-8 JSON)"
    assert "Traceback" not in err + out


def test_report_in_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scenario())
    report = tmp_path / "no-such-folder" / "report.json"
    code, out, err = run_cli(capsys, "run", str(path), "--trigger", "manual", "--quiet", "--report", str(report))
    assert code == 2
    assert str(report) in err and "Traceback" not in err + out
