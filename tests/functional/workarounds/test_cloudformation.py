"""The local CloudFormation models and their registration (``workarounds/cloudformation.py``), pinned."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from redrive_local.engine import REGION, LocalEngine
from redrive_local.workarounds import cloudformation as local_cloudformation
from tests.support.stack import PythonFunction

from .moto_probes import (
    cfn_stack,
    delete_stack,
    moto_source,
)


@pytest.mark.pins(
    "_register_missing_cloudformation_types", "LocalCloudWatchAlarm", "LocalSnsSubscription", "LocalLambdaPermission"
)
def test_register_missing_cloudformation_types(
    engine: LocalEngine, python_function: PythonFunction, lambda_role_arn: str
) -> None:
    """``_register_missing_cloudformation_types`` with ``LocalCloudWatchAlarm``,
    ``LocalSnsSubscription`` and ``LocalLambdaPermission``: moto's CloudFormation has no
    AWS::CloudWatch::Alarm (a GetAtt to one aborts the stack), skips AWS::SNS::Subscription
    silently, and gives AWS::Lambda::Permission no physical id."""
    from moto.cloudformation import parsing

    shipped_types = {m.cloudformation_type() for m in parsing.get_model_list() if m.__module__.startswith("moto.")}
    assert {"AWS::CloudWatch::Alarm", "AWS::SNS::Subscription"}.isdisjoint(shipped_types)
    assert "physical_resource_id" not in moto_source("moto.awslambda.models", "Permission")
    model_map = parsing.get_model_map()
    for local in (
        local_cloudformation.LocalCloudWatchAlarm,
        local_cloudformation.LocalSnsSubscription,
        local_cloudformation.LocalLambdaPermission,
    ):
        assert model_map[local.cloudformation_type()] is local

    target = python_function("def handler(event, context):\n    return None\n")
    name, outputs, resources = cfn_stack(
        engine,
        {
            "Resources": {
                "Queue": {"Type": "AWS::SQS::Queue"},
                "Topic": {"Type": "AWS::SNS::Topic"},
                "Subscription": {
                    "Type": "AWS::SNS::Subscription",
                    "Properties": {
                        "TopicArn": {"Ref": "Topic"},
                        "Protocol": "sqs",
                        "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                    },
                },
                "Alarm": {
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": {"Fn::Sub": "${AWS::StackName}-depth"},
                        "AlarmDescription": "probe",
                        "Namespace": "AWS/SQS",
                        "MetricName": "ApproximateNumberOfMessagesVisible",
                        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}],
                        "Statistic": "Maximum",
                        "Period": 60,
                        "EvaluationPeriods": 3,
                        "DatapointsToAlarm": 2,
                        "Threshold": 5,
                        "ComparisonOperator": "GreaterThanThreshold",
                        "TreatMissingData": "notBreaching",
                        "AlarmActions": [{"Ref": "Topic"}],
                    },
                },
                "Permission": {
                    "Type": "AWS::Lambda::Permission",
                    "Properties": {
                        "FunctionName": target,
                        "Action": "lambda:InvokeFunction",
                        "Principal": "events.amazonaws.com",
                    },
                },
            },
            "Outputs": {
                "AlarmArn": {"Value": {"Fn::GetAtt": ["Alarm", "Arn"]}},
                "QueueUrl": {"Value": {"Ref": "Queue"}},
                "TopicArn": {"Value": {"Ref": "Topic"}},
            },
        },
    )
    assert all(resources.values()), resources
    cloudwatch = engine.client("cloudwatch")
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[f"{name}-depth"])["MetricAlarms"]
    assert alarm["AlarmArn"] == outputs["AlarmArn"] and resources["Alarm"] == f"{name}-depth"
    assert {
        k: alarm[k]
        for k in ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "DatapointsToAlarm")
    } == {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 2,
    }
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        5.0,
        "GreaterThanThreshold",
        "notBreaching",
    )
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": outputs["QueueUrl"].rsplit("/", 1)[-1]}]
    assert alarm["AlarmActions"] == [outputs["TopicArn"]]

    sns = engine.client("sns")
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=outputs["TopicArn"])["Subscriptions"]
    assert subscription["SubscriptionArn"] == resources["Subscription"]
    sns.publish(TopicArn=outputs["TopicArn"], Message="through the subscription")
    (delivered,) = engine.client("sqs").receive_message(QueueUrl=outputs["QueueUrl"], WaitTimeSeconds=1)["Messages"]
    assert json.loads(delivered["Body"])["Message"] == "through the subscription"

    policy = json.loads(engine.client("lambda").get_policy(FunctionName=target)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == [resources["Permission"]]
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}

    delete_stack(engine, name)
    assert cloudwatch.describe_alarms(AlarmNames=[f"{name}-depth"])["MetricAlarms"] == []
    assert not [s for s in sns.list_subscriptions()["Subscriptions"] if s["SubscriptionArn"] == subscription]


@pytest.mark.pins("_register_missing_cloudformation_types", "LocalSecret", "LocalHttpApi", "LocalHttpApiStage")
def test_secret_and_http_api_models(engine: LocalEngine, probe: str) -> None:
    """``LocalSecret``, ``LocalHttpApi`` and ``LocalHttpApiStage`` (registered by
    ``_register_missing_cloudformation_types``): moto's CloudFormation has no
    AWS::SecretsManager::Secret and skips AWS::ApiGatewayV2::Api and ::Stage silently."""
    from moto.cloudformation import parsing

    from redrive_local.api_gateway import HTTP_APIS

    shipped_types = {m.cloudformation_type() for m in parsing.get_model_list() if m.__module__.startswith("moto.")}
    local_types = {"AWS::SecretsManager::Secret", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage"}
    assert local_types.isdisjoint(shipped_types)

    function_arn = engine.client("lambda").get_function_configuration(FunctionName=probe)["FunctionArn"]
    integration = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    name, outputs, resources = cfn_stack(
        engine,
        {
            "Resources": {
                "Secret": {
                    "Type": "AWS::SecretsManager::Secret",
                    "Properties": {"GenerateSecretString": {"PasswordLength": 40, "ExcludePunctuation": True}},
                },
                "Api": {
                    "Type": "AWS::ApiGatewayV2::Api",
                    "Properties": {
                        "Body": {
                            "openapi": "3.0.1",
                            "paths": {
                                "/decision": {
                                    "get": {"x-amazon-apigateway-integration": {"uri": integration}},
                                    "post": {"x-amazon-apigateway-integration": {"uri": integration}},
                                }
                            },
                        }
                    },
                },
                "Stage": {
                    "Type": "AWS::ApiGatewayV2::Stage",
                    "Properties": {"ApiId": {"Ref": "Api"}, "StageName": "$default"},
                },
            },
            "Outputs": {
                "SecretArn": {"Value": {"Ref": "Secret"}},
                "SecretId": {"Value": {"Fn::GetAtt": ["Secret", "Id"]}},
                "ApiId": {"Value": {"Ref": "Api"}},
                "Endpoint": {"Value": {"Fn::GetAtt": ["Api", "ApiEndpoint"]}},
            },
        },
    )
    assert all(resources.values()), resources
    secret = engine.client("secretsmanager").get_secret_value(SecretId=outputs["SecretArn"])
    assert outputs["SecretId"] == outputs["SecretArn"] == secret["ARN"] == resources["Secret"]
    assert len(secret["SecretString"]) == 40 and secret["SecretString"].isalnum()

    api_id = outputs["ApiId"]
    assert resources["Api"] == api_id and outputs["Endpoint"] == f"https://{api_id}.execute-api.local"
    assert HTTP_APIS[api_id] == {("GET", "/decision"): function_arn, ("POST", "/decision"): function_arn}
    assert resources["Stage"] == "$default"
    delete_stack(engine, name)


def _permission_stack(python_function: PythonFunction) -> tuple[dict[str, Any], Callable[..., None]]:
    target = python_function("def handler(event, context):\n    return None\n")
    resource = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {"FunctionName": target, "Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com"},
    }

    def gone(engine: LocalEngine, physical_id: str) -> None:
        lam = engine.client("lambda")
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_policy(FunctionName=target)

    return resource, gone


def _secret_stack(python_function: PythonFunction) -> tuple[dict[str, Any], Callable[..., None]]:
    resource = {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": "s3cret"}}

    def gone(engine: LocalEngine, physical_id: str) -> None:
        secrets = engine.client("secretsmanager")
        with pytest.raises(secrets.exceptions.ResourceNotFoundException):
            secrets.describe_secret(SecretId=physical_id)

    return resource, gone


def _http_api_stack(python_function: PythonFunction) -> tuple[dict[str, Any], Callable[..., None]]:
    resource = {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Body": {"openapi": "3.0.1", "paths": {}}}}

    def gone(engine: LocalEngine, physical_id: str) -> None:
        from redrive_local.api_gateway import HTTP_APIS

        assert physical_id not in HTTP_APIS

    return resource, gone


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(_permission_stack, id="permission", marks=pytest.mark.pins("LocalLambdaPermission")),
        pytest.param(_secret_stack, id="secret", marks=pytest.mark.pins("LocalSecret")),
        pytest.param(_http_api_stack, id="api", marks=pytest.mark.pins("LocalHttpApi")),
    ],
)
def test_deleting_the_stack_deletes_local_models(
    engine: LocalEngine, python_function: PythonFunction, kind: Callable[..., Any]
) -> None:
    """``LocalLambdaPermission``, ``LocalSecret``, ``LocalHttpApi``: deleting the stack
    deletes what they created."""
    resource, gone = kind(python_function)
    name, _, resources = cfn_stack(engine, {"Resources": {"Thing": resource}})
    delete_stack(engine, name)
    gone(engine, resources["Thing"])


@pytest.mark.pins("LocalEventInvokeConfig")
def test_event_invoke_config_model(engine: LocalEngine, python_function: PythonFunction) -> None:
    """``LocalEventInvokeConfig``: moto's CloudFormation has no AWS::Lambda::EventInvokeConfig
    (it skips the resource with a warning); the local model puts it in moto's Lambda backend,
    where GetFunctionEventInvokeConfig reads the retries and the failure destination."""
    from moto.cloudformation import parsing

    shipped_types = {m.cloudformation_type() for m in parsing.get_model_list() if m.__module__.startswith("moto.")}
    assert "AWS::Lambda::EventInvokeConfig" not in shipped_types
    assert parsing.get_model_map()["AWS::Lambda::EventInvokeConfig"] is local_cloudformation.LocalEventInvokeConfig

    target = python_function("def handler(event, context):\n    return None\n")
    name, outputs, resources = cfn_stack(
        engine,
        {
            "Resources": {
                "Failures": {"Type": "AWS::SQS::Queue"},
                "InvokeConfig": {
                    "Type": "AWS::Lambda::EventInvokeConfig",
                    "Properties": {
                        "FunctionName": target,
                        "Qualifier": "$LATEST",
                        "MaximumRetryAttempts": 1,
                        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["Failures", "Arn"]}}},
                    },
                },
            },
            "Outputs": {"FailuresArn": {"Value": {"Fn::GetAtt": ["Failures", "Arn"]}}},
        },
    )
    assert resources["InvokeConfig"] == target
    lambda_ = engine.client("lambda")
    config = lambda_.get_function_event_invoke_config(FunctionName=target)
    assert config["MaximumRetryAttempts"] == 1
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == outputs["FailuresArn"]

    delete_stack(engine, name)
    with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
        lambda_.get_function_event_invoke_config(FunctionName=target)
