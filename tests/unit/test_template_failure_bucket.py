"""template.yaml's S3-sourced runs: what the rules start is a valid run input, and the
functions' S3 grants on the failure bucket stay under its prefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from redrive.contracts.run import S3_FAILURE_PREFIX, parse_manual_input

TEMPLATE = yaml_parse((Path(__file__).resolve().parents[2] / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]
VALUES = {"FailureBucketName": "orders-failures", "FailureBucketPrefix": "aws/lambda/", "AWS::Partition": "aws"}


def substituted(value: Any) -> str:
    text = value["Fn::Sub"]
    for name, replacement in VALUES.items():
        text = text.replace("${" + name + "}", replacement)
    assert "${" not in text, text
    return str(text)


@pytest.mark.parametrize(
    ("rule", "trigger"), [("FailureObjectCreatedRule", "object-created"), ("FailureScheduleRule", "schedule")]
)
def test_each_rule_starts_a_valid_s3_sourced_run(rule: str, trigger: str) -> None:
    [target] = RESOURCES[rule]["Properties"]["Targets"]
    run_input = parse_manual_input(json.loads(substituted(target["Input"])))
    assert run_input.trigger == trigger
    assert run_input.source is not None
    assert (run_input.source.s3.bucket, run_input.source.s3.prefix) == ("orders-failures", "aws/lambda/")
    assert target["Arn"] == {"Ref": "RedriveStateMachine"}


def test_the_object_created_pattern_is_the_bucket_and_prefix() -> None:
    pattern = RESOURCES["FailureObjectCreatedRule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "FailureBucketName"}]
    assert pattern["detail"]["object"]["key"] == [{"prefix": {"Ref": "FailureBucketPrefix"}}]


def test_the_default_prefix_is_where_lambda_writes() -> None:
    assert TEMPLATE["Parameters"]["FailureBucketPrefix"]["Default"] == S3_FAILURE_PREFIX


def failure_bucket_statements(function: str) -> list[dict[str, Any]]:
    out = []
    for policy in RESOURCES[function]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if isinstance(statement, dict) and "Fn::If" in statement and statement["Fn::If"][0] == "HasFailureBucket":
                out.append(statement["Fn::If"][1])
    return out


@pytest.mark.parametrize(
    ("function", "actions"),
    [
        ("CollectFunction", ["s3:GetObject", "s3:ListBucket"]),
        ("FinalizeFunction", ["s3:DeleteObject"]),
        ("ReconcileFunction", ["s3:DeleteObject"]),
        ("PrepareFunction", []),
    ],
)
def test_each_function_gets_only_what_it_calls_under_the_prefix(function: str, actions: list[str]) -> None:
    statements = failure_bucket_statements(function)
    assert sorted(s["Action"] for s in statements) == actions
    for statement in statements:
        resource = substituted(statement["Resource"])
        if statement["Action"] == "s3:ListBucket":
            assert resource.endswith(":::orders-failures")
            assert substituted(statement["Condition"]["StringLike"]["s3:prefix"]) == "aws/lambda/*"
        else:
            assert resource.endswith(":::orders-failures/aws/lambda/*")
