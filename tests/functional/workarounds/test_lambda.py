"""The Lambda workarounds (``workarounds/lambda_.py``), pinned."""

from __future__ import annotations

import json
import os
import uuid
from types import SimpleNamespace

import pytest

from redrive_local.engine import ACCOUNT, REGION, LocalEngine
from redrive_local.runtime import CODE_BUCKET
from tests.support.stack import WaitExecution

from .moto_probes import (
    cfn_stack,
    create_machine,
    delete_stack,
    dynamodb_stream,
    is_workaround,
    moto_source,
    pristine_moto_module,
    stream_records,
)


@pytest.mark.pins("_run_lambda_in_sandboxes")
def test_lambda_runs_in_a_sandbox_process(engine: LocalEngine, probe: str) -> None:
    """``_run_lambda_in_sandboxes``: moto's ``LambdaFunction._invoke_lambda`` runs the code in
    a Docker container; the local runtime runs the handler in a sandbox process of its own."""
    from moto.awslambda.models import LambdaFunction

    assert "docker" in moto_source("moto.awslambda.models", "LambdaFunction._invoke_lambda")
    assert is_workaround(LambdaFunction._invoke_lambda)

    before = engine.runtime.invocations[probe]
    response = engine.client("lambda").invoke(FunctionName=probe, Payload=b'{"n": 1}')
    answer = json.loads(response["Payload"].read())
    assert answer["seen"] == {"n": 1}
    assert answer["pid"] != os.getpid(), "the handler ran in a process of its own"
    assert engine.runtime.invocations[probe] == before + 1


@pytest.mark.pins("_simple_lambda_backend_runs_functions")
def test_simple_lambda_backend_runs_functions(engine: LocalEngine, probe: str) -> None:
    """``_simple_lambda_backend_runs_functions``: with ``use_docker`` False moto serves the
    Lambda API from ``LambdaSimpleBackend``, whose ``invoke`` echoes the request body and never
    runs the function; routed to ``LambdaBackend.invoke`` the function runs."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    shipped = pristine_moto_module("moto.awslambda_simple.models").LambdaSimpleBackend
    before = engine.runtime.invocations[probe]
    echoed = shipped.invoke(SimpleNamespace(lambda_simple_results_queue=[]), probe, None, '{"n": 2}', {}, {})
    assert echoed == b'{"n": 2}'
    assert engine.runtime.invocations[probe] == before, "moto's own invoke never runs the function"
    assert is_workaround(LambdaSimpleBackend.invoke)

    response = engine.client("lambda").invoke(FunctionName=probe, Payload=b'{"n": 2}')
    assert json.loads(response["Payload"].read())["seen"] == {"n": 2}
    assert engine.runtime.invocations[probe] == before + 1


@pytest.mark.pins("_simple_lambda_backend_runs_functions")
def test_function_error_is_unhandled(engine: LocalEngine, probe: str) -> None:
    """``_simple_lambda_backend_runs_functions`` (function errors): moto marks an exception
    ``x-amz-function-error: Handled``; Lambda reports one that escapes the handler as
    ``Unhandled``."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.utils import get_backend

    headers: dict[str, str] = {}
    LambdaBackend.invoke(get_backend(ACCOUNT, REGION), probe, None, '{"fail": true}', {}, headers)
    assert headers["x-amz-function-error"] == "Handled"

    response = engine.client("lambda").invoke(FunctionName=probe, Payload=b'{"fail": true}')
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert (payload["errorType"], payload["errorMessage"]) == ("ProbeError", "asked to fail")


