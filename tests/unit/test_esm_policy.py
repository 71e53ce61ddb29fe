"""The event source mapping's retry, bisect and checkpoint policy, without AWS: every branch
of ``next_action`` and how each action reads in the step log."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from redrive_local.esm_events import MappingConfig
from redrive_local.esm_policy import Action, ActionKind, Outcome, next_action


@dataclass(frozen=True)
class Settings:
    bisect: bool = False
    maximum_retry_attempts: int = -1


FAILURES: tuple[Outcome, ...] = ("function-error", "invalid-response")


def test_success_checkpoints_whatever_the_settings() -> None:
    for settings in (Settings(), Settings(bisect=True, maximum_retry_attempts=0)):
        assert next_action("ok", -1, 5, 3, settings) == Action(ActionKind.CHECKPOINT)


def test_partial_after_the_first_record_checkpoints_before_it() -> None:
    action = next_action("partial", 2, 5, 0, Settings(bisect=True, maximum_retry_attempts=0))
    assert action == Action(ActionKind.CHECKPOINT_PARTIAL, at=2)


def test_partial_at_the_first_record_is_retried_not_bisected() -> None:
    assert next_action("partial", 0, 5, 0, Settings(bisect=True)) == Action(ActionKind.RETRY, retries=1)
    assert next_action("partial", 0, 5, 1, Settings(maximum_retry_attempts=1)) == Action(ActionKind.GIVE_UP)


def test_failed_invoke_is_retried_without_counting() -> None:
    exhausted = Settings(bisect=True, maximum_retry_attempts=0)
    assert next_action("invoke-error", -1, 5, 0, exhausted) == Action(ActionKind.RETRY_UNCOUNTED)


@pytest.mark.parametrize("outcome", FAILURES)
@pytest.mark.parametrize(("batch_len", "half"), [(2, 1), (5, 3), (6, 3)])
def test_failed_batch_bisects_first_half_rounded_up(outcome: Outcome, batch_len: int, half: int) -> None:
    action = next_action(outcome, -1, batch_len, 0, Settings(bisect=True, maximum_retry_attempts=0))
    assert action == Action(ActionKind.BISECT, at=half)


@pytest.mark.parametrize("outcome", FAILURES)
def test_single_record_is_not_bisected(outcome: Outcome) -> None:
    assert next_action(outcome, -1, 1, 0, Settings(bisect=True, maximum_retry_attempts=2)) == Action(
        ActionKind.RETRY, retries=1
    )


@pytest.mark.parametrize("outcome", FAILURES)
def test_failed_batch_is_retried_until_the_limit_then_given_up(outcome: Outcome) -> None:
    settings = Settings(maximum_retry_attempts=2)
    assert next_action(outcome, -1, 3, 0, settings) == Action(ActionKind.RETRY, retries=1)
    assert next_action(outcome, -1, 3, 1, settings) == Action(ActionKind.RETRY, retries=2)
    assert next_action(outcome, -1, 3, 2, settings) == Action(ActionKind.GIVE_UP)


def test_no_retry_limit_retries_for_ever() -> None:
    assert next_action("function-error", -1, 3, 10_000, Settings()) == Action(ActionKind.RETRY, retries=10_001)


def test_zero_retries_gives_up_at_once() -> None:
    assert next_action("function-error", -1, 3, 0, Settings(maximum_retry_attempts=0)) == Action(ActionKind.GIVE_UP)


def test_mapping_config_is_the_settings() -> None:
    mapping = MappingConfig.from_api(
        {
            "UUID": "u",
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "EventSourceArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            "MaximumRetryAttempts": 1,
            "BisectBatchOnFunctionError": True,
        }
    )
    assert next_action("function-error", -1, 4, 0, mapping) == Action(ActionKind.BISECT, at=2)
    assert next_action("function-error", -1, 1, 1, mapping) == Action(ActionKind.GIVE_UP)


@pytest.mark.parametrize(
    ("action", "text"),
    [
        (Action(ActionKind.CHECKPOINT), "checkpoint"),
        (Action(ActionKind.CHECKPOINT_PARTIAL, at=1), "checkpoint before 2, retry the 2 records from it"),
        (Action(ActionKind.RETRY_UNCOUNTED), "retry (invoke failed; not counted against MaximumRetryAttempts)"),
        (Action(ActionKind.BISECT, at=2), "bisect into 2 + 1"),
        (Action(ActionKind.RETRY, retries=3), "retry 3"),
        (Action(ActionKind.GIVE_UP), "give up: RetryAttemptsExhausted"),
    ],
)
def test_describe(action: Action, text: str) -> None:
    assert action.describe(["1", "2", "3"]) == text


def test_action_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Action(ActionKind.RETRY).retries = 2  # type: ignore[misc]
