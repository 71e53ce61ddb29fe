"""Collect: move DLQ messages into the run's manifest without losing one.

Each received page is written to S3 and registered in the run's lease *before* its
messages are deleted from the DLQ. A crash between the two leaves a message in both
places (it is then read once: the manifest is keyed by MessageId), never in neither.

The DLQ is read with long polls: a short poll asks only some of SQS's servers, so on a
small queue it often returns nothing while messages remain, and a collection that stopped
there would take part of the DLQ, or none. Collection stops when a long poll returns
nothing, when ``max_messages`` are held, or when the function's time left is too short for
another poll and the writes after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from ..contracts.base import Contract, validation_summary
from ..contracts.fetch import FetchedGroup, PointerAssignment
from ..contracts.messages import (
    DlqMessage,
    GroupPointer,
    Manifest,
    ManifestEntry,
    MessagePage,
    ReceivedMessage,
    RedriveMarker,
    returned_by,
)
from ..contracts.records import StreamRecord
from ..contracts.vocab import MessageKind
from ..errors import Fenced
from .fetch_groups import build_fetch_groups
from .messages import ClassifiedMessage, classify_message
from .ports import MessageSource, RunLeases
from .run_data import RunData

LONG_POLL_SECONDS = 20
"""SQS's longest wait for a ReceiveMessage."""
RESERVE_SECONDS = 30
"""What Collect keeps of its function's time after its last poll: writing the last page,
registering it, deleting its messages, and the manifest."""

TimeLeft = Callable[[], float]
"""Seconds the function has left (the Lambda context's remaining time)."""


def poll_wait_seconds(time_left: TimeLeft | None) -> int:
    """How long the next receive may wait: 20 s, less when the function's time is short;
    0 means there is no time for another poll (stop, the rest stays in the DLQ)."""
    if time_left is None:
        return LONG_POLL_SECONDS
    return max(0, min(LONG_POLL_SECONDS, int(time_left() - RESERVE_SECONDS)))


class CollectResult(Contract):
    messages: int = 0
    kinds: dict[str, int] = {}
    groups: list[str] = []
    undeleted: list[str] = []
    left_in_place: int = 0
    """Messages earlier runs sent back, left in the DLQ by a run the alarm started."""


def move_messages_to_manifest(
    dlq: MessageSource,
    data: RunData,
    leases: RunLeases,
    max_messages: int,
    time_left: TimeLeft | None = None,
    leave_returned: bool = False,
) -> list[DlqMessage]:
    """Receive up to ``max_messages``; each page durable in S3, then registered in the run's
    lease, then deleted from the DLQ.

    A retried Collect starts after the pages already registered. Registration is fenced:
    once the run is closed (aborted, ended), no page is registered and nothing more is
    deleted, so a Collect still running after its execution ended loses nothing (the page
    it wrote is not held; its messages reappear in the DLQ after the visibility timeout).
    Messages SQS did not delete stay in the DLQ and out of the run. Each receive is a long
    poll (:func:`poll_wait_seconds`); an empty one ends the collection.

    With ``leave_returned`` (a run the alarm started), messages an earlier run sent back
    (``RETURNED_ATTRIBUTE``) are not taken: they stay invisible while the collection goes
    on (so the long polls reach the rest) and are made visible again at its end. A crash
    before that leaves them to their visibility timeout: in the DLQ either way.
    """
    return list(_move(dlq, data, leases, max_messages, time_left, leave_returned).held.values())


@dataclass
class _Moved:
    held: dict[str, DlqMessage]
    not_deleted: set[str]
    left_in_place: int = 0


