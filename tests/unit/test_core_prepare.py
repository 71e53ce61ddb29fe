"""Prepare: the run input becomes a RunConfig, or an InvalidInput that names the field."""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from redrive.core.prepare import execution_name, merged_input
from redrive.core.prepare import prepare_run as core_prepare_run
from redrive.errors import ConfigurationError, InvalidInput
from redrive.settings import PrepareSettings as Settings
from tests.fakes import FakeQueues, FakeStateStore

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
    "RUN_DEFAULTS_PARAMETER",
    "APPROVAL_TIMEOUT_SECONDS",
    "ALLOW_SKIP_APPROVAL",
    "RULE_MODULES",
    "REDRIVE_TIMEOUT_SECONDS",
    "ALLOWED_DLQ_ARNS",
    "ALLOWED_CONSUMER_FUNCTION_ARNS",
    "REDRIVE_QUEUE_ARN",
)


def queue_arn(url: str) -> str:
    return f"arn:aws:sqs:us-east-1:123456789012:{url.rstrip('/').rsplit('/', 1)[-1]}"


class FakeLock(FakeStateStore):
    """The shared fake state table, recording every acquire; ``holder`` already holds the lock."""

    def __init__(self, holder: str | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []
        if holder:
            self.locks[queue_arn(DLQ_URL)] = holder

    def acquire_lock(self, queue_arn: str, holder: str) -> None:
        self.calls.append((queue_arn, holder))
        super().acquire_lock(queue_arn, holder)


def prepare_run(raw: Any, execution_arn: str, settings: Settings, lock: FakeLock, fifo: bool = False) -> Any:
    return core_prepare_run(raw, execution_arn, settings, lock, FakeQueues(fifo=fifo), now=1_000.0)


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
    return settings.model_copy(update=changes)


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
        assert (run.redrive.rate_per_second, run.redrive.concurrency, run.redrive.batch_size) == (50.0, 2, 500)
        assert run.redrive.batch_size_is_default, "no batchSize was asked for"
        assert (run.locked, run.lock_holder) == (True, None)
        assert run.paths.prefix == "runs/run-2026-11-22/"
        assert lock.calls == [(queue_arn(DLQ_URL), EXECUTION_ARN)], "the lock is keyed by the queue's ARN"
        assert run.dlq_arn == queue_arn(DLQ_URL)
        assert lock.leases[run.run_id].status == "open", "the run's lease is open"
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
            "redrive": {
                "target": "queue",
                "queueUrl": "https://sqs/123456789012/q",
                "ratePerSecond": 2.5,
                "concurrency": 4,
            },
            "comment": "after the fix",
        }
        lock = FakeLock()
        allowed = with_defaults(
            settings,
            allowed_dlq_arns=(queue_arn(raw["dlqUrl"]),),
            redrive_queue_arn="arn:aws:sqs:us-east-1:123456789012:q",
        )
        run = prepare_run(raw, EXECUTION_ARN, allowed, lock)
        assert run.dlq_url == raw["dlqUrl"]
        assert (run.max_messages, run.dry_run, run.comment) == (7, True, "after the fix")
        assert run.rules == raw["rules"]
        assert (run.redrive.target, run.redrive.queue_url) == ("queue", "https://sqs/123456789012/q")
        # The default batch (500) is cut to what one lane sends in a slice: 100 s * 2.5/s / 4 lanes.
        assert (run.redrive.rate_per_second, run.redrive.concurrency, run.redrive.batch_size) == (2.5, 4, 62)
        assert run.redrive.ordering == "ordered"
        assert lock.calls == [(queue_arn(raw["dlqUrl"]), EXECUTION_ARN)]

    def test_run_defaults_apply_under_the_input(self, settings: Settings) -> None:
        defaults = json.dumps({"maxMessages": 20, "redrive": {"target": "stream", "batchSize": 200}})
        run = prepare_run(
            {"redrive": {"ratePerSecond": 5}}, EXECUTION_ARN, with_defaults(settings, run_defaults=defaults), FakeLock()
        )
        assert run.max_messages == 20
        assert (run.redrive.target, run.redrive.batch_size, run.redrive.rate_per_second) == ("stream", 200, 5.0)
        assert not run.redrive.batch_size_is_default, "a batchSize in RunDefaults is asked for, as in the input"

    def test_alarm_trigger(self, settings: Settings) -> None:
        raw = {"trigger": "alarm", "alarmName": "dlq-depth", "alarmTime": "2026-11-22T03:15:00Z", "alarmReason": "x"}
        assert prepare_run(raw, EXECUTION_ARN, settings, FakeLock()).trigger == "alarm"

    def test_lock_held_by_another_run(self, settings: Settings) -> None:
        other = "arn:aws:states:us-east-1:123456789012:execution:stream-redrive:earlier"
        lock = FakeLock(holder=other)
        run = prepare_run({}, EXECUTION_ARN, settings, lock)
        assert run.locked is False
        assert run.lock_holder == other
        assert lock.leases[run.run_id].status == "settled", "a run that took no lock holds nothing"

    def test_a_fifo_queue_is_refused(self, settings: Settings) -> None:
        lock = FakeLock()
        with pytest.raises(InvalidInput, match="FIFO queue"):
            prepare_run({}, EXECUTION_ARN, settings, lock, fifo=True)
        assert lock.calls == [] and lock.leases == {}


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

    def test_the_stream_target_is_refused_for_a_dynamodb_source(self, settings: Settings) -> None:
        ddb = with_defaults(
            settings, source_stream_arn="arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00"
        )
        message = invalid({"redrive": {"target": "stream"}}, ddb)
        assert message.startswith("redrive.target: the stream target cannot redrive DynamoDB Streams records")
        assert "no stream record" in message and "stale data" in message
        assert prepare_run({"redrive": {"target": "invoke"}}, EXECUTION_ARN, ddb, FakeLock()).redrive.target == "invoke"
        kinesis = with_defaults(settings, source_stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/orders")
        assert prepare_run({"redrive": {"target": "stream"}}, EXECUTION_ARN, kinesis, FakeLock()).redrive.target

    def test_fetch_pace_defaults_and_bounds(self, settings: Settings) -> None:
        run = prepare_run({}, EXECUTION_ARN, settings, FakeLock())
        assert (run.fetch.get_records_per_second, run.fetch.throttle_budget_seconds) == (2, 30)
        run = prepare_run({"fetch": {"getRecordsPerSecondPerShard": 4}}, EXECUTION_ARN, settings, FakeLock())
        assert run.fetch.get_records_per_second == 4
        assert "fetch.getRecordsPerSecondPerShard" in invalid({"fetch": {"getRecordsPerSecondPerShard": 6}}, settings)

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

    def test_no_bucket_configured_fails_at_the_edge(self) -> None:
        """A missing variable is a deployment problem, named, not bad input."""
        with pytest.raises(ConfigurationError, match="RUN_BUCKET is not set"):
            Settings.from_env({"STATE_TABLE": "t"})
        with pytest.raises(ConfigurationError, match="RUN_BUCKET is not set"):
            Settings.from_env({"STATE_TABLE": "t", "RUN_BUCKET": ""})

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


class TestEveryBatchFitsItsSlice:
    """With ``concurrency`` lanes sharing the rate, a lane sends a batch every batchSize *
    concurrency / ratePerSecond seconds; a slice (one Express child, at most 5 minutes) holds
    at least one, so that may be at most SLICE_SECONDS (100 s)."""

    def test_the_issues_pace_is_refused_naming_the_fields(self, settings: Settings) -> None:
        message = invalid({"redrive": {"ratePerSecond": 0.001}}, settings)
        assert message.startswith("redrive.batchSize, redrive.concurrency, redrive.ratePerSecond:")
        assert "every 2000 s" in message and "the 100 s a redrive slice may take" in message
        assert "raise ratePerSecond to at least 0.02" in message

    def test_a_cycle_of_exactly_the_slice_is_accepted(self, settings: Settings) -> None:
        redrive = {"ratePerSecond": 0.3, "concurrency": 2, "batchSize": 15}  # 100 s
        assert prepare_run({"redrive": redrive}, EXECUTION_ARN, settings, FakeLock()).redrive.batch_size == 15

    def test_one_record_more_per_batch_is_refused(self, settings: Settings) -> None:
        redrive = {"ratePerSecond": 0.3, "concurrency": 2, "batchSize": 16}  # 106.7 s
        assert "every 106.667 s" in invalid({"redrive": redrive}, settings)

    def test_a_slow_pace_without_a_batch_size_gets_a_smaller_batch(self, settings: Settings) -> None:
        run = prepare_run({"redrive": {"ratePerSecond": 1, "concurrency": 4}}, EXECUTION_ARN, settings, FakeLock())
        assert run.redrive.batch_size == 25

    def test_unordered_is_taken_and_anything_else_refused(self, settings: Settings) -> None:
        run = prepare_run({"redrive": {"ordering": "unordered"}}, EXECUTION_ARN, settings, FakeLock())
        assert run.redrive.ordering == "unordered"
        assert "redrive.ordering" in invalid({"redrive": {"ordering": "sorted"}}, settings)

    def test_a_pace_from_the_stacks_defaults_is_checked_too(self, settings: Settings) -> None:
        slow_defaults = with_defaults(settings, default_rate_per_second=0.01)
        assert invalid({}, slow_defaults).startswith("redrive.batchSize, redrive.concurrency, redrive.ratePerSecond:")

    @pytest.mark.parametrize("value", ["60", "901", "soon"])
    def test_a_timeout_without_room_for_the_send_is_a_configuration_error(self, value: str) -> None:
        with pytest.raises(ConfigurationError, match="REDRIVE_TIMEOUT_SECONDS is invalid"):
            Settings.from_env({**settings_env(), "REDRIVE_TIMEOUT_SECONDS": value})

    def test_the_template_tells_prepare_the_redrive_functions_timeout(self) -> None:
        template = yaml_parse((Path(__file__).resolve().parents[2] / "template.yaml").read_text())
        redrive_timeout = template["Resources"]["RedriveFunction"]["Properties"]["Timeout"]
        told = template["Globals"]["Function"]["Environment"]["Variables"]["REDRIVE_TIMEOUT_SECONDS"]
        assert int(told) == redrive_timeout


class TestPythonRulesComeFromTheDeployment:
    @pytest.fixture
    def rule_module(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        name = f"prepare_rules_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{name}.py").write_text(
            "from redrive.rules.base import Decision\n"
            "def drop_all(document):\n"
            "    return Decision.discard('all')\n"
            "STREAM_REDRIVE_RULES = {'drop-all': drop_all}\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        yield name
        sys.modules.pop(name, None)

    def test_a_rule_from_a_module_the_stack_lists(self, rule_module: str, settings: Settings) -> None:
        assert Settings.from_env({**settings_env(), "RULE_MODULES": "a.rules, b"}).rule_modules == ("a.rules", "b")
        listed = Settings.from_env({**settings_env(), "RULE_MODULES": rule_module})
        run = prepare_run({"rules": [{"python": "drop-all"}]}, EXECUTION_ARN, listed, FakeLock())
        assert run.rules == [{"python": "drop-all"}]

    def test_the_same_rule_is_unknown_when_the_stack_does_not_list_its_module(
        self, rule_module: str, settings: Settings
    ) -> None:
        message = invalid({"rules": [{"python": "drop-all"}]}, settings)
        assert message.startswith("rules: rules[0] ('drop-all'): no Python rule named 'drop-all'")

    def test_an_import_path_runs_nothing_and_is_refused(self, settings: Settings, tmp_path: Path) -> None:
        witness = tmp_path / "ran"
        spec = {"name": "shell", "python": "subprocess:Popen", "options": {"args": ["touch", str(witness)]}}
        message = invalid({"rules": [spec]}, settings)
        assert message.startswith("rules: rules[0] ('shell'): field 'python' is 'subprocess:Popen'")
        assert "import paths are not accepted" in message and "RuleModules" in message
        assert not witness.exists()

    def test_a_rule_module_list_that_names_no_module_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match="RULE_MODULES is invalid"):
            Settings.from_env({**settings_env(), "RULE_MODULES": "subprocess:Popen"})


def settings_env() -> dict[str, str]:
    return {"DLQ_URL": DLQ_URL, "RUN_BUCKET": "redrive-runs", "STATE_TABLE": "redrive-state"}


class TestExecutionName:
    def test_last_part_of_the_arn(self) -> None:
        assert execution_name(EXECUTION_ARN) == "run-2026-11-22"
        assert execution_name("arn:aws:states:us-east-1:1:express:sm:exec-name:run-id") == "run-id"

    @pytest.mark.parametrize("arn", ["", "arn:aws:states:us-east-1:1:execution:sm:"])
    def test_empty_name(self, arn: str) -> None:
        with pytest.raises(InvalidInput, match=r"executionArn"):
            execution_name(arn)


CONSUMER = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
OTHER_DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/other-dlq"


class TestOverridesOnlyWhatIamGrants:
    """dlqUrl, redrive.functionName and redrive.queueUrl name only what the template's
    parameters let IAM grant; anything else is refused in Prepare, named, holding nothing."""

    @pytest.fixture
    def stack(self, settings: Settings) -> Settings:
        return with_defaults(
            settings,
            consumer_function=CONSUMER,
            allowed_dlq_arns=(queue_arn(OTHER_DLQ),),
            allowed_consumer_function_arns=("arn:aws:lambda:us-east-1:123456789012:function:billing",),
            redrive_queue_arn="arn:aws:sqs:us-east-1:123456789012:redrive-here",
        )

    @pytest.mark.parametrize(
        "raw",
        [
            pytest.param({"dlqUrl": DLQ_URL}, id="the-stack-dlq"),
            pytest.param({"dlqUrl": OTHER_DLQ}, id="a-listed-dlq"),
            pytest.param({"redrive": {"functionName": "orders-consumer"}}, id="consumer-by-name"),
            pytest.param({"redrive": {"functionName": f"{CONSUMER}:live"}}, id="consumer-alias"),
            pytest.param({"redrive": {"functionName": "billing:7"}}, id="listed-version"),
            pytest.param(
                {"redrive": {"functionName": "arn:aws:lambda:us-east-1:123456789012:function:billing"}},
                id="listed-arn",
            ),
            pytest.param(
                {
                    "redrive": {
                        "target": "queue",
                        "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/redrive-here",
                    }
                },
                id="the-redrive-queue",
            ),
        ],
    )
    def test_what_the_parameters_list_is_allowed(self, raw: dict[str, Any], stack: Settings) -> None:
        prepare_run(raw, EXECUTION_ARN, stack, FakeLock())

    @pytest.mark.parametrize(
        ("raw", "field", "parameter"),
        [
            pytest.param(
                {"dlqUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/elsewhere"},
                "dlqUrl:",
                "AllowedDlqArns",
                id="unlisted-dlq",
            ),
            pytest.param(
                {"dlqUrl": "https://sqs.us-east-1.amazonaws.com/999999999999/other-dlq"},
                "dlqUrl:",
                "AllowedDlqArns",
                id="same-name-other-account",
            ),
            pytest.param(
                {"redrive": {"functionName": "payments"}},
                "redrive.functionName:",
                "AllowedConsumerFunctionArns",
                id="unlisted-function",
            ),
            pytest.param(
                {"redrive": {"functionName": "arn:aws:lambda:us-east-1:999999999999:function:billing"}},
                "redrive.functionName:",
                "AllowedConsumerFunctionArns",
                id="listed-name-other-account",
            ),
            pytest.param(
                {"redrive": {"target": "queue", "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q2"}},
                "redrive.queueUrl:",
                "RedriveQueueArn",
                id="unlisted-queue",
            ),
        ],
    )
    def test_anything_else_is_refused_naming_the_parameter(
        self, raw: dict[str, Any], field: str, parameter: str, stack: Settings
    ) -> None:
        message = invalid(raw, stack)
        assert message.startswith(field) and parameter in message

    def test_no_queue_target_without_a_redrive_queue(self, settings: Settings) -> None:
        raw = {"redrive": {"target": "queue", "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}}
        assert "RedriveQueueArn is empty" in invalid(raw, settings)

    def test_the_lists_come_from_the_environment_comma_separated(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
        env = {
            **settings_env(),
            "ALLOWED_DLQ_ARNS": "arn:aws:sqs:us-east-1:1:a, arn:aws:sqs:us-east-1:1:b",
            "ALLOWED_CONSUMER_FUNCTION_ARNS": "",
        }
        parsed = Settings.from_env(env)
        assert parsed.allowed_dlq_arns == ("arn:aws:sqs:us-east-1:1:a", "arn:aws:sqs:us-east-1:1:b")
        assert parsed.allowed_consumer_function_arns == ()
