"""The dead-letter queue: receive for collection, delete after the manifest holds a
message, and send messages back (the original body and attributes, or a record)."""

from __future__ import annotations

from typing import Any


class DeadLetterQueue:
    def __init__(self, sqs: Any, queue_url: str, visibility_timeout: int = 900) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.visibility_timeout = visibility_timeout

    def receive(self, max_messages: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            VisibilityTimeout=self.visibility_timeout,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        return [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
            }
            for m in response.get("Messages", [])
        ]

    def delete(self, messages: list[dict[str, Any]]) -> list[str]:
        """Delete by receipt handle; return the ids SQS could not delete."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["receiptHandle"]} for i, m in enumerate(chunk)],
            )
            failed.extend(chunk[int(f["Id"])]["messageId"] for f in response.get("Failed", []))
        return failed

    def send(self, body: str, message_attributes: dict[str, Any] | None = None) -> str:
        attributes = {
            name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
            for name, value in (message_attributes or {}).items()
        }
        response = self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=attributes)
        return str(response["MessageId"])
