"""Faults injected into the local stack's AWS (moto's backends, in this process), and the
ledger as a test sees it: the DLQ's messages with their attributes, a run's lease.

A fault replaces one backend method for as long as it is installed: the call a function
makes over HTTP reaches moto's backend, which raises a service error that moto serialises
as AWS would (a 4xx the SDK does not retry, unless the code says otherwise). Only the
functional and workflow tiers import this module.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redrive.contracts.messages import RETURNED_ATTRIBUTE
from redrive_local.engine import ACCOUNT, REGION

Matches = Callable[..., bool]


class Fault:
    """``owner.name`` raises ``error()`` for its first ``times`` calls that ``matches``
    (called with the method's arguments); every other call goes through unchanged."""

    def __init__(
        self, owner: type, name: str, error: Callable[[], Exception], times: int, matches: Matches | None = None
    ) -> None:
        self.owner = owner
        self.name = name
        self.error = error
        self.times = times
        self.matches = matches or (lambda *args, **kwargs: True)
        self.calls = 0  # matching calls seen, failed or not
        self.failed = 0
        self._lock = threading.Lock()
        self._original: Any = None

    def _wrap(self, original: Any) -> Any:
        fault = self

        def faulty(backend: Any, *args: Any, **kwargs: Any) -> Any:
            if fault.matches(*args, **kwargs):
                with fault._lock:
                    fault.calls += 1
                    fail = fault.failed < fault.times
                    if fail:
                        fault.failed += 1
                if fail:
                    raise fault.error()
            return original(backend, *args, **kwargs)

        return faulty

    @property
    def exhausted(self) -> bool:
        return self.failed >= self.times

    def install(self) -> None:
        assert self._original is None, "installed twice"
        self._original = self.owner.__dict__[self.name]
        setattr(self.owner, self.name, self._wrap(self._original))

    def restore(self) -> None:
        if self._original is not None:
            setattr(self.owner, self.name, self._original)
            self._original = None


@contextmanager
def injected(fault: Fault) -> Iterator[Fault]:
    fault.install()
    try:
        yield fault
    finally:
        fault.restore()


# --- the ledger, read without disturbing it ------------------------------------------------


def _queue(queue_url: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[ACCOUNT][REGION].queues[queue_url.rstrip("/").rsplit("/", 1)[-1]]


def dlq_messages(queue_url: str) -> Counter[tuple[str, str]]:
    """Every message in the queue (visible or in flight) as (body, its own message attributes
    as sorted JSON; not the marker of the run that last returned it): a multiset, so a
    message sent back twice counts twice."""
    return Counter(
        (m.body, json.dumps(_own(m.message_attributes), sort_keys=True, default=str))
        for m in _queue(queue_url)._messages
    )


def _own(attributes: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in attributes.items() if name != RETURNED_ATTRIBUTE}


def lease_item(engine: Any, table: str, run_id: str) -> dict[str, Any] | None:
    """The run's lease item (``run#<runId>``) in the state table, as DynamoDB holds it."""
    item = engine.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"run#{run_id}"}}, ConsistentRead=True)
    found: dict[str, Any] | None = item.get("Item")
    return found


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 20.0, interval: float = 0.01) -> Any:
    """Poll ``condition`` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g}s")
