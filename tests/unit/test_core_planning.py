"""plan_records: every record gets a class and an action; the redrive is cut into batches."""

from __future__ import annotations

import base64
import json
from typing import Any

from redrive.contracts.fetch import FetchedGroup, PointerAssignment
from redrive.contracts.messages import GroupPointer, Pointer
from redrive.contracts.plan import Batch, ExpiredPointer, PlanDocument, RuleSample
from redrive.contracts.records import FailureContext, StreamRecord
from redrive.contracts.run import NO_DYNAMODB_STREAM_TARGET
from redrive.contracts.vocab import Ordering, Source, Target
from redrive.core.fetch_groups import assign_records, build_fetch_groups
from redrive.core.planning import PREVIEW_CHARS, SAMPLES_PER_RULE, plan_records
from redrive.rules import load_rules
from tests.fakes import FakeMappings
from tests.support.rules import AMOUNT_AS_NUMBER, DROP_TEST_EVENTS

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
POINTER_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
OTHER_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:audit-consumer"
SHARD0 = "shardId-000000000000"
SHARD1 = "shardId-000000000001"
DDB_SHARD = "shardId-00000001763781236915-4b0a9c2e"
BASE = 49656632116218945776331460766277046186802519735914561554
INVOKE, STREAM = Target.INVOKE, Target.STREAM

RULES = [
    DROP_TEST_EVENTS,
    AMOUNT_AS_NUMBER,
    {"name": "needs-boolean", "when": "data.broken", "action": "discard", "reason": "never reached"},
]


def failure(function_arn: str | None = POINTER_FUNCTION) -> FailureContext:
    return FailureContext(
        condition="RetryAttemptsExhausted",
        function_error="Unhandled",
        approximate_invoke_count=3,
        function_arn=function_arn,
    )


def kinesis(seq: int, data: Any = None, *, shard: str = SHARD0, raw: bytes | None = None) -> StreamRecord:
    payload = raw if raw is not None else json.dumps(data if data is not None else {"id": f"o-{seq}"}).encode()
    return StreamRecord(
        source=Source.KINESIS,
        stream_arn=KINESIS_ARN,
        shard_id=shard,
        sequence_number=str(seq),
        partition_key=f"customer-{seq % 7}",
        approximate_arrival="2026-11-22T03:12:38.850000+00:00",
        payload=base64.b64encode(payload).decode(),
    )


def dynamodb(seq: int, new_image: dict[str, Any] | None) -> StreamRecord:
    return StreamRecord(
        source=Source.DYNAMODB,
        stream_arn=TABLE_STREAM_ARN,
        shard_id=DDB_SHARD,
        sequence_number=str(seq),
        partition_key='{"pk":{"S":"order#1"}}',
        approximate_arrival="2026-11-22T03:02:11+00:00",
        event_name="MODIFY",
        keys={"pk": {"S": "order#1"}},
        new_image=new_image,
        old_image={"pk": {"S": "order#1"}, "amount": {"N": "1"}},
        stream_view_type="NEW_AND_OLD_IMAGES",
    )


def group(
    records: list[StreamRecord],
    message_id: str = "m1",
    *,
    expired: int = 0,
    function_arn: str | None = POINTER_FUNCTION,
) -> FetchedGroup:
    """A fetched group as Fetch writes it: one message's pointer, and its records carrying
    the pointer's failure context (a record that has its own keeps it)."""
    first = records[0] if records else kinesis(BASE)
    positions = [r.position for r in records] or [BASE]
    pointer = Pointer(
        source=first.source,
        stream_arn=first.stream_arn,
        shard_id=first.shard_id,
        start_sequence_number=str(min(positions)),
        end_sequence_number=str(max(positions)),
        batch_size=len(records) + expired or 1,
        failure=failure(function_arn),
    )
    carried = [
        r if r.failure != FailureContext() else r.model_copy(update={"failure": pointer.failure}) for r in records
    ]
    return FetchedGroup(
        group_id="g",
        records=carried,
        assignments=[
            PointerAssignment(
                message_id=message_id, record_ids=[r.record_id for r in records], expired=expired, pointer=pointer
            )
        ],
    )


