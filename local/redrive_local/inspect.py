"""Looking inside the local stack without disturbing it, and simulating retention.

Reading a queue through ReceiveMessage would hide its messages for the visibility
timeout; a rehearsal wants to show the DLQ before and after without touching it, so
these read moto's backends directly. Only the local tools use this module.
"""

from __future__ import annotations

from typing import Any

from .engine import ACCOUNT, REGION


def queue_bodies(queue_url: str) -> list[str]:
    """Every message body in the queue (visible or in flight), oldest first."""
    from moto.sqs.models import sqs_backends

    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    queue = sqs_backends[ACCOUNT][REGION].queues[name]
    return [m.body for m in queue._messages]


def trim_stream_records(source_arn: str, sequence_numbers: list[tuple[str, str]]) -> None:
    """The stream loses these (shard id, sequence number) records, as retention trims them.

    moto never trims (LOCAL-ENGINE.md): Kinesis records are removed from the shard;
    DynamoDB Streams records are marked trimmed (see workarounds).
    """
    service = source_arn.split(":")[2]
    if service == "kinesis":
        from moto.kinesis.models import kinesis_backends

        stream = kinesis_backends[ACCOUNT][REGION].describe_stream(stream_arn=source_arn, stream_name=None)
        for shard_id, seq in sequence_numbers:
            stream.get_shard(shard_id).records.pop(int(seq), None)
        return
    from moto.dynamodb.models import dynamodb_backends

    table_name = source_arn.split(":", 5)[-1].split("/")[1]
    shard: Any = dynamodb_backends[ACCOUNT][REGION].get_table(table_name).stream_shard
    trimmed: set[int] = getattr(shard, "trimmed", set())
    trimmed.update(int(seq) for _, seq in sequence_numbers)
    shard.trimmed = trimmed


def execution_running(execution_arn: str) -> bool:
    """Whether the execution still runs, from moto's Step Functions backend: a waiting loop
    asks this ten times a second, and a DescribeExecution each time cost the stack it waits
    on about a twentieth of its CPU in the pace bench. The caller reads the ended execution
    through the API (DescribeExecution, once)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    region, account = execution_arn.split(":")[3:5]
    status = stepfunctions_parser_backends[account][region].describe_execution(execution_arn).status
    return str(getattr(status, "value", status)) == "RUNNING"
