"""The run's data in S3, typed: each artefact is parsed into its contract when read.

One place for every read and write of a run's objects, over the ObjectStore port and the
keys of :class:`~redrive.contracts.paths.RunPaths`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from ..contracts.fetch import FetchedChunk, FetchedGroup, FetchGroup
from ..contracts.ledger import Disposition
from ..contracts.messages import DlqMessage, Manifest, MessagePage
from ..contracts.paths import RunPaths
from ..contracts.plan import Batch, PlanDocument
from ..contracts.redrive import BatchResult
from ..contracts.report import Report
from ..contracts.run import RunConfig
from .fetch_groups import with_failure_context
from .ports import ObjectStore

M = TypeVar("M", bound=BaseModel)


class RunData:
    def __init__(self, store: ObjectStore, paths: RunPaths) -> None:
        self.store = store
        self.paths = paths

    # --- generic ----------------------------------------------------------------------
    def put(self, key: str, model: BaseModel | list[Any]) -> None:
        if isinstance(model, BaseModel):
            self.store.put_json(key, model.model_dump(mode="json", by_alias=True))
        else:
            self.store.put_json(key, [m.model_dump(mode="json", by_alias=True) for m in model])

    def get(self, key: str, model: type[M]) -> M:
        return model.model_validate(self.store.get_json(key))

    def get_optional(self, key: str, model: type[M]) -> M | None:
        return self.get(key, model) if self.store.exists(key) else None

    # --- artefacts --------------------------------------------------------------------
    def run_config(self) -> RunConfig | None:
        return self.get_optional(self.paths.run_config, RunConfig)

    def page(self, number: int) -> MessagePage | None:
        return self.get_optional(self.paths.message_page(number), MessagePage)

    def held_messages(self, pages: int) -> dict[str, DlqMessage]:
        """The messages the run holds: those of its registered pages 1..``pages`` that SQS
        deleted, each once by id (a message received twice is held once)."""
        return self.ledger_pages(pages)[0]

    def ledger_pages(self, pages: int) -> tuple[dict[str, DlqMessage], set[str]]:
        """Pages 1..``pages`` read once: the held messages, and the ids SQS never deleted on
        any of them (still in the DLQ, out of the run)."""
        held: dict[str, DlqMessage] = {}
        undeleted: set[str] = set()
        for number in range(1, pages + 1):
            page = self.page(number)
            if page is None:
                continue  # registered, then lost before it was written: cannot happen (written first)
            not_deleted = set(page.undeleted)
            undeleted |= not_deleted
            for message in page.messages:
                if message.message_id not in not_deleted:  # received again and deleted on a later page counts
                    held.setdefault(message.message_id, message)
        return held, undeleted - set(held)

    def manifest(self) -> Manifest | None:
        return self.get_optional(self.paths.manifest, Manifest)

    def group(self, group_id: str) -> FetchGroup:
        return self.get(self.paths.group(group_id), FetchGroup)

    def fetched_groups(self) -> list[FetchedGroup]:
        """Every group's read, its records loaded from its chunks (with the failure context
        of the first pointer naming each)."""
        groups = []
        for key in self.store.list_keys(self.paths.fetched):
            group = self.get(key, FetchedGroup)
            if group.chunks:
                records = [r for chunk in group.chunks for r in self.get(chunk, FetchedChunk).records]
                group.records = with_failure_context(group.records + records, group.assignments)
            groups.append(group)
        return groups

    def plan(self) -> PlanDocument | None:
        return self.get_optional(self.paths.plan, PlanDocument)

    def batch(self, batch_id: str) -> Batch:
        return self.get(self.paths.batch(batch_id), Batch)

    def result(self, batch_id: str) -> BatchResult | None:
        return self.get_optional(self.paths.result(batch_id), BatchResult)

    def results(self) -> dict[str, BatchResult]:
        loaded = (self.get(key, BatchResult) for key in self.store.list_keys(self.paths.results))
        return {result.batch_id: result for result in loaded}

    def report(self) -> Report | None:
        return self.get_optional(self.paths.report, Report)

    def disposition(self) -> Disposition | None:
        return self.get_optional(self.paths.disposition, Disposition)
