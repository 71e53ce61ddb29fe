"""The Step Functions workarounds (``workarounds/stepfunctions.py``), pinned."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from redrive_local.engine import ACCOUNT, REGION, LocalEngine
from tests.support.stack import Deploy, PythonFunction, WaitExecution

from .moto_probes import (
    PASS,
    UUID,
    cfn_stack,
    create_machine,
    delete_stack,
    is_workaround,
    moto_source,
    saved,
    started_inputs,
)


@pytest.mark.pins("_unnamed_executions_get_a_uuid")
def test_unnamed_executions_get_a_uuid(engine: LocalEngine, lambda_role_arn: str) -> None:
    """``_unnamed_executions_get_a_uuid``: moto names an execution started without a name
    ``None`` (its ARN ends ``:None``, so a second unnamed start collides); Step Functions
    generates a UUID."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

    machine = create_machine(engine, lambda_role_arn, PASS)
    sfn = engine.client("stepfunctions")
    first = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert first != second
    for arn in (first, second):
        name = arn.rsplit(":", 1)[-1]
        assert UUID.match(name) and sfn.describe_execution(executionArn=arn)["name"] == name

    other = create_machine(engine, lambda_role_arn, PASS)
    execution = saved(StepFunctionsParserBackend.start_execution)(
        stepfunctions_parser_backends[ACCOUNT][REGION], other, None, "{}"
    )
    assert execution.exec_arn.endswith(":None")


MAP_OF_WAITS = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Nap",
                "States": {"Nap": {"Type": "Wait", "Seconds": 5, "End": True}},
            },
            "End": True,
        }
    },
}


def start_and_reach_the_wait(engine: LocalEngine, machine: str) -> str:
    sfn = engine.client("stepfunctions")
    arn = str(sfn.start_execution(stateMachineArn=machine, input='{"items": [1, 2, 3]}')["executionArn"])
    deadline = time.monotonic() + 10
    while not any(e["type"] == "WaitStateEntered" for e in sfn.get_execution_history(executionArn=arn)["events"]):
        assert time.monotonic() < deadline, "the Map never reached its Wait"
        time.sleep(0.02)
    return arn


@pytest.mark.pins("_stopped_executions_end_aborted")
def test_stopped_executions_end_aborted(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_stopped_executions_end_aborted``: StopExecution while a Map runs makes moto's
    interpreter fail in its own abort handling, so the execution ends FAILED with
    ``States.Runtime``; Step Functions ends it ABORTED."""
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    machine = create_machine(engine, lambda_role_arn, MAP_OF_WAITS)
    sfn = engine.client("stepfunctions")
    stopped = start_and_reach_the_wait(engine, machine)
    sfn.stop_execution(executionArn=stopped, error="Operator", cause="testing")
    assert wait_execution(stopped, timeout=5)["status"] == "ABORTED"

    # moto's own stop (the saved original, without the request being remembered).
    raw = start_and_reach_the_wait(engine, machine)
    execution = stepfunctions_parser_backends[ACCOUNT][REGION].describe_execution(raw)
    saved(Execution.stop, "original_stop")(execution, datetime.now(tz=UTC), None, None)
    ended = wait_execution(raw, timeout=5)
    assert (ended["status"], ended["error"]) == ("FAILED", "States.Runtime")


@pytest.mark.pins("_stopped_executions_end_aborted")
def test_stopped_execution_history_ends_aborted(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_stopped_executions_end_aborted``: the history agrees with the status."""
    machine = create_machine(engine, lambda_role_arn, MAP_OF_WAITS)
    sfn = engine.client("stepfunctions")
    arn = start_and_reach_the_wait(engine, machine)
    sfn.stop_execution(executionArn=arn)
    assert wait_execution(arn, timeout=5)["status"] == "ABORTED"
    # (moto ignores reverseOrder; the last event is the last of the list)
    last = sfn.get_execution_history(executionArn=arn)["events"][-1]
    assert last["type"] == "ExecutionAborted", last


SLOW_TASK = """
import os, time, boto3

def handler(event, context):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=os.environ["BUCKET"], Key=event["key"] + ".started", Body=b"")
    time.sleep(1.5)
    s3.put_object(Bucket=os.environ["BUCKET"], Key=event["key"] + ".done", Body=b"")
    return {}
"""


@pytest.mark.pins("_stopped_executions_end_aborted")
def test_a_stopped_execution_is_aborted_at_once_while_its_lambda_runs_on(
    engine: LocalEngine, lambda_role_arn: str, python_function: PythonFunction
) -> None:
    """``_stopped_executions_end_aborted``, AWS timing: DescribeExecution says ABORTED right
    after StopExecution, while the Lambda the execution started keeps running to its end
    (moto kept the execution RUNNING until the Lambda returned)."""
    s3 = engine.client("s3")
    bucket = f"wa-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    function = python_function(SLOW_TASK, env={"BUCKET": bucket})
    arn_of = engine.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    machine = create_machine(
        engine,
        lambda_role_arn,
        {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": arn_of, "End": True}}},
    )
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"key": "k"}))["executionArn"]
    deadline = time.monotonic() + 10
    while "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="k.started"):
        assert time.monotonic() < deadline, "the Lambda never started"
        time.sleep(0.02)
    sfn.stop_execution(executionArn=arn)
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED", "aborted at once"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="k.done"), "the Lambda is still running"
    while "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="k.done"):
        assert time.monotonic() < deadline + 10, "the Lambda ran on to its end"
        time.sleep(0.05)
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"


