"""The consumer's invoke client (``adapters/aws.py``) against the local stack: its read
timeout follows the consumer's own Timeout and it never retries, so a slow consumer is
invoked once per batch, where botocore's defaults (a read timeout, retried) invoke it
again on every retry."""

from __future__ import annotations

import json

import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from redrive.adapters import aws
from redrive_local.engine import REGION, LocalEngine
from tests.support.stack import PythonFunction

SLOW = """
import time

def handler(event, context):
    time.sleep(event["seconds"])
    return {"slept": event["seconds"]}
"""


@pytest.fixture
def function_env(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment the Redrive function's clients read, pointed at the local stack."""
    for name, value in {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": engine.endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(name, value)


def arn_of(engine: LocalEngine, name: str) -> str:
    return str(engine.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


@pytest.mark.usefixtures("function_env")
def test_the_read_timeout_follows_the_consumer_s_timeout_read_once(
    engine: LocalEngine, python_function: PythonFunction
) -> None:
    arn = arn_of(engine, python_function(SLOW, timeout=3))
    assert aws.consumer_timeout_seconds(arn) == 3
    engine.client("lambda").update_function_configuration(FunctionName=arn, Timeout=5)
    assert aws.consumer_timeout_seconds(arn) == 3, "read once per execution environment"
    config = aws.invoke_client(arn).meta.config
    assert config.read_timeout == 3 + aws.INVOKE_READ_MARGIN_SECONDS
    assert config.retries["total_max_attempts"] == 1


@pytest.mark.usefixtures("function_env")
def test_a_consumer_that_does_not_exist_is_tried_at_once_and_fails_with_the_invoke_s_error() -> None:
    """No such function: the invoke is refused at once too, so no Timeout is guessed for it
    (Lambda's longest, 900 s, is kept for a configuration that cannot be read otherwise)."""
    missing = "arn:aws:lambda:us-east-1:123456789012:function:no-such-consumer"
    assert aws.consumer_timeout_seconds(missing) == 0
    assert aws.LAMBDA_MAX_TIMEOUT_SECONDS == 900


@pytest.mark.usefixtures("function_env")
def test_a_slow_consumer_is_invoked_once_where_retried_reads_invoke_it_again(
    engine: LocalEngine, python_function: PythonFunction
) -> None:
    name = python_function(SLOW, timeout=5)
    arn = arn_of(engine, name)
    event = json.dumps({"seconds": 1.5}).encode()

    # botocore's way, scaled down: a read timeout under the consumer's run time, retried.
    retried = engine.session.client(
        "lambda",
        endpoint_url=engine.endpoint_url,
        config=Config(read_timeout=1, retries={"total_max_attempts": 3, "mode": "standard"}),
    )
    before = engine.runtime.invocations[name]
    with pytest.raises(ReadTimeoutError):
        retried.invoke(FunctionName=arn, Payload=event)
    assert engine.runtime.invocations[name] - before == 3, "one batch, three invocations"

    before = engine.runtime.invocations[name]
    response = aws.invoke_client(arn).invoke(FunctionName=arn, Payload=event)
    assert json.loads(response["Payload"].read()) == {"slept": 1.5}
    assert engine.runtime.invocations[name] - before == 1
