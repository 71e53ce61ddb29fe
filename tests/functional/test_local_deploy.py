"""Deploying template.yaml on the local stack (local/redrive_local/deploy.py).

- the stack is created from template.yaml, translated by SAM offline, and every translated
  resource whose Condition holds has a physical id; when moto does not create one, the
  deploy fails with a DeployError naming the resource;
- each function gets exactly the Environment the template declares, resolved to local
  values; inside an invocation it sees its own variables (test_runtime.py covers the
  concurrent case);
- the parameter variants deploy: the DynamoDB example source, the operators' email
  subscription.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from redrive_local.deploy import (
    DeployedStack,
    DeployError,
    deploy_stack,
    load_template,
    package_locally,
    translate,
)
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session
from tests.support.stack import Deploy

LAMBDA_SET = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_EXECUTION_ENV",
    "_HANDLER",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE",
    "POWERTOOLS_TRACE_DISABLED",
}


def translated(parameters: dict[str, str]) -> dict[str, Any]:
    template = package_locally(load_template(REPO_ROOT / "template.yaml"), REPO_ROOT)
    return translate(template, parameters, REGION, ACCOUNT)


def condition_holds(template: dict[str, Any], name: str, parameters: dict[str, str]) -> bool:
    """The few condition forms template.yaml uses, evaluated independently of deploy.py."""
    values = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()} | parameters

    def evaluate(expr: Any) -> Any:
        if isinstance(expr, dict):
            ((fn, args),) = expr.items()
            if fn == "Ref":
                return values[args]
            if fn == "Condition":
                return condition_holds(template, args, parameters)
            if fn == "Fn::Equals":
                return str(evaluate(args[0])) == str(evaluate(args[1]))
            if fn == "Fn::And":
                return all(evaluate(a) for a in args)
            if fn == "Fn::Not":
                return not evaluate(args[0])
            raise AssertionError(f"unexpected condition function {fn}")
        return expr

    return bool(evaluate(template["Conditions"][name]))


def expected_resources(template: dict[str, Any], parameters: dict[str, str]) -> set[str]:
    return {
        logical
        for logical, resource in template["Resources"].items()
        if "Condition" not in resource or condition_holds(template, resource["Condition"], parameters)
    }


@pytest.fixture(scope="module")
def kinesis_stack(engine: LocalEngine) -> DeployedStack:
    name = f"dep-{uuid.uuid4().hex[:8]}"
    return deploy_stack(endpoint_session(engine), REPO_ROOT / "template.yaml", name, {}, REGION, ACCOUNT)


@pytest.fixture(scope="module")
def dynamodb_parameters() -> dict[str, str]:
    return {"ExampleSourceType": "dynamodb", "ExampleBatchSize": "4", "LogLevel": "DEBUG"}


@pytest.fixture(scope="module")
def dynamodb_stack(engine: LocalEngine, dynamodb_parameters: dict[str, str]) -> DeployedStack:
    name = f"dep-{uuid.uuid4().hex[:8]}"
    return deploy_stack(
        endpoint_session(engine), REPO_ROOT / "template.yaml", name, dynamodb_parameters, REGION, ACCOUNT
    )


# --- the stack and its resources ------------------------------------------------------------


def test_every_translated_resource_has_a_physical_id(engine: LocalEngine, kinesis_stack: DeployedStack) -> None:
    template = translated({})
    expected = expected_resources(template, {})
    listed = engine.client("cloudformation").describe_stack_resources(StackName=kinesis_stack.name)["StackResources"]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in listed if "LogicalResourceId" in r}

    assert set(physical) == expected
    assert all(physical.values()), {k: v for k, v in physical.items() if not v}
    assert kinesis_stack.resources == physical
    # The conditional resources the defaults switch off are not there.
    assert {"OrdersTable", "OperatorsEmailSubscription"}.isdisjoint(physical)
    assert {"OrdersStream", "DeadLetterQueue", "OrdersConsumerMapping"} <= set(physical)
    # What the SAM translation adds for the workflow is there too.
    types = {template["Resources"][k]["Type"] for k in physical}
    assert {
        "AWS::StepFunctions::StateMachine",
        "AWS::Events::Rule",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::Permission",
        "AWS::IAM::Role",
    } <= types


def test_outputs_name_live_resources(engine: LocalEngine, kinesis_stack: DeployedStack) -> None:
    out = kinesis_stack.outputs
    assert engine.client("sqs").get_queue_attributes(QueueUrl=out["DeadLetterQueueUrl"], AttributeNames=["QueueArn"])
    assert engine.client("stepfunctions").describe_state_machine(stateMachineArn=out["StateMachineArn"])
    alarms = engine.client("cloudwatch").describe_alarms(AlarmNames=[out["DlqDepthAlarmName"]])["MetricAlarms"]
    assert [a["AlarmName"] for a in alarms] == [f"{kinesis_stack.name}-dlq-depth"]
    assert out["ExampleConsumerFunction"] == f"{kinesis_stack.name}-orders-consumer"
    stream = engine.client("kinesis").describe_stream_summary(StreamARN=out["ExampleSourceArn"])
    assert stream["StreamDescriptionSummary"]["OpenShardCount"] == 1


def write_template(folder: Path, resources: str) -> Path:
    (folder / "template.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\n'
        "Transform: AWS::Serverless-2016-10-31\n"
        "Parameters:\n"
        "  WithTracing:\n"
        "    Type: String\n"
        '    Default: "no"\n'
        "Conditions:\n"
        '  TracingWanted: !Equals [!Ref WithTracing, "yes"]\n'
        "Resources:\n" + resources
    )
    return folder / "template.yaml"


# A type neither moto's CloudFormation nor the local models know: moto skips it with a
# warning, the stack completes, the resource has no physical id.
SKIPPED_TYPE = "AWS::XRay::Group"
SKIPPED_BY_MOTO = f"""\
  Queue:
    Type: AWS::SQS::Queue
  Tracing:
    Type: {SKIPPED_TYPE}
    Condition: TracingWanted
    Properties:
      GroupName: probe