def decoded(payload: str | None) -> Any:
    assert payload is not None
    return json.loads(base64.b64decode(payload))


def batched(plan_batches: list[Batch]) -> dict[str, StreamRecord]:
    return {r.record_id: r for b in plan_batches for r in b.records}


class TestClasses:
    def test_no_rule_decides_transient_redriven_as_is(self) -> None:
        record = kinesis(BASE, {"id": "o-1", "amount": 10})
        plan = plan_records([group([record])], load_rules(RULES), target=INVOKE, batch_size=10)
        entry = plan.records[record.record_id]
        assert entry.record_class == "transient"
        assert entry.action == "redrive"
        assert entry.rule is None
        assert entry.repaired is False
        [batch] = plan.batches
        [sent] = batch.records
        assert sent.payload == record.payload
        assert sent.failure == FailureContext()  # the failure context is not redriven
        assert sent.record_id == record.record_id
        assert entry.batch_id == batch.batch_id

    def test_discard_is_poison_and_never_batched(self) -> None:
        record = kinesis(BASE, {"type": "test"})
        plan = plan_records([group([record])], load_rules(RULES), target=INVOKE, batch_size=10)
        entry = plan.records[record.record_id]
        assert (entry.record_class, entry.action, entry.rule, entry.reason) == (
            "poison",
            "discard",
            "drop-test-events",
            "test traffic",
        )
        assert plan.batches == []
        assert entry.batch_id is None

    def test_kinesis_repair_replaces_the_payload(self) -> None:
        record = kinesis(BASE, {"id": "o-2", "amount": "12.50"})
        plan = plan_records([group([record])], load_rules(RULES), target=STREAM, batch_size=10)
        entry = plan.records[record.record_id]
        assert (entry.record_class, entry.action, entry.repaired) == ("poison", "redrive", True)
        assert entry.rule == "amount-as-number"
        assert entry.data == {"id": "o-2", "amount": 12.5}
        sent = batched(plan.batches)[record.record_id]
        assert decoded(sent.payload) == {"id": "o-2", "amount": 12.5}
        assert sent.partition_key == record.partition_key
        assert sent.sequence_number == record.sequence_number

    def test_dynamodb_repair_replaces_new_image_in_dynamodb_json(self) -> None:
        record = dynamodb(310, {"pk": {"S": "order#1"}, "amount": {"S": "12.50"}, "tags": {"L": [{"S": "a"}]}})
        plan = plan_records([group([record])], load_rules(RULES), target=INVOKE, batch_size=10)
        entry = plan.records[record.record_id]
        assert (entry.record_class, entry.repaired) == ("poison", True)
        sent = batched(plan.batches)[record.record_id]
        assert sent.new_image == {"pk": {"S": "order#1"}, "amount": {"N": "12.5"}, "tags": {"L": [{"S": "a"}]}}
        assert sent.keys == record.keys

    def test_the_stream_target_is_never_chosen_for_dynamodb_records(self) -> None:
        """A DynamoDB stream takes no records: under the stream target they are held (back to the
        DLQ with the reason), Kinesis records of the same run still go back on their stream."""
        ddb = dynamodb(310, {"pk": {"S": "order#1"}, "amount": {"S": "12.50"}})
        kin = kinesis(BASE, {"id": "o-2", "amount": "1"})
        plan = plan_records([group([ddb]), group([kin])], load_rules(RULES), target=STREAM, batch_size=10)
        entry = plan.records[ddb.record_id]
        assert (entry.action, entry.reason) == ("hold", NO_DYNAMODB_STREAM_TARGET)
        assert entry.batch_id is None
        assert [r.record_id for b in plan.batches for r in b.records] == [kin.record_id]

    def test_dynamodb_repair_to_a_non_object_is_held_as_rule_error(self) -> None:
        rules = load_rules([{"name": "to-text", "when": "true", "action": "repair", "repair": "'just text'"}])
        record = dynamodb(310, {"pk": {"S": "order#1"}})
        plan = plan_records([group([record])], rules, target=INVOKE, batch_size=10)
        entry = plan.records[record.record_id]
        assert (entry.record_class, entry.action) == ("rule-error", "hold")
        assert entry.rule == "to-text"
        assert "JSON object" in entry.reason
        assert plan.batches == []
        assert plan.message_records == {"m1": [record.record_id]}

    def test_kinesis_repair_to_a_non_object_is_fine(self) -> None:
        rules = load_rules([{"name": "to-text", "when": "true", "action": "repair", "repair": "'just text'"}])
        record = kinesis(BASE)
        plan = plan_records([group([record])], rules, target=INVOKE, batch_size=10)
        assert plan.records[record.record_id].record_class == "poison"
        assert decoded(batched(plan.batches)[record.record_id].payload) == "just text"

    def test_rule_that_fails_holds_the_record(self) -> None:
        record = kinesis(BASE, {"id": "o-9", "broken": 7})
        plan = plan_records([group([record])], load_rules(RULES), target=INVOKE, batch_size=10)
        entry = plan.records[record.record_id]
        assert (entry.record_class, entry.action, entry.rule) == ("rule-error", "hold", "needs-boolean")
        assert "true or false" in entry.reason
        assert plan.batches == []

    def test_unreadable_record_is_invalid_and_held(self) -> None:
        record = kinesis(BASE)
        record.payload = "not base64!"
        plan = plan_records([group([record])], load_rules(RULES), target=INVOKE, batch_size=10)
        entry = plan.records[record.record_id]
        assert (entry.record_class, entry.action, entry.rule) == ("invalid-record", "hold", None)
        assert "base64" in entry.reason
        assert plan.batches == []

    def test_non_json_payload_is_still_redriven(self) -> None:
        record = kinesis(BASE, raw=b"order o-8, amount 4 (not JSON)")
        plan = plan_records([group([record])], load_rules(RULES), target=INVOKE, batch_size=10)
        assert plan.records[record.record_id].record_class == "transient"
        assert len(plan.batches) == 1

    def test_transient_dynamodb_record_keeps_its_old_image(self) -> None:
        record = dynamodb(310, {"pk": {"S": "order#1"}, "amount": {"N": "2"}})
        plan = plan_records([group([record])], [], target=INVOKE, batch_size=10)
        assert plan.records[record.record_id].record_class == "transient"
        assert batched(plan.batches)[record.record_id].old_image == record.old_image

    def test_summary_counts(self) -> None:
        records = [
            kinesis(BASE, {"id": "o-1", "amount": 1}),
            kinesis(BASE + 1, {"type": "test"}),
            kinesis(BASE + 2, {"id": "o-3", "amount": "3"}),
            kinesis(BASE + 3, {"broken": 1}),
        ]
        plan = plan_records([group(records, expired=2)], load_rules(RULES), target=INVOKE, batch_size=10)
        summary = plan.summary()
        assert summary.records == 4
        assert summary.expired == 2
        assert summary.by_class == {"transient": 1, "poison": 2, "rule-error": 1, "expired": 2}
        assert summary.by_action == {"redrive": 2, "discard": 1, "hold": 1}
        assert summary.batches == 1
        document = plan.document()
        assert document.batches == [plan.batches[0].batch_id]
        assert document.summary == summary
        data = json.loads(json.dumps(document.to_json()))  # plan.json
        assert data["summary"]["byClass"] == {"transient": 1, "poison": 2, "rule-error": 1, "expired": 2}
        assert data["records"][records[0].record_id]["class"] == "transient"
        assert PlanDocument.parse(data) == document


