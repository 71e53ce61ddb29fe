"""The template's IAM, as deployed: each role allows what its function calls on the stack's
resources (and what the parameters list), nothing on anything else; KMS only when a key is
given. Read from the roles the local deploy created, with the evaluation strict.iam uses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from redrive_local.deploy import DeployedStack, deploy_stack, load_template
from redrive_local.engine import ACCOUNT, REGION, REPO_ROOT, LocalEngine, endpoint_session
from redrive_local.strict.iam import role_policies
from redrive_local.strict.policy_evaluation import is_allowed

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_DLQ = "arn:aws:sqs:us-east-1:123456789012:legacy-dlq"
BILLING = "arn:aws:lambda:us-east-1:123456789012:function:billing"
AUDIT = "arn:aws:lambda:us-east-1:123456789012:function:audit"


def policies_of(engine: LocalEngine, stack: DeployedStack, function: str) -> list[dict[str, Any]]:
    name = stack.resources[function]
    role = engine.client("lambda").get_function_configuration(FunctionName=name)["Role"]
    return role_policies(str(role))


def test_no_function_uses_a_sam_policy_template() -> None:
    """Only inline statements: SAM's CRUD templates grant far more than the code calls."""
    template = load_template(REPO_ROOT / "template.yaml")
    for logical, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []) or []:
            if resource["Type"] == "AWS::Serverless::Function":
                assert set(policy) == {"Statement"}, f"{logical}: {sorted(policy)}"


@pytest.fixture(scope="module")
def deploy_module(engine: LocalEngine) -> Callable[..., DeployedStack]:
    def _deploy(**parameters: str) -> DeployedStack:
        name = f"iam-{uuid.uuid4().hex[:10]}"
        return deploy_stack(endpoint_session(engine), REPO_ROOT / "template.yaml", name, parameters, REGION, ACCOUNT)

    return _deploy


@pytest.fixture(scope="module")
def plain(engine: LocalEngine, deploy_module: Any) -> DeployedStack:
    return deploy_module()


@pytest.fixture(scope="module")
def listed(engine: LocalEngine, deploy_module: Any) -> DeployedStack:
    return deploy_module(
        AllowedDlqArns=OTHER_DLQ,
        AllowedConsumerFunctionArns=f"{BILLING},{AUDIT}",
        StreamKmsKeyArn=KEY,
        QueueKmsKeyArn=KEY,
        BucketKmsKeyArn=KEY,
    )


def test_the_run_bucket_and_table_only_and_no_deletes(engine: LocalEngine, plain: DeployedStack) -> None:
    bucket = f"arn:aws:s3:::{plain.outputs['RunBucketName']}"
    plan = policies_of(engine, plain, "PlanFunction")
    assert is_allowed(plan, "s3:GetObject", f"{bucket}/runs/r/plan.json")
    assert is_allowed(plan, "s3:ListBucket", bucket)
    assert not is_allowed(plan, "s3:DeleteObject", f"{bucket}/runs/r/plan.json")
    assert not is_allowed(plan, "s3:GetObject", "arn:aws:s3:::another-bucket/x")
    assert not is_allowed(plan, "dynamodb:GetItem", None)  # Plan touches no table
    table = engine.client("dynamodb").describe_table(TableName=plain.resources["RunStateTable"])["Table"]["TableArn"]
    prepare = policies_of(engine, plain, "PrepareFunction")
    assert is_allowed(prepare, "dynamodb:PutItem", table)
    assert not is_allowed(prepare, "dynamodb:Scan", table)
    assert not is_allowed(prepare, "dynamodb:DeleteTable", table)
    assert not is_allowed(prepare, "dynamodb:Query", f"{table}/index/open-runs")  # only Reconcile reads it
    assert is_allowed(policies_of(engine, plain, "ReconcileFunction"), "dynamodb:Query", f"{table}/index/open-runs")


def test_the_consumer_and_its_versions_and_aliases_may_be_invoked(engine: LocalEngine, plain: DeployedStack) -> None:
    consumer = engine.client("lambda").get_function(FunctionName=plain.resources["OrdersConsumerFunction"])
    arn = consumer["Configuration"]["FunctionArn"]
    redrive = policies_of(engine, plain, "RedriveFunction")
    assert is_allowed(redrive, "lambda:InvokeFunction", arn)
    assert is_allowed(redrive, "lambda:InvokeFunction", f"{arn}:live")
    assert not is_allowed(redrive, "lambda:InvokeFunction", BILLING)


def test_the_example_consumer_may_list_shards_for_its_mapping(engine: LocalEngine, plain: DeployedStack) -> None:
    stream = plain.outputs["ExampleSourceArn"]
    consumer = policies_of(engine, plain, "OrdersConsumerFunction")
    for action in ("ListShards", "DescribeStream", "DescribeStreamSummary", "GetShardIterator", "GetRecords"):
        assert is_allowed(consumer, f"kinesis:{action}", stream), action
    assert not is_allowed(consumer, "kinesis:PutRecords", stream)


def test_listed_overrides_are_granted_and_only_they(
    engine: LocalEngine, plain: DeployedStack, listed: DeployedStack
) -> None:
    for function, action in (
        ("CollectFunction", "sqs:ReceiveMessage"),
        ("PrepareFunction", "sqs:GetQueueAttributes"),
        ("FinalizeFunction", "sqs:SendMessage"),
        ("ReconcileFunction", "sqs:SendMessage"),
    ):
        assert is_allowed(policies_of(engine, listed, function), action, OTHER_DLQ), function
        assert not is_allowed(policies_of(engine, plain, function), action, OTHER_DLQ), function
    redrive = policies_of(engine, listed, "RedriveFunction")
    for target in (BILLING, f"{BILLING}:7", AUDIT, f"{AUDIT}:prod"):
        assert is_allowed(redrive, "lambda:InvokeFunction", target), target
    assert not is_allowed(redrive, "lambda:InvokeFunction", f"{BILLING}-other")


def test_kms_is_granted_only_when_a_key_is_given(
    engine: LocalEngine, plain: DeployedStack, listed: DeployedStack
) -> None:
    expected = {
        "FetchFunction": ["kms:Decrypt"],  # the stream's records
        "CollectFunction": ["kms:Decrypt"],  # the DLQ's messages
        "FinalizeFunction": ["kms:GenerateDataKey", "kms:Decrypt"],  # back to the DLQ
        "RedriveFunction": ["kms:GenerateDataKey"],  # onto the stream
        "PlanFunction": ["kms:Decrypt", "kms:GenerateDataKey"],  # the run bucket
    }
    for function, actions in expected.items():
        for action in actions:
            assert is_allowed(policies_of(engine, listed, function), action, KEY), (function, action)
            assert not is_allowed(policies_of(engine, plain, function), action, KEY), (function, action)
    assert not is_allowed(policies_of(engine, listed, "ApprovalApiFunction"), "kms:Decrypt", KEY)
