"""CloudFormation: local models for the resource types moto's CloudFormation lacks or
gets wrong, and their registration in moto's type map."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from moto.core.common_models import CloudFormationModel

from .registry import LOCAL_MODELS, local_model, workaround


class _LocalModel:
    """What every local CloudFormation model shares: one physical id (what Ref returns),
    its ``TYPE``, the name property CloudFormation names it by, the attributes GetAtt may
    read (the ARN), and no clean-up unless a model has one.

    A mixin, not a base class: moto finds models through
    ``CloudFormationModel.__subclasses__()``, which lists direct subclasses only."""

    TYPE = ""
    NAME_PROPERTY = ""
    ATTRIBUTES: tuple[str, ...] = ()

    def __init__(self, physical_id: str, arn: str = "") -> None:
        self.physical_id = physical_id
        self.arn = arn or physical_id

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name not in self.ATTRIBUTES:
            raise KeyError(attribute_name)
        return self.arn

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None


def _metric_queries(metrics: list[dict[str, Any]]) -> list[Any] | None:
    """An alarm's ``Metrics`` (metric math) as moto's CloudWatch backend keeps them."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    queries = []
    for query in metrics:
        stat = query.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat["Metric"]
            dimensions = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
            metric_stat = MetricStat(
                Metric(metric["MetricName"], metric["Namespace"], dimensions),
                stat.get("Period"),
                stat.get("Stat"),
                stat.get("Unit"),
            )
        return_data = query.get("ReturnData", True)
        queries.append(
            MetricDataQuery(
                query["Id"],
                query.get("Label"),  # type: ignore[arg-type]
                query.get("Period"),  # type: ignore[arg-type]
                str(return_data).lower() == "true",  # type: ignore[arg-type]
                query.get("Expression"),
                metric_stat,
            )
        )
    return queries or None


