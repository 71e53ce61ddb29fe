"""Whole runs over generated DLQs: nothing lost, nothing altered, nothing delivered twice,
every decision right, and the lock released, in complete and release mode, with faults
injected and retried as the state machine retries them."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redrive.contracts.vocab import FinalizeMode
from tests.reliability.profiles import profile
from tests.reliability.runs import Faults, Message, World, audit, run_world, worlds


def _check(run: object) -> None:
    problems = audit(run).problems()  # type: ignore[arg-type]
    assert not problems, "\n".join(problems[:20])


@profile("run")
@given(worlds(), st.sampled_from([1, 3, 10]), st.sampled_from([1, 4, 10]))
def test_a_complete_run_loses_nothing(world: World, batch_size: int, page_size: int) -> None:
    _check(run_world(world, FinalizeMode.COMPLETE, batch_size=batch_size, page_size=page_size))


@profile("run")
@given(worlds(), st.integers(-1, 6), st.sampled_from([1, 4]))
def test_a_released_run_loses_nothing(world: World, reached: int, batch_size: int) -> None:
    """The run failed: before the fetch (-1), or after the redrive got to ``reached`` batches."""
    _check(run_world(world, FinalizeMode.RELEASE, batch_size=batch_size, batches_reached=reached))


@profile("collect-crash")
@given(worlds(), st.integers(1, 4), st.sampled_from([FinalizeMode.COMPLETE, FinalizeMode.RELEASE]))
def test_collect_dying_between_store_and_delete_then_retried(world: World, on_delete: int, mode: FinalizeMode) -> None:
    _check(run_world(world, mode, page_size=3, faults=Faults(collect_crash_on_delete=on_delete)))


@profile("redrive-crash")
@given(worlds(), st.integers(1, 5))
def test_redrive_dying_after_delivery_then_retried(world: World, after_batch: int) -> None:
    _check(run_world(world, FinalizeMode.COMPLETE, batch_size=2, faults=Faults(redrive_crash_after_batch=after_batch)))


@profile("finalize-crash")
@given(worlds(), st.integers(0, 6), st.sampled_from([FinalizeMode.COMPLETE, FinalizeMode.RELEASE]))
def test_finalize_dying_part_way_then_retried_loses_nothing(world: World, sends: int, mode: FinalizeMode) -> None:
    """Every message is back or accounted for; what a retry adds is only copies of what the
    first attempt had already sent (at least once, not exactly once: see the next test)."""
    run = run_world(world, mode, faults=Faults(finalize_crash_after_sends=sends))
    result = audit(run)
    assert not (result.lost or result.delivered_twice or result.wrong or result.lock_leaks), result.problems()[:20]


def test_finalize_dying_part_way_then_retried_resends_at_most_the_chunk_in_progress() -> None:
    """A settle marks each chunk of sends (50) once SQS accepted it: a retry after a send
    failed part way resends only the chunk it stopped in. Three messages go back whole, the
    second send fails, the retry sends the chunk again: nothing lost, the first one twice."""
    world = World(records={}, in_stream=[], messages=[Message(f"not a pointer {i}", {}, None) for i in range(3)])
    run = run_world(world, FinalizeMode.RELEASE, faults=Faults(finalize_crash_after_sends=1))
    result = audit(run)
    assert not (result.lost or result.delivered_twice or result.wrong or result.lock_leaks), result.problems()
    sent = Counter(body for body, _ in run.dlq.sent)
    assert sent == Counter({"not a pointer 0": 2, "not a pointer 1": 1, "not a pointer 2": 1})


def test_a_dynamodb_number_beyond_dynamodbs_range_is_refused_not_expanded() -> None:
    from redrive.rules.dynamodb_json import InvalidAttributeValue, from_attribute_value

    with pytest.raises(InvalidAttributeValue):
        from_attribute_value({"N": "1e1000"})
