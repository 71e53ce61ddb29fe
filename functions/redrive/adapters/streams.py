"""Read sequence ranges of one shard back from Kinesis or DynamoDB Streams.

One iterator walk covers a shard's ranges in order: GetShardIterator AT_SEQUENCE_NUMBER at
the first range's start, then GetRecords page by page; the walk goes on into the next range
when it gets there within a page, and jumps (a new iterator at the next start) when records
no pointer names lie between. Records reach the caller page by page (``sink``), so a shard is
never held in memory whole.

A range ends at its end record, at its record limit, or past its end. The walk ends when the
shard is closed (no NextShardIterator), at a Kinesis shard's tip (an empty page with
MillisBehindLatest 0), or, on an open DynamoDB Streams shard (which says nothing of its tip),
after ``max_empty_pages`` empty pages in a row: AWS documents that an iterator may answer
empty pages before it reaches the shard's records, so one empty page, or three, end nothing.

What AWS does to a long read is handled, never fatal for the run:
- GetRecords is paced to ``calls_per_second`` per shard (default 2, of the 5 a shard
  serves: the rest is the live consumer's), and a throttle is retried with backoff within
  ``throttle_budget_seconds`` (then :class:`ShardReadThrottled`);
- an expired iterator (5 minutes on Kinesis, 15 on DynamoDB Streams) is acquired again
  after the last record read;
- a trimmed position (TrimmedDataAccessException) starts the walk again at TRIM_HORIZON: what
  was trimmed is missing and the caller counts it as expired.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..contracts.records import StreamRecord, from_dynamodb_get_records, from_kinesis_get_records
from ..errors import ShardReadThrottled, aws_error_code

THROTTLING = {"ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException"}
TRIMMED = {"TrimmedDataAccessException", "InvalidArgumentException"}
# What the SDK refuses before sending it. A start (a DynamoDB Streams sequence number has 21
# to 40 digits): no record of the shard is before a shorter one, none after a longer one, so
# the read starts at TRIM_HORIZON and keeps what is in the range, as for a trimmed start.
# A stream ARN or shard id (DynamoDB Streams: at least 37 and 28 characters): no such stream.
REFUSED = {"ParamValidationError"}
GONE = {"ResourceNotFoundException"}
EXPIRED = "ExpiredIteratorException"
# IAM grants the Fetch role the stack's own source stream only. A pointer naming another
# stream is refused AccessDenied: to this stack that stream is unreadable, as one that is not
# there. AccessDenied on the watched stream itself is a misconfiguration and is raised.
DENIED = {"AccessDeniedException"}

DEFAULT_CALLS_PER_SECOND = 2
DEFAULT_THROTTLE_BUDGET_SECONDS = 30.0
Sink = Callable[[list[StreamRecord]], None]


@dataclass
class RangeTally:
    """What the walk found in one range: how many records, and the last one's position."""

    records: int = 0
    last: int | None = None


@dataclass
class RangeRead:
    records: list[StreamRecord] = field(default_factory=list)  # empty when a sink took them
    get_records_calls: int = 0
    throttled: int = 0
    start_trimmed: bool = False
    stream_missing: bool = False
    iterators_renewed: int = 0
    ranges: list[RangeTally] = field(default_factory=list)


