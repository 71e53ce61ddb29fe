"""The DlqArrivals port: the DLQ's depth (SQS), its lock and left-in-place record (the
state table), and StartExecution of the state machine."""

from __future__ import annotations

import json
from typing import Any

from ..contracts.messages import QueueDepth
from .state_table import StateTable


class DlqArrivalsOnAws:
    def __init__(self, sqs: Any, state: StateTable, sfn: Any, state_machine_arn: str) -> None:
        self.sqs = sqs
        self.state = state
        self.sfn = sfn
        self.state_machine_arn = state_machine_arn

    def depth(self, queue_url: str) -> QueueDepth:
        names = [
            "QueueArn",
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        values = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
        return QueueDepth(
            queue_arn=values["QueueArn"],
            visible=int(values.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(values.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(values.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    def lock_holder(self, queue_arn: str) -> str | None:
        return self.state.lock_holder(queue_arn)

    def left_in_place(self, queue_arn: str) -> int:
        return self.state.left_in_place(queue_arn)

    def record_left_in_place(self, queue_arn: str, count: int, run_id: str) -> None:
        self.state.record_left_in_place(queue_arn, count, run_id)

    def start_run(self, run_input: dict[str, str]) -> str:
        started = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, input=json.dumps(run_input))
        return str(started["executionArn"])
