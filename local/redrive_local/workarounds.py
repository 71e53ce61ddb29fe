"""Every place where the local stack corrects or extends moto, in one module.

Each function names the moto behaviour it works around; ``tests/functional/test_workarounds.py``
pins each one, so an upgrade of moto that fixes (or changes) a behaviour shows up as a
failing test here rather than as a mystery elsewhere.

Installed once per process by :func:`install`, before moto's server handles a request.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.core.config import default_user_config

_installed = False
_lock = threading.Lock()

# The in-process Lambda runtime registers itself here (see runtime.py); moto's invoke
# path calls it instead of starting a Docker container.
LambdaInvoker = Callable[[Any, Any], tuple[str, bool, str]]
_lambda_invoker: LambdaInvoker | None = None


def set_lambda_invoker(invoker: LambdaInvoker) -> None:
    global _lambda_invoker
    _lambda_invoker = invoker


def install() -> None:
    """Apply every workaround (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _configure_moto()
        _run_lambda_in_process()
        _simple_lambda_backend_runs_functions()
        _stop_moto_stream_invocations()
        _state_machine_targets_for_eventbridge()
        _unnamed_executions_get_a_uuid()
        _stopped_executions_end_aborted()
        _executions_emit_status_change_events()
        _state_machines_from_cloudformation_are_executable()
        _register_missing_cloudformation_types()
        _dynamodb_stream_shards_can_lose_records()
        _kinesis_iterators_from_stream_arn()
        _function_environment_values_are_strings()
        _installed = True


def _configure_moto() -> None:
    """moto executes state machines only with this flag, and runs Lambda only in Docker.

    Lambda code in the template points at a local folder, not an S3 object, so moto's
    check that the code object exists is turned off (``VALIDATE_LAMBDA_S3``).
    """
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config["lambda"] = {"use_docker": False}
    os.environ["VALIDATE_LAMBDA_S3"] = "false"


def _run_lambda_in_process() -> None:
    """moto's ``LambdaFunction._invoke_lambda`` runs the code in a Docker container.

    There is no Docker engine here; the local runtime runs the template's Handler in this
    process instead and returns what moto expects: (payload, errored, logs).
    """
    from moto.awslambda.models import LambdaFunction

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if _lambda_invoker is None:
            raise RuntimeError("the local Lambda runtime is not started")
        return _lambda_invoker(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]


def _simple_lambda_backend_runs_functions() -> None:
    """With ``lambda.use_docker`` False (set above) moto serves the Lambda API from
    ``LambdaSimpleBackend``, whose ``invoke`` returns the request body (or a queued canned
    result) and never calls the function, so the in-process runtime is bypassed and every
    Invoke, the Step Functions interpreter's included, echoes its input. Route it to
    ``LambdaBackend.invoke``, which runs ``LambdaFunction.invoke`` and so the runtime.

    moto marks a function error ``x-amz-function-error: Handled``; Lambda reports an
    exception that escapes the handler as ``Unhandled`` (the value the event source
    mapping's on-failure records carry in ``responseContext.functionError``), so the header
    is rewritten to ``Unhandled``.
    """
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> str | bytes | None:
        payload = LambdaBackend.invoke(self, function_name, qualifier, body, headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def _stop_moto_stream_invocations() -> None:
    """moto invokes a function synchronously inside PutRecord / PutItem when an event
    source mapping exists, and for DynamoDB it then *empties the stream shard*.

    The local event source mapping emulator (esm.py) polls the streams as Lambda does, so
    moto's own delivery is switched off; the shard keeps its records.
    """
    from moto.awslambda.models import LambdaBackend

    def _no_delivery(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    LambdaBackend.send_kinesis_message = _no_delivery  # type: ignore[method-assign,assignment]
    LambdaBackend.send_dynamodb_items = _no_delivery  # type: ignore[method-assign,assignment]


def _state_machine_targets_for_eventbridge() -> None:
    """moto's ``Rule.send_to_targets`` raises NotImplementedError for Step Functions and
    Lambda targets. Deliver them as EventBridge does: StartExecution with the
    (transformed) event as input; an asynchronous Invoke of the function. Other targets go
    to moto's own code.

    moto also keeps the event's ``time`` as epoch seconds, where EventBridge sends an
    ISO-8601 string (``2019-10-02T17:04:40Z``); it is converted before matching targets.
    """
    from moto.events.models import EventTemplateParser, Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        moto_event = original_event  # moto's own targets expect its epoch-seconds time
        original_event = event_with_iso_time(original_event)
        others = []
        for target in self.targets:
            arn = parse_arn(target["Arn"])
            if arn.service not in ("states", "lambda"):
                others.append(target)
                continue
            transformer = target.get("InputTransformer", {})
            if "Input" in target:
                payload = target["Input"]
            elif transformer:
                payload = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=original_event,
                )
            else:
                payload = original_event
            text = payload if isinstance(payload, str) else json.dumps(payload)
            if arn.service == "states":
                _start_execution(arn.account, arn.region, target["Arn"], text)
            else:
                _invoke_async(arn.account, arn.region, target["Arn"], text)
        if others:
            saved = self.targets
            self.targets = others
            try:
                original(self, moto_event, transform_input)
            finally:
                self.targets = saved

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _invoke_async(account: str, region: str, function_arn: str, text: str) -> None:
    """EventBridge invokes a Lambda target asynchronously: the put does not wait for it."""
    from moto.awslambda.utils import get_backend

    function = get_backend(account, region).get_function(function_arn)

    def run() -> None:
        function.invoke(text, {"x-amz-invocation-type": "Event"}, {})

    threading.Thread(target=run, name=f"eventbridge->{function.function_name}", daemon=True).start()


def _stopped_executions_end_aborted() -> None:
    """StopExecution while a Map state runs makes moto's interpreter fail inside its own
    abort handling (``AttributeError: 'str' object has no attribute 'get'`` in the Map
    state), so the execution ends FAILED with ``States.Runtime``. Step Functions ends a
    stopped execution ABORTED. A stop request is remembered and the end status corrected.

    moto also leaves a ``waitForTaskToken`` task waiting after a stop, until the task's
    own timeout (a day for an approval); the stop now wakes every waiting callback. And the
    history, like the status, ends with ExecutionAborted.
    """
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    original_stop = Execution.stop
    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        self.stop_requested = True
        original_stop(self, stop_date, error, cause)
        worker = getattr(self, "exec_worker", None)
        pool = getattr(getattr(worker, "env", None), "callback_pool_manager", None)
        for endpoint in list(getattr(pool, "_pool", {}).values()):
            endpoint.interrupt_all()

    def reflect(self: Any) -> None:
        original_reflect(self)
        execution = self.execution
        if getattr(execution, "stop_requested", False) and execution.exec_status == ExecutionStatus.FAILED:
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


def _executions_emit_status_change_events() -> None:
    """Step Functions sends "Step Functions Execution Status Change" events to EventBridge
    when an execution ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED); moto sends none, so a
    rule on them (the redrive's abort handler) would never fire. Emitted here, in the
    documented shape, when moto's execution worker reports the end of an execution.
    """
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def millis(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if isinstance(value, datetime) else None

    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        status = getattr(execution.exec_status, "value", str(execution.exec_status))
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

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def event_with_iso_time(event: Any) -> Any:
    """The event with ``time`` as EventBridge writes it, whatever moto stored."""
    when = event.get("time") if isinstance(event, dict) else None
    if isinstance(when, int | float):
        stamp = datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {**event, "time": stamp}
    return event


def _start_execution(account: str, region: str, state_machine_arn: str, text: str) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account][region]
    backend.start_execution(state_machine_arn, name=None, execution_input=text)  # type: ignore[arg-type]


def _unnamed_executions_get_a_uuid() -> None:
    """moto names an execution started without ``name`` ``None`` (its ARN ends ``:None``,
    so a second unnamed start collides with the first); Step Functions generates a UUID."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


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
        from .api_gateway import register_http_api

        api_id = uuid.uuid4().hex[:10]
        register_http_api(api_id, cloudformation_json["Properties"].get("Body") or {})
        return cls(api_id)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from .api_gateway import HTTP_APIS

        HTTP_APIS.pop(resource_name, None)


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


def _register_missing_cloudformation_types() -> None:
    """moto builds its CloudFormation type map once (lru_cache) from the subclasses of
    CloudFormationModel, the last subclass of a type winning. The local models are put in
    the map explicitly, replacing moto's own where it has one (AWS::Lambda::Permission)."""
    from moto.cloudformation import parsing

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    model_map = parsing.get_model_map()  # cached: the same dict every call, so it can be amended
    for local in (
        LocalCloudWatchAlarm,
        LocalSnsSubscription,
        LocalLambdaPermission,
        LocalSecret,
        LocalHttpApi,
        LocalHttpApiStage,
    ):
        model_map[local.cloudformation_type()] = local


def _dynamodb_stream_shards_can_lose_records() -> None:
    """moto's DynamoDB Streams never trims, and its ``StreamShard.get`` finds a record by
    its position in a list (sequence number minus the first one), so a record cannot be
    removed without shifting every later one. A rehearsal simulates retention instead by
    naming sequence numbers in ``shard.trimmed``; reads skip them, as they skip records
    past the 24-hour retention on AWS.
    """
    from moto.dynamodb.models.table import StreamShard

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        trimmed: set[int] = getattr(self, "trimmed", set())
        position = max(0, start - self.starting_sequence_number)
        found: list[dict[str, Any]] = []
        for item in self.items[position:]:
            if len(found) >= quantity:
                break
            if int(item.record["dynamodb"]["SequenceNumber"]) in trimmed:
                continue
            found.append(item.to_json())
        return found

    StreamShard.get = get  # type: ignore[method-assign]


def _kinesis_iterators_from_stream_arn() -> None:
    """moto's GetShardIterator called with ``StreamARN`` (and no ``StreamName``) encodes
    the stream name ``None`` into the iterator, so the next GetRecords answers
    ResourceNotFoundException ("Stream None ... not found"). AWS accepts either; the
    stream's name is filled in from the ARN before moto builds the iterator.
    """
    from moto.kinesis.models import KinesisBackend

    original = KinesisBackend.get_shard_iterator

    def get_shard_iterator(self: Any, stream_arn: Any, stream_name: Any, *args: Any, **kwargs: Any) -> Any:
        if stream_name is None and stream_arn:
            stream_name = self.describe_stream(stream_arn=stream_arn, stream_name=None).stream_name
        return original(self, stream_arn, stream_name, *args, **kwargs)

    KinesisBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]


def _function_environment_values_are_strings() -> None:
    """moto's CloudFormation resolves a Ref to a Number parameter to an int, where
    CloudFormation passes a string; a function's Environment then holds numbers that
    GetFunctionConfiguration returns as numbers. Lambda's environment values are strings.
    """
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        variables = cloudformation_json.get("Properties", {}).get("Environment", {}).get("Variables")
        if isinstance(variables, dict):
            for key, value in variables.items():
                if isinstance(value, bool):
                    variables[key] = str(value).lower()
                elif not isinstance(value, str):
                    variables[key] = str(value)
        return original(cls, resource_name, cloudformation_json, *args, **kwargs)

    LambdaFunction.create_from_cloudformation_json = classmethod(create)  # type: ignore[assignment,method-assign]
