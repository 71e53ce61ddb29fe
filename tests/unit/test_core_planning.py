"""plan_records: every record gets a class and an action; the redrive is cut into batches."""

from __future__ import annotations

import base64
import json
from typing import Any

from redrive.core.planning import PREVIEW_CHARS, SAMPLES_PER_RULE, plan_records
from redrive.rules import load_rules

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
TABLE_STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-01T00:00:00.000"
POINTER_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:orders-consumer"
OTHER_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:audit-consumer"
SHARD0 = "shardId-000000000000"
SHARD1 = "shardId-000000000001"
DDB_SHARD = "shardId-00000001763781236915-4b0a9c2e"
BASE = 49656632116218945776331460766277046186802519735914561554

RULES = [
    {"name": "drop-test-events", "when": "data.type = 'test'", "action": "discard", "reason": "test traffic"},
    {
        "name": "amount-as-number",
        "when": "$type(data.amount) = 'string'",
        "action": "repair",
        "repair": "$merge([data, {'amount': $number(data.amount)}])",
        "reason": "amount was sent as text",
    },
    {"name": "needs-boolean", "when": "data.broken", "action": "discard", "reason": "never reached"},
]


def failure(function_arn: str | None = POINTER_FUNCTION) -> dict[str, Any]:
    return {
        "condition": "RetryAttemptsExhausted",
        "functionError": "Unhandled",
        "approximateInvokeCount": 3,
        "functionArn": function_arn,
    }


def kinesis(seq: int, data: Any = None, *, shard: str = SHARD0, raw: bytes | None = None) -> dict[str, Any]:
    payload = raw if raw is not None else json.dumps(data if data is not None else {"id": f"o-{seq}"}).encode()
    return {
        "recordId": f"{shard}:{seq}",
        "source": "kinesis",
        "streamArn": KINESIS_ARN,
        "shardId": shard,
        "sequenceNumber": str(seq),
        "partitionKey": f"customer-{seq % 7}",
        "approximateArrival": "2026-11-22T03:12:38.850000+00:00",
        "payload": base64.b64encode(payload).decode(),
    }


def dynamodb(seq: int, new_image: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "recordId": f"{DDB_SHARD}:{seq}",
        "source": "dynamodb",
        "streamArn": TABLE_STREAM_ARN,
        "shardId": DDB_SHARD,
        "sequenceNumber": str(seq),
        "partitionKey": '{"pk":{"S":"order#1"}}',
        "approximateArrival": "2026-11-22T03:02:11+00:00",
        "eventName": "MODIFY",
        "keys": {"pk": {"S": "order#1"}},
        "newImage": new_image,
        "oldImage": {"pk": {"S": "order#1"}, "amount": {"N": "1"}},
        "streamViewType": "NEW_AND_OLD_IMAGES",
    }


def group(
    records: list[dict[str, Any]],
    message_id: str = "m1",
    *,
    expired: int = 0,
    function_arn: str | None = POINTER_FUNCTION,
) -> dict[str, Any]:
    return {
        "groupId": "g",
        "records": records,
        "assignments": [
            {
                "messageId": message_id,
                "recordIds": [r["recordId"] for r in records],
                "expired": expired,
                "pointer": {"source": records[0]["source"] if records else "kinesis", "failure": failure(function_arn)},
            }
        ],
    }


def decoded(payload: str) -> Any:
    return json.loads(base64.b64decode(payload))


def batched(plan_batches: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["recordId"]: r for b in plan_batches for r in b["records"]}