"""


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_resource_moto_skips_fails_the_deploy_naming_it(engine: LocalEngine, tmp_path: Path) -> None:
    from moto.cloudformation import parsing

    assert SKIPPED_TYPE not in parsing.get_model_map(), "pick another type: this one is supported now"
    template = write_template(tmp_path, SKIPPED_BY_MOTO)
    name = f"dep-{uuid.uuid4().hex[:8]}"
    with pytest.raises(DeployError) as raised:
        deploy_stack(endpoint_session(engine), template, name, {"WithTracing": "yes"}, REGION, ACCOUNT)
    assert str(raised.value) == f"the local stack did not create: Tracing ({SKIPPED_TYPE})"


def test_resource_whose_condition_is_false_is_not_required(engine: LocalEngine, tmp_path: Path) -> None:
    template = write_template(tmp_path, SKIPPED_BY_MOTO)
    stack = deploy_stack(
        endpoint_session(engine), template, f"dep-{uuid.uuid4().hex[:8]}", {"WithTracing": "no"}, REGION, ACCOUNT
    )
    assert set(stack.resources) == {"Queue"}


def test_code_uri_that_is_not_a_folder_is_a_deploy_error(engine: LocalEngine, tmp_path: Path) -> None:
    template = write_template(
        tmp_path,
        "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: nowhere/\n      Handler: app.handler\n      Runtime: python3.12\n",
    )
    with pytest.raises(DeployError, match="CodeUri 'nowhere/' is not a folder"):
        deploy_stack(endpoint_session(engine), template, f"dep-{uuid.uuid4().hex[:8]}", {}, REGION, ACCOUNT)


# --- function environments ------------------------------------------------------------------


def declared_environments(template: dict[str, Any], stack: DeployedStack) -> dict[str, set[str]]:
    """Deployed function name -> the variable names the translated template declares for it."""
    return {
        stack.resources[logical]: set(resource["Properties"].get("Environment", {}).get("Variables", {}))
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and logical in stack.resources
    }


def unresolved(value: Any) -> bool:
    text = json.dumps(value)
    return isinstance(value, dict | list) or any(m in text for m in ("Fn::", '"Ref"', "${", "AWS::"))


@pytest.mark.parametrize("variant", ["kinesis", "dynamodb"])
def test_functions_get_exactly_the_declared_environment_resolved(
    engine: LocalEngine,
    variant: str,
    kinesis_stack: DeployedStack,
    dynamodb_stack: DeployedStack,
    dynamodb_parameters: dict[str, str],
) -> None:
    stack, parameters = (kinesis_stack, {}) if variant == "kinesis" else (dynamodb_stack, dynamodb_parameters)
    template = translated(parameters)
    declared = declared_environments(template, stack)
    functions = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"]
    assert len(declared) == len(functions) >= 8  # the workflow's functions and the example consumer
    lam = engine.client("lambda")
    consumer = stack.outputs["ExampleConsumerFunction"]
    consumer_arn = lam.get_function_configuration(FunctionName=consumer)["FunctionArn"]
    expected_values = {
        "DLQ_URL": stack.outputs["DeadLetterQueueUrl"],
        "RUN_BUCKET": stack.outputs["RunBucketName"],
        "STATE_TABLE": stack.resources["RunStateTable"],
        "TOPIC_ARN": stack.outputs["OperatorsTopicArn"],
        "CONSUMER_FUNCTION_ARN": consumer_arn,
        "POWERTOOLS_LOG_LEVEL": parameters.get("LogLevel", "INFO"),
        "RUN_DEFAULTS_PARAMETER": f"/{stack.name}/run-defaults",
        "DEFAULT_TARGET": "invoke",
    }
    for function, names in declared.items():
        variables = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        assert set(variables) == names, function
        assert not [k for k, v in variables.items() if unresolved(v)], (function, variables)
        for key, value in expected_values.items():
            assert variables[key] == value, (function, key)
        if function == consumer:
            assert variables["SINK_TABLE"] == stack.resources["OrdersSinkTable"]
            assert variables["REPORT_BATCH_ITEM_FAILURES"] == "false"
        else:
            assert "SINK_TABLE" not in variables


def test_environment_values_are_strings_as_lambda_returns_them(
    engine: LocalEngine, kinesis_stack: DeployedStack
) -> None:
    """Numbers from Number parameters (DEFAULT_MAX_MESSAGES, ...) come back as strings, as
    Lambda only ever returns (workarounds.lambda_._function_environment_values_are_strings)."""
    lam = engine.client("lambda")
    variables = lam.get_function_configuration(FunctionName=kinesis_stack.resources["PrepareFunction"])["Environment"][
        "Variables"
    ]
    assert {k: type(v).__name__ for k, v in variables.items() if not isinstance(v, str)} == {}


def test_runtime_gives_each_function_its_own_environment_and_lambdas(
    engine: LocalEngine, kinesis_stack: DeployedStack
) -> None:
    """What a handler sees: Lambda's variables and its own declared ones, nothing else of the
    process and nothing of another function."""
    from moto.awslambda.utils import get_backend

    backend = get_backend(ACCOUNT, REGION)
    lam = engine.client("lambda")
    passthrough = {"PATH", "HOME", "LANG", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR"}
    for logical in ("PrepareFunction", "OrdersConsumerFunction"):
        name = kinesis_stack.resources[logical]
        declared = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        env = engine.runtime.function_environment(backend.get_function(name))
        assert set(env) - passthrough == LAMBDA_SET | set(declared)
        assert {k: env[k] for k in declared} == {k: str(v) for k, v in declared.items()}
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
        assert env["AWS_ENDPOINT_URL"] == engine.endpoint_url
        assert ("SINK_TABLE" in env) == (logical == "OrdersConsumerFunction")


def test_consumer_invocation_uses_its_stack_sink_table(engine: LocalEngine, kinesis_stack: DeployedStack) -> None:
    """The example consumer reads SINK_TABLE in the handler: a valid order lands in this
    stack's sink table, so the variable it saw was the one its template declares."""
    order = {"id": f"o-{uuid.uuid4().hex[:6]}", "amount": 5}
    event = {
        "Records": [
            {
                "eventSource": "aws:kinesis",
                "eventSourceARN": kinesis_stack.outputs["ExampleSourceArn"],
                "kinesis": {
                    "partitionKey": "p",
                    "sequenceNumber": "1",
                    "data": base64.b64encode(json.dumps(order).encode()).decode(),
                },
            }
        ]
    }
    response = engine.client("lambda").invoke(
        FunctionName=kinesis_stack.outputs["ExampleConsumerFunction"], Payload=json.dumps(event).encode()
    )
    assert response.get("FunctionError") is None, response["Payload"].read()
    item = engine.client("dynamodb").get_item(
        TableName=kinesis_stack.resources["OrdersSinkTable"], Key={"id": {"S": order["id"]}}
    )
    assert item["Item"]["amount"] == {"N": "5"}


