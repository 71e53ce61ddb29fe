"""Collect for an S3-sourced run: the objects an S3 on-failure destination wrote become the
run's messages, in the same ledger pages as DLQ messages.

Each object is one message: its key is the message id, its content (the invocation record
with ``payload``, the whole failed batch) the body, so classification, planning and the
report treat it as any ``s3-destination`` message. Unlike a DLQ message, an object is not
taken out of its bucket when the run holds it: it stays where it is until the settle
finishes it (deletes it, once every record it carries has an outcome) or returns it (leaves
it in place). Whatever fails, and whenever, each object is in its bucket or finished.
"""

from __future__ import annotations

from ..contracts.messages import DlqMessage, MessagePage
from ..contracts.run import S3Source
from ..errors import Fenced
from .collect import CollectResult, build_manifest
from .ports import FailureObjects, RunLeases
from .run_data import RunData

MAX_PAGE_OBJECTS = 10
MAX_PAGE_BYTES = 4 * 1024 * 1024
"""A page holds at most this much object content (one object may be larger: it is alone)."""
MAX_RUN_BYTES = 64 * 1024 * 1024
"""A run holds at most this much object content (at least one object): Collect, Plan and the
settle keep a run's messages in memory, and one object can carry a 6 MB failed batch. What
is left stays in the bucket for the next run (the schedule, or the next object written)."""


def hold_failure_objects(
    objects: FailureObjects, data: RunData, leases: RunLeases, source: S3Source, max_messages: int
) -> dict[str, DlqMessage]:
    """Read up to ``max_messages`` objects under the source's prefix into ledger pages, each
    page registered in the run's lease (fenced: once the run is closed, nothing more is
    held). A retried Collect keeps the pages already registered and reads the rest."""
    lease = leases.lease(data.paths.run_id)
    number = lease.pages if lease else 0
    held, _ = data.ledger_pages(number)
    wanted = max_messages - len(held)
    if wanted <= 0:
        return held
    keys = [key for key in objects.list_keys(source.prefix, max_messages + len(held)) if key not in held][:wanted]
    page: list[DlqMessage] = []
    size = 0
    run_bytes = sum(len(m.body) for m in held.values())
    for key in keys:
        if (held or page) and run_bytes >= MAX_RUN_BYTES:
            break
        message = objects.read(key)
        if message is None:
            continue
        run_bytes += len(message.body)
        if page and (len(page) >= MAX_PAGE_OBJECTS or size + len(message.body) > MAX_PAGE_BYTES):
            number += 1
            if not _register(page, number, data, leases, held):
                return held
            page, size = [], 0
        page.append(message)
        size += len(message.body)
    if page:
        _register(page, number + 1, data, leases, held)
    return held


def _register(
    page: list[DlqMessage], number: int, data: RunData, leases: RunLeases, held: dict[str, DlqMessage]
) -> bool:
    data.put(data.paths.message_page(number), MessagePage(number=number, messages=page))
    try:
        leases.register_page(data.paths.run_id, number)
    except Fenced:
        return False
    for message in page:
        held.setdefault(message.message_id, message)
    return True


def collect_failure_objects(
    objects: FailureObjects, data: RunData, leases: RunLeases, source: S3Source, max_messages: int
) -> CollectResult:
    held = hold_failure_objects(objects, data, leases, source, max_messages)
    return build_manifest(list(held.values()), data)
