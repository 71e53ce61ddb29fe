"""A stack that protects an existing consumer, stream and DLQ (no example resources), a
Python rule chosen by name, and the CLI's manual approval mode."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from redrive_local.approver import decide_through_page
from redrive_local.deploy import deploy_stack
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session
from redrive_local.rehearsal import Rehearsal
from tests.support.executions import wait_for_execution
from tests.support.rules import AMOUNT_AS_NUMBER

from .conftest import kinesis_scenario, s3_json


def test_a_stack_protects_an_existing_consumer_stream_and_dlq(engine: LocalEngine) -> None:
    existing = Rehearsal(
        kinesis_scenario(
            [
                {"partitionKey": "a", "data": {"id": "ex-1", "amount": "4"}},
                {"partitionKey": "b", "text": "not json"},
            ]
        ),
        trigger="manual",
        engine=engine,
    )
    existing.prepare()  # the consumer, its stream and its DLQ, with two pointers waiting
    consumer_arn = engine.client("lambda").get_function(FunctionName=existing.outputs["ExampleConsumerFunction"])[
        "Configuration"
    ]["FunctionArn"]
    dlq_url = existing.outputs["DeadLetterQueueUrl"]
    dlq_arn = engine.client("sqs").get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    stack = deploy_stack(
        endpoint_session(engine),
        REPO_ROOT / "template.yaml",
        f"protector-{int(time.time() * 1000) % 10**8}",
        {
            "ConsumerFunctionArn": consumer_arn,
            "SourceStreamArn": existing.outputs["ExampleSourceArn"],
            "DeadLetterQueueArn": dlq_arn,
            "DeadLetterQueueUrl": dlq_url,
            "AllowSkipApproval": "true",
        },
        REGION,
        ACCOUNT,
    )
    for example in ("OrdersStream", "OrdersTable", "OrdersSinkTable", "OrdersConsumerFunction", "DeadLetterQueue"):
        assert example not in stack.resources, f"{example} is created only for the example"
    assert stack.outputs["DeadLetterQueueUrl"] == dlq_url
    alarm = engine.client("cloudwatch").describe_alarms(AlarmNames=[stack.outputs["DlqDepthAlarmName"]])
    # visible + in flight on the existing DLQ (metric math): each metric names that queue
    metrics = [q["MetricStat"]["Metric"] for q in alarm["MetricAlarms"][0]["Metrics"] if "MetricStat" in q]
    assert {m["MetricName"] for m in metrics} == {
        "ApproximateNumberOfMessagesVisible",
        "ApproximateNumberOfMessagesNotVisible",
    }
    for metric in metrics:
        assert metric["Dimensions"] == [{"Name": "QueueName", "Value": dlq_url.rsplit("/", 1)[-1]}]

    run = {"approval": {"skip": True}, "rules": [AMOUNT_AS_NUMBER, {"python": "discard-unparseable"}]}
    arn = engine.client("stepfunctions").start_execution(
        stateMachineArn=stack.outputs["StateMachineArn"], input=json.dumps(run)
    )["executionArn"]
    assert wait_for_execution(engine.client("stepfunctions"), arn)["status"] == "SUCCEEDED"
    report = s3_json(engine, stack.outputs["RunBucketName"], f"runs/{arn.rsplit(':', 1)[-1]}/report.json")
    outcomes = {(r["rule"], r["outcome"]) for r in report["records"]}
    assert outcomes == {("amount-as-number", "redriven"), ("discard-unparseable", "discarded")}
    sink = existing.processed_by_consumer()
    assert {"id": "ex-1", "amount": 4} in sink, "the existing consumer processed the repaired record"


def test_the_cli_waits_for_a_person_with_approve_manual(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "source": {"type": "kinesis"},
                "consumer": {"batchSize": 1, "maximumRetryAttempts": 0, "bisectBatchOnFunctionError": False},
                "records": [{"partitionKey": "p", "data": {"id": "man-1", "amount": "3"}}],
                "run": {"rules": [AMOUNT_AS_NUMBER]},
            }
        )
    )
    report = tmp_path / "report.json"
    cli = Path(sys.executable).with_name("redrive-local")
    process = subprocess.Popen(
        [str(cli), "run", str(scenario), "--report", str(report), "--approve", "manual", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    link = None
    seen: list[str] = []
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while link is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "/decision?id=" in line:
            link = line[line.index("http") :].split()[0]
    assert link, "".join(seen)
    assert "open the link in a browser" in "".join(seen)
    assert process.poll() is None, "the CLI waits for the decision"
    _, answer = decide_through_page(link, "approve", name="a person", comment="looked fine")
    assert answer.status == 200
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    result = json.loads(report.read_text())
    assert result["approval"]["decision"] == "approved"
    assert result["approval"]["decidedBy"] == "a person"
    assert result["counts"]["redriven"] == 1
