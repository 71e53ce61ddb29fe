"""Every handler on its sample event (events/functions/), with fakes for every port.

The samples are the inputs the state machine (or EventBridge, or API Gateway) gives each
function; they must parse into the step contracts, and the handlers must run on them.
``sam local invoke -e events/functions/<name>.json`` uses the same files.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from redrive.contracts import steps
from redrive.contracts.base import Contract
from redrive.contracts.records import StreamRecord
from redrive.errors import ConfigurationError, NoConfirmedSubscriber
from redrive.handlers import approval_api, collect, fetch, finalize, plan, prepare, reconcile, redrive, request_approval
from tests.fakes import FakeAdapters, FakeLambdaContext

CONTEXT = FakeLambdaContext()

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLES = EVENTS / "functions"
CONTRACT_OF: dict[str, type[Contract]] = {
    "prepare.json": steps.PrepareEvent,
    "collect.json": steps.RunStep,
    "fetch.json": steps.FetchEvent,
    "plan.json": steps.RunStep,
    "request-approval.json": steps.RequestApprovalEvent,
    "redrive.json": steps.RedriveEvent,
    "finalize.json": steps.FinalizeEvent,
    "finalize-release.json": steps.FinalizeEvent,
    "reconcile.json": steps.ExecutionStatusChange,
}
HANDLERS = {
    "prepare",
    "arrivals",
    "collect",
    "fetch",
    "plan",
    "request_approval",
    "redrive",
    "finalize",
    "reconcile",
    "approval_api",
}
ENV = {
    "AWS_REGION": "us-east-1",
    "STATE_TABLE": "state",
    "RUN_BUCKET": "stream-redrive-runs",
    "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/orders-consumer-dlq",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:operators",
    "APPROVAL_URL": "https://approve.example.com/decision",
    "APPROVAL_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing",
    "CONSUMER_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer",
}


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((SAMPLES / name).read_text()))


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_every_handler_has_a_sample_event() -> None:
    handlers = {p.stem for p in (EVENTS.parent / "functions" / "redrive" / "handlers").glob("*.py")}
    assert handlers - {"__init__", "wiring"} == HANDLERS
    suffixes = ("-release", "-get", "-post", "-schedule")
    stems = [p.stem for p in SAMPLES.glob("*.json")]
    stems = [next((stem.removesuffix(x) for x in suffixes if stem.endswith(x)), stem) for stem in stems]
    assert {stem.replace("-", "_") for stem in stems} == HANDLERS


@pytest.mark.parametrize("name", sorted(CONTRACT_OF))
def test_samples_parse_into_their_contract(name: str) -> None:
    CONTRACT_OF[name].parse(sample(name))


def _kinesis_records() -> list[StreamRecord]:
    """The records the sample Kinesis pointer (events/dlq/kinesis-pointer.json) names."""
    pointer = json.loads((EVENTS / "dlq" / "kinesis-pointer.json").read_text())["KinesisBatchInfo"]
    start, end = int(pointer["startSequenceNumber"]), int(pointer["endSequenceNumber"])
    return [
        StreamRecord(
            source="kinesis",
            stream_arn=pointer["streamArn"],
            shard_id=pointer["shardId"],
            sequence_number=str(seq),
            partition_key="customer-1",
            payload=base64.b64encode(json.dumps({"id": f"o-{seq % 100}", "amount": "12.50"}).encode()).decode(),
        )
        for seq in range(start, end + 1)
    ]


def test_a_whole_run_through_the_handlers() -> None:
    """prepare -> collect -> fetch -> plan -> redrive -> finalize, each on its sample event."""
    ports = FakeAdapters(shard_records=_kinesis_records())
    state: dict[str, Any] = {"run": prepare.handler(sample("prepare.json"), CONTEXT, adapters=ports)}
    run = state["run"]
    assert run["locked"] is True and ports.state.locks == {run["dlqArn"]: run["executionArn"]}
    queue = ports.dlq(run["dlqUrl"])
    queue.add((EVENTS / "dlq" / "kinesis-pointer.json").read_text())
    queue.add("not a pointer")

    collected = collect.handler({**sample("collect.json"), "run": run}, CONTEXT, adapters=ports)
    assert collected["messages"] == 2 and collected["kinds"] == {"kinesis-pointer": 1, "unrecognised": 1}
    assert queue.visible == [], "every message left the DLQ for the run's manifest"
    for group_id in collected["groups"]:
        fetched = fetch.handler({**sample("fetch.json"), "run": run, "groupId": group_id}, CONTEXT, adapters=ports)
        assert fetched["records"] == len(ports.reader.records)
    planned = plan.handler({**sample("plan.json"), "run": run}, CONTEXT, adapters=ports)
    assert set(planned) >= {"rounds", "roundsPrefix", "batches", "lanes"} and "batchIds" not in planned
    for index in range(planned["rounds"]):
        for item in ports.store.get_json(f"{planned['roundsPrefix']}{index}.json"):
            for batch_id in item["batchIds"]:
                answer = redrive.handler(
                    {**sample("redrive.json"), "run": run, "batchId": batch_id, "slot": {}}, CONTEXT, adapters=ports
                )
                assert answer["waitSeconds"] == 0, "a few records at the sample's rate: every slot is due now"
                assert {k: answer[k] for k in ("batchId", "repeated", "failed", "fenced")} == {
                    "batchId": batch_id,
                    "repeated": False,
                    "failed": 0,
                    "fenced": False,
                }
    delivered = [r for b in ports.delivered.batches for r in b.records]
    assert len(delivered) == len(ports.reader.records)
    assert all(json.loads(base64.b64decode(r.payload or ""))["amount"] == 12.5 for r in delivered), "repaired"

    finished = finalize.handler({**sample("finalize.json"), "run": run}, CONTEXT, adapters=ports)
    assert finished["counts"]["redriven"] == len(delivered)
    assert finished["counts"]["returnedMessages"] == 1
    assert [body for body, _ in queue.sent] == ["not a pointer"], "the unrecognised message went back as it was"
    assert ports.state.locks == {}, "the lock is free"
    assert ports.state.leases[run["runId"]].status == "settled"

    before_finalize = 3 + len(collected["groups"]) + planned["batches"]
    report = ports.run_data(run["bucket"], run["runId"]).report()
    assert report is not None and report.metrics is not None
    metrics = report.metrics
    assert metrics.lambda_invocations == before_finalize, "each handler before the settle recorded its duration"
    assert metrics.lambda_billed_seconds >= before_finalize / 1000, "at least a millisecond each, as Lambda bills"
    assert metrics.lambda_gb_seconds == pytest.approx(metrics.lambda_billed_seconds * 512 / 1024)
    assert (metrics.executions, metrics.history_events) == (1, 40), "counted by the ExecutionHistory port"
    assert ports.histories.asked == [run["executionArn"]]
    assert ports.state.leases[run["runId"]].invocations == before_finalize + 1, "Finalize's own, after its report"
    assert ports.published.published and "finished" in ports.published.published[-1][0]


def _held_run(ports: FakeAdapters) -> dict[str, Any]:
    """A run that collected one message, then its execution ended outside any Catch."""
    run = prepare.handler(sample("prepare.json"), CONTEXT, adapters=ports)
    ports.dlq(run["dlqUrl"]).add("held")
    collect.handler({"run": run}, CONTEXT, adapters=ports)
    ports.execution_statuses.statuses[run["executionArn"]] = "ABORTED"
    return run


def test_reconcile_releases_a_run_whose_execution_ended() -> None:
    ports = FakeAdapters()
    run = _held_run(ports)
    answer = reconcile.handler(sample("reconcile.json"), CONTEXT, adapters=ports)
    assert [r["outcome"] for r in answer["reconciled"]] == ["settled"]
    assert [body for body, _ in ports.dlq(run["dlqUrl"]).sent] == ["held"]
    assert ports.state.locks == {}
    again = reconcile.handler(sample("reconcile.json"), CONTEXT, adapters=ports)
    assert [r["outcome"] for r in again["reconciled"]] == ["already settled"]
    assert len(ports.dlq(run["dlqUrl"]).sent) == 1, "once"


def test_the_schedule_settles_every_ended_run_and_leaves_running_ones() -> None:
    ports = FakeAdapters()
    run = _held_run(ports)
    answer = reconcile.handler(sample("reconcile-schedule.json"), CONTEXT, adapters=ports)
    assert [(r["runId"], r["outcome"]) for r in answer["reconciled"]] == [(run["runId"], "settled")]
    ports.execution_statuses.statuses[run["executionArn"]] = "RUNNING"
    assert reconcile.handler(sample("reconcile-schedule.json"), CONTEXT, adapters=ports)["reconciled"] == []


def test_request_approval_keeps_the_token_server_side() -> None:
    ports = FakeAdapters(shard_records=_kinesis_records())
    run = prepare.handler(sample("prepare.json"), CONTEXT, adapters=ports)
    ports.dlq(run["dlqUrl"]).add((EVENTS / "dlq" / "kinesis-pointer.json").read_text())
    collected = collect.handler({"run": run}, CONTEXT, adapters=ports)
    for group_id in collected["groups"]:
        fetch.handler({"run": run, "groupId": group_id}, CONTEXT, adapters=ports)
    plan.handler({"run": run}, CONTEXT, adapters=ports)
    event = {**sample("request-approval.json"), "run": run}
    assert request_approval.handler(event, CONTEXT, adapters=ports) == {"requested": True}
    [item] = ports.approvals_store.items.values()
    assert item["taskToken"] == event["taskToken"]
    assert item["executionArn"] == run["executionArn"], "the page can tell when the run has ended"
    subject, body = ports.published.published[-1]
    assert (
        "approve" in subject and event["taskToken"] not in body and "https://approve.example.com/decision?id=" in body
    )


def test_request_approval_refuses_a_topic_no_one_has_confirmed() -> None:
    """An unconfirmed (or unsubscribed) operators' subscription: the request stores no token
    and sends nothing, and fails with a named error that says what to do."""
    ports = FakeAdapters(shard_records=_kinesis_records())
    ports.published.confirmed = 0
    run = prepare.handler(sample("prepare.json"), CONTEXT, adapters=ports)
    ports.dlq(run["dlqUrl"]).add((EVENTS / "dlq" / "kinesis-pointer.json").read_text())
    collected = collect.handler({"run": run}, CONTEXT, adapters=ports)
    for group_id in collected["groups"]:
        fetch.handler({"run": run, "groupId": group_id}, CONTEXT, adapters=ports)
    plan.handler({"run": run}, CONTEXT, adapters=ports)
    event = {**sample("request-approval.json"), "run": run}
    with pytest.raises(NoConfirmedSubscriber, match=r"no confirmed subscription.*confirm the subscription"):
        request_approval.handler(event, CONTEXT, adapters=ports)
    assert ports.approvals_store.items == {} and ports.published.published == []


@pytest.mark.parametrize(("name", "status"), [("approval-api-get.json", 400), ("approval-api-post.json", 400)])
def test_the_decision_page_refuses_a_link_it_did_not_sign(name: str, status: int) -> None:
    ports = FakeAdapters()
    answer = approval_api.handler(sample(name), CONTEXT, adapters=ports)
    assert answer["statusCode"] == status
    assert "not a valid decision link" in answer["body"]
    assert ports.callback.successes == []


def test_a_missing_variable_fails_the_handler_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_TABLE")
    with pytest.raises(ConfigurationError, match="STATE_TABLE is not set"):
        redrive.handler(sample("redrive.json"), CONTEXT, adapters=FakeAdapters())


def test_prepare_takes_the_run_defaults_from_the_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    """RUN_DEFAULTS_PARAMETER names the SSM parameter; its JSON goes under the run input."""
    monkeypatch.setenv("RUN_DEFAULTS_PARAMETER", "/stack/run-defaults")
    ports = FakeAdapters()
    ports.defaults.value = '{"maxMessages": 7, "dryRun": false}'
    event = sample("prepare.json")
    del event["input"]["maxMessages"]
    run = prepare.handler(event, CONTEXT, adapters=ports)
    assert (run["maxMessages"], run["dryRun"], ports.defaults.reads) == (7, True, 1), "the input's dryRun wins"