class TestClasses:
    def test_no_rule_decides_transient_redriven_as_is(self) -> None:
        record = kinesis(BASE, {"id": "o-1", "amount": 10})
        plan = plan_records([group([record])], load_rules(RULES), target="invoke", batch_size=10)
        entry = plan.records[record["recordId"]]
        assert entry["class"] == "transient"
        assert entry["action"] == "redrive"
        assert entry["rule"] is None
        assert entry["repaired"] is False
        [batch] = plan.batches
        [sent] = batch["records"]
        assert sent["payload"] == record["payload"]
        assert "failure" not in sent
        assert entry["batchId"] == batch["batchId"]

    def test_discard_is_poison_and_never_batched(self) -> None:
        record = kinesis(BASE, {"type": "test"})
        plan = plan_records([group([record])], load_rules(RULES), target="invoke", batch_size=10)
        entry = plan.records[record["recordId"]]
        assert (entry["class"], entry["action"], entry["rule"], entry["reason"]) == (
            "poison",
            "discard",
            "drop-test-events",
            "test traffic",
        )
        assert plan.batches == []
        assert "batchId" not in entry

    def test_kinesis_repair_replaces_the_payload(self) -> None:
        record = kinesis(BASE, {"id": "o-2", "amount": "12.50"})
        plan = plan_records([group([record])], load_rules(RULES), target="stream", batch_size=10)
        entry = plan.records[record["recordId"]]
        assert (entry["class"], entry["action"], entry["repaired"]) == ("poison", "redrive", True)
        assert entry["rule"] == "amount-as-number"
        assert entry["data"] == {"id": "o-2", "amount": 12.5}
        sent = batched(plan.batches)[record["recordId"]]
        assert decoded(sent["payload"]) == {"id": "o-2", "amount": 12.5}
        assert sent["partitionKey"] == record["partitionKey"]
        assert sent["sequenceNumber"] == record["sequenceNumber"]

    def test_dynamodb_repair_replaces_new_image_in_dynamodb_json(self) -> None:
        record = dynamodb(310, {"pk": {"S": "order#1"}, "amount": {"S": "12.50"}, "tags": {"L": [{"S": "a"}]}})
        plan = plan_records([group([record])], load_rules(RULES), target="stream", batch_size=10)
        entry = plan.records[record["recordId"]]
        assert (entry["class"], entry["repaired"]) == ("poison", True)
        sent = batched(plan.batches)[record["recordId"]]
        assert sent["newImage"] == {"pk": {"S": "order#1"}, "amount": {"N": "12.5"}, "tags": {"L": [{"S": "a"}]}}
        assert sent["keys"] == record["keys"]

    def test_dynamodb_repair_to_a_non_object_is_held_as_rule_error(self) -> None:
        rules = load_rules([{"name": "to-text", "when": "true", "action": "repair", "repair": "'just text'"}])
        record = dynamodb(310, {"pk": {"S": "order#1"}})
        plan = plan_records([group([record])], rules, target="invoke", batch_size=10)
        entry = plan.records[record["recordId"]]
        assert (entry["class"], entry["action"]) == ("rule-error", "hold")
        assert entry["rule"] == "to-text"
        assert "JSON object" in entry["reason"]
        assert plan.batches == []
        assert plan.message_records == {"m1": [record["recordId"]]}

    def test_kinesis_repair_to_a_non_object_is_fine(self) -> None:
        rules = load_rules([{"name": "to-text", "when": "true", "action": "repair", "repair": "'just text'"}])
        record = kinesis(BASE)
        plan = plan_records([group([record])], rules, target="invoke", batch_size=10)
        assert plan.records[record["recordId"]]["class"] == "poison"
        assert decoded(batched(plan.batches)[record["recordId"]]["payload"]) == "just text"

    def test_rule_that_fails_holds_the_record(self) -> None:
        record = kinesis(BASE, {"id": "o-9", "broken": 7})
        plan = plan_records([group([record])], load_rules(RULES), target="invoke", batch_size=10)
        entry = plan.records[record["recordId"]]
        assert (entry["class"], entry["action"], entry["rule"]) == ("rule-error", "hold", "needs-boolean")
        assert "true or false" in entry["reason"]
        assert plan.batches == []

    def test_unreadable_record_is_invalid_and_held(self) -> None:
        record = kinesis(BASE)
        record["payload"] = "not base64!"
        plan = plan_records([group([record])], load_rules(RULES), target="invoke", batch_size=10)
        entry = plan.records[record["recordId"]]
        assert (entry["class"], entry["action"], entry["rule"]) == ("invalid-record", "hold", None)
        assert "base64" in entry["reason"]
        assert plan.batches == []

    def test_non_json_payload_is_still_redriven(self) -> None:
        record = kinesis(BASE, raw=b"order o-8, amount 4 (not JSON)")
        plan = plan_records([group([record])], load_rules(RULES), target="invoke", batch_size=10)
        assert plan.records[record["recordId"]]["class"] == "transient"
        assert len(plan.batches) == 1

    def test_transient_dynamodb_record_keeps_its_old_image(self) -> None:
        record = dynamodb(310, {"pk": {"S": "order#1"}, "amount": {"N": "2"}})
        plan = plan_records([group([record])], [], target="invoke", batch_size=10)
        assert plan.records[record["recordId"]]["class"] == "transient"
        assert batched(plan.batches)[record["recordId"]]["oldImage"] == record["oldImage"]

    def test_summary_counts(self) -> None:
        records = [
            kinesis(BASE, {"id": "o-1", "amount": 1}),
            kinesis(BASE + 1, {"type": "test"}),
            kinesis(BASE + 2, {"id": "o-3", "amount": "3"}),
            kinesis(BASE + 3, {"broken": 1}),
        ]
        plan = plan_records([group(records, expired=2)], load_rules(RULES), target="invoke", batch_size=10)
        summary = plan.summary()
        assert summary["records"] == 4
        assert summary["expired"] == 2
        assert summary["byClass"] == {"transient": 1, "poison": 2, "rule-error": 1, "expired": 2}
        assert summary["byAction"] == {"redrive": 2, "discard": 1, "hold": 1}
        assert summary["batches"] == 1
        document = plan.to_json()
        assert document["batches"] == [plan.batches[0]["batchId"]]
        json.dumps(document)