class TestBatches:
    def test_per_shard_in_sequence_order_and_at_most_batch_size(self) -> None:
        shard0 = [kinesis(BASE + s) for s in (9, 3, 1, 7, 5, 0, 2)]
        shard1 = [kinesis(BASE + s, shard=SHARD1) for s in (4, 2)]
        plan = plan_records([group(shard0, "m1"), group(shard1, "m2")], [], target=STREAM, batch_size=3)
        assert [len(b.records) for b in plan.batches] == [3, 3, 1, 2]
        for batch in plan.batches:
            assert len({r.shard_id for r in batch.records}) == 1
            assert batch.shard_id == batch.records[0].shard_id
            assert batch.stream_arn == KINESIS_ARN
            assert batch.source == "kinesis"
            assert batch.target == "stream"
            assert batch.function_arn is None
        order0 = [int(r.sequence_number) - BASE for b in plan.batches[:3] for r in b.records]
        assert order0 == [0, 1, 2, 3, 5, 7, 9]
        assert [int(r.sequence_number) - BASE for r in plan.batches[3].records] == [2, 4]
        ids = [b.batch_id for b in plan.batches]
        assert len(set(ids)) == len(ids)

    def test_sequence_order_is_numeric_across_lengths(self) -> None:
        records = [kinesis(s) for s in (100, 99, 1000, 5)]
        plan = plan_records([group(records)], [], target=STREAM, batch_size=10)
        assert [r.sequence_number for r in plan.batches[0].records] == ["5", "99", "100", "1000"]

    def test_every_redriven_record_is_in_exactly_one_batch(self) -> None:
        records = [kinesis(BASE + s, {"id": s, "amount": "1" if s % 2 else 1}) for s in range(23)]
        plan = plan_records([group(records)], load_rules(RULES), target=INVOKE, batch_size=4)
        in_batches = [r.record_id for b in plan.batches for r in b.records]
        assert sorted(in_batches) == sorted(r.record_id for r in records)
        for rid, entry in plan.records.items():
            assert entry.batch_id in {b.batch_id for b in plan.batches if rid in {r.record_id for r in b.records}}

    def test_function_from_the_pointer(self) -> None:
        plan = plan_records([group([kinesis(BASE)])], [], target=INVOKE, batch_size=10)
        assert plan.batches[0].function_arn == POINTER_FUNCTION

    def test_override_wins_over_the_pointer(self) -> None:
        plan = plan_records(
            [group([kinesis(BASE)])],
            [],
            target=INVOKE,
            batch_size=10,
            function_override=OTHER_FUNCTION,
            default_function="arn:default",
        )
        assert plan.batches[0].function_arn == OTHER_FUNCTION

    def test_default_when_the_pointer_names_none(self) -> None:
        plan = plan_records(
            [group([kinesis(BASE)], function_arn=None)], [], target=INVOKE, batch_size=10, default_function="arn:d"
        )
        assert plan.batches[0].function_arn == "arn:d"

    def test_no_function_known(self) -> None:
        plan = plan_records([group([kinesis(BASE)], function_arn=None)], [], target=INVOKE, batch_size=10)
        assert plan.batches[0].function_arn is None

    def test_records_of_two_functions_on_one_shard_are_separate_batches(self) -> None:
        plan = plan_records(
            [group([kinesis(BASE)], "m1"), group([kinesis(BASE + 1)], "m2", function_arn=OTHER_FUNCTION)],
            [],
            target=INVOKE,
            batch_size=10,
        )
        assert sorted(b.function_arn for b in plan.batches) == sorted([POINTER_FUNCTION, OTHER_FUNCTION])

    def test_record_failure_wins_over_the_pointer_failure(self) -> None:
        record = kinesis(BASE).model_copy(update={"failure": failure(OTHER_FUNCTION)})
        plan = plan_records([group([record])], [], target=INVOKE, batch_size=10)
        assert plan.batches[0].function_arn == OTHER_FUNCTION

    def test_the_function_is_the_records_even_when_its_pointer_names_another(self) -> None:
        # Changed with the contracts: Plan reads the failure context the record carries
        # (Fetch and Collect give it one); the assignment's pointer is not consulted.
        g = group([kinesis(BASE)])
        record = g.records[0].model_copy(update={"failure": failure(OTHER_FUNCTION)})
        plan = plan_records([g.model_copy(update={"records": [record]})], [], target=INVOKE, batch_size=10)
        assert g.assignments[0].pointer is not None
        assert g.assignments[0].pointer.failure.function_arn == POINTER_FUNCTION
        assert plan.batches[0].function_arn == OTHER_FUNCTION

    def test_stream_and_queue_batches_name_no_function(self) -> None:
        for target in (Target.STREAM, Target.QUEUE):
            plan = plan_records([group([kinesis(BASE)])], [], target=target, batch_size=10)
            assert plan.batches[0].function_arn is None
            assert plan.batches[0].target == target