@pytest.mark.pins("_executions_emit_status_change_events")
def test_executions_emit_status_change_events(
    engine: LocalEngine, lambda_role_arn: str, rules: Callable[..., str], wait_execution: WaitExecution
) -> None:
    """``_executions_emit_status_change_events``: Step Functions sends "Step Functions
    Execution Status Change" events to EventBridge when an execution ends; moto sends none
    (its worker's ``terminated`` only records the status)."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    assert "events" not in moto_source(
        "moto.stepfunctions.parser.backend.execution", "BaseExecutionWorkerCommunication.terminated"
    )
    assert is_workaround(BaseExecutionWorkerCommunication.terminated)

    watched = create_machine(
        engine,
        lambda_role_arn,
        {
            "StartAt": "Which",
            "States": {
                "Which": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
                    "Default": "Fine",
                },
                "Fine": {"Type": "Pass", "Result": {"ok": True}, "End": True},
                "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "asked to"},
            },
        },
    )
    recorder = create_machine(engine, lambda_role_arn, PASS)
    rules(
        {
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"stateMachineArn": [watched]},
        },
        [{"Id": "recorder", "Arn": recorder, "RoleArn": lambda_role_arn}],
    )
    sfn = engine.client("stepfunctions")
    ok = sfn.start_execution(stateMachineArn=watched, name="ok", input='{"fail": false}')["executionArn"]
    wait_execution(ok)
    failed = sfn.start_execution(stateMachineArn=watched, name="failed", input='{"fail": true}')["executionArn"]
    wait_execution(failed)

    events = [s["input"] for s in started_inputs(engine, recorder, 2)]
    assert len(events) == 2
    by_name = {e["detail"]["name"]: e for e in events}
    for event in events:
        assert (event["source"], event["detail-type"]) == ("aws.states", "Step Functions Execution Status Change")
        assert event["resources"] == [event["detail"]["executionArn"]]
        detail = event["detail"]
        assert detail["stateMachineArn"] == watched
        assert isinstance(detail["startDate"], int) and isinstance(detail["stopDate"], int)
        assert detail["startDate"] <= detail["stopDate"]
    ok_detail, failed_detail = by_name["ok"]["detail"], by_name["failed"]["detail"]
    assert (ok_detail["executionArn"], ok_detail["status"]) == (ok, "SUCCEEDED")
    assert json.loads(ok_detail["input"]) == {"fail": False}
    assert json.loads(ok_detail["output"]) == {"ok": True}
    assert (ok_detail["error"], ok_detail["cause"]) == (None, None)
    assert (failed_detail["executionArn"], failed_detail["status"]) == (failed, "FAILED")
    assert (failed_detail["error"], failed_detail["cause"], failed_detail["output"]) == ("Boom", "asked to", None)


@pytest.mark.pins("_state_machines_from_cloudformation_are_executable")
def test_state_machines_from_cloudformation_are_executable(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_state_machines_from_cloudformation_are_executable`` (and
    ``apply_definition_substitutions``): moto's CloudFormation creates
    AWS::StepFunctions::StateMachine in the plain Step Functions backend, which the API does
    not serve once ``execute_state_machine`` is on, and ignores DefinitionSubstitutions."""
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.responses import get_backend

    shipped = moto_source("moto.stepfunctions.models", "StateMachine.create_from_cloudformation_json")
    assert "stepfunctions_backends[" in shipped and "DefinitionSubstitutions" not in shipped
    assert get_backend(ACCOUNT, REGION) is stepfunctions_parser_backends[ACCOUNT][REGION]

    definition = {
        "StartAt": "Say",
        "States": {"Say": {"Type": "Pass", "Result": {"greeting": "${Greeting}", "queue": "${QueueUrl}"}, "End": True}},
    }
    name, outputs, _ = cfn_stack(
        engine,
        {
            "Resources": {
                "Queue": {"Type": "AWS::SQS::Queue"},
                "Machine": {
                    "Type": "AWS::StepFunctions::StateMachine",
                    "Properties": {
                        "DefinitionString": json.dumps(definition),
                        "DefinitionSubstitutions": {"Greeting": "hello", "QueueUrl": {"Ref": "Queue"}},
                        "RoleArn": lambda_role_arn,
                    },
                },
            },
            "Outputs": {"MachineArn": {"Value": {"Ref": "Machine"}}, "QueueUrl": {"Value": {"Ref": "Queue"}}},
        },
    )
    sfn = engine.client("stepfunctions")
    machine = outputs["MachineArn"]
    described = sfn.describe_state_machine(stateMachineArn=machine)
    assert "${" not in described["definition"]
    assert not [m for m in stepfunctions_backends[ACCOUNT][REGION].state_machines if m.arn == machine]
    done = wait_execution(sfn.start_execution(stateMachineArn=machine)["executionArn"])
    assert json.loads(done["output"]) == {"greeting": "hello", "queue": outputs["QueueUrl"]}

    delete_stack(engine, name)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=machine)