class TestBatches:
    def test_per_shard_in_sequence_order_and_at_most_batch_size(self) -> None:
        shard0 = [kinesis(BASE + s) for s in (9, 3, 1, 7, 5, 0, 2)]
        shard1 = [kinesis(BASE + s, shard=SHARD1) for s in (4, 2)]
        plan = plan_records([group(shard0, "m1"), group(shard1, "m2")], [], target="stream", batch_size=3)
        assert [len(b["records"]) for b in plan.batches] == [3, 3, 1, 2]
        for batch in plan.batches:
            assert len({r["shardId"] for r in batch["records"]}) == 1
            assert batch["shardId"] == batch["records"][0]["shardId"]
            assert batch["streamArn"] == KINESIS_ARN
            assert batch["source"] == "kinesis"
            assert batch["target"] == "stream"
            assert batch["functionArn"] is None
        order0 = [int(r["sequenceNumber"]) - BASE for b in plan.batches[:3] for r in b["records"]]
        assert order0 == [0, 1, 2, 3, 5, 7, 9]
        assert [int(r["sequenceNumber"]) - BASE for r in plan.batches[3]["records"]] == [2, 4]
        ids = [b["batchId"] for b in plan.batches]
        assert len(set(ids)) == len(ids)

    def test_sequence_order_is_numeric_across_lengths(self) -> None:
        records = [kinesis(s) for s in (100, 99, 1000, 5)]
        plan = plan_records([group(records)], [], target="stream", batch_size=10)
        assert [r["sequenceNumber"] for r in plan.batches[0]["records"]] == ["5", "99", "100", "1000"]

    def test_every_redriven_record_is_in_exactly_one_batch(self) -> None:
        records = [kinesis(BASE + s, {"id": s, "amount": "1" if s % 2 else 1}) for s in range(23)]
        plan = plan_records([group(records)], load_rules(RULES), target="invoke", batch_size=4)
        in_batches = [r["recordId"] for b in plan.batches for r in b["records"]]
        assert sorted(in_batches) == sorted(r["recordId"] for r in records)
        for rid, entry in plan.records.items():
            assert entry["batchId"] in {
                b["batchId"] for b in plan.batches if rid in {r["recordId"] for r in b["records"]}
            }

    def test_function_from_the_pointer(self) -> None:
        plan = plan_records([group([kinesis(BASE)])], [], target="invoke", batch_size=10)
        assert plan.batches[0]["functionArn"] == POINTER_FUNCTION

    def test_override_wins_over_the_pointer(self) -> None:
        plan = plan_records(
            [group([kinesis(BASE)])],
            [],
            target="invoke",
            batch_size=10,
            function_override=OTHER_FUNCTION,
            default_function="arn:default",
        )
        assert plan.batches[0]["functionArn"] == OTHER_FUNCTION

    def test_default_when_the_pointer_names_none(self) -> None:
        plan = plan_records(
            [group([kinesis(BASE)], function_arn=None)], [], target="invoke", batch_size=10, default_function="arn:d"
        )
        assert plan.batches[0]["functionArn"] == "arn:d"

    def test_no_function_known(self) -> None:
        plan = plan_records([group([kinesis(BASE)], function_arn=None)], [], target="invoke", batch_size=10)
        assert plan.batches[0]["functionArn"] is None

    def test_records_of_two_functions_on_one_shard_are_separate_batches(self) -> None:
        plan = plan_records(
            [group([kinesis(BASE)], "m1"), group([kinesis(BASE + 1)], "m2", function_arn=OTHER_FUNCTION)],
            [],
            target="invoke",
            batch_size=10,
        )
        assert sorted(b["functionArn"] for b in plan.batches) == sorted([POINTER_FUNCTION, OTHER_FUNCTION])

    def test_record_failure_wins_over_the_pointer_failure(self) -> None:
        record = {**kinesis(BASE), "failure": failure(OTHER_FUNCTION)}
        plan = plan_records([group([record])], [], target="invoke", batch_size=10)
        assert plan.batches[0]["functionArn"] == OTHER_FUNCTION