class TestConsumerBatchSize:
    """Without an explicit batchSize, an invoked consumer gets batches no larger than its own
    mapping sent (the pointers' batchSize)."""

    def fetched(self) -> list[FetchedGroup]:
        # orders-consumer's mapping failed batches of 3 and 4 records; audit-consumer's one of 2.
        return [
            group([kinesis(BASE + s) for s in range(3)], "m1"),
            group([kinesis(BASE + s) for s in range(3, 7)], "m2"),
            group([kinesis(BASE + s, shard=SHARD1) for s in range(2)], "m3", function_arn=OTHER_FUNCTION),
        ]

    def test_the_largest_pointer_batch_bounds_each_consumer(self) -> None:
        plan = plan_records(self.fetched(), [], target=INVOKE, batch_size=500, follow_consumer_batch=True)
        sizes = sorted((b.function_arn, len(b.records)) for b in plan.batches)
        assert sizes == [(OTHER_FUNCTION, 2), (POINTER_FUNCTION, 3), (POINTER_FUNCTION, 4)]
        assert plan.summary().largest_batch == 4, "the report says how large the batches were"

    def test_a_smaller_batch_size_still_wins(self) -> None:
        plan = plan_records(self.fetched(), [], target=INVOKE, batch_size=2, follow_consumer_batch=True)
        assert {len(b.records) for b in plan.batches} == {1, 2}

    def test_an_explicit_batch_size_is_used_as_given(self) -> None:
        plan = plan_records(self.fetched(), [], target=INVOKE, batch_size=500)
        assert sorted(len(b.records) for b in plan.batches) == [2, 7]

    def test_the_override_function_takes_the_largest_of_every_pointer(self) -> None:
        plan = plan_records(
            self.fetched(),
            [],
            target=INVOKE,
            batch_size=500,
            function_override=OTHER_FUNCTION,
            follow_consumer_batch=True,
        )
        assert {b.function_arn for b in plan.batches} == {OTHER_FUNCTION}
        assert sorted(len(b.records) for b in plan.batches) == [2, 3, 4]

    def test_the_consumers_mapping_wins_over_the_pointers(self) -> None:
        # After a bisected batch the pointers are smaller than what the mapping sends.
        mappings = FakeMappings()
        mappings.sizes[(POINTER_FUNCTION, KINESIS_ARN)] = 5
        plan = plan_records(
            self.fetched(), [], target=INVOKE, batch_size=500, follow_consumer_batch=True, mappings=mappings
        )
        sizes = sorted((b.function_arn, len(b.records)) for b in plan.batches)
        assert sizes == [(OTHER_FUNCTION, 2), (POINTER_FUNCTION, 2), (POINTER_FUNCTION, 5)]
        assert sorted(mappings.asked) == sorted([(POINTER_FUNCTION, KINESIS_ARN), (OTHER_FUNCTION, KINESIS_ARN)])

    def test_a_record_whose_own_failure_names_another_function_is_bounded_by_that_ones_mapping(self) -> None:
        g = group([kinesis(BASE + s) for s in range(6)])
        records = [r.model_copy(update={"failure": failure(OTHER_FUNCTION)}) for r in g.records]
        mappings = FakeMappings()
        mappings.sizes[(OTHER_FUNCTION, KINESIS_ARN)] = 4
        plan = plan_records(
            [g.model_copy(update={"records": records})],
            [],
            target=INVOKE,
            batch_size=500,
            follow_consumer_batch=True,
            mappings=mappings,
        )
        assert sorted((b.function_arn, len(b.records)) for b in plan.batches) == [
            (OTHER_FUNCTION, 2),
            (OTHER_FUNCTION, 4),
        ]
        assert mappings.asked == [(OTHER_FUNCTION, KINESIS_ARN)], "only the functions the batches invoke"

    def test_other_targets_are_not_bounded_by_the_consumer(self) -> None:
        plan = plan_records(self.fetched(), [], target=STREAM, batch_size=500, follow_consumer_batch=True)
        assert sorted(len(b.records) for b in plan.batches) == [2, 7]


