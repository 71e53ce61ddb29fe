"""Lanes, batches and slices: how a redrive spreads over its concurrency and keeps its order.

- **Lanes.** ``ordered`` (the default): a record's lane is a stable hash of its stream and
  partition key (for DynamoDB Streams, of its item's keys) modulo ``concurrency``, so one
  key's records are all in one lane, in sequence order, while the keys spread over the
  lanes, whatever the number of shards. ``unordered``: batches are dealt to the lanes in
  turn, nothing is kept in order, every lane is as full as the others.
- **Batches.** At most ``batchSize`` records of one consumer, stream and shard (the event a
  consumer's mapping sends holds one shard), in sequence order; when ``batchSize`` is the
  stack's default, an invoked consumer's batches are no larger than its own mapping sends
  (``core/planning.py: consumer_batch_sizes``).
- **Slices and rounds.** A lane's batches are cut into slices of at most
  :func:`slice_batches`; round ``r`` is the ``r``-th slice of every lane. The state machine
  runs the rounds one after another, each a Distributed Map over its slices (one child
  workflow per slice, its batches one after another): a lane's slices never run at once,
  so its order holds, and no execution's history or payload grows with the records.

A slice is sized so its child ends well inside the 5 minutes an Express workflow may run:
with ``lanes`` lanes sharing ``ratePerSecond``, a lane sends a batch every
``batchSize * lanes / ratePerSecond`` seconds (:func:`lane_cycle_seconds`); a slice holds at
most :data:`SLICE_SECONDS` of those cycles and at most :data:`MAX_SLICE_BATCHES` batches
(so a slow target, up to 4 s a batch, still ends in time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from ..contracts.plan import Batch, RedriveSlice
from ..contracts.records import StreamRecord, dynamodb_partition_key
from ..contracts.vocab import Ordering, Source, Target
from ..errors import RedriveError

SLICE_SECONDS = 100.0
MAX_SLICE_BATCHES = 50
MAX_ROUNDS = 2000
"""Each round costs the parent execution about ten history events: 2,000 keep it far below
Step Functions' 25,000 (at the defaults, 2,000 rounds are 10 million records)."""


class TooManyRounds(RedriveError):
    """The redrive would need more rounds than one execution's history holds."""


GroupKey = tuple[int, str, Source, str, str]  # lane, function, source, stream, shard


def lane_cycle_seconds(batch_size: int, lanes: int, rate_per_second: float) -> float:
    """How often one lane sends a batch when ``lanes`` lanes share the rate."""
    return batch_size * lanes / rate_per_second


def slice_batches(batch_size: int, lanes: int, rate_per_second: float) -> int:
    """Batches per slice: at most SLICE_SECONDS of a lane's sending, at least one."""
    cycles = int(SLICE_SECONDS // lane_cycle_seconds(batch_size, max(1, lanes), rate_per_second))
    return max(1, min(MAX_SLICE_BATCHES, cycles))


def ordering_key(record: StreamRecord) -> str:
    """What a record must stay in order with: its partition key (DynamoDB: its item's keys)."""
    if record.source is Source.DYNAMODB and record.keys:
        key = dynamodb_partition_key(record.keys)
    else:
        key = record.partition_key if record.partition_key is not None else record.record_id
    return f"{record.stream_arn}\x00{key}"


def lane_of(record: StreamRecord, concurrency: int) -> int:
    """A stable lane for the record's key (the same in every run and every process)."""
    digest = hashlib.blake2b(ordering_key(record).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % max(1, concurrency)


def cut_lane_batches(
    to_redrive: Iterable[tuple[StreamRecord, str]],
    target: Target,
    batch_size: int,
    concurrency: int,
    ordering: Ordering,
    consumer_batch_sizes: Mapping[tuple[str, str], int] | None = None,
) -> list[Batch]:
    """Batches for ``(original record, consumer function)`` pairs, numbered lane by lane; a
    ``(function, stream ARN)`` in ``consumer_batch_sizes`` gets batches of at most that many
    records."""
    limits = consumer_batch_sizes or {}
    target = Target(target)
    ordered = Ordering(ordering) is Ordering.ORDERED
    groups: dict[GroupKey, list[StreamRecord]] = {}
    for record, function in to_redrive:
        lane = lane_of(record, concurrency) if ordered else 0
        groups.setdefault((lane, function, record.source, record.stream_arn, record.shard_id), []).append(record)
    cut: list[tuple[GroupKey, list[StreamRecord]]] = []
    for key, members in sorted(groups.items()):
        members.sort(key=lambda r: r.position)
        size = max(1, min(batch_size, limits.get((key[1], key[3]), batch_size)))
        cut.extend((key, members[start : start + size]) for start in range(0, len(members), size))
    batches: list[Batch] = []
    for index, ((lane, function, source, stream_arn, shard_id), records) in enumerate(cut):
        batches.append(
            Batch(
                batch_id="",
                lane=lane if ordered else index % max(1, concurrency),
                target=target,
                function_arn=function or None,
                source=source,
                stream_arn=stream_arn,
                shard_id=shard_id,
                records=records,
            )
        )
    # Lanes numbered 0.. in use, batch ids in lane order: a lane's ids sort as it sends them.
    used = {lane: number for number, lane in enumerate(sorted({b.lane for b in batches}))}
    batches.sort(key=lambda b: used[b.lane])  # stable: each lane keeps its batches' order
    for number, batch in enumerate(batches, start=1):
        batch.lane = used[batch.lane]
        batch.batch_id = f"b{number:05d}"
    return batches


def lanes_of(batches: Iterable[Batch]) -> list[list[str]]:
    """Batch ids per lane, each in the order it must go."""
    lanes: dict[int, list[str]] = {}
    for batch in batches:
        lanes.setdefault(batch.lane, []).append(batch.batch_id)
    return [lanes[k] for k in sorted(lanes)]


def rounds_of(lanes: list[list[str]], per_slice: int) -> list[list[RedriveSlice]]:
    """Round ``r``: the ``r``-th slice of every lane that has one; TooManyRounds past MAX_ROUNDS."""
    longest = max((len(lane) for lane in lanes), default=0)
    count = -(-longest // per_slice)
    if count > MAX_ROUNDS:
        raise TooManyRounds(
            f"the redrive needs {count} rounds of at most {per_slice} batches per lane, more than the {MAX_ROUNDS} "
            "one execution can hold: raise redrive.ratePerSecond, redrive.batchSize or redrive.concurrency, "
            "or lower maxMessages (every message goes back to the DLQ)"
        )
    return [
        [
            RedriveSlice(lane=number, batch_ids=lane[r * per_slice : (r + 1) * per_slice])
            for number, lane in enumerate(lanes)
            if len(lane) > r * per_slice
        ]
        for r in range(count)
    ]
