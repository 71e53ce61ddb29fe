"""Lambda: functions run in the local runtime's sandboxes, moto's stream delivery is off, and a function's
environment values are strings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .registry import workaround

# The local Lambda runtime registers itself here (see runtime.py); moto's invoke
# path calls it instead of starting a Docker container.
LambdaInvoker = Callable[[Any, Any], tuple[str, bool, str]]
_lambda_invoker: LambdaInvoker | None = None


def set_lambda_invoker(invoker: LambdaInvoker) -> None:
    global _lambda_invoker
    _lambda_invoker = invoker


@workaround
def _run_lambda_in_sandboxes() -> None:
    """moto's ``LambdaFunction._invoke_lambda`` runs the code in a Docker container.

    There is no Docker engine here; the local runtime runs the template's Handler in a
    sandbox process of its own instead (runtime.py, sandbox.py) and returns what moto
    expects: (payload, errored, logs).
    """
    from moto.awslambda.models import LambdaFunction

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if _lambda_invoker is None:
            raise RuntimeError("the local Lambda runtime is not started")
        return _lambda_invoker(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]


@workaround
def _simple_lambda_backend_runs_functions() -> None:
    """With ``lambda.use_docker`` False (set above) moto serves the Lambda API from
    ``LambdaSimpleBackend``, whose ``invoke`` returns the request body (or a queued canned
    result) and never calls the function, so the local runtime is bypassed and every
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


@workaround
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


@workaround
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