@pytest.mark.pins("_simple_lambda_backend_runs_functions")
def test_state_machine_lambda_tasks_run_the_function(
    engine: LocalEngine, probe: str, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """``_simple_lambda_backend_runs_functions`` (Step Functions): the interpreter's Lambda
    tasks call Invoke too; the task result is the handler's, and an exception's class name
    is the States error that Catch matches."""
    arn = engine.client("lambda").get_function_configuration(FunctionName=probe)["FunctionArn"]
    machine = create_machine(
        engine,
        lambda_role_arn,
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": arn,
                    "Catch": [{"ErrorEquals": ["ProbeError"], "ResultPath": "$.error", "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )
    sfn = engine.client("stepfunctions")
    ok = wait_execution(sfn.start_execution(stateMachineArn=machine, input='{"fail": false}')["executionArn"])
    assert ok["status"] == "SUCCEEDED"
    assert json.loads(ok["output"])["seen"] == {"fail": False}
    failed = wait_execution(sfn.start_execution(stateMachineArn=machine, input='{"fail": true}')["executionArn"])
    assert failed["status"] == "SUCCEEDED"
    assert json.loads(failed["output"])["error"]["Error"] == "ProbeError"


@pytest.mark.pins("_stop_moto_stream_invocations")
def test_stop_moto_stream_invocations_kinesis(engine: LocalEngine, probe: str) -> None:
    """``_stop_moto_stream_invocations`` (Kinesis): moto invokes the mapped function inside
    PutRecord when an event source mapping exists; here nothing is invoked until the local
    event source mapping emulator polls."""
    from moto.kinesis.models import kinesis_backends

    assert "send_kinesis_message" in moto_source("moto.kinesis.models", "Stream.put_record")
    kinesis = engine.client("kinesis")
    name = f"wa-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    engine.client("lambda").create_event_source_mapping(
        FunctionName=probe, EventSourceArn=arn, StartingPosition="TRIM_HORIZON"
    )
    assert kinesis_backends[ACCOUNT][REGION].streams[name].lambda_event_source_mappings, "moto knows the mapping"

    before = engine.runtime.invocations[probe]
    kinesis.put_record(StreamARN=arn, Data=b'{"id": "o-1"}', PartitionKey="k")
    assert engine.runtime.invocations[probe] == before
    iterator = kinesis.get_shard_iterator(
        StreamARN=arn, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator, StreamARN=arn)["Records"]] == [
        b'{"id": "o-1"}'
    ]


@pytest.mark.pins("_stop_moto_stream_invocations")
def test_stop_moto_stream_invocations_dynamodb(engine: LocalEngine, probe: str) -> None:
    """``_stop_moto_stream_invocations`` (DynamoDB): moto invokes the mapped function inside
    PutItem and then empties the stream shard (``self.items = []``); here the item stays in
    the stream and nothing is invoked."""
    from moto.dynamodb.models import dynamodb_backends

    shipped = moto_source("moto.dynamodb.models.table", "StreamShard.add")
    assert "send_dynamodb_items" in shipped and "self.items = []" in shipped
    table, stream_arn = dynamodb_stream(engine)
    engine.client("lambda").create_event_source_mapping(
        FunctionName=probe, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON"
    )
    assert dynamodb_backends[ACCOUNT][REGION].get_table(table).lambda_event_source_mappings

    before = engine.runtime.invocations[probe]
    for key in ("a", "b"):
        engine.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": key}})
    assert engine.runtime.invocations[probe] == before
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in stream_records(engine, stream_arn)] == ["a", "b"]


@pytest.mark.pins("_function_environment_values_are_strings")
def test_function_environment_values_are_strings(engine: LocalEngine, lambda_role_arn: str) -> None:
    """``_function_environment_values_are_strings``: moto's CloudFormation resolves a Ref to a
    Number parameter to an int (``_parse_number_parameter``), where CloudFormation passes a
    string, and keeps YAML/JSON literals as they are; Lambda's environment values are strings."""
    shipped = moto_source("moto.cloudformation.parsing", "ResourceMap.load_parameters")
    assert "_parse_number_parameter" in shipped and "return int(num_string)" in shipped

    name, _, resources = cfn_stack(
        engine,
        {
            "Parameters": {"Limit": {"Type": "Number", "Default": "7"}, "Rate": {"Type": "Number", "Default": "2.5"}},
            "Resources": {
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Runtime": "python3.12",
                        "Handler": "app.handler",
                        "Role": lambda_role_arn,
                        "Code": {"S3Bucket": CODE_BUCKET, "S3Key": "functions"},
                        "Environment": {
                            "Variables": {
                                "LIMIT": {"Ref": "Limit"},
                                "RATE": {"Ref": "Rate"},
                                "ENABLED": True,
                                "COUNT": 3,
                                "TEXT": "as is",
                            }
                        },
                    },
                }
            },
        },
    )
    try:
        variables = engine.client("lambda").get_function_configuration(FunctionName=resources["Fn"])["Environment"]
        assert variables["Variables"] == {
            "LIMIT": "7",
            "RATE": "2.5",
            "ENABLED": "true",
            "COUNT": "3",
            "TEXT": "as is",
        }
    finally:
        delete_stack(engine, name)
