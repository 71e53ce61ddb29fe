"""The ExecutionStatus and ExecutionHistory ports: what Step Functions says of an execution."""

from __future__ import annotations

from typing import Any

from ..contracts.report import ExecutionCounts
from ..errors import aws_error_code


class StepFunctionsExecutions:
    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn

    def status(self, execution_arn: str) -> str:
        try:
            return str(self.sfn.describe_execution(executionArn=execution_arn)["status"])
        except Exception as error:
            if aws_error_code(error) == "ExecutionDoesNotExist":
                return "ABSENT"  # never started (or expired from the history): nothing runs for it
            raise


HISTORY_PAGE = 1000  # GetExecutionHistory and ListExecutions: at most 1,000 a page (the default is 100)
# A child with no history to read: EXPRESS executions have none (GetExecutionHistory "is not
# supported by EXPRESS state machines"), and AWS answers for them with one of these.
_NO_HISTORY = {"InvalidArn", "ExecutionDoesNotExist", "UnsupportedOperation"}


class StepFunctionsHistory:
    """The ExecutionHistory port: the parent execution, its map runs and their children.

    An inline Map's iterations are events of the parent; a Distributed Map's are child
    executions, listed per map run (ListMapRuns, then ListExecutions with the map run's ARN)
    and counted from DescribeMapRun, which counts EXPRESS children too: those are
    ``unreadable`` (no history on AWS), the rest are read. Every list is read with nextToken."""

    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn
        self.calls = 0

    def _pages(self, operation: str, key: str, **request: Any) -> Any:
        token: str | None = None
        while True:
            page = getattr(self.sfn, operation)(**request, **({"nextToken": token} if token else {}))
            self.calls += 1
            yield from page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return

    def history(self, execution_arn: str) -> tuple[int, int]:
        """(events, state transitions) of one execution."""
        events = transitions = 0
        for event in self._pages(
            "get_execution_history", "events", executionArn=execution_arn, maxResults=HISTORY_PAGE
        ):
            events += 1
            transitions += str(event.get("type", "")).endswith("StateEntered")
        return events, transitions

    def counts(self, execution_arn: str) -> ExecutionCounts:
        self.calls = 0
        largest, transitions = self.history(execution_arn)
        executions, unreadable = 1, 0
        for map_run in self._pages("list_map_runs", "mapRuns", executionArn=execution_arn, maxResults=HISTORY_PAGE):
            arn = map_run["mapRunArn"]
            described = self.sfn.describe_map_run(mapRunArn=arn)
            self.calls += 1
            total = int((described.get("executionCounts") or {}).get("total", 0))
            read = 0
            try:
                for child in self._pages("list_executions", "executions", mapRunArn=arn, maxResults=HISTORY_PAGE):
                    events, entered = self.history(child["executionArn"])
                    largest, transitions, read = max(largest, events), transitions + entered, read + 1
            except Exception as error:
                if aws_error_code(error) not in _NO_HISTORY:
                    raise
            executions += max(total, read)
            unreadable += max(total - read, 0)
        return ExecutionCounts(
            executions=executions,
            largest_history=largest,
            state_transitions=transitions,
            unreadable_executions=unreadable,
            api_calls=self.calls,
        )
