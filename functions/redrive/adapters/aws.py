"""boto3 clients, made once per execution environment and reused across invocations, and
:class:`AwsAdapters`, which builds every port the handlers hand to the core.

Handlers take an optional ``adapters`` argument; unit tests pass fakes built the same way.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from ..contracts.paths import RunPaths
from ..contracts.run import FetchSettings
from ..contracts.vocab import Source, Target
from ..core.ports import (
    Approvals,
    ConsumerMappings,
    Dlq,
    DlqArrivals,
    ExecutionHistory,
    ExecutionStatus,
    FailureObjects,
    Notifier,
    QueueInfo,
    RedriveTarget,
    RunDefaultsSource,
    ShardReader,
    StateStore,
    TaskCallback,
)
from ..core.run_data import RunData
from ..errors import aws_error_code

_clients: dict[tuple[str, str, str, str], Any] = {}
_lock = threading.Lock()
_CONFIG = Config(retries={"max_attempts": 5, "mode": "adaptive"}, max_pool_connections=20)
# One session for the process: it parses each service's model once, so a client is quick to
# make. A Session is not safe to share across threads while it makes clients, hence its own lock
# (held only while making one; the cache's lock is never held while a client is made).
_session = boto3.session.Session()
_session_lock = threading.Lock()


def _environment_key(name: str) -> tuple[str, str, str, str]:
    """A cached client's key: what it is for, and the region, endpoint and credentials it was
    made with (one process may host several functions locally, each with its own role)."""
    return (
        name,
        os.environ.get("AWS_REGION", ""),
        os.environ.get("AWS_ENDPOINT_URL", ""),
        os.environ.get("AWS_ACCESS_KEY_ID", ""),
    )


def _environment_client(service: str, config: Config) -> Any:
    """A client for ``service`` with the region, endpoint and credentials the environment holds
    now (on Lambda the execution role's; locally each function's own), read explicitly rather
    than through the shared session, which would resolve credentials once for every caller."""
    env = os.environ
    kwargs: dict[str, Any] = {
        "region_name": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        "endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
    }
    if env.get("AWS_ACCESS_KEY_ID"):
        kwargs.update(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        )
    with _session_lock:
        return _session.client(service, config=config, **kwargs)


def _cached(cache: dict[tuple[str, str, str, str], Any], name: str, service: str, config: Config) -> Any:
    key = _environment_key(name)
    with _lock:
        known = cache.get(key)
    if known is not None:
        return known
    made = _environment_client(service, config)
    with _lock:
        return cache.setdefault(key, made)  # two first calls at once: both get the first one made


def client(service: str) -> Any:
    """A client for ``service`` in the function's region (and endpoint, when one is set), with
    the function's credentials (one process may host several functions locally, each with
    its own role), made once per execution environment."""
    return _cached(_clients, service, service, _CONFIG)


_STREAM_READ_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=5)
_stream_clients: dict[tuple[str, str, str, str], Any] = {}


def stream_read_client(service: str) -> Any:
    """A Kinesis or DynamoDB Streams client without SDK retries: the shard reader paces its
    GetRecords and backs off throttles itself, within a budget it can keep (the SDK's adaptive
    retries would wait on top of it, unbounded by that budget)."""
    return _cached(_stream_clients, service, service, _STREAM_READ_CONFIG)


# Lambda's longest Timeout: what a consumer whose configuration cannot be read may take.
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# How much longer than the consumer's Timeout the invoke waits for its answer (Lambda's
# own start-up and the answer's transfer), and what the Redrive function keeps for itself
# after its last invoke (writing the batch's result).
INVOKE_READ_MARGIN_SECONDS = 10
REDRIVE_END_MARGIN_SECONDS = 10

_consumer_timeouts: dict[str, int] = {}


def invoke_config(consumer_timeout_seconds: float) -> Config:
    """The client config for a synchronous invoke of a consumer: a read timeout above the
    consumer's own Timeout, and no SDK retries. botocore's defaults (60 s, retried) call a
    consumer slower than 60 s again on each retry, one batch delivered several times."""
    return Config(
        read_timeout=consumer_timeout_seconds + INVOKE_READ_MARGIN_SECONDS,
        connect_timeout=10,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=20,
    )


def consumer_timeout_seconds(function_arn: str) -> int:
    """The consumer's Timeout (GetFunctionConfiguration, once per execution environment);
    Lambda's longest when it cannot be read, so the invoke still waits long enough."""
    with _lock:
        known = _consumer_timeouts.get(function_arn)
    if known is not None:
        return known
    try:
        timeout = int(client("lambda").get_function_configuration(FunctionName=function_arn)["Timeout"])
    except Exception as error:
        # No such function, or one the role may not read: the template grants invoking and
        # reading together, so the invoke would be refused the same way, at once. Let it be
        # tried, so the records fail with the invoke's own error, not a guessed Timeout.
        if aws_error_code(error) in ("ResourceNotFoundException", "AccessDeniedException"):
            return 0
        return LAMBDA_MAX_TIMEOUT_SECONDS
    with _lock:
        _consumer_timeouts[function_arn] = timeout
    return timeout