# --- parameter variants ---------------------------------------------------------------------


def test_dynamodb_variant_creates_a_table_stream_source(engine: LocalEngine, dynamodb_stack: DeployedStack) -> None:
    resources = dynamodb_stack.resources
    assert "OrdersTable" in resources and "OrdersStream" not in resources
    source = dynamodb_stack.outputs["ExampleSourceArn"]
    assert source.startswith(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{resources['OrdersTable']}/stream/")
    description = engine.client("dynamodbstreams").describe_stream(StreamArn=source)["StreamDescription"]
    assert description["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    mapping = engine.client("lambda").get_event_source_mapping(UUID=resources["OrdersConsumerMapping"])
    assert mapping["EventSourceArn"] == source
    assert mapping["BatchSize"] == 4
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        dynamodb_stack.outputs["DeadLetterQueueUrl"].rsplit("/", 1)[-1]
    )


def test_operator_email_subscribes_the_address(engine: LocalEngine, deploy: Deploy) -> None:
    stack = deploy(OperatorEmail="ops@example.com")
    subscriptions = engine.client("sns").list_subscriptions_by_topic(TopicArn=stack.outputs["OperatorsTopicArn"])
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]] == [("email", "ops@example.com")]
    assert subscriptions["Subscriptions"][0]["SubscriptionArn"] == stack.resources["OperatorsEmailSubscription"]


def test_no_operator_email_subscribes_nobody(engine: LocalEngine, kinesis_stack: DeployedStack) -> None:
    subscriptions = engine.client("sns").list_subscriptions_by_topic(
        TopicArn=kinesis_stack.outputs["OperatorsTopicArn"]
    )
    assert subscriptions["Subscriptions"] == []
    assert "OperatorsEmailSubscription" not in kinesis_stack.resources