class TestRulesFired:
    def test_at_most_three_samples_with_before_and_after(self) -> None:
        records = [kinesis(BASE + s, {"id": s, "amount": str(s)}) for s in range(5)]
        records.append(kinesis(BASE + 9, {"type": "test"}))
        plan = plan_records([group(records)], load_rules(RULES), target=INVOKE, batch_size=10)
        repaired = plan.rules_fired["amount-as-number"]
        assert repaired.count == 5
        assert repaired.outcome == "repair"
        assert repaired.reason == "amount was sent as text"
        assert len(repaired.samples) == SAMPLES_PER_RULE == 3
        first = repaired.samples[0]
        assert first.before == '{"amount": "0", "id": 0}'
        assert first.after == '{"amount": 0, "id": 0}'
        discarded = plan.rules_fired["drop-test-events"]
        assert discarded.count == 1
        assert discarded.samples == [RuleSample(record_id=records[-1].record_id, before='{"type": "test"}')]
        assert discarded.samples[0].to_json()["after"] is None
        assert "needs-boolean" not in plan.rules_fired
        assert plan.summary().rules == plan.rules_fired

    def test_text_is_the_sample_when_the_payload_is_not_json(self) -> None:
        rules = load_rules([{"name": "drop-text", "when": "data = null", "action": "discard", "reason": "text"}])
        record = kinesis(BASE, raw=b"plain words")
        plan = plan_records([group([record])], rules, target=INVOKE, batch_size=10)
        assert plan.rules_fired["drop-text"].samples[0].before == '"plain words"'

    def test_a_large_sample_is_cut_to_a_preview(self) -> None:
        rules = load_rules([{"name": "drop-all", "when": "true", "action": "discard", "reason": "big"}])
        record = kinesis(BASE, {"id": 1, "blob": "x" * 100_000})
        plan = plan_records([group([record])], rules, target=INVOKE, batch_size=10)
        preview = plan.rules_fired["drop-all"].samples[0].before
        assert len(preview) == PREVIEW_CHARS and preview.endswith("…")
        assert preview.startswith('{"blob": "xxx')


