"""Every S3 key of a run, in one place.

Layout under ``runs/<runId>/``::

    run.json                 the RunConfig, written by Prepare (the abort handler reads it)
    messages/<page>.json     DLQ messages, each page durable before it leaves the DLQ
    manifest.json            every message's kind, and the fetch groups
    groups/<groupId>.json    one shard's pointer ranges to read
    fetched/<groupId>.json   what a group's read found: its chunks' keys and each pointer's records
                             (records carried inline by messages: fetched/inline-<messageId>.json)
    fetched-chunks/<groupId>/<n>.json  the records read back, written as the read goes
    plan.json                every record's class and action; batches and lanes
    batches/<batchId>.json   the records of one redrive batch
    redrive/rounds/<r>.json  round r of the redrive: the r-th slice of every lane (the
                             Distributed Map's ItemReader reads it; r from 0, unpadded)
    redrive/errors/<batchId>.json  why a batch's send raised (the run then fails into Release)
    results/<batchId>.json   what the target did with them
    discarded/<recordId>.json  archived discards, with rule and reason
    records/<recordId>.json  large failed records sent back to the DLQ by reference
    approval.json            the approval request (subject, deadline)
    disposition.json         what goes back to the DLQ, fixed once (see contracts/ledger.py)
    sent/<chunk>.json        each chunk of it, once SQS accepted it
    report.json              the run's report
"""

from __future__ import annotations

from dataclasses import dataclass

RUNS_PREFIX = "runs/"


def run_id_from_execution_arn(execution_arn: str) -> str:
    """The run id is the execution's name: the last field of its ARN."""
    return execution_arn.rsplit(":", 1)[-1]


def _safe(name: str) -> str:
    return name.replace("/", "_")


@dataclass(frozen=True)
class RunPaths:
    run_id: str

    @classmethod
    def for_execution(cls, execution_arn: str) -> RunPaths:
        return cls(run_id_from_execution_arn(execution_arn))

    @property
    def prefix(self) -> str:
        return f"{RUNS_PREFIX}{self.run_id}/"

    @property
    def run_config(self) -> str:
        return f"{self.prefix}run.json"

    @property
    def messages(self) -> str:
        return f"{self.prefix}messages/"

    def message_page(self, number: int) -> str:
        """Pages are numbered from 1 in the order Collect registered them."""
        return f"{self.messages}{number:06d}.json"

    @property
    def manifest(self) -> str:
        return f"{self.prefix}manifest.json"

    def group(self, group_id: str) -> str:
        return f"{self.prefix}groups/{group_id}.json"

    @property
    def fetched(self) -> str:
        return f"{self.prefix}fetched/"

    def fetched_group(self, group_id: str) -> str:
        return f"{self.fetched}{group_id}.json"

    def fetched_chunk(self, group_id: str, number: int) -> str:
        """Outside ``fetched/``: a listing of the groups never meets their chunks."""
        return f"{self.prefix}fetched-chunks/{group_id}/{number:06d}.json"

    def fetched_inline(self, message_id: str) -> str:
        return f"{self.fetched}inline-{_safe(message_id)}.json"

    @property
    def plan(self) -> str:
        return f"{self.prefix}plan.json"

    @property
    def batches(self) -> str:
        return f"{self.prefix}batches/"

    def batch(self, batch_id: str) -> str:
        return f"{self.batches}{batch_id}.json"

    @property
    def redrive_rounds(self) -> str:
        """The prefix of the round manifests; the state machine appends ``<r>.json``."""
        return f"{self.prefix}redrive/rounds/"

    def redrive_round(self, index: int) -> str:
        return f"{self.redrive_rounds}{index}.json"

    @property
    def redrive_errors(self) -> str:
        return f"{self.prefix}redrive/errors/"

    def redrive_error(self, batch_id: str) -> str:
        return f"{self.redrive_errors}{batch_id}.json"

    @property
    def results(self) -> str:
        return f"{self.prefix}results/"

    def result(self, batch_id: str) -> str:
        return f"{self.results}{batch_id}.json"

    def discarded(self, record_id: str) -> str:
        return f"{self.prefix}discarded/{_safe(record_id)}.json"

    def requeued_record(self, record_id: str) -> str:
        return f"{self.prefix}records/{_safe(record_id)}.json"

    @property
    def approval(self) -> str:
        return f"{self.prefix}approval.json"

    @property
    def disposition(self) -> str:
        return f"{self.prefix}disposition.json"

    def sent_chunk(self, index: int) -> str:
        return f"{self.prefix}sent/{index:06d}.json"

    @property
    def report(self) -> str:
        return f"{self.prefix}report.json"