class CallPacer:
    """At most ``per_second`` calls in any one second, per shard (a sliding window)."""

    def __init__(self, per_second: int, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.per_second = max(1, per_second)
        self.clock = clock
        self.sleep = sleep
        self._calls: dict[str, deque[float]] = {}

    def wait_turn(self, shard_key: str) -> None:
        calls = self._calls.setdefault(shard_key, deque())
        now = self.clock()
        while calls and calls[0] <= now - 1.0:
            calls.popleft()
        if len(calls) >= self.per_second:
            self.sleep(calls[0] + 1.0 - now)
            calls.popleft()
        calls.append(max(now, self.clock()))


class _Walk:
    """The iterator of one walk, and where to take it up again."""

    def __init__(self) -> None:
        self.iterator: str | None = None
        self.after: str | None = None  # the last record read: an expired iterator resumes after it


class ShardRangeReader:
    """Reads ranges of one shard; ``source`` picks the API (kinesis | dynamodb)."""

    def __init__(
        self,
        client: Any,
        source: str,
        page_limit: int = 1000,
        max_empty_pages: int = 10,
        max_empty_pages_behind: int = 100,
        calls_per_second: int = DEFAULT_CALLS_PER_SECOND,
        throttle_budget_seconds: float = DEFAULT_THROTTLE_BUDGET_SECONDS,
        max_attempts: int = 30,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        watched_stream_arn: str = "",
    ) -> None:
        self.client = client
        self.source = source
        self.watched_stream_arn = watched_stream_arn
        self.page_limit = page_limit
        self.max_empty_pages = max_empty_pages
        self.max_empty_pages_behind = max_empty_pages_behind
        self.throttle_budget_seconds = throttle_budget_seconds
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.pacer = CallPacer(calls_per_second, clock, sleep)

    # --- calls ------------------------------------------------------------------------
    def _call(self, read: RangeRead, fn: Callable[..., Any], **kwargs: Any) -> Any:
        waited = 0.0
        for attempt in range(self.max_attempts):
            try:
                return fn(**kwargs)
            except Exception as error:
                code = aws_error_code(error)
                if code not in THROTTLING:
                    raise
                read.throttled += 1
                pause = min(5.0, 0.1 * 2**attempt) * (0.5 + random.random() / 2)
                if waited + pause > self.throttle_budget_seconds or attempt == self.max_attempts - 1:
                    raise ShardReadThrottled(
                        f"{fn.__name__} on shard {kwargs.get('ShardId') or 'of this iterator'} was throttled "
                        f"({code}) {read.throttled} times in {waited:.1f} s, past the read's throttle budget "
                        f"of {self.throttle_budget_seconds:g} s"
                    ) from error
                waited += pause
                self.sleep(pause)
        raise AssertionError("unreachable")

    def _iterator(self, read: RangeRead, stream_arn: str, shard_id: str, start: str | None, after: bool = False) -> Any:
        kind = "AFTER_SEQUENCE_NUMBER" if after else "AT_SEQUENCE_NUMBER"
        if self.source == "kinesis":
            kwargs: dict[str, Any] = {"StreamARN": stream_arn, "ShardId": shard_id}
            if start is None:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                kwargs.update(ShardIteratorType=kind, StartingSequenceNumber=start)
        else:
            kwargs = {"StreamArn": stream_arn, "ShardId": shard_id}
            if start is None:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                kwargs.update(ShardIteratorType=kind, SequenceNumber=start)
        return self._call(read, self.client.get_shard_iterator, **kwargs)["ShardIterator"]

    def _not_ours(self, error: Exception, stream_arn: str) -> bool:
        """AccessDenied on a stream other than the one the stack watches (when it is known)."""
        return (
            aws_error_code(error) in DENIED and bool(self.watched_stream_arn) and stream_arn != self.watched_stream_arn
        )

    def _start(self, read: RangeRead, stream_arn: str, shard_id: str, start: str, after: bool = False) -> str | None:
        """An iterator at ``start`` (after it), at TRIM_HORIZON when that was trimmed; None
        when there is no such stream or shard."""
        try:
            return str(self._iterator(read, stream_arn, shard_id, start, after))
        except Exception as error:
            code = aws_error_code(error)
            if code in GONE or self._not_ours(error, stream_arn):
                read.stream_missing = True
                return None
            if code not in TRIMMED | REFUSED:
                raise
            read.start_trimmed = read.start_trimmed or code in TRIMMED
        try:
            return str(self._iterator(read, stream_arn, shard_id, None))
        except Exception as again:
            if aws_error_code(again) not in GONE | REFUSED and not self._not_ours(again, stream_arn):
                raise
            read.stream_missing = True  # no stream has that ARN or shard id
            return None

    def _page(self, read: RangeRead, walk: _Walk, stream_arn: str, shard_id: str, start: str) -> dict[str, Any] | None:
        """The next page of the walk; an expired or trimmed iterator is acquired again."""
        for _ in range(self.max_attempts):
            if walk.iterator is None:
                return None
            self.pacer.wait_turn(f"{stream_arn}|{shard_id}")
            try:
                page: dict[str, Any] = self._call(
                    read, self.client.get_records, ShardIterator=walk.iterator, Limit=self.page_limit
                )
            except Exception as error:
                code = aws_error_code(error)
                read.get_records_calls += 1
                if code == EXPIRED:
                    read.iterators_renewed += 1
                    resume = walk.after or start
                    walk.iterator = self._start(read, stream_arn, shard_id, resume, after=walk.after is not None)
                    continue
                if code == "TrimmedDataAccessException":
                    read.start_trimmed = True
                    read.iterators_renewed += 1
                    walk.iterator = self._start(read, stream_arn, shard_id, walk.after or start, walk.after is not None)
                    continue
                raise
            read.get_records_calls += 1
            return page
        raise ShardReadThrottled(f"shard {shard_id}: its iterator kept expiring or being trimmed while read")

    def _normalise(self, item: dict[str, Any], stream_arn: str, shard_id: str) -> StreamRecord:
        if self.source == "kinesis":
            return from_kinesis_get_records(item, stream_arn, shard_id)
        return from_dynamodb_get_records(item, stream_arn, shard_id)

    # --- reads ------------------------------------------------------------------------
    def read_range(
        self, stream_arn: str, shard_id: str, start: str, end: str, limit: int | None = None, sink: Sink | None = None
    ) -> RangeRead:
        """Records of ``[start, end]``, at most ``limit`` of them (a pointer names at most
        its batchSize records: a range that claims more is never read past that)."""
        return self.read_ranges(stream_arn, shard_id, [(start, end, limit)], sink)

    def read_ranges(
        self,
        stream_arn: str,
        shard_id: str,
        ranges: list[tuple[str, str, int | None]],
        sink: Sink | None = None,
    ) -> RangeRead:
        """The records of disjoint ``(start, end, limit)`` ranges in sequence order, in one
        walk where the ranges follow each other, to ``sink`` page by page (or in
        ``RangeRead.records`` without one)."""
        read = RangeRead(ranges=[RangeTally() for _ in ranges])
        bounds = sorted(((int(s), int(e), n, i) for i, (s, e, n) in enumerate(ranges)), key=lambda b: b[0])
        emit: Sink = sink if sink is not None else read.records.extend
        walk = _Walk()
        current = 0
        jumped: set[int] = set()
        walk.iterator = self._start(read, stream_arn, shard_id, str(bounds[0][0])) if bounds else None
        empty_pages = 0
        while current < len(bounds) and walk.iterator is not None:
            page = self._page(read, walk, stream_arn, shard_id, str(bounds[current][0]))
            if page is None:
                break
            items = page.get("Records", [])
            kept: list[StreamRecord] = []
            gap = False  # records no range names, before the current range
            for item in items:
                record = self._normalise(item, stream_arn, shard_id)
                seq = record.position
                walk.after = record.sequence_number
                while current < len(bounds) and self._range_done(read, bounds[current], seq):
                    current += 1
                if current == len(bounds):
                    break
                low, high, limit, index = bounds[current]
                if seq < low:
                    gap = True
                    continue
                kept.append(record)
                tally = read.ranges[index]
                tally.records += 1
                tally.last = seq
                if seq >= high or (limit is not None and tally.records >= limit):
                    current += 1
            if kept:
                emit(kept)
            if current == len(bounds):
                break
            walk.iterator = page.get("NextShardIterator")
            if items:
                empty_pages = 0
                low = bounds[current][0]
                if gap and walk.iterator is not None and low not in jumped:
                    jumped.add(low)  # the next range is further on: a new iterator at its start
                    walk.iterator = self._start(read, stream_arn, shard_id, str(low))
                    walk.after = None
                continue
            empty_pages += 1
            behind = page.get("MillisBehindLatest")
            if behind == 0:
                break  # Kinesis: at the tip, nothing more to come
            allowed = self.max_empty_pages_behind if behind else self.max_empty_pages
            if empty_pages >= allowed:
                break
        return read

    @staticmethod
    def _range_done(read: RangeRead, bound: tuple[int, int, int | None, int], seq: int) -> bool:
        _, high, limit, index = bound
        tally = read.ranges[index]
        return seq > high or (limit is not None and tally.records >= limit)
