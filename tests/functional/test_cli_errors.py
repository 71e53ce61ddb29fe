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


def dynamodb(*items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"source": {"type": "dynamodb"}, "records": [{"item": item} for item in items], **fields}


def kinesis_text(text: str) -> str:
    """A Kinesis scenario whose one record's data is ``text``, spelled as JSON (unchecked)."""
    return '{"source": {"type": "kinesis"}, "records": [{"partitionKey": "k", "data": ' + text + "}]}"


MiB = 1024 * 1024

# What JSON lets a file say but Python or AWS cannot take: (content, the message after "<file>: ").
LIMIT_CASES: dict[str, tuple[str | dict[str, Any], str]] = {
    "NaN": (kinesis_text('{"amount": NaN}'), "records[0].data.amount: NaN is not a JSON number"),
    "Infinity": (kinesis_text("-Infinity"), "records[0].data: -Infinity is not a JSON number"),
    "a float too large for a double": (kinesis_text("1e400"), "records[0].data: 1e400 is too large for a double"),
    "a float too small for a double": (kinesis_text("[1e-400]"), "records[0].data[0]: 1e-400 is too small"),
    "an integer of 5,000 digits": (kinesis_text("1" + "0" * 4999), "records[0].data: an integer of 5000 digits"),
    "a huge integer in a settings field": (
        '{"source": {"type": "kinesis", "shards": 1' + "0" * 400 + '}, "records": []}',
        "source.shards: Input should be less than or equal to 16",
    ),
    "nesting past 64 levels": (
        kinesis_text("[" * 70 + "]" * 70),
        "records[0].data[0][0][0][0][0]... (64 levels down): nests deeper than 64 levels",
    ),
    "nesting past what json can read": (
        '{"records": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "scenario: nests deeper than 64 levels",
    ),
    "a lone surrogate": (
        '{"source": {"type": "kinesis"}, "records": [{"partitionKey": "k", "text": "a\\udc00"}]}',
        "records[0].text: holds a lone UTF-16 surrogate",
    ),
    "a lone surrogate in a key": (kinesis_text('{"\\ud800": 1}'), "records[0].data: a key holds a lone UTF-16"),
    "an odd field name stays on one line": (
        scenario(**{"line\nbreak": 1}),
        '["line\\nbreak"]: is not a known field',
    ),
    "a Kinesis record over 1 MiB": (
        scenario(records=[{"partitionKey": "kk", "text": "x" * (MiB - 1)}]),
        "records[0].text: the record is 1,048,577 bytes with its partition key; Kinesis refuses records over 1 MiB",
    ),
    "a Kinesis record over 1 MiB once json.dumps escapes it": (
        scenario(records=[{"partitionKey": "k", "data": "é" * (MiB // 6 + 1)}]),
        "records[0].data: the record is 1,048,581 bytes",
    ),
    "a partition key over 256 characters": (
        scenario(records=[{"partitionKey": "k" * 257, "text": "x"}]),
        "records[0].partitionKey: String should have at most 256 characters",
    ),
    "a DynamoDB item over 400 KB": (
        dynamodb({"pk": "order#1", "note": "x" * 399_000, "list": ["y" * 100] * 10}),
        "records[0].item: is about 400,030 bytes; DynamoDB refuses items over 400 KB",
    ),
    "an empty DynamoDB partition key": (
        dynamodb({"pk": "order#1"}, {"pk": ""}),
        "records[1].item.pk: is empty; DynamoDB refuses an empty partition key",
    ),
    "a DynamoDB partition key over 2,048 bytes": (
        dynamodb({"pk": "é" * 1025}),
        "records[0].item.pk: is 2050 bytes; a DynamoDB partition key is at most 2048",
    ),
    "an empty DynamoDB attribute name": (dynamodb({"pk": "a", "": 1}), "records[0].item: has an attribute with an"),
    "a DynamoDB integer of 400 digits": (
        '{"source": {"type": "dynamodb"}, "records": [{"item": {"pk": "a", "n": 1' + "0" * 400 + "}}]}",
        "records[0].item.n: has 401 digits; a DynamoDB number has at most 38",
    ),
    "a DynamoDB number out of range": (
        dynamodb({"pk": "a", "m": {"n": 1e200}}),
        "records[0].item.m.n: 1e+200 is outside DynamoDB's number range",
    ),
    "DynamoDB nesting past 32 levels": (
        dynamodb({"pk": "a", "m": json.loads("[" * 33 + "]" * 33)}),
        "records[0].item.m[0][0][0][0]... (36 levels down): nests deeper than 32 levels, DynamoDB's limit",
    ),
    "an empty extra DLQ message": (scenario(extraDlqMessages=["{}", ""]), "extraDlqMessages[1]: is empty"),
    "an extra DLQ message over 1 MiB": (
        scenario(extraDlqMessages=["x" * (MiB + 1)]),
        "extraDlqMessages[0]: is 1,048,577 bytes; SQS refuses message bodies over 1 MiB",
    ),
    "a character SQS refuses": (
        scenario(extraDlqMessages=["ok\tok\n", "bad \x00"]),
        "extraDlqMessages[1]: character U+0000 at position 4 is not one SQS accepts in a message body",
    ),
    "a BOM": ("\ufeff" + json.dumps(scenario()), "not JSON: Unexpected UTF-8 BOM"),
}


@pytest.mark.parametrize("case", list(LIMIT_CASES))
def test_what_json_or_aws_cannot_take_is_named(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content, expected = LIMIT_CASES[case]
    path = write(tmp_path, content)
    code, out, err = run_cli(capsys, "run", str(path), "--report", str(tmp_path / "report.json"))
    assert code == 2
    assert err.startswith(f"redrive-local: ScenarioError: {path}: {expected}"), err[:500]
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize(
    "content",
    [
        scenario(records=[{"partitionKey": "k", "text": "x" * (MiB - 1)}]),  # 1 MiB with its key
        dynamodb({"pk": "a", "n": 12345678901234567890123456789012345678, "f": 1e125, "g": -1e-129}),
        dynamodb({"pk": "a", "m": json.loads("[" * 32 + "]" * 32)}),
        scenario(extraDlqMessages=["\t\n\r \ud7ff\ue000\ufffd\U00010000\U0010ffff"]),
        kinesis_text("[" * 60 + "]" * 60),
    ],
    ids=[
        "Kinesis record of 1 MiB",
        "DynamoDB numbers at the edges",
        "DynamoDB at 32 levels",
        "SQS edges",
        "data 60 levels deep",
    ],
)
def test_what_aws_takes_is_taken(content: str | dict[str, Any], tmp_path: Path) -> None:
    from redrive_local.scenario import load_scenario

    assert load_scenario(write(tmp_path, content)).records


def test_a_file_over_50_mib(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.json"
    with path.open("wb") as file:
        file.truncate(50 * MiB + 1)  # sparse: nothing is written
    code, out, err = run_cli(capsys, "run", str(path), "--report", str(tmp_path / "r.json"))
    assert code == 2
    assert (
        err.strip()
        == f"redrive-local: ScenarioError: {path}: is 52,428,801 bytes; a scenario file is at most 52,428,800"
    )
    assert "Traceback" not in err + out


def test_invalid_utf8_after_valid_json_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = json.dumps(scenario(description="caf\u00e9"), ensure_ascii=False).encode()
    path = write(tmp_path, text.replace("\u00e9".encode(), b"\xe9"))  # Latin-1, not UTF-8
    code, out, err = run_cli(capsys, "run", str(path), "--report", str(tmp_path / "r.json"))
    assert code == 2
    assert err.strip() == f"redrive-local: ScenarioError: {path}: not a text file (a scenario is UTF-8 JSON)"
    assert "Traceback" not in err + out


def test_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, scenario())

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    code, out, err = run_cli(capsys, "run", str(path), "--report", str(tmp_path / "r.json"))
    assert code == 2
    assert err.strip() == f"redrive-local: ScenarioError: {path}: cannot be read: Permission denied"
    assert "Traceback" not in err + out


def test_model_checks_name_their_field_without_pydantic_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, dynamodb({"id": "o-1"}))
    code, _, err = run_cli(capsys, "run", str(path), "--report", str(tmp_path / "r.json"))
    assert code == 2
    assert err.strip() == (
        f"redrive-local: ScenarioError: {path}: records[0].item: needs a string 'pk' (the table's partition key)"
    )


class Unexpected(Exception):
    pass


@pytest.mark.parametrize("command", ["run", "demo"])
def test_an_unexpected_error_is_one_line_and_exit_code_1(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise Unexpected("the engine fell over\n  with a second line")

    monkeypatch.setattr("redrive_local.cli._rehearse", fail)
    path = write(tmp_path, scenario())
    argv = ["run", str(path), "--report", str(tmp_path / "r.json")] if command == "run" else ["demo"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert err.splitlines() == [
        "redrive-local: Unexpected: the engine fell over ...",
        "redrive-local: re-run with --debug to see the traceback",
    ]
    assert "Traceback" not in err + out


def test_debug_lets_the_traceback_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise Unexpected()

    monkeypatch.setattr("redrive_local.cli._rehearse", fail)
    path = write(tmp_path, scenario())
    with pytest.raises(Unexpected):
        main(["run", str(path), "--report", str(tmp_path / "r.json"), "--debug"])
    with pytest.raises(Unexpected):
        main(["demo", "--debug"])
    code, _, err = run_cli(capsys, "demo")
    assert code == 1 and err.startswith("redrive-local: Unexpected: (no message)\n")


def test_an_interrupt_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("redrive_local.cli._rehearse", interrupt)
    code, out, err = run_cli(capsys, "run", str(write(tmp_path, scenario())), "--report", str(tmp_path / "r.json"))
    assert code == 130
    assert err.strip() == "redrive-local: interrupted"
    assert "Traceback" not in err + out
