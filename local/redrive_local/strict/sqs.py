"""SQS as strict as AWS where moto accepts more.

- Message contents: only the characters AWS allows (``InvalidMessageContents``).
- Message size: the body's UTF-8 bytes plus every part of every message attribute (name,
  type, value) at most the queue's ``MaximumMessageSize`` (1 MiB, 1,048,576 bytes, at most),
  for SendMessage and each SendMessageBatch entry (``InvalidParameterValue``); a
  SendMessageBatch at most 1 MiB in all, counted the same way (``BatchRequestTooLong``).
  moto counts characters of the body only, and the batch's bodies only.
- At most 10 message attributes (``InvalidParameterValue``); moto takes any number.
- At most 10 entries in DeleteMessageBatch and ChangeMessageVisibilityBatch
  (``TooManyEntriesInBatchRequest``), as moto already checks for SendMessageBatch.
- A queue's VisibilityTimeout at most 43,200 s, 12 hours (``InvalidAttributeValue``);
  moto checks ReceiveMessage's and ChangeMessageVisibility's, not the queue's.
- Short polling samples servers (:class:`ShortPollSampler`): a ReceiveMessage with
  ``WaitTimeSeconds`` 0 queries a subset of the queue's servers, so it may return nothing,
  or only part, while messages remain; a long poll queries every server. moto's short poll
  returns every visible message.
"""

from __future__ import annotations

import base64
import os
import random
import re
import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from moto.sqs.exceptions import SQSException
from moto.sqs.models import Message, Queue, SQSBackend

from .registry import aws_rule
from .switch import enabled

# The characters SQS allows in a message body (AWS's SendMessage reference):
# #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
_NOT_ALLOWED = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

MAX_MESSAGE_BYTES = 1_048_576  # AWS's quota since 2025: 1 MiB per message and per SendMessageBatch
MAX_MESSAGE_ATTRIBUTES = 10
MAX_BATCH_ENTRIES = 10
MAX_VISIBILITY_TIMEOUT = 43_200  # 12 hours

SERVERS = 4
"""How many servers a local queue's messages are spread over (by arrival, round robin)."""
SAMPLED = 1
"""How many of them a short poll queries."""
LOCAL_LONG_POLL_SECONDS = 0.3
"""A long poll on a queue with nothing visible waits this long in real time, not its
``WaitTimeSeconds``: nothing else would arrive in a test, and a run's last, empty poll
would otherwise hold every rehearsal for 20 s. A difference from AWS that remains."""
SEED_ENV = "REDRIVE_LOCAL_SQS_SEED"


class InvalidMessageContents(SQSException):
    def __init__(self) -> None:
        super().__init__(
            "InvalidMessageContents",
            "Invalid characters found. Valid unicode characters are "
            "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        )


class InvalidParameterValue(SQSException):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterValue", message)


class BatchRequestTooLong(SQSException):
    def __init__(self, size: int) -> None:
        super().__init__(
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have sent {size} bytes.",
        )


class TooManyEntriesInBatchRequest(SQSException):
    def __init__(self, number: int) -> None:
        super().__init__(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent {number}.",
        )


class InvalidAttributeValue(SQSException):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidAttributeValue", message)


def _value_bytes(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes | bytearray):
        return len(value)
    text = str(value)
    return len(text.encode("utf-8"))


def message_size(body: str, attributes: Mapping[str, Any] | None) -> int:
    """What SQS counts against the size limit: the body's UTF-8 bytes and every part of every
    message attribute (name, type and value; a binary value as its bytes)."""
    size = len(body.encode("utf-8", "surrogatepass"))
    for name, value in (attributes or {}).items():
        size += len(name.encode("utf-8")) + len(str(value.get("DataType", "")).encode("utf-8"))
        binary = value.get("BinaryValue")
        if isinstance(binary, str):
            size += len(base64.b64decode(binary))
        elif binary is not None:
            size += _value_bytes(binary)
        size += _value_bytes(value.get("StringValue"))
    return size


def _queue_limit(backend: SQSBackend, queue_name: str) -> int:
    queue = backend.get_queue(queue_name)
    return min(int(getattr(queue, "maximum_message_size", MAX_MESSAGE_BYTES) or MAX_MESSAGE_BYTES), MAX_MESSAGE_BYTES)


def _check_message(body: str, attributes: Mapping[str, Any] | None, limit: int) -> None:
    if attributes and len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}]."
        )
    size = message_size(body, attributes)
    if size > limit:
        raise InvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )


