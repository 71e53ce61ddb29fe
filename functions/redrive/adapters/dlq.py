"""The dead-letter queue: receive for collection, delete after the manifest holds a
message, and send messages back (the original body and attributes, or a record)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..contracts.messages import MessageAttribute, QueueDescription, ReceivedMessage
from ..errors import InvalidInput, aws_error_code

MAX_WAIT_SECONDS = 20
"""ReceiveMessage's longest WaitTimeSeconds."""


class DeadLetterQueue:
    def __init__(self, sqs: Any, queue_url: str, visibility_timeout: int = 900) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.visibility_timeout = visibility_timeout

    def receive(self, max_messages: int, wait_seconds: int = 0) -> list[ReceivedMessage]:
        """One ReceiveMessage. A short poll (``wait_seconds`` 0) asks only some of SQS's
        servers and may return nothing while messages remain; Collect long-polls."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            VisibilityTimeout=self.visibility_timeout,
            WaitTimeSeconds=max(0, min(MAX_WAIT_SECONDS, wait_seconds)),
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        return [
            ReceivedMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m["Body"],
                attributes=m.get("Attributes", {}),
                message_attributes={
                    name: MessageAttribute.from_sqs(value) for name, value in m.get("MessageAttributes", {}).items()
                },
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, messages: Sequence[ReceivedMessage]) -> list[str]:
        """Delete by receipt handle; return the ids SQS could not delete."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)],
            )
            failed.extend(chunk[int(f["Id"])].message_id for f in response.get("Failed", []))
        return failed

    def release(self, messages: Sequence[ReceivedMessage]) -> None:
        """Visibility 0 for each message, 10 a call; one SQS refuses is visible again after
        its visibility timeout anyway."""
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                    for i, m in enumerate(chunk)
                ],
            )

    def send(self, body: str, message_attributes: Mapping[str, MessageAttribute] | None = None) -> str:
        attributes = {name: value.to_sqs() for name, value in (message_attributes or {}).items()}
        response = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=attributes)
        return str(response["MessageId"])


class SqsQueues:
    """The QueueInfo port: what SQS says a queue URL names."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs

    def describe(self, queue_url: str) -> QueueDescription:
        try:
            attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn", "FifoQueue"])
        except Exception as error:
            code = aws_error_code(error)
            if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "InvalidAddress"):
                raise InvalidInput(f"dlqUrl: there is no queue {queue_url} ({code})") from None
            raise
        values = attributes.get("Attributes", {})
        return QueueDescription(
            queue_url=queue_url,
            queue_arn=values["QueueArn"],
            fifo=str(values.get("FifoQueue", "false")).lower() == "true",
        )
