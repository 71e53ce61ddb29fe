"""report.json's metrics: the run's executions counted page by page (inline and Distributed
Map, EXPRESS children included), its functions' billed time from the lease, and a count that
fails never keeping the run from settling."""

from __future__ import annotations

from typing import Any

import pytest

from redrive.adapters.executions import StepFunctionsHistory
from redrive.contracts.report import ExecutionCounts
from redrive.contracts.vocab import FinalizeMode
from tests.fakes import FakeHistory
from tests.unit.test_core_finalize import Settled, assert_nothing_lost, standard_run

PARENT = "arn:aws:states:us-east-1:123456789012:execution:redrive:run-1"
MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:redrive/Redrive:run-1"


class ClientError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code, "Message": code}}


class PagedStepFunctions:
    """Step Functions as AWS pages it: ``page`` items a call, then a nextToken."""

    def __init__(self, histories: dict[str, int], map_runs: dict[str, list[str]], page: int = 3) -> None:
        self.histories = histories  # execution ARN -> number of events
        self.map_runs = map_runs  # map run ARN -> its children's ARNs
        self.page = page
        self.express: set[str] = set()  # children with no history (EXPRESS)
        self.list_refused = False  # ListExecutions refuses the map run's children
        self.calls: list[str] = []

    def _paged(self, items: list[Any], key: str, nextToken: str | None = None, **_: Any) -> dict[str, Any]:
        start = int(nextToken or 0)
        out: dict[str, Any] = {key: items[start : start + self.page]}
        if start + self.page < len(items):
            out["nextToken"] = str(start + self.page)
        return out

    def get_execution_history(self, executionArn: str, **request: Any) -> dict[str, Any]:
        self.calls.append("GetExecutionHistory")
        assert request.get("maxResults") == 1000
        if executionArn in self.express:
            raise ClientError("InvalidArn")
        n = self.histories[executionArn]
        events = [{"type": "TaskStateEntered" if i % 3 == 0 else "TaskSucceeded"} for i in range(n)]
        return self._paged(events, "events", **request)

    def list_map_runs(self, executionArn: str, **request: Any) -> dict[str, Any]:
        self.calls.append("ListMapRuns")
        runs = [{"mapRunArn": arn} for arn in self.map_runs] if executionArn == PARENT else []
        return self._paged(runs, "mapRuns", **request)

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
        self.calls.append("DescribeMapRun")
        return {"mapRunArn": mapRunArn, "executionCounts": {"total": len(self.map_runs[mapRunArn])}}

    def list_executions(self, mapRunArn: str, **request: Any) -> dict[str, Any]:
        self.calls.append("ListExecutions")
        if self.list_refused:
            raise ClientError("InvalidArn")
        return self._paged([{"executionArn": arn} for arn in self.map_runs[mapRunArn]], "executions", **request)


def test_an_inline_map_is_one_execution_read_page_by_page() -> None:
    sfn = PagedStepFunctions({PARENT: 10}, {})
    counts = StepFunctionsHistory(sfn).counts(PARENT)
    assert counts == ExecutionCounts(
        executions=1, largest_history=10, state_transitions=4, unreadable_executions=0, api_calls=5
    )
    assert sfn.calls.count("GetExecutionHistory") == 4, "10 events at 3 a page: every page was read"


def test_a_distributed_map_counts_every_child_and_the_largest_history() -> None:
    children = [f"{MAP_RUN}:child-{i}" for i in range(7)]
    sfn = PagedStepFunctions({PARENT: 8, **{c: 5 + i for i, c in enumerate(children)}}, {MAP_RUN: children})
    counts = StepFunctionsHistory(sfn).counts(PARENT)
    assert counts.executions == 8
    assert counts.largest_history == 11, "the largest child (5 + 6 events) is larger than the parent"
    assert counts.state_transitions == 3 + sum((5 + i + 2) // 3 for i in range(7))
    assert counts.unreadable_executions == 0
    assert sfn.calls.count("ListExecutions") == 3, "7 children at 3 a page"


def test_express_children_are_counted_but_have_no_history_to_read() -> None:
    children = [f"{MAP_RUN}:child-{i}" for i in range(4)]
    sfn = PagedStepFunctions({PARENT: 8}, {MAP_RUN: children})
    sfn.list_refused = True
    counts = StepFunctionsHistory(sfn).counts(PARENT)
    assert (counts.executions, counts.unreadable_executions, counts.largest_history) == (5, 4, 8)


def test_a_failure_other_than_no_history_is_raised() -> None:
    sfn = PagedStepFunctions({PARENT: 8}, {MAP_RUN: [f"{MAP_RUN}:child-0"]})
    sfn.list_executions = lambda **_: (_ for _ in ()).throw(ClientError("ThrottlingException"))  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        StepFunctionsHistory(sfn).counts(PARENT)


def test_the_report_carries_the_counts_and_the_usage_recorded_in_the_lease() -> None:
    run = standard_run().planned().redrive()
    for _ in range(3):
        run.state.add_usage(run.config.run_id, 250, 250 * 512)
    history = FakeHistory(ExecutionCounts(executions=3, largest_history=120, state_transitions=50))
    report = run.settle(FinalizeMode.COMPLETE, now=2000.0, history=history)
    assert report.metrics is not None
    assert (report.metrics.executions, report.metrics.history_events, report.metrics.state_transitions) == (3, 120, 50)
    assert report.metrics.lambda_invocations == 3
    assert report.metrics.lambda_billed_seconds == pytest.approx(0.75)
    assert report.metrics.lambda_gb_seconds == pytest.approx(0.375)
    assert report.metrics.get_records_calls == report.get_records_calls
    assert history.asked == [run.config.execution_arn]
    stored = run.data.report()
    assert stored is not None and stored.to_json()["metrics"]["historyEvents"] == 120


def test_executions_that_cannot_be_counted_never_keep_the_run_from_settling() -> None:
    run = standard_run().planned().redrive()
    history = FakeHistory()
    history.failure = ConnectionError("Step Functions went away")
    report = run.settle(FinalizeMode.COMPLETE, now=2000.0, history=history)
    assert report.completed
    assert report.metrics is not None and report.metrics.history_events is None
    assert report.metrics.error == "the executions could not be counted: ConnectionError: Step Functions went away"
    assert_nothing_lost(run, run.dlq, Settled.of(report, run.data), FinalizeMode.COMPLETE)
