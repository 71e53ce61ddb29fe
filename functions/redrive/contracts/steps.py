"""The event each Lambda step gets from the state machine, and what approval returns.

Each handler parses its event into one of these first: a wrong shape fails at the
boundary, naming the field, before anything is touched.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal

from pydantic import Field, field_validator

from .base import Contract
from .redrive import SlotGrant
from .run import RunConfig
from .vocab import FinalizeMode


class PrepareEvent(Contract):
    input: Any = None
    execution_arn: str = ""


class RunStep(Contract):
    """Collect and Plan: the run only."""

    run: RunConfig


class FetchEvent(RunStep):
    group_id: str


class RedriveEvent(RunStep):
    batch_id: str
    slot: SlotGrant = Field(default_factory=SlotGrant)  # the call before the Wait: its slot


class RequestApprovalEvent(RunStep):
    task_token: str = Field(min_length=1)


class ApprovalDecision(Contract):
    """The approval step's output (``$.approval``): the page's POST, a timeout, a skip, or
    ``not-needed`` when the plan redrives nothing (no one is asked)."""

    decision: Literal["approved", "rejected", "timeout", "skipped", "not-needed"]
    decided_by: str | None = None
    comment: str | None = None
    decided_at: int | None = None


class StepError(Contract):
    """A caught error (``$.error``); ``Cause`` is parsed when it is the JSON Lambda writes."""

    error: str = Field(default="", alias="Error")
    cause: Any = Field(default=None, alias="Cause")

    def one_line(self) -> str:
        """``ErrorType: message``, first line only: what an operator reads as the cause."""
        cause = self.cause
        if isinstance(cause, dict):
            kind = cause.get("errorType") or self.error
            text = f"{kind}: {cause.get('errorMessage', '')}"
        else:
            text = f"{self.error}: {cause}" if cause else self.error
        line = text.strip().splitlines()[0] if text.strip() else self.error
        return line[:1000]

    @field_validator("cause", mode="before")
    @classmethod
    def _parse_cause(cls, value: Any) -> Any:
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(value)
        return value


class FinalizeEvent(RunStep):
    mode: FinalizeMode = FinalizeMode.COMPLETE
    error: StepError | None = None
    approval: ApprovalDecision | None = None


class ExecutionStatusDetail(Contract):
    execution_arn: str
    status: str
    cause: str | None = None


class ExecutionStatusChange(Contract):
    """The "Step Functions Execution Status Change" event EventBridge delivers."""

    detail: ExecutionStatusDetail
