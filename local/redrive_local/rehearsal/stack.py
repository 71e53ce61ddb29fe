"""A rehearsal's stack: template.yaml deployed on the local engine, the scenario's records
written to its source, the consumer's event source mapping run over them (poison records
leave pointers in the DLQ), what the scenario says the stream loses trimmed, and the
scenario's extra DLQ messages sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from ..deploy import DeployedStack, deploy_stack
from ..engine import ACCOUNT, REGION, LocalEngine, endpoint_session
from ..esm import StreamConsumerEmulator
from ..inspect import trim_stream_records
from ..scenario import Scenario
from .errors import RehearsalError
from .report import describe_step

Narrate = Callable[[str], None]

# Kinesis PutRecords: "Each PutRecords request can support up to 500 records", "up to a
# limit of 5 MiB for the entire request, including partition keys" (Kinesis API reference).
PUT_RECORDS_MAX = 500
PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024


class RehearsalStack:
    """Sets up one scenario's stack; ``prepare`` does it all, narrating as it goes."""

    def __init__(self, engine: LocalEngine, scenario: Scenario, template: Path, trigger: str) -> None:
        self.engine = engine
        self.scenario = scenario
        self.template = template
        self.trigger = trigger
        self.extra_parameters: dict[str, str] = {}  # more template parameters for the deploy
        self.stack: DeployedStack | None = None
        self.written: list[tuple[str, str]] = []  # (shard id, sequence number) per scenario record
        self.mapping_uuid = ""
        self._consumer: StreamConsumerEmulator | None = None

    @property
    def outputs(self) -> dict[str, str]:
        assert self.stack is not None, "the stack is not deployed yet"
        return self.stack.outputs

    @property
    def consumer(self) -> StreamConsumerEmulator:
        """The emulator of the consumer's event source mapping (there once deployed)."""
        assert self._consumer is not None, "the stack is not deployed yet"
        return self._consumer

    def deploy(self) -> DeployedStack:
        name = f"rehearsal-{uuid.uuid4().hex[:8]}"
        parameters = self.scenario.template_parameters()
        parameters["ApprovalBaseUrl"] = self.engine.api.base_url(name)
        queue_url = str((self.scenario.run.get("redrive") or {}).get("queueUrl") or "")
        if queue_url:
            # A queue-target run needs the stack to allow that queue, as an operator deploys it.
            account, queue = queue_url.rstrip("/").rsplit("/", 2)[-2:]
            parameters["RedriveQueueArn"] = f"arn:aws:sqs:{REGION}:{account}:{queue}"
        # An operator subscribed (moto confirms a subscription at once): RequestApproval
        # refuses a topic with no confirmed subscription, as no one would get the email.
        parameters["OperatorEmail"] = "operator@example.com"
        parameters.update(self.extra_parameters)
        if self.trigger == "alarm":
            # An alarm-started run takes its settings from the stack, as it would on AWS.
            parameters["RunDefaults"] = json.dumps(self.scenario.run, separators=(",", ":"))
        self.stack = deploy_stack(endpoint_session(self.engine), self.template, name, parameters, REGION, ACCOUNT)
        self.engine.api.mount(name, self.stack.resources["ServerlessHttpApi"])
        self.mapping_uuid = self.stack.resources["OrdersConsumerMapping"]
        self._consumer = StreamConsumerEmulator(self.engine, mapping_uuids=[self.mapping_uuid])
        return self.stack

    def write_records(self) -> None:
        """The scenario's records on the stream; one AWS refuses (a Kinesis record over 1 MiB,
        an item over 400 KB) stops the rehearsal with AWS's reason, not a traceback."""
        try:
            if self.scenario.source.type == "kinesis":
                self._put_kinesis_records()
            else:
                self._put_dynamodb_items()
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise RehearsalError(
                f"the stream refused a scenario record ({detail.get('Code')}): {detail.get('Message')}"
            ) from None

    def _put_kinesis_records(self) -> None:
        """PutRecords, 500 records a call (AWS's limit, and 5 MiB), in the scenario's order;
        a record the stream refused (throttled) is put again, in order, before any later one."""
        kinesis = self.engine.client("kinesis")
        entries: list[tuple[bytes, str]] = [
            ((record.text if record.text is not None else json.dumps(record.data)).encode(), str(record.partition_key))
            for record in self.scenario.records
        ]
        start = 0
        while start < len(entries):
            chunk: list[dict[str, bytes | str]] = []
            size = 0
            for data, key in entries[start : start + PUT_RECORDS_MAX]:
                entry_size = len(data) + len(key.encode())
                if chunk and size + entry_size > PUT_RECORDS_MAX_BYTES:
                    break
                chunk.append({"Data": data, "PartitionKey": key})
                size += entry_size
            answer = kinesis.put_records(StreamARN=self.outputs["ExampleSourceArn"], Records=chunk)
            for result in answer["Records"]:
                if "ErrorCode" in result:  # this one and every later one of the chunk go again
                    break
                self.written.append((result["ShardId"], result["SequenceNumber"]))
                start += 1

    def _put_dynamodb_items(self) -> None:
        source_arn = self.outputs["ExampleSourceArn"]
        table = source_arn.split(":", 5)[-1].split("/")[1]
        dynamodb = self.engine.client("dynamodb")
        serialize = TypeSerializer().serialize
        for record in self.scenario.records:
            item = json.loads(json.dumps(record.item), parse_float=Decimal)
            dynamodb.put_item(TableName=table, Item={k: serialize(v) for k, v in item.items()})
        streams = self.engine.client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=source_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=source_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        page = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
        self.written = [(shard, r["dynamodb"]["SequenceNumber"]) for r in page["Records"]]

    def trim(self) -> list[tuple[str, str]]:
        lost = [self.written[i] for i in self.scenario.trim]
        if lost:
            trim_stream_records(self.outputs["ExampleSourceArn"], lost)
        return lost

    def send_extra_dlq_messages(self) -> None:
        """Each extra message as SQS would take it; one AWS refuses (too large, characters
        SQS does not allow) ends the rehearsal naming the limit."""
        sqs = self.engine.client("sqs")
        for index, body in enumerate(self.scenario.extra_dlq_messages):
            try:
                sqs.send_message(QueueUrl=self.outputs["DeadLetterQueueUrl"], MessageBody=body)
            except ClientError as refused:
                error = refused.response.get("Error", {})
                raise RehearsalError(
                    f"extraDlqMessages[{index}] ({len(body.encode('utf-8', 'surrogatepass'))} bytes): SQS refuses it "
                    f"as AWS does: {error.get('Code', '?')}: {error.get('Message', '')}"
                ) from None

    def prepare(self, say: Narrate) -> None:
        """Deploy, write the records, let the consumer fail, trim, add the extra messages."""
        say("deploying template.yaml on the local stack")
        stack = self.deploy()
        say(f"stack {stack.name}: {len(stack.resources)} resources")
        self.engine.warm_functions(stack.name)  # their inits run while the records are written
        self.write_records()
        say(f"wrote {len(self.scenario.records)} records to the {self.scenario.source.type} source")
        consumed = self.consumer.run_until_idle()
        for step in self.consumer.steps:
            say("  " + describe_step(step))
        say(
            f"consumer: {consumed.invocations} invocations, {len(consumed.processed)} records processed, "
            f"{consumed.failure_messages} failure pointers sent to the DLQ"
        )
        lost = self.trim()
        if lost:
            say(f"the stream lost {len(lost)} record(s) to retention: " + ", ".join(s for _, s in lost))
        self.send_extra_dlq_messages()