@pytest.mark.pins("_state_machines_from_cloudformation_are_executable")
def test_template_state_machine_has_every_substitution(engine: LocalEngine, deploy: Deploy) -> None:
    """``_state_machines_from_cloudformation_are_executable`` on template.yaml: the deployed
    redrive definition has every ``${...}`` replaced by the stack's function ARNs."""
    stack = deploy()
    definition = engine.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.outputs["StateMachineArn"]
    )["definition"]
    assert "${" not in definition
    lam = engine.client("lambda")
    for logical in ("PrepareFunction", "CollectFunction", "FetchFunction", "PlanFunction", "RedriveFunction"):
        arn = lam.get_function_configuration(FunctionName=stack.resources[logical])["FunctionArn"]
        assert arn in definition, logical


EXPRESS_CHILDREN = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                "StartAt": "Double",
                "States": {"Double": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($, $)"}, "End": True}},
            },
            "End": True,
        }
    },
}


@pytest.mark.pins("_express_map_children_run_as_standard")
def test_express_map_children_run_as_standard(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_express_map_children_run_as_standard``: moto's grammar refuses a Distributed Map
    whose children are EXPRESS (what AWS accepts and the redrive uses); locally they run as
    STANDARD, and the stored definition says so."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

    original = saved(StepFunctionsParserBackend.create_state_machine, "original_create")
    with pytest.raises(Exception, match="STANDARD"):
        original(
            stepfunctions_parser_backends[ACCOUNT][REGION],
            f"wa-express-{uuid.uuid4().hex[:8]}",
            json.dumps(EXPRESS_CHILDREN),
            lambda_role_arn,
        )

    machine = create_machine(engine, lambda_role_arn, EXPRESS_CHILDREN)
    sfn = engine.client("stepfunctions")
    stored = json.loads(sfn.describe_state_machine(stateMachineArn=machine)["definition"])
    assert stored["States"]["Each"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    arn = sfn.start_execution(stateMachineArn=machine, input='{"items": [1, 2, 3]}')["executionArn"]
    ended = wait_execution(arn, timeout=20)
    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"]) == [{"twice": 2}, {"twice": 4}, {"twice": 6}]


def failing_children(tolerated: float | None = None) -> dict[str, Any]:
    each: dict[str, Any] = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Check",
            "States": {
                "Check": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Boom"}],
                    "Default": "Fine",
                },
                "Boom": {"Type": "Fail", "Error": "SendFailed", "Cause": "the target refused"},
                "Fine": {"Type": "Pass", "End": True},
            },
        },
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
        "End": True,
    }
    if tolerated is not None:
        each["ToleratedFailurePercentage"] = tolerated
    return {"StartAt": "Each", "States": {"Each": each, "Caught": {"Type": "Pass", "End": True}}}


