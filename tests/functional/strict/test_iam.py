"""IAM on the strict stack: a function's calls are authorised against its own role's policies.

moto checks no policy (lenient, the call succeeds); AWS refuses a call its role does not
allow with AccessDenied. A function here runs with credentials of its role (the in-process
runtime assumes it in moto's STS), so its role's policies decide.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from redrive_local.engine import LocalEngine
from redrive_local.strict import lenient
from redrive_local.strict.policy_evaluation import is_allowed
from tests.support.stack import PythonFunction

_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

# A function that sends one message to each queue it is given and says what happened.
_SENDER = """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    sqs = boto3.client("sqs")
    outcomes = {}
    for url in event["queues"]:
        try:
            sqs.send_message(QueueUrl=url, MessageBody="hello")
            outcomes[url] = "sent"
        except ClientError as error:
            outcomes[url] = error.response["Error"]["Code"]
    return outcomes
"""


def _narrow_role(engine: LocalEngine, allowed_queue_arn: str) -> str:
    """A role whose only grant is sqs:SendMessage on one queue."""
    iam = engine.client("iam")
    name = f"strict-iam-{uuid.uuid4().hex[:8]}"
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST))["Role"]["Arn"])
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": allowed_queue_arn}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="send-to-one-queue", PolicyDocument=json.dumps(policy))
    return arn


def _queue(engine: LocalEngine) -> tuple[str, str]:
    sqs = engine.client("sqs")
    url = str(sqs.create_queue(QueueName=f"strict-iam-{uuid.uuid4().hex[:8]}")["QueueUrl"])
    arn = str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    return url, arn


def _invoke(engine: LocalEngine, function: str, event: dict[str, Any]) -> Any:
    response = engine.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


@pytest.fixture
def sender(engine: LocalEngine, python_function: PythonFunction, tmp_path: Any) -> tuple[str, str, str]:
    """(function name, the queue its role may send to, a queue it may not)."""
    allowed_url, allowed_arn = _queue(engine)
    other_url, _ = _queue(engine)
    role = _narrow_role(engine, allowed_arn)
    name = python_function(textwrap.dedent(_SENDER))
    engine.client("lambda").update_function_configuration(FunctionName=name, Role=role)
    return name, allowed_url, other_url


@pytest.mark.aws_rule("_iam_role_policies")
def test_a_function_whose_role_lacks_an_action_is_denied_as_on_aws(
    engine: LocalEngine, sender: tuple[str, str, str]
) -> None:
    function, allowed, other = sender
    with lenient():
        assert _invoke(engine, function, {"queues": [allowed, other]}) == {allowed: "sent", other: "sent"}
    assert _invoke(engine, function, {"queues": [allowed, other]}) == {allowed: "sent", other: "AccessDenied"}
    # The harness's own clients stand for an administrator: never checked.
    engine.client("sqs").send_message(QueueUrl=other, MessageBody="admin")


@pytest.mark.aws_rule("_iam_role_policies")
def test_the_template_roles_are_held_to_their_policies(engine: LocalEngine, deploy: Any) -> None:
    """The Collect function's role, as the translated template made it: it may receive from
    the stack's DLQ, not send to it, and nothing on another queue."""
    stack = deploy()
    dlq = stack.outputs["DeadLetterQueueUrl"]
    other, _ = _queue(engine)
    role = engine.client("lambda").get_function_configuration(FunctionName=stack.resources["CollectFunction"])["Role"]
    sqs = engine.role_client("sqs", role, "test")
    sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0)
    for call in (
        lambda: sqs.send_message(QueueUrl=dlq, MessageBody="x"),
        lambda: sqs.receive_message(QueueUrl=other, WaitTimeSeconds=0),
    ):
        with pytest.raises(ClientError) as denied:
            call()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        with lenient():
            call()


def test_evaluation_follows_aws_explicit_deny_wins_and_wildcards_match() -> None:
    allow = {"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::bucket/*"}]}
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/secret"}]}
    assert is_allowed([allow], "s3:GetObject", "arn:aws:s3:::bucket/a/b")
    assert is_allowed([allow], "S3:getobject", "arn:aws:s3:::bucket/a")  # actions are case-insensitive
    assert not is_allowed([allow], "s3:PutObject", "arn:aws:s3:::bucket/a")
    assert not is_allowed([allow], "s3:GetObject", "arn:aws:s3:::other/a")
    assert not is_allowed([allow, deny], "s3:GetObject", "arn:aws:s3:::bucket/secret")
    qualified = {"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:f"}]}
    assert not is_allowed([qualified], "lambda:InvokeFunction", "arn:f:live")  # an alias is its own resource
    assert not is_allowed([{"Statement": [None]}], "sqs:SendMessage", "arn:q")


def test_a_condition_on_the_listed_prefix_allows_only_under_it() -> None:
    listing = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::failures",
        "Condition": {"StringLike": {"s3:prefix": "aws/lambda/*"}},
    }
    policies = [{"Statement": [listing]}]
    bucket = "arn:aws:s3:::failures"
    assert is_allowed(policies, "s3:ListBucket", bucket, {"s3:prefix": "aws/lambda/abc/"})
    assert not is_allowed(policies, "s3:ListBucket", bucket, {"s3:prefix": "runs/"})
    assert not is_allowed(policies, "s3:ListBucket", bucket, {}), "a request without the key does not match"
    unknown = {**listing, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    assert not is_allowed([{"Statement": [unknown]}], "s3:ListBucket", bucket, {"s3:prefix": "aws/lambda/"})


@pytest.mark.aws_rule("_iam_role_policies")
def test_credentials_of_a_role_that_no_longer_exists_are_denied(engine: LocalEngine) -> None:
    """A role deleted after its credentials were issued grants nothing: AccessDenied, not an
    error from the lookup of a role that is gone."""
    iam = engine.client("iam")
    name = f"gone-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="everything", PolicyDocument=json.dumps(everything))
    sqs = engine.role_client("sqs", arn, "test")
    sqs.list_queues()
    iam.delete_role_policy(RoleName=name, PolicyName="everything")
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as denied:
        sqs.list_queues()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
