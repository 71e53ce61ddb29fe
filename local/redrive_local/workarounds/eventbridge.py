"""EventBridge: Step Functions and Lambda targets, and event times as EventBridge writes them."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from .registry import workaround


@workaround
def _state_machine_targets_for_eventbridge() -> None:
    """moto's ``Rule.send_to_targets`` raises NotImplementedError for Step Functions and
    Lambda targets. Deliver them as EventBridge does: StartExecution with the
    (transformed) event as input; an asynchronous Invoke of the function. Other targets go
    to moto's own code.

    A rule with a ScheduleExpression and no EventPattern matches every event put on the bus
    in moto; on EventBridge it only fires on its schedule: it gets no bus event here.

    moto also keeps the event's ``time`` as epoch seconds, where EventBridge sends an
    ISO-8601 string (``2019-10-02T17:04:40Z``); it is converted before matching targets.
    """
    from moto.events.models import EventTemplateParser, Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if getattr(self, "scheduled_expression", None) and not getattr(self.event_pattern, "_pattern", None):
            return  # a scheduled rule: fired by fire_schedules only
        if not self.event_pattern.matches_event(original_event):
            return
        moto_event = original_event  # moto's own targets expect its epoch-seconds time
        original_event = event_with_iso_time(original_event)
        others = []
        for target in self.targets:
            arn = parse_arn(target["Arn"])
            if arn.service not in ("states", "lambda"):
                others.append(target)
                continue
            transformer = target.get("InputTransformer", {})
            if "Input" in target:
                payload = target["Input"]
            elif transformer:
                payload = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
            else:
                payload = original_event
            text = payload if isinstance(payload, str) else json.dumps(payload)
            if arn.service == "states":
                _start_execution(arn.account, arn.region, target["Arn"], text)
            else:
                _invoke_async(arn.account, arn.region, target["Arn"], text)
        if others:
            saved = self.targets
            self.targets = others
            try:
                original(self, moto_event, transform_input)
            finally:
                self.targets = saved

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _invoke_async(account: str, region: str, function_arn: str, text: str) -> None:
    """EventBridge invokes a Lambda target asynchronously: the put does not wait for it."""
    from moto.awslambda.utils import get_backend

    function = get_backend(account, region).get_function(function_arn)

    def run() -> None:
        function.invoke(text, {"x-amz-invocation-type": "Event"}, {})

    threading.Thread(target=run, name=f"eventbridge->{function.function_name}", daemon=True).start()


def event_with_iso_time(event: Any) -> Any:
    """The event with ``time`` as EventBridge writes it, whatever moto stored."""
    when = event.get("time") if isinstance(event, dict) else None
    if isinstance(when, int | float):
        stamp = datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {**event, "time": stamp}
    return event


def _start_execution(account: str, region: str, state_machine_arn: str, text: str) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account][region]
    backend.start_execution(state_machine_arn, name=None, execution_input=text)  # type: ignore[arg-type]


def fire_schedules(account: str, region: str, rule_prefix: str = "", target_contains: str = "") -> int:
    """Deliver one "Scheduled Event" to the Lambda targets of every rule with a
    ScheduleExpression, synchronously; return how many targets ran.

    moto stores scheduled rules but never fires them. The local stack has no clock to wait
    for (``rate(5 minutes)`` would stall a rehearsal), so a rehearsal or a test fires them
    when it wants the schedule to have come round: the same event, the same target.
    """
    from moto.awslambda.utils import get_backend
    from moto.events.models import events_backends
    from moto.utilities.arns import parse_arn

    fired = 0
    backend = events_backends[account][region]
    for bus in list(backend.event_buses.values()):
        for rule in list(bus.rules.values()):
            if not getattr(rule, "scheduled_expression", None) or rule.state != "ENABLED":
                continue
            if not rule.name.startswith(rule_prefix):  # a stack's rules are named after it
                continue
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": account,
                "time": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": region,
                "resources": [rule.arn],
                "detail": {},
            }
            for target in rule.targets:
                if parse_arn(target["Arn"]).service != "lambda" or target_contains not in target["Arn"]:
                    continue
                function = get_backend(account, region).get_function(target["Arn"])
                function.invoke(json.dumps(event), {"x-amz-invocation-type": "RequestResponse"}, {})
                fired += 1
    return fired