class TestRulesFired:
    def test_at_most_three_samples_with_before_and_after(self) -> None:
        records = [kinesis(BASE + s, {"id": s, "amount": str(s)}) for s in range(5)]
        records.append(kinesis(BASE + 9, {"type": "test"}))
        plan = plan_records([group(records)], load_rules(RULES), target="invoke", batch_size=10)
        repaired = plan.rules_fired["amount-as-number"]
        assert repaired["count"] == 5
        assert repaired["outcome"] == "repair"
        assert repaired["reason"] == "amount was sent as text"
        assert len(repaired["samples"]) == SAMPLES_PER_RULE == 3
        first = repaired["samples"][0]
        assert first["before"] == '{"amount": "0", "id": 0}'
        assert first["after"] == '{"amount": 0, "id": 0}'
        discarded = plan.rules_fired["drop-test-events"]
        assert discarded["count"] == 1
        assert discarded["samples"] == [{"recordId": records[-1]["recordId"], "before": '{"type": "test"}'}]
        assert "needs-boolean" not in plan.rules_fired
        assert plan.summary()["rules"] == plan.rules_fired

    def test_text_is_the_sample_when_the_payload_is_not_json(self) -> None:
        rules = load_rules([{"name": "drop-text", "when": "data = null", "action": "discard", "reason": "text"}])
        record = kinesis(BASE, raw=b"plain words")
        plan = plan_records([group([record])], rules, target="invoke", batch_size=10)
        assert plan.rules_fired["drop-text"]["samples"][0]["before"] == '"plain words"'

    def test_a_large_sample_is_cut_to_a_preview(self) -> None:
        rules = load_rules([{"name": "drop-all", "when": "true", "action": "discard", "reason": "big"}])
        record = kinesis(BASE, {"id": 1, "blob": "x" * 100_000})
        plan = plan_records([group([record])], rules, target="invoke", batch_size=10)
        preview = plan.rules_fired["drop-all"]["samples"][0]["before"]
        assert len(preview) == PREVIEW_CHARS and preview.endswith("…")
        assert preview.startswith('{"blob": "xxx')


class TestExpiredAndMessages:
    def test_expired_entries_keep_message_and_pointer(self) -> None:
        g = group([kinesis(BASE)], "m1", expired=3)
        plan = plan_records([g], [], target="invoke", batch_size=10)
        assert plan.expired == [{"messageId": "m1", "pointer": g["assignments"][0]["pointer"], "count": 3}]

    def test_a_fully_expired_pointer_has_no_records(self) -> None:
        g = group([], "m1", expired=4)
        plan = plan_records([g], [], target="invoke", batch_size=10)
        assert plan.records == {}
        assert plan.message_records == {"m1": []}
        assert plan.summary()["expired"] == 4

    def test_a_record_named_by_two_messages_is_planned_once(self) -> None:
        shared = kinesis(BASE + 1)
        plan = plan_records(
            [group([kinesis(BASE), shared], "m1"), group([shared, kinesis(BASE + 2)], "m2")],
            [],
            target="stream",
            batch_size=10,
        )
        assert len(plan.records) == 3
        assert plan.message_records["m1"] == [f"{SHARD0}:{BASE}", f"{SHARD0}:{BASE + 1}"]
        assert plan.message_records["m2"] == [f"{SHARD0}:{BASE + 1}", f"{SHARD0}:{BASE + 2}"]
        assert sum(len(b["records"]) for b in plan.batches) == 3

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
        plan = plan_records([group([kinesis(BASE)])], rules, target="invoke", batch_size=10)
        assert plan.records[f"{SHARD0}:{BASE}"]["action"] == "discard"


def test_a_shards_batches_form_one_lane_in_order() -> None:
    records = [kinesis(BASE + s, {"id": s, "amount": s}) for s in range(5)]
    other = [kinesis(BASE + s, {"id": s, "amount": s}, shard="shardId-000000000009") for s in range(2)]
    plan = plan_records([group(records), group(other)], load_rules([]), target="invoke", batch_size=2)
    lanes = plan.lanes()
    assert sorted(len(lane) for lane in lanes) == [1, 3]
    for lane in lanes:
        batches = [next(b for b in plan.batches if b["batchId"] == i) for i in lane]
        assert len({b["shardId"] for b in batches}) == 1
        sequence = [int(r["sequenceNumber"]) for b in batches for r in b["records"]]
        assert sequence == sorted(sequence)
    assert plan.to_json()["lanes"] == lanes


def test_the_summary_carries_what_the_fetch_learned() -> None:
    early = {**kinesis(BASE, {"id": 1, "amount": 1}), "approximateArrival": "2026-11-22T01:00:00+00:00"}
    late = {**kinesis(BASE + 1, {"id": 2, "amount": 2}), "approximateArrival": "2026-11-22T02:00:00+00:00"}
    plan = plan_records(
        [{**group([late, early]), "getRecordsCalls": 3}, {**group([]), "getRecordsCalls": 2}],
        load_rules([]),
        target="invoke",
        batch_size=10,
    )
    summary = plan.summary()
    assert summary["getRecordsCalls"] == 5
    assert summary["oldestArrival"] == "2026-11-22T01:00:00+00:00"