class TestExpiredAndMessages:
    def test_expired_entries_keep_message_and_pointer(self) -> None:
        g = group([kinesis(BASE)], "m1", expired=3)
        plan = plan_records([g], [], target=INVOKE, batch_size=10)
        assert plan.expired == [ExpiredPointer(message_id="m1", pointer=g.assignments[0].pointer, count=3)]
        assert plan.expired[0].to_json()["pointer"]["startSequenceNumber"] == str(BASE)

    def test_a_fully_expired_pointer_has_no_records(self) -> None:
        g = group([], "m1", expired=4)
        plan = plan_records([g], [], target=INVOKE, batch_size=10)
        assert plan.records == {}
        assert plan.message_records == {"m1": []}
        assert plan.summary().expired == 4

    def test_a_record_named_by_two_messages_is_planned_once(self) -> None:
        shared = kinesis(BASE + 1)
        plan = plan_records(
            [group([kinesis(BASE), shared], "m1"), group([shared, kinesis(BASE + 2)], "m2")],
            [],
            target=STREAM,
            batch_size=10,
        )
        assert len(plan.records) == 3
        assert plan.message_records["m1"] == [f"{SHARD0}:{BASE}", f"{SHARD0}:{BASE + 1}"]
        assert plan.message_records["m2"] == [f"{SHARD0}:{BASE + 1}", f"{SHARD0}:{BASE + 2}"]
        assert sum(len(b.records) for b in plan.batches) == 3

    def test_pointer_failure_is_given_to_records_without_one(self) -> None:
        rules = load_rules(
            [
                {
                    "name": "age",
                    "when": "failure.condition = 'RetryAttemptsExhausted'",
                    "action": "discard",
                    "reason": "r",
                }
            ]
        )
        # Changed with the contracts: the pointer's failure context is given to its records
        # by Fetch (assign_records), so this goes through the fetch step as a run does.
        pointer = GroupPointer(
            message_id="m1",
            source=Source.KINESIS,
            stream_arn=KINESIS_ARN,
            shard_id=SHARD0,
            start_sequence_number=str(BASE),
            end_sequence_number=str(BASE),
            batch_size=1,
            failure=failure(),
        )
        [fetch_group] = build_fetch_groups([pointer])
        records, assignments = assign_records(fetch_group, [kinesis(BASE)])
        fetched = FetchedGroup(group_id=fetch_group.group_id, records=records, assignments=assignments)
        plan = plan_records([fetched], rules, target=INVOKE, batch_size=10)
        assert plan.records[f"{SHARD0}:{BASE}"].action == "discard"
        assert plan.records[f"{SHARD0}:{BASE}"].rule == "age"
        # ... and the record redriven carries no failure context of its own.
        plan = plan_records([fetched], [], target=INVOKE, batch_size=10)
        assert plan.batches[0].function_arn == POINTER_FUNCTION
        assert plan.batches[0].records[0].failure == FailureContext()


