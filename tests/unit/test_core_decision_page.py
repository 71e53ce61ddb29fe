"""The decision page decides in order: lease, SendTaskSuccess (retried), then the record.

Nothing is recorded that the run did not get; a decision that could not be delivered
leaves the link usable; a run that ended says so instead of "already decided"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from redrive.adapters.approvals import ApprovalStore
from redrive.core.approval import sign_decision_id
from redrive.core.decision_page import (
    CALLBACK_ATTEMPTS,
    LEASE_SECONDS,
    decide,
    handle_request,
    send_decision,
    show_decision_page,
)
from tests.fakes import FakeApprovals, FakeCallback, FakeExecutions

KEY = b"unit-key"
NOW = 1_800_000_000
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:stack-redrive:run-1"
SUMMARY = {
    "runId": "run-1",
    "dlqUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    "countsByClass": {"poison": 2},
    "countsByAction": {"redrive": 2},
    "records": 2,
    "expired": 0,
    "rules": {},
    "target": "original",
    "ratePerSecond": 10.0,
    "concurrency": 1,
    "batches": 1,
    "oldestArrival": None,
    "retentionHours": 24,
    "deadline": NOW + 3600,
}


def aws_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "SendTaskSuccess")


class Page:
    """One approval waiting, and the ports the page talks to."""

    def __init__(self, failures: list[BaseException] | None = None) -> None:
        self.approvals = FakeApprovals()
        self.approvals.put_request("d-1", "token-1", "run-1", SUMMARY, NOW + 3600, EXECUTION)
        self.callback = FakeCallback(failures or [])
        self.executions = FakeExecutions()
        self.signed = sign_decision_id("d-1", NOW + 3600, KEY)
        self.slept: list[float] = []

    @property
    def item(self) -> dict[str, Any]:
        return self.approvals.items["d-1"]

    def get(self, now: float = NOW) -> tuple[int, str]:
        return show_decision_page(self.signed, KEY, self.approvals, now, self.executions)

    def post(self, decision: str = "approve", name: str = "Dana", now: float = NOW) -> tuple[int, str]:
        form = {"id": self.signed, "decision": decision, "name": name, "comment": "go"}
        return decide(form, KEY, self.approvals, self.callback, now, self.executions, self.slept.append)


def test_approve_sends_the_decision_then_records_it() -> None:
    page = Page()
    status, html = page.post()
    assert status == 200 and "approved" in html
    [(token, output)] = page.callback.successes
    assert token == "token-1"
    assert json.loads(output) == {"decision": "approved", "decidedBy": "Dana", "comment": "go", "decidedAt": NOW}
    assert page.item["status"] == "approved" and page.item["decidedBy"] == "Dana"
    assert "decidingLease" not in page.item


def test_reject_keeps_the_contract_the_state_machine_reads() -> None:
    page = Page()
    status, _ = page.post("reject", name="Sam")
    assert status == 200
    assert json.loads(page.callback.successes[0][1])["decision"] == "rejected"
    assert page.item["status"] == "rejected"


def test_the_approval_is_deciding_while_the_decision_is_sent() -> None:
    page = Page()
    seen: list[dict[str, Any]] = []
    page.callback.during = lambda: seen.append(dict(page.item))
    page.post()
    assert seen[0]["status"] == "deciding"
    assert seen[0]["decidingUntil"] == NOW + LEASE_SECONDS


def test_throttled_once_then_delivered_is_approved_not_409_nor_timeout() -> None:
    page = Page([aws_error("ThrottlingException")])
    status, html = page.post()
    assert status == 200 and "approved" in html
    assert page.callback.calls == 2 and len(page.callback.successes) == 1
    assert page.item["status"] == "approved"
    assert len(page.slept) == 1, "backed off once before the retry"


@pytest.mark.parametrize(
    "error",
    [
        aws_error("ThrottlingException"),
        aws_error("ServiceUnavailable"),
        aws_error("InternalServerError"),
        EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com"),
    ],
    ids=["throttling", "unavailable", "internal", "connection"],
)
def test_every_retryable_error_is_retried(error: BaseException) -> None:
    page = Page([error])
    assert page.post()[0] == 200
    assert page.callback.calls == 2


def test_throttled_always_is_503_and_the_same_link_works_afterwards() -> None:
    page = Page([aws_error("ThrottlingException")] * CALLBACK_ATTEMPTS)
    status, html = page.post()
    assert status == 503 and "not recorded" in html and "this link still works" in html
    assert page.callback.calls == CALLBACK_ATTEMPTS and page.callback.successes == []
    assert page.item["status"] == "pending", "the mark was undone"
    assert "decidingLease" not in page.item and "decidedBy" not in page.item
    assert page.slept == sorted(page.slept) and len(page.slept) == CALLBACK_ATTEMPTS - 1, "backing off"
    assert page.get()[0] == 200, "the page shows the form again"
    status, html = page.post(name="Dana, again")
    assert status == 200 and "approved" in html
    assert page.item["status"] == "approved" and page.item["decidedBy"] == "Dana, again"


def test_an_error_a_retry_cannot_fix_is_not_retried_and_undone() -> None:
    page = Page([aws_error("AccessDeniedException")])
    status, html = page.post()
    assert status == 503 and "AccessDeniedException" in html
    assert page.callback.calls == 1
    assert page.item["status"] == "pending"


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_task_that_is_gone_is_410_and_the_approval_closed(code: str) -> None:
    page = Page([aws_error(code)])
    status, html = page.post()
    assert status == 410 and "no longer waiting" in html and code in html
    assert page.callback.calls == 1, "not retried"
    assert page.item["status"] == "closed" and page.item["closedReason"] == code
    assert page.get()[0] == 410
    assert page.post()[0] == 410 and page.callback.calls == 1, "a closed approval sends nothing"


def test_two_concurrent_posts_one_decides() -> None:
    page = Page()
    second: list[tuple[int, str]] = []
    page.callback.during = lambda: second.append(page.post("reject", name="Sam"))
    first = page.post("approve", name="Dana")
    [(status, html)] = second
    assert status == 409 and "being recorded" in html
    assert first[0] == 200
    assert page.callback.calls == 1 and len(page.callback.successes) == 1
    assert page.item["status"] == "approved" and page.item["decidedBy"] == "Dana"


def test_a_replayed_post_is_409_and_sends_nothing() -> None:
    page = Page()
    page.post(name="first")
    status, html = page.post("reject", name="second")
    assert status == 409 and "already decided" in html and "approved by first" in html
    assert page.callback.calls == 1 and page.item["decidedBy"] == "first"


def test_a_lease_left_by_a_crashed_request_blocks_for_a_minute_at_most() -> None:
    page = Page()
    page.approvals.begin_deciding("d-1", "crashed", NOW + LEASE_SECONDS, NOW)
    status, html = page.get(NOW + 1)
    assert status == 409 and "being recorded" in html
    assert page.post(now=NOW + 1)[0] == 409 and page.callback.calls == 0
    assert page.get(NOW + LEASE_SECONDS)[0] == 200
    assert page.post(now=NOW + LEASE_SECONDS)[0] == 200
    assert page.item["status"] == "approved"


def test_a_slow_request_cannot_undo_what_a_later_one_did() -> None:
    approvals = FakeApprovals()
    approvals.put_request("d-1", "t", "run-1", SUMMARY, NOW + 3600, EXECUTION)
    assert approvals.begin_deciding("d-1", "slow", NOW, NOW - LEASE_SECONDS)
    assert approvals.begin_deciding("d-1", "later", NOW + LEASE_SECONDS, NOW)
    approvals.release("d-1", "slow")
    approvals.close("d-1", "slow", "TaskTimedOut")
    assert approvals.items["d-1"]["status"] == "deciding" and approvals.items["d-1"]["decidingLease"] == "later"


@pytest.mark.parametrize("ended", ["ABORTED", "SUCCEEDED", "FAILED", "TIMED_OUT"])
def test_get_after_the_execution_ended_is_410_with_its_status(ended: str) -> None:
    page = Page()
    page.executions.statuses[EXECUTION] = ended
    status, html = page.get()
    assert status == 410
    assert f"This run has ended ({ended}); nothing more will happen." in html
    assert page.executions.looked_up == [EXECUTION]
    assert page.item["status"] == "pending", "a GET changes nothing"


def test_get_after_an_approved_run_ended_says_it_ended_not_already_approved() -> None:
    page = Page()
    page.post(name="Dana")
    assert page.get()[0] == 409, "still running (redriving): already decided"
    page.executions.statuses[EXECUTION] = "SUCCEEDED"
    status, html = page.get()
    assert status == 410 and "This run has ended (SUCCEEDED)" in html and "approved by Dana" in html
    assert page.post()[0] == 410


def test_post_after_the_execution_ended_closes_and_sends_nothing() -> None:
    page = Page()
    page.executions.statuses[EXECUTION] = "ABORTED"
    status, html = page.post()
    assert status == 410 and "This run has ended (ABORTED)" in html
    assert page.callback.calls == 0
    assert page.item["status"] == "closed" and page.item["closedReason"] == "the run ended (ABORTED)"


def test_an_unreadable_execution_status_leaves_the_approval_to_decide() -> None:
    page = Page()

    class Broken:
        def status(self, execution_arn: str) -> str:
            raise aws_error("AccessDeniedException")

    assert show_decision_page(page.signed, KEY, page.approvals, NOW, Broken())[0] == 200
    form = {"id": page.signed, "decision": "approve", "name": "n"}
    assert decide(form, KEY, page.approvals, page.callback, NOW, Broken(), page.slept.append)[0] == 200


def test_an_approval_stored_without_an_execution_arn_still_works() -> None:
    page = Page()
    del page.item["executionArn"]
    assert page.get()[0] == 200 and page.executions.looked_up == []
    assert page.post()[0] == 200


def test_send_decision_stops_at_its_time_budget() -> None:
    callback = FakeCallback([aws_error("ThrottlingException")] * 10)
    assert send_decision(callback, "t", "{}", sleep=lambda _: None, attempts=10, budget_seconds=-1) == (
        "ThrottlingException"
    )
    assert callback.calls == 1


def test_handle_request_routes_get_and_post_with_the_execution_status() -> None:
    page = Page()
    page.executions.statuses[EXECUTION] = "ABORTED"
    get = {"requestContext": {"http": {"method": "GET"}}, "queryStringParameters": {"id": page.signed}}
    kwargs: dict[str, Any] = {"key": KEY, "approvals": page.approvals, "callback": page.callback, "now": NOW}
    assert handle_request(get, executions=page.executions, **kwargs)[0] == 410
    assert handle_request(get, **kwargs)[0] == 200, "without the port the approval decides alone"


class _Dynamo:
    """A DynamoDB client that fails every conditional update with ``code``."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.updates: list[dict[str, Any]] = []

    def update_item(self, **request: Any) -> None:
        self.updates.append(request)
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "UpdateItem")


def test_the_store_reports_a_lost_race_and_raises_anything_else() -> None:
    lost = _Dynamo("ConditionalCheckFailedException")
    store = ApprovalStore(lost, "table")
    assert store.begin_deciding("d-1", "lease", NOW + LEASE_SECONDS, NOW) is False
    store.release("d-1", "lease")  # a lease lost meanwhile is nothing to undo
    store.close("d-1", "lease", "TaskTimedOut")
    assert "decidingLease = :lease" in lost.updates[1]["ConditionExpression"]
    with pytest.raises(ClientError):
        ApprovalStore(_Dynamo("ProvisionedThroughputExceededException"), "table").begin_deciding("d-1", "l", 1, 0)