def _move(
    dlq: MessageSource,
    data: RunData,
    leases: RunLeases,
    max_messages: int,
    time_left: TimeLeft | None,
    leave_returned: bool,
) -> _Moved:
    """The held messages by id and the ids SQS did not delete (the ledger read once), and
    how many returned messages were left in the DLQ."""
    lease = leases.lease(data.paths.run_id)
    number = lease.pages if lease else 0
    held, not_deleted = data.ledger_pages(number)
    left: list[ReceivedMessage] = []
    try:
        while len(held) < max_messages:
            wait = poll_wait_seconds(time_left)
            if wait < 1:
                break
            received = dlq.receive(max_messages - len(held), wait)
            if not received:
                break
            if leave_returned:
                left += [m for m in received if returned_by(m) is not None]
                received = [m for m in received if returned_by(m) is None]
                if not received:
                    continue
            number += 1
            page = MessagePage(number=number, messages=[m.stored() for m in received])
            data.put(data.paths.message_page(number), page)
            try:
                leases.register_page(data.paths.run_id, number)
            except Fenced:
                break
            undeleted = set(dlq.delete(received))
            if undeleted:  # SQS reports failed entries one by one; try those once more
                undeleted = set(dlq.delete([m for m in received if m.message_id in undeleted]))
                if undeleted:
                    data.put(data.paths.message_page(number), page.model_copy(update={"undeleted": sorted(undeleted)}))
            not_deleted |= undeleted
            for message in page.messages:
                if message.message_id not in undeleted:
                    held.setdefault(message.message_id, message)
    finally:
        if left:
            dlq.release(left)
    return _Moved(held, not_deleted - set(held), len(left))


class UnreadableMessage(Exception):
    """A message whose records cannot be taken from it (the reason says why)."""


def _marker_record(marker: RedriveMarker, data: RunData) -> StreamRecord:
    """The record a re-queued message carries, read back from S3 when it went by reference."""
    record = marker.record
    if record is None:
        assert marker.record_ref is not None
        if not data.store.exists(marker.record_ref.key):
            ref = marker.record_ref
            raise UnreadableMessage(f"its record reference s3://{ref.bucket}/{ref.key} is gone")
        try:
            record = StreamRecord.model_validate(data.store.get_json(marker.record_ref.key))
        except ValidationError as error:
            raise UnreadableMessage(f"its referenced record is not valid: {validation_summary(error)}") from None
    return record.model_copy(update={"failure": marker.failure})


def _inline_records(message_id: str, classified: ClassifiedMessage, data: RunData) -> FetchedGroup:
    """Records that travel with the message (S3 destination payload, re-queued record)."""
    if classified.marker is not None:
        record = _marker_record(classified.marker, data)
        return FetchedGroup(
            group_id="inline",
            records=[record],
            assignments=[PointerAssignment(message_id=message_id, record_ids=[record.record_id])],
        )
    records = classified.payload_records
    return FetchedGroup(
        group_id="inline",
        records=records,
        assignments=[
            PointerAssignment(
                message_id=message_id, record_ids=[r.record_id for r in records], pointer=classified.pointer
            )
        ],
    )


def build_manifest(messages: list[DlqMessage], data: RunData) -> CollectResult:
    """Classify every message; write the manifest, the fetch groups and inline records."""
    result = CollectResult(messages=len(messages))
    entries = []
    pointers: list[GroupPointer] = []
    for message in messages:
        classified = classify_message(message.body)
        if classified.kind.carries_records:
            try:
                inline = _inline_records(message.message_id, classified, data)
            except UnreadableMessage as error:
                classified = ClassifiedMessage(MessageKind.UNRECOGNISED, reason=str(error))
            else:
                data.put(data.paths.fetched_inline(message.message_id), inline)
        result.kinds[classified.kind] = result.kinds.get(classified.kind, 0) + 1
        entries.append(
            ManifestEntry(
                message_id=message.message_id,
                kind=classified.kind,
                reason=classified.reason or None,
                pointer=classified.pointer,
            )
        )
        if classified.kind.is_pointer and classified.pointer:
            pointers.append(GroupPointer(message_id=message.message_id, **classified.pointer.model_dump()))
    groups = build_fetch_groups(pointers)
    for group in groups:
        data.put(data.paths.group(group.group_id), group)
    result.groups = [g.group_id for g in groups]
    data.put(data.paths.manifest, Manifest(messages=entries, groups=result.groups))
    return result


def collect(
    dlq: MessageSource,
    data: RunData,
    leases: RunLeases,
    max_messages: int,
    time_left: TimeLeft | None = None,
    leave_returned: bool = False,
    record_left: Callable[[int], None] | None = None,
) -> CollectResult:
    """Move the messages (:func:`move_messages_to_manifest`) and build the manifest;
    ``record_left`` is told how many returned messages were left in the DLQ (the
    DlqArrivals check counts them as not new)."""
    moved = _move(dlq, data, leases, max_messages, time_left, leave_returned)
    if record_left is not None:
        record_left(moved.left_in_place)
    result = build_manifest(list(moved.held.values()), data)
    result.undeleted = sorted(moved.not_deleted)
    result.left_in_place = moved.left_in_place
    return result