@aws_rule(
    "SendMessage: a body may hold only #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF "
    "(InvalidMessageContents)"
)
def _sqs_message_characters() -> None:
    """moto stores any body, NUL and lone surrogates included; AWS refuses the call."""
    original = SQSBackend.send_message

    def send_message(self: SQSBackend, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        if enabled() and _NOT_ALLOWED.search(message_body):
            raise InvalidMessageContents()
        return original(self, queue_name, message_body, *args, **kwargs)

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


@aws_rule(
    "SendMessage and each SendMessageBatch entry: the message (body in UTF-8 plus every attribute's name, "
    "type and value) at most the queue's MaximumMessageSize, 1 MiB (1,048,576 bytes) at most; at most 10 "
    "message attributes (InvalidParameterValue)"
)
def _sqs_message_size() -> None:
    """moto compares the body's length in characters with the limit and ignores attributes,
    so a 600,000-character body of two-byte characters, or a body at the limit with an
    attribute, is stored; it takes any number of attributes."""
    original = SQSBackend.send_message

    def send_message(
        self: SQSBackend,
        queue_name: str,
        message_body: str,
        message_attributes: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if enabled():
            _check_message(message_body, message_attributes, _queue_limit(self, queue_name))
        return original(self, queue_name, message_body, message_attributes, *args, **kwargs)

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


@aws_rule(
    "SendMessageBatch: the sum of all the batched messages (bodies and attributes) at most 1 MiB, "
    "1,048,576 bytes (BatchRequestTooLong)"
)
def _sqs_batch_size() -> None:
    """moto sums the bodies' lengths in characters, without attributes."""
    original = SQSBackend.send_message_batch

    def send_message_batch(self: SQSBackend, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        if enabled():
            total = sum(message_size(e["MessageBody"], e.get("MessageAttributes")) for e in entries.values())
            if total > MAX_MESSAGE_BYTES:
                raise BatchRequestTooLong(total)
        return original(self, queue_name, entries)

    SQSBackend.send_message_batch = send_message_batch  # type: ignore[method-assign]


@aws_rule(
    "DeleteMessageBatch and ChangeMessageVisibilityBatch: at most 10 entries per request (TooManyEntriesInBatchRequest)"
)
def _sqs_batch_entries() -> None:
    """moto checks the number of entries of SendMessageBatch only."""

    def limited(name: str) -> None:
        original: Callable[..., Any] = getattr(SQSBackend, name)

        def call(self: SQSBackend, queue_name: str, entries: Any, *args: Any, **kwargs: Any) -> Any:
            if enabled() and len(entries) > MAX_BATCH_ENTRIES:
                raise TooManyEntriesInBatchRequest(len(entries))
            return original(self, queue_name, entries, *args, **kwargs)

        setattr(SQSBackend, name, call)

    limited("delete_message_batch")
    limited("change_message_visibility_batch")


@aws_rule(
    "CreateQueue and SetQueueAttributes: VisibilityTimeout from 0 to 43,200 seconds (12 hours) (InvalidAttributeValue)"
)
def _sqs_queue_visibility_timeout() -> None:
    """moto stores any queue VisibilityTimeout (it checks ReceiveMessage's only)."""

    def check(attributes: Mapping[str, Any]) -> None:
        value = attributes.get("VisibilityTimeout")
        if enabled() and value is not None and not 0 <= int(value) <= MAX_VISIBILITY_TIMEOUT:
            raise InvalidAttributeValue(f"Invalid value for the parameter VisibilityTimeout. Value: {value}")

    create = SQSBackend.create_queue
    set_attributes = SQSBackend.set_queue_attributes

    def create_queue(self: SQSBackend, name: str, tags: dict[str, str] | None = None, **kwargs: Any) -> Queue:
        check(kwargs)
        return create(self, name, tags, **kwargs)

    def set_queue_attributes(self: SQSBackend, queue_name: str, attributes: dict[str, Any]) -> Queue:
        check(attributes)
        return set_attributes(self, queue_name, attributes)

    SQSBackend.create_queue = create_queue  # type: ignore[method-assign]
    SQSBackend.set_queue_attributes = set_queue_attributes  # type: ignore[method-assign]


class ShortPollSampler:
    """Where a local queue's messages live, and which servers a short poll asks.

    AWS: "With short polling, the ReceiveMessage request queries only a subset of the
    servers (based on a weighted random distribution)" and answers at once, so a receive
    on a small queue may return nothing while messages remain; a long poll queries all of
    them. Locally the n-th message to arrive on a queue lives on server ``n % SERVERS``, and
    each short poll asks ``SAMPLED`` servers drawn from a generator seeded by the queue's
    name (and ``REDRIVE_LOCAL_SQS_SEED``): the same queue name sees the same sequence of
    samples in every process, so tests are repeatable.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: dict[str, int] = {}
        self._arrivals: dict[str, int] = {}
        self._generators: dict[str, random.Random] = {}

    def place(self, queue: Queue, message: Message) -> None:
        with self._lock:
            arrivals = self._arrivals.get(queue.queue_arn, 0)
            self._arrivals[queue.queue_arn] = arrivals + 1
            self._server[message.id] = arrivals % SERVERS

    def sample(self, queue: Queue) -> frozenset[int]:
        with self._lock:
            generator = self._generators.get(queue.queue_arn)
            if generator is None:
                seed = zlib.crc32(f"{os.environ.get(SEED_ENV, '0')}:{queue.name}".encode())
                generator = self._generators[queue.queue_arn] = random.Random(seed)
            return frozenset(generator.sample(range(SERVERS), SAMPLED))

    def on(self, message: Message, servers: frozenset[int]) -> bool:
        return self._server.get(message.id, 0) in servers


SAMPLER = ShortPollSampler()
_polling = threading.local()


@aws_rule(
    "ReceiveMessage: short polling (WaitTimeSeconds 0) queries only a subset of the servers, so it may "
    "return no messages, or some, while the queue holds more; long polling queries all of them"
)
def _sqs_short_poll_sampling() -> None:
    """moto's short poll returns every visible message (up to MaxNumberOfMessages)."""
    add_message = Queue.add_message
    visible = Queue.messages
    receive = SQSBackend.receive_message

    def add(self: Queue, message: Message) -> None:
        SAMPLER.place(self, message)
        add_message(self, message)

    def messages(self: Queue) -> list[Message]:
        listed: list[Message] = visible.fget(self)  # type: ignore[attr-defined]
        servers: frozenset[int] | None = getattr(_polling, "servers", None)
        if servers is None:
            return listed
        return [m for m in listed if SAMPLER.on(m, servers)]

    def receive_message(
        self: SQSBackend, queue_name: str, count: int, wait_seconds_timeout: int, *args: Any, **kwargs: Any
    ) -> list[Message]:
        if not enabled():
            return receive(self, queue_name, count, wait_seconds_timeout, *args, **kwargs)
        queue = self.get_queue(queue_name)
        if not wait_seconds_timeout:
            _polling.servers = SAMPLER.sample(queue)
            try:
                return receive(self, queue_name, count, 0, *args, **kwargs)
            finally:
                _polling.servers = None
        received = receive(self, queue_name, count, 0, *args, **kwargs)
        if not received:
            queue.wait_for_messages(LOCAL_LONG_POLL_SECONDS)  # type: ignore[arg-type]
            received = receive(self, queue_name, count, 0, *args, **kwargs)
        return received

    Queue.add_message = add  # type: ignore[method-assign]
    Queue.messages = property(messages)  # type: ignore[method-assign,assignment]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
