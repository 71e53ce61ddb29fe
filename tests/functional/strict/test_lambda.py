"""Lambda rules of the strict stack, each shown lenient (moto accepts) and strict (AWS refuses)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from redrive_local.engine import LocalEngine
from redrive_local.strict import lenient
from redrive_local.strict.lambda_ import SYNC_PAYLOAD_MAX
from tests.support.stack import PythonFunction, WaitExecution

SMALL = """
def handler(event, context):
    return {"ok": True}
"""

SLOW = """
import os
import time
import uuid
from pathlib import Path

def handler(event, context):
    time.sleep(float(event.get("seconds", 1)))
    if event.get("marker"):
        Path(event["marker"]).write_text("ran to the end")
    return {"slept": event.get("seconds", 1)}
"""


def no_retries(engine: LocalEngine) -> Any:
    """A Lambda client that shows each refusal as it comes (the engine's retries throttles)."""
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30)
    return engine.session.client("lambda", endpoint_url=engine.endpoint_url, config=config)


def invoke(client: Any, name: str, event: Any) -> tuple[str | None, Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read() or b"null")


@pytest.mark.aws_rule("_lambda_sync_invoke_payload_size")
def test_a_synchronous_invoke_over_6_mb_is_refused(engine: LocalEngine, python_function: PythonFunction) -> None:
    name = python_function(SMALL)
    client = no_retries(engine)
    frame = len(json.dumps({"pad": ""}))
    over = {"pad": "x" * (SYNC_PAYLOAD_MAX - frame + 1)}  # 6,291,457 bytes of JSON
    with lenient():
        assert invoke(client, name, over) == (None, {"ok": True})
    with pytest.raises(ClientError) as refused:
        invoke(client, name, over)
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "6291456 bytes" in str(refused.value)
    at_the_limit = {"pad": "x" * (SYNC_PAYLOAD_MAX - frame)}
    assert invoke(client, name, at_the_limit) == (None, {"ok": True}), "6 MB itself is allowed"


@pytest.mark.aws_rule("_lambda_reserved_concurrency")
def test_an_invoke_over_the_reserved_concurrency_is_throttled(
    engine: LocalEngine, python_function: PythonFunction
) -> None:
    name = python_function(SLOW)
    client = no_retries(engine)
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)

    def second_while_the_first_runs() -> Any:
        first = threading.Thread(target=invoke, args=(client, name, {"seconds": 1.5}))
        first.start()
        time.sleep(0.5)
        try:
            return invoke(client, name, {"seconds": 0})
        except ClientError as error:
            return error
        finally:
            first.join()

    with lenient():
        assert second_while_the_first_runs() == (None, {"slept": 0})
    throttled = second_while_the_first_runs()
    assert isinstance(throttled, ClientError)
    assert throttled.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert invoke(client, name, {"seconds": 0}) == (None, {"slept": 0}), "alone, it runs"


@pytest.mark.aws_rule("_lambda_function_timeout")
def test_a_handler_past_its_timeout_fails_as_lambda_stops_it(
    engine: LocalEngine, python_function: PythonFunction, tmp_path: Path
) -> None:
    name = python_function(SLOW, timeout=1)
    client = no_retries(engine)
    lenient_marker, strict_marker = tmp_path / "lenient", tmp_path / "strict"
    with lenient():
        assert invoke(client, name, {"seconds": 1.5, "marker": str(lenient_marker)}) == (None, {"slept": 1.5})
    assert lenient_marker.exists()

    error, payload = invoke(client, name, {"seconds": 1.5, "marker": str(strict_marker)})
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    time.sleep(1.0)  # past the end of its sleep: the handler was stopped, it never wrote
    assert not strict_marker.exists()
    assert invoke(client, name, {"seconds": 0.1}) == (None, {"slept": 0.1}), "within its Timeout it runs"


@pytest.mark.aws_rule("_lambda_function_timeout")
def test_step_functions_sees_a_task_past_its_timeout_as_sandbox_timedout(
    engine: LocalEngine, python_function: PythonFunction, lambda_role_arn: str, wait_execution: WaitExecution
) -> None:
    """A Lambda task past the function's Timeout fails with ``Sandbox.Timedout``, which a
    Retry or Catch names (the Redrive function's timeout reaches the state machine so)."""
    arn = engine.client("lambda").get_function(FunctionName=python_function(SLOW, timeout=1))["Configuration"][
        "FunctionArn"
    ]
    definition = {
        "StartAt": "Slow",
        "States": {
            "Slow": {
                "Type": "Task",
                "Resource": arn,
                "Catch": [{"ErrorEquals": ["Sandbox.Timedout"], "ResultPath": "$.error", "Next": "TimedOut"}],
                "End": True,
            },
            "TimedOut": {"Type": "Pass", "End": True},
        },
    }
    sfn = engine.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"strict-timeout-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=lambda_role_arn
    )["stateMachineArn"]

    def ended(seconds: float) -> dict[str, Any]:
        started = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"seconds": seconds}))
        return wait_execution(started["executionArn"], timeout=30)

    with lenient():
        assert json.loads(ended(1.5)["output"]) == {"slept": 1.5}
    caught = json.loads(ended(1.5)["output"])
    assert caught["error"]["Error"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in caught["error"]["Cause"]