def test_lanes_keep_each_partition_keys_order_and_spread_the_keys() -> None:
    """Ordered (the default): a key's records are all in one lane, in sequence order, and a
    batch holds one shard; the keys of one shard spread over the concurrency."""
    records = [kinesis(BASE + s, {"id": s, "amount": s}) for s in range(40)]
    other = [kinesis(BASE + s, {"id": s, "amount": s}, shard="shardId-000000000009") for s in range(40, 60)]
    plan = plan_records([group(records), group(other)], load_rules([]), target=INVOKE, batch_size=3, concurrency=3)
    lanes = plan.lanes()
    assert len(lanes) == 3, "seven keys on two shards fill three lanes: lanes by key, not by shard"
    by_id = {b.batch_id: b for b in plan.batches}
    lane_of_key: dict[str | None, int] = {}
    for number, lane in enumerate(lanes):
        sequences: dict[str | None, list[int]] = {}
        for batch_id in lane:
            batch = by_id[batch_id]
            assert len(batch.records) <= 3 and len({r.shard_id for r in batch.records}) == 1
            for record in batch.records:
                assert lane_of_key.setdefault(record.partition_key, number) == number, "a key in two lanes"
                sequences.setdefault(record.partition_key, []).append(int(record.sequence_number))
        assert all(seq == sorted(seq) for seq in sequences.values()), "a key's records in order"
    assert sum(len(b.records) for b in plan.batches) == 60
    assert plan.document().lanes == lanes


def test_unordered_lanes_are_dealt_evenly() -> None:
    records = [kinesis(BASE + s, {"id": s, "amount": s}) for s in range(40)]
    plan = plan_records(
        [group(records)], load_rules([]), target=INVOKE, batch_size=4, concurrency=3, ordering=Ordering.UNORDERED
    )
    assert sorted(len(lane) for lane in plan.lanes()) == [3, 3, 4]


def test_the_summary_carries_what_the_fetch_learned() -> None:
    early = kinesis(BASE, {"id": 1, "amount": 1}).model_copy(
        update={"approximate_arrival": "2026-11-22T01:00:00+00:00"}
    )
    late = kinesis(BASE + 1, {"id": 2, "amount": 2}).model_copy(
        update={"approximate_arrival": "2026-11-22T02:00:00+00:00"}
    )
    plan = plan_records(
        [
            group([late, early]).model_copy(update={"get_records_calls": 3}),
            group([]).model_copy(update={"get_records_calls": 2}),
        ],
        load_rules([]),
        target=INVOKE,
        batch_size=10,
    )
    summary = plan.summary()
    assert summary.get_records_calls == 5
    assert summary.oldest_arrival == "2026-11-22T01:00:00+00:00"