@local_model
class LocalCloudWatchAlarm(_LocalModel, CloudFormationModel):
    """AWS::CloudWatch::Alarm: moto's CloudFormation has no model for it (a GetAtt to it
    aborts the stack). Created through moto's CloudWatch backend so the API sees it, in the
    INSUFFICIENT_DATA state CloudWatch gives a new alarm (moto's own starts OK)."""

    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"
    ATTRIBUTES = ("Arn",)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> LocalCloudWatchAlarm:
        from moto.cloudwatch.models import cloudwatch_backends

        p = cloudformation_json["Properties"]
        name = p.get("AlarmName", resource_name)
        backend = cloudwatch_backends[account_id][region_name]
        alarm = backend.put_metric_alarm(
            name=name,
            metric_data_queries=_metric_queries(p.get("Metrics", [])),
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period", 60)),
            threshold=float(p["Threshold"]),
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription", ""),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in p.get("Dimensions", [])],
            alarm_actions=p.get("AlarmActions", []),
            datapoints_to_alarm=p.get("DatapointsToAlarm"),
            treat_missing_data=p.get("TreatMissingData"),
        )
        # moto starts a new alarm OK; CloudWatch starts it INSUFFICIENT_DATA.
        backend.set_alarm_state(name, "Unchecked: Initial alarm creation", None, "INSUFFICIENT_DATA")  # type: ignore[arg-type]
        return cls(name, alarm.alarm_arn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


@local_model
class LocalSnsSubscription(_LocalModel, CloudFormationModel):
    """AWS::SNS::Subscription: moto's CloudFormation skips it silently."""

    TYPE = "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> LocalSnsSubscription:
        from moto.sns.models import sns_backends

        p = cloudformation_json["Properties"]
        subscription = sns_backends[account_id][region_name].subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        return cls(subscription.arn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.sns.models import sns_backends

        sns_backends[account_id][region_name].unsubscribe(resource_name)


@local_model
class LocalLambdaPermission(_LocalModel, CloudFormationModel):
    """AWS::Lambda::Permission: moto adds the statement to the function's policy but its
    resource has no physical id, so a deploy cannot tell it was created. Same creation,
    with the id CloudFormation reports (a generated statement id)."""

    TYPE = "AWS::Lambda::Permission"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> LocalLambdaPermission:
        from moto.awslambda.utils import get_backend

        properties = dict(cloudformation_json["Properties"])
        statement_id = f"{resource_name}-{uuid.uuid4().hex[:12]}"
        properties.setdefault("StatementId", statement_id)
        function = get_backend(account_id, region_name).get_function(properties["FunctionName"])
        function.policy.add_statement(raw=json.dumps(properties))
        return cls(statement_id)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.awslambda.utils import get_backend

        function_name = cloudformation_json["Properties"]["FunctionName"]
        with contextlib.suppress(Exception):  # the function may be gone already
            get_backend(account_id, region_name).get_function(function_name).policy.del_statement(resource_name)


@local_model
class LocalEventInvokeConfig(_LocalModel, CloudFormationModel):
    """AWS::Lambda::EventInvokeConfig: moto's CloudFormation has no model for it (the
    resource is skipped with a warning). Put through moto's Lambda backend, where
    GetFunctionEventInvokeConfig reads it; its physical id is the function's name, as
    CloudFormation's is. (The local runtime does not deliver failed asynchronous events to
    the destination: the configuration only exists.)"""

    TYPE = "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> LocalEventInvokeConfig:
        from moto.awslambda.utils import get_backend

        properties = cloudformation_json["Properties"]
        config = {
            key: properties[key]
            for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
            if key in properties
        }
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in config:
                config[key] = int(config[key])
        backend = get_backend(account_id, region_name)
        backend.put_function_event_invoke_config(properties["FunctionName"], config)
        return cls(backend.get_function(properties["FunctionName"]).function_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.awslambda.utils import get_backend

        with contextlib.suppress(Exception):  # the function may be gone already
            get_backend(account_id, region_name).delete_function_event_invoke_config(
                cloudformation_json["Properties"]["FunctionName"]
            )


@local_model
class LocalSecret(_LocalModel, CloudFormationModel):
    """AWS::SecretsManager::Secret: moto's CloudFormation has no model for it. Created in
    moto's Secrets Manager backend; ``GenerateSecretString`` makes a random string as
    Secrets Manager does (no SecretStringTemplate support: the template uses none)."""

    TYPE = "AWS::SecretsManager::Secret"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Id",)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> LocalSecret:
        from moto.secretsmanager.models import secretsmanager_backends

        p = cloudformation_json["Properties"]
        backend = secretsmanager_backends[account_id][region_name]
        secret = p.get("SecretString")
        generate = p.get("GenerateSecretString")
        if secret is None and generate is not None:
            secret = json.loads(
                backend.get_random_password(
                    password_length=int(generate.get("PasswordLength", 32)),
                    exclude_characters=generate.get("ExcludeCharacters", ""),
                    exclude_numbers=bool(generate.get("ExcludeNumbers", False)),
                    exclude_punctuation=bool(generate.get("ExcludePunctuation", False)),
                    exclude_uppercase=bool(generate.get("ExcludeUppercase", False)),
                    exclude_lowercase=bool(generate.get("ExcludeLowercase", False)),
                    include_space=bool(generate.get("IncludeSpace", False)),
                    require_each_included_type=bool(generate.get("RequireEachIncludedType", True)),
                )
            )["RandomPassword"]
        created = backend.create_secret(
            name=p.get("Name") or f"{resource_name}-{uuid.uuid4().hex[:12]}",
            secret_string=secret,
            secret_binary=None,
            description=p.get("Description"),
            tags=p.get("Tags"),
            kms_key_id=p.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(created)["ARN"] if isinstance(created, str) else created["ARN"])

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.secretsmanager.models import secretsmanager_backends

        secretsmanager_backends[account_id][region_name].delete_secret(
            resource_name, recovery_window_in_days=None, force_delete_without_recovery=True
        )


@local_model
class LocalHttpApi(_LocalModel, CloudFormationModel):
    """AWS::ApiGatewayV2::Api (and its Stage): moto's CloudFormation skips both silently.
    The API's OpenAPI Body is kept in ``api_gateway.HTTP_APIS`` by id; the local API
    server routes requests to the integrations it names."""

    TYPE = "AWS::ApiGatewayV2::Api"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("ApiEndpoint", "ApiId")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "ApiId":
            return self.physical_id
        return f"https://{self.physical_id}.execute-api.local"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> LocalHttpApi:
        from ..api_gateway import register_http_api

        api_id = uuid.uuid4().hex[:10]
        register_http_api(api_id, cloudformation_json["Properties"].get("Body") or {})
        return cls(api_id)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from ..api_gateway import HTTP_APIS

        HTTP_APIS.pop(resource_name, None)


@local_model
class LocalHttpApiStage(_LocalModel, CloudFormationModel):
    """AWS::ApiGatewayV2::Stage: the local API server serves every API's routes at once."""

    TYPE = "AWS::ApiGatewayV2::Stage"
    NAME_PROPERTY = "StageName"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> LocalHttpApiStage:
        return cls(str(cloudformation_json["Properties"].get("StageName", "$default")))

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None


@workaround
def _register_missing_cloudformation_types() -> None:
    """moto builds its CloudFormation type map once (lru_cache) from the subclasses of
    CloudFormationModel, the last subclass of a type winning. The local models (every
    ``@local_model``) are put in the map explicitly, replacing moto's own where it has one
    (AWS::Lambda::Permission)."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    model_map = parsing.get_model_map()  # cached: the same dict every call, so it can be amended
    for local in LOCAL_MODELS.values():
        model_map[local.cloudformation_type()] = local
