"""Prepare: the run input becomes a RunConfig, or an InvalidInput that names the field."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from redrive.core.prepare import execution_name, merged_input, prepare_run
from redrive.errors import InvalidInput
from redrive.settings import Settings

EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:stream-redrive:run-2026-11-22"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-consumer-dlq"
ENV_NAMES = (
    "AWS_REGION",
    "DLQ_URL",
    "RUN_BUCKET",
    "STATE_TABLE",
    "TOPIC_ARN",
    "CONSUMER_FUNCTION_ARN",
    "DEFAULT_MAX_MESSAGES",
    "DEFAULT_RATE_PER_SECOND",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_REDRIVE_BATCH_SIZE",
    "DEFAULT_TARGET",
    "RUN_DEFAULTS",
    "APPROVAL_TIMEOUT_SECONDS",
    "ALLOW_SKIP_APPROVAL",
)


class FakeLock:
    def __init__(self, holder: str | None = None) -> None:
        self.holder = holder
        self.calls: list[tuple[str, str]] = []

    def acquire_lock(self, dlq_url: str, holder: str) -> str | None:
        self.calls.append((dlq_url, holder))
        return self.holder


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The function's environment as the template sets it (defaults for everything else)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DLQ_URL", DLQ_URL)
    monkeypatch.setenv("RUN_BUCKET", "redrive-runs")
    monkeypatch.setenv("STATE_TABLE", "redrive-state")
    return Settings.from_env()


def with_defaults(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)


def invalid(raw: Any, settings: Settings) -> str:
    lock = FakeLock()
    with pytest.raises(InvalidInput) as caught:
        prepare_run(raw, EXECUTION_ARN, settings, lock)
    assert lock.calls == [], "the lock is taken only for a valid input"
    return str(caught.value)


class TestMergedInput:
    def test_input_on_top_of_defaults(self) -> None:
        merged = merged_input({"maxMessages": 5}, json.dumps({"maxMessages": 50, "dryRun": True}))
        assert merged == {"maxMessages": 5, "dryRun": True}

    def test_redrive_settings_merge_key_by_key(self) -> None:
        defaults = {"redrive": {"target": "stream", "ratePerSecond": 10, "batchSize": 100}}
        merged = merged_input({"redrive": {"ratePerSecond": 99}}, json.dumps(defaults))
        assert merged["redrive"] == {"target": "stream", "ratePerSecond": 99, "batchSize": 100}

    def test_redrive_only_in_defaults(self) -> None:
        assert merged_input({}, '{"redrive": {"target": "queue"}}') == {"redrive": {"target": "queue"}}

    @pytest.mark.parametrize("raw", [None, {}])
    def test_no_input_is_the_defaults(self, raw: Any) -> None:
        assert merged_input(raw, '{"dryRun": true}') == {"dryRun": True}

    @pytest.mark.parametrize("defaults", ["", "{}"])
    def test_empty_defaults(self, defaults: str) -> None:
        assert merged_input({"a": 1}, defaults) == {"a": 1}

    def test_non_object_input_is_passed_through_for_validation(self) -> None:
        assert merged_input([1, 2], '{"dryRun": true}') == [1, 2]

    @pytest.mark.parametrize(
        ("defaults", "message"),
        [
            ("{not json", "RunDefaults (template parameter) is not JSON"),
            ("[1]", "RunDefaults (template parameter) must be a JSON object"),
            ('"text"', "RunDefaults (template parameter) must be a JSON object"),
        ],
    )
    def test_bad_run_defaults(self, defaults: str, message: str) -> None:
        with pytest.raises(InvalidInput, match=re.escape(message)):
            merged_input({}, defaults)


class TestPrepareRun:
    def test_empty_input_takes_every_default(self, settings: Settings) -> None:
        lock = FakeLock()
        run = prepare_run({}, EXECUTION_ARN, settings, lock)
        assert run.run_id == "run-2026-11-22"
        assert run.execution_arn == EXECUTION_ARN
        assert run.dlq_url == DLQ_URL
        assert run.bucket == "redrive-runs"
        assert run.trigger == "manual"
        assert (run.max_messages, run.dry_run, run.rules) == (1000, False, [])
        assert run.redrive.target == "invoke"
        assert (run.redrive.rate_per_second, run.redrive.concurrency, run.redrive.batch_size) == (50.0, 2, 10)
        assert (run.locked, run.lock_holder) == (True, None)
        assert run.prefix == "runs/run-2026-11-22/"
        assert lock.calls == [(DLQ_URL, EXECUTION_ARN)]
        state = run.to_state()
        assert state["runId"] == "run-2026-11-22" and state["redrive"]["ratePerSecond"] == 50.0
        json.dumps(state)

    def test_none_input_is_an_empty_input(self, settings: Settings) -> None:
        assert prepare_run(None, EXECUTION_ARN, settings, FakeLock()).max_messages == 1000

    def test_manual_input_overrides(self, settings: Settings) -> None:
        raw = {
            "dlqUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/other-dlq",
            "maxMessages": 7,
            "dryRun": True,
            "rules": [{"name": "drop", "when": "data.type = 'test'", "action": "discard", "reason": "test"}],
            "redrive": {"target": "queue", "queueUrl": "https://sqs/q", "ratePerSecond": 2.5, "concurrency": 4},
            "comment": "after the fix",
        }
        lock = FakeLock()
        run = prepare_run(raw, EXECUTION_ARN, settings, lock)
        assert run.dlq_url == raw["dlqUrl"]
        assert (run.max_messages, run.dry_run, run.comment) == (7, True, "after the fix")
        assert run.rules == raw["rules"]
        assert (run.redrive.target, run.redrive.queue_url) == ("queue", "https://sqs/q")
        assert (run.redrive.rate_per_second, run.redrive.concurrency, run.redrive.batch_size) == (2.5, 4, 10)
        assert lock.calls == [(raw["dlqUrl"], EXECUTION_ARN)]

    def test_run_defaults_apply_under_the_input(self, settings: Settings) -> None:
        defaults = json.dumps({"maxMessages": 20, "redrive": {"target": "stream", "batchSize": 200}})
        run = prepare_run(
            {"redrive": {"ratePerSecond": 5}}, EXECUTION_ARN, with_defaults(settings, run_defaults=defaults), FakeLock()
        )
        assert run.max_messages == 20
        assert (run.redrive.target, run.redrive.batch_size, run.redrive.rate_per_second) == ("stream", 200, 5.0)

    def test_alarm_trigger(self, settings: Settings) -> None:
        raw = {"trigger": "alarm", "alarmName": "dlq-depth", "alarmTime": "2026-11-22T03:15:00Z", "alarmReason": "x"}
        assert prepare_run(raw, EXECUTION_ARN, settings, FakeLock()).trigger == "alarm"

    def test_lock_held_by_another_run(self, settings: Settings) -> None:
        other = "arn:aws:states:us-east-1:123456789012:execution:stream-redrive:earlier"
        run = prepare_run({}, EXECUTION_ARN, settings, FakeLock(holder=other))
        assert run.locked is False
        assert run.lock_holder == other


class TestInvalidInput:
    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            pytest.param({"maxMesages": 5}, "maxMesages: is not a known field", id="unknown-field"),
            pytest.param({"redrive": {"speed": 5}}, "redrive.speed: is not a known field", id="unknown-redrive-field"),
            pytest.param({"maxMessages": "lots"}, "maxMessages:", id="max-messages-text"),
            pytest.param({"maxMessages": 0}, "maxMessages:", id="max-messages-zero"),
            pytest.param({"maxMessages": 100001}, "maxMessages:", id="max-messages-too-many"),
            pytest.param({"dryRun": "maybe"}, "dryRun:", id="dry-run-text"),
            pytest.param({"dlqUrl": ""}, "dlqUrl:", id="empty-dlq-url"),
            pytest.param({"dlqUrl": 5}, "dlqUrl:", id="dlq-url-number"),
            pytest.param({"trigger": "cron"}, "trigger:", id="unknown-trigger"),
            pytest.param({"rules": {"name": "x"}}, "rules:", id="rules-not-a-list"),
            pytest.param({"rules": ["drop"]}, "rules.0:", id="rule-not-an-object"),
            pytest.param({"redrive": "fast"}, "redrive:", id="redrive-not-an-object"),
            pytest.param({"redrive": {"target": "lambda"}}, "redrive.target:", id="unknown-target"),
            pytest.param({"redrive": {"ratePerSecond": 0}}, "redrive.ratePerSecond:", id="rate-zero"),
            pytest.param({"redrive": {"ratePerSecond": "x"}}, "redrive.ratePerSecond:", id="rate-text"),
            pytest.param({"redrive": {"concurrency": 41}}, "redrive.concurrency:", id="concurrency-too-high"),
            pytest.param({"redrive": {"concurrency": 1.5}}, "redrive.concurrency:", id="concurrency-fraction"),
            pytest.param({"redrive": {"batchSize": 501}}, "redrive.batchSize:", id="batch-size-over-500"),
            pytest.param({"redrive": {"queueUrl": ""}}, "redrive.queueUrl:", id="empty-queue-url"),
            pytest.param({"comment": ["x"]}, "comment:", id="comment-list"),
            pytest.param({"approval": {"timeoutSeconds": 0}}, "approval.timeoutSeconds:", id="approval-timeout"),
        ],
    )
    def test_the_message_names_the_field(self, raw: dict[str, Any], field: str, settings: Settings) -> None:
        assert field in invalid(raw, settings)

    @pytest.mark.parametrize("raw", [[1, 2], "run please", 42, True])
    def test_non_object_input(self, raw: Any, settings: Settings) -> None:
        message = invalid(raw, settings)
        assert message.startswith("input: the execution input must be a JSON object")
        assert type(raw).__name__ in message

    def test_queue_target_without_queue_url(self, settings: Settings) -> None:
        assert "redrive.queueUrl is required" in invalid({"redrive": {"target": "queue"}}, settings)

    def test_stream_target_batch_size_over_500_from_defaults(self, settings: Settings) -> None:
        message = invalid({"redrive": {"target": "stream"}}, with_defaults(settings, default_batch_size=600))
        assert "redrive.batchSize is at most 500 for the stream target" in message

    def test_500_is_fine_for_the_stream_target(self, settings: Settings) -> None:
        run = prepare_run({"redrive": {"target": "stream", "batchSize": 500}}, EXECUTION_ARN, settings, FakeLock())
        assert run.redrive.batch_size == 500

    @pytest.mark.parametrize(
        ("rules", "names"),
        [
            pytest.param([{"name": "r", "when": "(", "action": "discard", "reason": "x"}], "'when'", id="bad-jsonata"),
            pytest.param([{"name": "r", "when": "true", "action": "delete"}], "'action'", id="unknown-action"),
            pytest.param([{"name": "r", "when": "true", "action": "discard"}], "'reason'", id="discard-no-reason"),
            pytest.param([{"name": "r", "when": "true", "action": "keep", "colour": 1}], "'colour'", id="unknown-key"),
            pytest.param([{"python": "no_such_rule_anywhere"}], "rules[0]", id="unknown-python-rule"),
        ],
    )
    def test_bad_rules(self, rules: list[dict[str, Any]], names: str, settings: Settings) -> None:
        message = invalid({"rules": rules}, settings)
        assert message.startswith("rules: rules[0]")
        assert names in message

    def test_duplicate_rule_names(self, settings: Settings) -> None:
        rule = {"name": "same", "when": "true", "action": "keep"}
        assert "rules[1]" in invalid({"rules": [rule, rule]}, settings)

    def test_no_dlq_anywhere(self, settings: Settings) -> None:
        assert invalid({}, with_defaults(settings, dlq_url="")).startswith("dlqUrl:")

    def test_no_bucket_configured(self, settings: Settings) -> None:
        assert "RUN_BUCKET" in invalid({}, with_defaults(settings, bucket=""))

    def test_bad_run_defaults(self, settings: Settings) -> None:
        assert "RunDefaults" in invalid({}, with_defaults(settings, run_defaults="{"))

    def test_a_bad_field_in_run_defaults_is_named(self, settings: Settings) -> None:
        assert "maxMessages:" in invalid({}, with_defaults(settings, run_defaults='{"maxMessages": "many"}'))

    def test_several_problems_in_one_message(self, settings: Settings) -> None:
        message = invalid({"maxMessages": 0, "dryRun": "maybe", "extra": 1}, settings)
        assert "maxMessages:" in message and "dryRun:" in message and "extra: is not a known field" in message

    def test_no_execution_arn(self, settings: Settings) -> None:
        lock = FakeLock()
        with pytest.raises(InvalidInput, match="executionArn"):
            prepare_run({}, "", settings, lock)
        assert lock.calls == []


class TestExecutionName:
    def test_last_part_of_the_arn(self) -> None:
        assert execution_name(EXECUTION_ARN) == "run-2026-11-22"
        assert execution_name("arn:aws:states:us-east-1:1:express:sm:exec-name:run-id") == "run-id"

    @pytest.mark.parametrize("arn", ["", "arn:aws:states:us-east-1:1:execution:sm:"])
    def test_empty_name(self, arn: str) -> None:
        with pytest.raises(InvalidInput, match=r"executionArn"):
            execution_name(arn)
