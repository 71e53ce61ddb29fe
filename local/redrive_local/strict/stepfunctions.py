"""Step Functions as strict as AWS where moto's interpreter accepts more.

moto records any number of history events in an execution. AWS has a hard quota of
25,000: "When an execution reaches 24,999 events, it waits for the next event to happen.
If the event number 25,000 is ExecutionSucceeded, the execution finishes successfully. If
the event number 25,000 isn't ExecutionSucceeded, the ExecutionFailed event is logged and
the state machine execution fails because of reaching the history limit" (Step Functions
developer guide, "Avoid reaching the history quota"), with error ``States.Runtime`` and
cause "The execution reached the maximum number of history events (25000)." No Catch sees
it: the execution ends there (an inline Map over many batches then never runs Release).
A Distributed Map's child workflow executions have histories of their own: moto records
all of a map run's children in one list, which this rule leaves uncounted (AWS's limit
applies to each child; a child of 25,000 events is not shown locally).

(moto does refuse state payloads over 256 KiB with States.DataLimitExceeded: no rule.)
"""

from __future__ import annotations

from typing import Any

from .registry import aws_rule
from .switch import enabled

HISTORY_EVENTS_MAX = 25_000


def history_limit_cause(limit: int) -> str:
    return f"The execution reached the maximum number of history events ({limit})."


@aws_rule(
    "An execution's history holds at most 25,000 events; when event 25,000 is not ExecutionSucceeded the "
    "execution fails (ExecutionFailed, States.Runtime: 'The execution reached the maximum number of history "
    "events (25000).'), uncatchably"
)
def _sfn_history_events_limit() -> None:
    """Patches moto's interpreter: its ``EventManager`` (one per execution, shared by every
    inline Map and Parallel branch) counts the events; the 25,000th that is not ExecutionSucceeded
    is replaced by ExecutionFailed, the execution's program is put in error (every branch
    stops at its next step, no Catch runs), and nothing more is recorded."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    original_init = Environment.__init__
    original_add_event = EventManager.add_event
    original_set_error = Environment.set_error

    def init(self: Environment, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        # The execution's own environment is made first; a branch's frame gets a manager
        # here too, then shares its parent's (``as_frame_of``), whose owner stays the root.
        if getattr(self.event_manager, "_execution_env", None) is None:
            self.event_manager._execution_env = self  # type: ignore[attr-defined]

    def add_event(self: EventManager, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        if getattr(self, "_history_limit_reached", None):
            return self._event_id_gen._next_id - 1  # the execution has failed: nothing more is recorded
        limit = HISTORY_EVENTS_MAX
        env = getattr(self, "_execution_env", None)
        if (
            env is None  # a Distributed Map's child workflows (moto: one manager per map run, no limit counted)
            or not enabled()
            or self._event_id_gen._next_id < limit
            or event_type == HistoryEventType.ExecutionSucceeded
        ):
            return original_add_event(self, context, event_type, *args, **kwargs)
        details = ExecutionFailedEventDetails(error="States.Runtime", cause=history_limit_cause(limit))
        event_id = original_add_event(
            self,
            context,
            HistoryEventType.ExecutionFailed,
            EventDetails(executionFailedEventDetails=details),  # type: ignore[typeddict-item]
        )
        self._history_limit_reached = details  # type: ignore[attr-defined]
        original_set_error(env, details)
        return event_id

    def set_error(self: Environment, error: Any) -> None:
        reached = getattr(self.event_manager, "_history_limit_reached", None)
        # A branch failing as it stops must not replace the execution's error.
        original_set_error(self, reached or error)

    Environment.__init__ = init  # type: ignore[method-assign]
    EventManager.add_event = add_event  # type: ignore[method-assign]
    Environment.set_error = set_error  # type: ignore[method-assign]
