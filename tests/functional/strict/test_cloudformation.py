"""CloudFormation rules of the strict stack: template.yaml's Rules, evaluated as CreateStack does."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from redrive_local.deploy import load_template
from redrive_local.engine import LocalEngine
from redrive_local.strict import lenient

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
CONSUMER = "arn:aws:lambda:us-east-1:123456789012:function:orders"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:orders-dlq"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"


def rules_only() -> str:
    """template.yaml's Parameters and Rules around one plain resource: the Rules as deployed."""
    template = load_template(TEMPLATE)
    return json.dumps(
        {
            "Parameters": template["Parameters"],
            "Rules": template["Rules"],
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        }
    )


def create(engine: LocalEngine, parameters: dict[str, str]) -> Any:
    return engine.client("cloudformation").create_stack(
        StackName=f"rules-{uuid.uuid4().hex[:8]}",
        TemplateBody=rules_only(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )


@pytest.mark.aws_rule("_cloudformation_template_rules")
@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"ConsumerFunctionArn": CONSUMER}, "ConsumerFunctionArn needs SourceStreamArn"),
        ({"SourceStreamArn": STREAM}, "SourceStreamArn is used only with ConsumerFunctionArn"),
        ({"DeadLetterQueueArn": DLQ_ARN}, "DeadLetterQueueArn needs DeadLetterQueueUrl"),
        ({"DeadLetterQueueUrl": DLQ_URL}, "DeadLetterQueueUrl needs DeadLetterQueueArn"),
        ({"ExampleMaximumRecordAgeInSeconds": "0"}, "must be -1 or from 60 to 604800"),
        ({"ExampleMaximumRecordAgeInSeconds": "59"}, "must be -1 or from 60 to 604800"),
    ],
)
def test_a_parameter_set_the_rules_forbid_is_refused(
    engine: LocalEngine, parameters: dict[str, str], message: str
) -> None:
    with lenient():
        create(engine, parameters)
    with pytest.raises(ClientError) as refused:
        create(engine, parameters)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert message in refused.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"ConsumerFunctionArn": CONSUMER, "SourceStreamArn": STREAM},
        {"DeadLetterQueueArn": DLQ_ARN, "DeadLetterQueueUrl": DLQ_URL},
        {"ExampleMaximumRecordAgeInSeconds": "-1"},
        {"ExampleMaximumRecordAgeInSeconds": "60"},
        {"ExampleMaximumRecordAgeInSeconds": "604800"},
    ],
)
def test_the_parameter_sets_the_rules_allow_are_created(engine: LocalEngine, parameters: dict[str, str]) -> None:
    assert create(engine, parameters)["StackId"]
