"""Step Functions: unnamed and stopped executions, execution status change events, state
machines from CloudFormation that run (with DefinitionSubstitutions applied), and Express
Distributed Map children run as Standard."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from .registry import workaround


@workaround
def _stopped_executions_end_aborted() -> None:
    """StopExecution while a Map state runs makes moto's interpreter fail inside its own
    abort handling (``AttributeError: 'str' object has no attribute 'get'`` in the Map
    state), so the execution ends FAILED with ``States.Runtime``. Step Functions ends a
    stopped execution ABORTED. A stop request is remembered and the end status corrected.

    moto also leaves a ``waitForTaskToken`` task waiting after a stop, until the task's
    own timeout (a day for an approval); the stop now wakes every waiting callback. And the
    history, like the status, ends with ExecutionAborted. And the execution is ABORTED from
    the stop on, as DescribeExecution says on AWS (moto kept it RUNNING until the task under
    way returned).
    """
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    original_stop = Execution.stop
    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        self.stop_requested = True
        original_stop(self, stop_date, error, cause)
        # AWS timing: the execution is ABORTED, and its status change event sent, at once,
        # while a Lambda it started keeps running to its end (moto waited for it).
        # Fix: DescribeExecution says ABORTED at once too. moto kept the execution RUNNING
        # until that Lambda returned, so the reconciler the event wakes saw it running and
        # settled nothing: a stopped run went on collecting and redriving until the schedule.
        if self.exec_status == ExecutionStatus.RUNNING:
            self.stopped_at = stop_date
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
        put_status_change(self, "ABORTED")
        worker = getattr(self, "exec_worker", None)
        pool = getattr(getattr(worker, "env", None), "callback_pool_manager", None)
        for endpoint in list(getattr(pool, "_pool", {}).values()):
            endpoint.interrupt_all()

    def reflect(self: Any) -> None:
        original_reflect(self)
        execution = self.execution
        stopped_at = getattr(execution, "stopped_at", None)
        if stopped_at is not None:  # stopped while running: it stays as the stop left it
            execution.exec_status = ExecutionStatus.ABORTED
            execution.stop_date = stopped_at
            execution.error = None
            execution.cause = None
        elif getattr(execution, "stop_requested", False) and execution.exec_status == ExecutionStatus.FAILED:
            execution.exec_status = ExecutionStatus.ABORTED
            execution.error = None
            execution.cause = None

    original_history = Execution.to_history_output

    def to_history_output(self: Any) -> Any:
        """The history ends as the status says: ExecutionAborted, not ExecutionFailed."""
        output = original_history(self)
        events = output.get("events") or []
        if getattr(self, "stop_requested", False) and self.exec_status == ExecutionStatus.ABORTED and events:
            last = events[-1]
            if last.get("type") == "ExecutionFailed":
                aborted = {k: v for k, v in last.items() if k != "executionFailedEventDetails"}
                aborted["type"] = "ExecutionAborted"
                aborted["executionAbortedEventDetails"] = {}
                events[-1] = aborted  # type: ignore[call-overload]
        return output

    Execution.stop = stop  # type: ignore[method-assign]
    Execution.to_history_output = to_history_output  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication._reflect_execution_status = reflect  # type: ignore[method-assign]


@workaround
def _executions_emit_status_change_events() -> None:
    """Step Functions sends "Step Functions Execution Status Change" events to EventBridge
    when an execution ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED); moto sends none, so a
    rule on them (the redrive's abort handler) would never fire. Emitted here, in the
    documented shape, when moto's execution worker reports the end of an execution.
    """
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        status = getattr(execution.exec_status, "value", str(execution.exec_status))
        if not getattr(execution, "status_event_sent", False):  # a stop sent it already
            put_status_change(execution, status)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def put_status_change(execution: Any, status: str) -> None:
    """The "Step Functions Execution Status Change" event, in the documented shape."""
    from moto.events.models import events_backends

    def millis(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if isinstance(value, datetime) else None

    execution.status_event_sent = True
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": millis(execution.start_date),
        "stopDate": millis(execution.stop_date),
        "input": json.dumps(execution.input_data) if execution.input_data is not None else None,
        "output": json.dumps(execution.output) if execution.output is not None else None,
        "error": execution.error,
        "cause": execution.cause,
    }
    events_backends[execution.account_id][execution.region_name].put_events(
        [
            {
                "Source": "aws.states",
                "DetailType": "Step Functions Execution Status Change",
                "Resources": [execution.exec_arn],
                "Detail": json.dumps(detail),
            }
        ]
    )


@workaround
def _unnamed_executions_get_a_uuid() -> None:
    """moto names an execution started without ``name`` ``None`` (its ARN ends ``:None``,
    so a second unnamed start collides with the first); Step Functions generates a UUID."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


@workaround
def _state_machines_from_cloudformation_are_executable() -> None:
    """moto's CloudFormation creates AWS::StepFunctions::StateMachine in the plain
    Step Functions backend, which the API does not serve once ``execute_state_machine`` is
    on, and it ignores DefinitionSubstitutions. Create it in the executing backend, with
    the substitutions applied as CloudFormation does (``${Name}`` replaced by the value).
    """
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.utils import cfn_to_api_tags

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        name = properties.get("StateMachineName", resource_name)
        definition = apply_definition_substitutions(
            properties.get("DefinitionString", ""), properties.get("DefinitionSubstitutions", {})
        )
        backend = stepfunctions_parser_backends[account_id][region_name]
        return backend.create_state_machine(
            name,
            definition,
            properties.get("RoleArn", ""),
            tags=cfn_to_api_tags(properties.get("Tags", [])),
        )

    def delete(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> None:
        stepfunctions_parser_backends[account_id][region_name].delete_state_machine(resource_name)

    StateMachine.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment]
    StateMachine.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[assignment]


def apply_definition_substitutions(definition: str, substitutions: dict[str, Any]) -> str:
    """CloudFormation replaces each ``${Key}`` in DefinitionString by its value."""
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


@workaround
def _express_map_children_run_as_standard() -> None:
    """moto's ASL grammar knows only ``"ExecutionType": "STANDARD"`` for a Distributed Map's
    children: a definition whose ``ProcessorConfig`` says ``EXPRESS`` (the redrive's children
    on AWS, the cheapest type; the batch claims keep at most one send per batch even though
    Express runs at least once) is refused at CreateStateMachine (``ASLParserException ...
    expecting '"STANDARD"'``). Locally such children run as STANDARD: same states, same
    behaviour, but each child has a history (AWS keeps none for Express children) and no
    5-minute limit. The definition is rewritten where moto stores it, on create and update.
    """
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original_create = StepFunctionsParserBackend.create_state_machine
    original_update = StepFunctionsParserBackend.update_state_machine

    def create_state_machine(self: Any, name: str, definition: str, *args: Any, **kwargs: Any) -> Any:
        return original_create(self, name, express_children_as_standard(definition), *args, **kwargs)

    def update_state_machine(self: Any, arn: str, definition: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(definition, str):
            definition = express_children_as_standard(definition)
        return original_update(self, arn, definition, *args, **kwargs)

    StepFunctionsParserBackend.create_state_machine = create_state_machine  # type: ignore[method-assign]
    StepFunctionsParserBackend.update_state_machine = update_state_machine  # type: ignore[method-assign]


def express_children_as_standard(definition: str) -> str:
    """The definition with every Distributed Map ``ExecutionType: EXPRESS`` made STANDARD
    (anything else, and a definition that is not JSON, unchanged)."""
    if '"EXPRESS"' not in definition:
        return definition
    try:
        document = json.loads(definition)
    except json.JSONDecodeError:
        return definition

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            config = node.get("ProcessorConfig")
            if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
                node["ProcessorConfig"] = {**config, "ExecutionType": "STANDARD"}
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)
        return node

    return json.dumps(rewrite(document))


EXCEEDED_CAUSE = "The specified tolerated failure threshold was exceeded"


@workaround
def _distributed_map_runs_fail_past_their_tolerated_failures() -> None:
    """moto's Distributed Map counts a failed child in the Map Run but never fails the run:
    the child's output becomes ``null`` and the state succeeds. Step Functions fails the Map
    Run with ``States.ExceedToleratedFailureThreshold`` once the failed or timed-out items
    exceed ``ToleratedFailureCount`` or ``ToleratedFailurePercentage`` (both 0 by default: any
    failed child fails it), so a Catch on the Map state sees it. The redrive relies on that:
    a child that cannot send must fail the run into Release, not be skipped as a success.
    """
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = DistributedIterationComponent._map_run

    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        original(self, env, eval_input)
        record = eval_input.map_run_record
        counter = record.item_counter
        failed = counter.failed.get() + counter.timed_out.get()
        total = counter.total.get()
        count, share = record.tolerated_failure_count or 0, record.tolerated_failure_percentage or 0.0
        # moto keeps 0 for a threshold not given: with neither given any failure fails the
        # run; otherwise each one given (non-zero) is checked, and exceeding either fails it.
        none_given = count == 0 and share == 0.0
        over_count = count > 0 and failed > count
        over_share = share > 0.0 and total > 0 and 100.0 * failed / total > share
        if failed and (none_given or over_count or over_share):
            env.stack.pop()  # the outputs the original left for the state
            name = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=name,
                    event_type=HistoryEventType.EvaluationFailed,
                    event_details=EventDetails(  # type: ignore[typeddict-item]
                        evaluationFailedEventDetails=EvaluationFailedEventDetails(
                            error=name.error_name, cause=EXCEEDED_CAUSE
                        )
                    ),
                )
            )

    DistributedIterationComponent._map_run = _map_run  # type: ignore[method-assign]


@workaround
def _map_run_children_list_as_none() -> None:
    """ListExecutions with ``mapRunArn``: moto reads only ``stateMachineArn`` and answers
    HTTP 500 (it keeps no child executions of a Distributed Map run to list). Answer an empty
    list instead, as for a map run whose children are not listable: the run's metrics then
    count the children from DescribeMapRun and their histories as unreadable, as for EXPRESS
    children on AWS."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.list_executions

    def list_executions(self: Any) -> Any:
        if self._get_param("mapRunArn") and not self._get_param("stateMachineArn"):
            return ActionResult({"executions": []})
        return original(self)

    StepFunctionResponse.list_executions = list_executions  # type: ignore[method-assign]