def invoke_client(function_arn: str) -> Any:
    """The Lambda client that invokes ``function_arn``: see :func:`invoke_config`."""
    timeout = consumer_timeout_seconds(function_arn)
    return _cached(_clients, f"lambda-invoke-{timeout}", "lambda", invoke_config(timeout))


def redrive_time_left() -> Callable[[], float]:
    """Seconds the Redrive function has left for invokes, counted from now (its Timeout,
    ``REDRIVE_TIMEOUT_SECONDS``, less what it keeps for recording the outcome)."""
    timeout = float(os.environ.get("REDRIVE_TIMEOUT_SECONDS") or 300)
    deadline = time.monotonic() + timeout - REDRIVE_END_MARGIN_SECONDS
    return lambda: deadline - time.monotonic()


class AwsAdapters:
    """Every port, over boto3."""

    def run_data(self, bucket: str, run_id: str) -> RunData:
        from .store import S3Store

        return RunData(S3Store(client("s3"), bucket), RunPaths(run_id))

    def dlq(self, queue_url: str) -> Dlq:
        from .dlq import DeadLetterQueue

        return DeadLetterQueue(client("sqs"), queue_url)

    def failure_objects(self, bucket: str) -> FailureObjects:
        from .failure_bucket import FailureBucket

        return FailureBucket(client("s3"), bucket)

    def state_table(self, table: str) -> StateStore:
        from .state_table import StateTable

        return StateTable(client("dynamodb"), table)

    def queue_info(self) -> QueueInfo:
        from .dlq import SqsQueues

        return SqsQueues(client("sqs"))

    def run_defaults(self, parameter_name: str) -> RunDefaultsSource:
        from .parameters import SsmRunDefaults

        return SsmRunDefaults(client("ssm"), parameter_name)

    def executions(self) -> ExecutionStatus:
        from .executions import StepFunctionsExecutions

        return StepFunctionsExecutions(client("stepfunctions"))

    def execution_history(self) -> ExecutionHistory:
        from .executions import StepFunctionsHistory

        return StepFunctionsHistory(client("stepfunctions"))

    def approvals(self, table: str) -> Approvals:
        from .approvals import ApprovalStore

        return ApprovalStore(client("dynamodb"), table)

    def notifier(self, topic_arn: str) -> Notifier:
        from .notifier import SnsNotifier

        return SnsNotifier(client("sns"), topic_arn)

    def shard_reader(self, source: Source, fetch: FetchSettings | None = None) -> ShardReader:
        from .streams import ShardRangeReader

        fetch = fetch or FetchSettings()
        return ShardRangeReader(
            stream_read_client("kinesis" if source is Source.KINESIS else "dynamodbstreams"),
            source,
            calls_per_second=fetch.get_records_per_second,
            throttle_budget_seconds=fetch.throttle_budget_seconds,
            watched_stream_arn=os.environ.get("SOURCE_STREAM_ARN", ""),
        )

    def consumer_mappings(self) -> ConsumerMappings:
        from .mappings import LambdaMappings

        return LambdaMappings(client("lambda"))

    def target(self, target: Target, queue_url: str | None, region: str) -> RedriveTarget:
        from .targets import target_for

        return target_for(
            target,
            queue_url,
            client,
            region,
            invoke_client=invoke_client,
            consumer_timeout=lambda arn: consumer_timeout_seconds(arn) + INVOKE_READ_MARGIN_SECONDS,
            time_left=redrive_time_left(),
        )

    def signing_key(self, secret_arn: str) -> bytes:
        from .secrets import signing_key

        return signing_key(client("secretsmanager"), secret_arn)

    def arrivals(self, table: str, state_machine_arn: str) -> DlqArrivals:
        from .arrivals import DlqArrivalsOnAws
        from .state_table import StateTable

        return DlqArrivalsOnAws(
            client("sqs"), StateTable(client("dynamodb"), table), client("stepfunctions"), state_machine_arn
        )

    def task_callback(self) -> TaskCallback:
        return client("stepfunctions")  # type: ignore[no-any-return]