@pytest.mark.pins("_distributed_map_runs_fail_past_their_tolerated_failures")
def test_distributed_map_runs_fail_past_their_tolerated_failures(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_distributed_map_runs_fail_past_their_tolerated_failures``: moto turns a failed
    child into a ``null`` output and the Map succeeds; Step Functions fails the Map Run with
    States.ExceedToleratedFailureThreshold (tolerated: 0 by default)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )

    sfn = engine.client("stepfunctions")

    def run(definition: dict[str, Any]) -> dict[str, Any]:
        machine = create_machine(engine, lambda_role_arn, definition)
        arn = sfn.start_execution(stateMachineArn=machine, input='{"items": [1, 2, 3]}')["executionArn"]
        return wait_execution(arn, timeout=20)

    caught = run(failing_children())
    assert caught["status"] == "SUCCEEDED"
    error = json.loads(caught["output"])["error"]
    assert error["Error"] == "States.ExceedToleratedFailureThreshold", error
    tolerated = run(failing_children(tolerated=50.0))  # one of three: 33% is tolerated
    assert json.loads(tolerated["output"]) == [1, None, 3]

    with monkeypatch.context() as moto_as_it_is:
        moto_as_it_is.setattr(DistributedIterationComponent, "_map_run", saved(DistributedIterationComponent._map_run))
        swallowed = run(failing_children())
    assert json.loads(swallowed["output"]) == [1, None, 3], "moto: the failed child is a null, the Map succeeds"


@pytest.mark.pins("_map_run_children_list_as_none")
def test_map_run_children_list_as_none(
    engine: LocalEngine, lambda_role_arn: str, wait_execution: WaitExecution, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_map_run_children_list_as_none``: ListExecutions by a map run's ARN fails HTTP 500 on
    moto (it asks for stateMachineArn); locally it lists no children, and DescribeMapRun still
    counts them."""
    from moto.stepfunctions.responses import StepFunctionResponse

    sfn = engine.client("stepfunctions")
    machine = create_machine(engine, lambda_role_arn, EXPRESS_CHILDREN)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"items": [1, 2, 3]}')["executionArn"]
    assert wait_execution(arn, timeout=20)["status"] == "SUCCEEDED"
    [map_run] = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    assert sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"] == []
    assert sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["executionCounts"]["total"] == 3

    with monkeypatch.context() as moto_as_it_is:
        moto_as_it_is.setattr(StepFunctionResponse, "list_executions", saved(StepFunctionResponse.list_executions))
        with pytest.raises(ClientError):
            sfn.list_executions(mapRunArn=map_run["mapRunArn"])
