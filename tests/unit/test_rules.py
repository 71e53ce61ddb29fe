"""The rule engine and declarative (JSONata) rules: loading, ordering, outcomes, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from jsonata import timebox

from redrive.rules import (
    Decision,
    InvalidRule,
    RuleDocument,
    RuleOutcome,
    UnknownRule,
    apply_rules,
    load_rules,
    rule_document,
)
from redrive.rules.registry import PythonRule

SPEC_EXAMPLE = [
    {"name": "drop-test-events", "when": "data.type = 'test'", "action": "discard", "reason": "test traffic"},
    {
        "name": "amount-as-number",
        "when": "$type(data.amount) = 'string'",
        "action": "repair",
        "repair": "$merge([data, {'amount': $number(data.amount)}])",
    },
]

FAILURE = {"condition": "RetryAttemptsExhausted", "functionError": "Unhandled", "approximateInvokeCount": 3}


def kinesis_record(
    payload: bytes, sequence_number: str = "49590338271490256608559692538361571095921575989136588898"
) -> dict[str, Any]:
    return {
        "source": "kinesis",
        "shardId": "shardId-000000000000",
        "sequenceNumber": sequence_number,
        "partitionKey": "order-1",
        "payload": base64.b64encode(payload).decode(),
    }


def document_for(data: Any) -> RuleDocument:
    return rule_document(kinesis_record(json.dumps(data).encode()), FAILURE)


def rule(**spec: Any) -> dict[str, Any]:
    base = {"name": "r", "when": "true", "action": "keep"}
    base.update(spec)
    return {key: value for key, value in base.items() if value is not None}


class TestSpecExample:
    """The two rules from the issue, end to end from a fetched Kinesis record."""

    def test_test_event_is_discarded_with_the_rules_reason(self) -> None:
        outcome = apply_rules(load_rules(SPEC_EXAMPLE), document_for({"type": "test", "amount": "1"}))
        assert outcome == RuleOutcome("discard", rule="drop-test-events", reason="test traffic")

    def test_string_amount_is_repaired_to_a_number_and_other_fields_are_kept(self) -> None:
        outcome = apply_rules(load_rules(SPEC_EXAMPLE), document_for({"type": "order", "id": 7, "amount": "12.5"}))
        assert outcome == RuleOutcome(
            "repair", rule="amount-as-number", data={"type": "order", "id": 7, "amount": 12.5}
        )

    def test_integral_string_amount_becomes_an_int_not_a_float(self) -> None:
        outcome = apply_rules(load_rules(SPEC_EXAMPLE), document_for({"type": "order", "amount": "12"}))
        assert isinstance(outcome.data, dict)
        assert outcome.data["amount"] == 12
        assert type(outcome.data["amount"]) is int

    def test_record_no_rule_decides_on_is_redriven_as_is(self) -> None:
        outcome = apply_rules(load_rules(SPEC_EXAMPLE), document_for({"type": "order", "amount": 12}))
        assert outcome == RuleOutcome("redrive")

    def test_non_json_payload_is_redriven_as_is_by_these_rules(self) -> None:
        document = rule_document(kinesis_record(b"not json"), FAILURE)
        assert apply_rules(load_rules(SPEC_EXAMPLE), document) == RuleOutcome("redrive")

    def test_unparseable_amount_is_a_rule_error_naming_the_rule(self) -> None:
        outcome = apply_rules(load_rules(SPEC_EXAMPLE), document_for({"type": "order", "amount": "twelve"}))
        assert outcome.outcome == "rule-error"
        assert outcome.rule == "amount-as-number"
        assert outcome.reason is not None
        assert "'repair' failed" in outcome.reason
        assert "twelve" in outcome.reason


class TestOrdering:
    def test_first_rule_that_decides_wins(self) -> None:
        rules = load_rules(
            [
                rule(name="first", when="data.kind = 'x'", action="discard", reason="first reason"),
                rule(name="second", when="data.kind = 'x'", action="discard", reason="second reason"),
            ]
        )
        assert apply_rules(rules, document_for({"kind": "x"})) == RuleOutcome(
            "discard", rule="first", reason="first reason"
        )

    def test_rule_without_a_decision_passes_to_the_next(self) -> None:
        rules = load_rules(
            [
                rule(name="not-mine", when="data.kind = 'y'", action="discard", reason="y"),
                rule(name="mine", when="data.kind = 'x'", action="discard", reason="x"),
            ]
        )
        assert apply_rules(rules, document_for({"kind": "x"})).rule == "mine"

    def test_keep_stops_evaluation_and_redrives_with_the_keep_rule_named(self) -> None:
        rules = load_rules(
            [
                rule(name="vip", when="data.vip = true", action="keep", reason="never touch VIP orders"),
                rule(name="drop-all", when="true", action="discard", reason="everything"),
            ]
        )
        assert apply_rules(rules, document_for({"vip": True})) == RuleOutcome(
            "redrive", rule="vip", reason="never touch VIP orders"
        )
        assert apply_rules(rules, document_for({"vip": False})).rule == "drop-all"

    def test_rule_error_stops_evaluation(self) -> None:
        rules = load_rules(
            [
                rule(name="broken", when="data.amount + 1 > 0", action="keep"),
                rule(name="drop-all", when="true", action="discard", reason="everything"),
            ]
        )
        outcome = apply_rules(rules, document_for({"amount": "not a number"}))
        assert (outcome.outcome, outcome.rule) == ("rule-error", "broken")

    def test_no_rules_means_redrive(self) -> None:
        assert apply_rules([], document_for({"a": 1})) == RuleOutcome("redrive")
        assert load_rules(None) == []


class TestWhen:
    @pytest.mark.parametrize(
        ("when", "shown"),
        [
            ("data.kind", 'string "x"'),
            ("data.count", "number 3"),
            ("data", "object"),
            ("[true, false]", "array [true, false]"),
        ],
    )
    def test_non_boolean_result_is_a_rule_error(self, when: str, shown: str) -> None:
        rules = load_rules([rule(name="sloppy", when=when, action="discard", reason="r")])
        outcome = apply_rules(rules, document_for({"kind": "x", "count": 3}))
        assert outcome.outcome == "rule-error"
        assert outcome.rule == "sloppy"
        assert outcome.reason is not None
        assert "must evaluate to true or false" in outcome.reason
        assert shown in outcome.reason

    @pytest.mark.parametrize("when", ["data.missing", "null", "data.nothing.deeper"])
    def test_undefined_or_null_counts_as_false(self, when: str) -> None:
        rules = load_rules([rule(name="r", when=when, action="discard", reason="r")])
        assert apply_rules(rules, document_for({"kind": "x"})) == RuleOutcome("redrive")

    def test_when_sees_the_whole_document(self) -> None:
        when = (
            "source = 'kinesis' and partitionKey = 'order-1' and shardId = 'shardId-000000000000'"
            " and failure.condition = 'RetryAttemptsExhausted' and failure.approximateInvokeCount = 3"
            " and $contains(text, 'x') and eventName = null"
        )
        rules = load_rules([rule(name="everything", when=when, action="discard", reason="seen")])
        assert apply_rules(rules, document_for({"kind": "x"})).outcome == "discard"

    def test_expression_error_is_a_rule_error_with_the_field_named(self) -> None:
        rules = load_rules([rule(name="adds", when="data.amount + 1 > 2", action="keep")])
        outcome = apply_rules(rules, document_for({"amount": "x"}))
        assert outcome.outcome == "rule-error"
        assert outcome.reason is not None
        assert outcome.reason.startswith("'when' failed: JException:")


class TestRepair:
    def test_undefined_result_is_a_rule_error(self) -> None:
        rules = load_rules([rule(name="fix", when="true", action="repair", repair="data.missing")])
        outcome = apply_rules(rules, document_for({"a": 1}))
        assert outcome == RuleOutcome(
            "rule-error", rule="fix", reason="'repair' returned nothing (undefined); it must return the new data"
        )

    def test_null_result_is_json_null_not_undefined(self) -> None:
        rules = load_rules([rule(name="blank", when="true", action="repair", repair="null")])
        assert apply_rules(rules, document_for({"a": 1})) == RuleOutcome("repair", rule="blank", data=None)

    def test_nested_nulls_come_back_as_none(self) -> None:
        rules = load_rules(
            [rule(name="n", when="true", action="repair", repair="{'a': null, 'b': [null, data.x], 'c': data.x}")]
        )
        outcome = apply_rules(rules, document_for({"x": None}))
        assert outcome.data == {"a": None, "b": [None, None], "c": None}
        assert json.dumps(outcome.data) == '{"a": null, "b": [null, null], "c": null}'

    def test_repaired_data_is_plain_json_and_not_shared_with_the_document(self) -> None:
        document = document_for({"items": [1, 2], "meta": {"k": "v"}})
        rules = load_rules([rule(name="same", when="true", action="repair", repair="data")])
        outcome = apply_rules(rules, document)
        assert outcome.data == {"items": [1, 2], "meta": {"k": "v"}}
        assert isinstance(outcome.data, dict)
        meta = outcome.data["meta"]
        assert isinstance(meta, dict)
        meta["k"] = "changed"
        assert document["data"] == {"items": [1, 2], "meta": {"k": "v"}}

    def test_sequence_results_become_plain_lists(self) -> None:
        rules = load_rules([rule(name="seq", when="true", action="repair", repair="data.items.($ * 2)")])
        outcome = apply_rules(rules, document_for({"items": [1, 2, 3]}))
        assert outcome.data == [2, 4, 6]
        assert type(outcome.data) is list

    def test_optional_reason_is_reported(self) -> None:
        rules = load_rules([rule(name="r", when="true", action="repair", repair="1", reason="normalised")])
        assert apply_rules(rules, document_for({})) == RuleOutcome("repair", rule="r", reason="normalised", data=1)

    def test_function_result_is_a_rule_error(self) -> None:
        rules = load_rules([rule(name="fn", when="true", action="repair", repair="function($x){ $x }")])
        outcome = apply_rules(rules, document_for({}))
        assert outcome.outcome == "rule-error"
        assert outcome.reason is not None
        assert "did not return JSON" in outcome.reason


class TestRuntimeBounds:
    def test_infinite_tail_recursion_is_stopped_by_the_timeout(self) -> None:
        rules = load_rules(
            [rule(name="loop", when="($f := function($x){ $f($x + 1) }; $f(0))", action="keep")], timeout_ms=100
        )
        outcome = apply_rules(rules, document_for({}))
        assert outcome.outcome == "rule-error"
        assert outcome.reason is not None
        assert "timeout" in outcome.reason.lower()

    def test_deep_recursion_is_stopped_by_the_depth_limit(self) -> None:
        rules = load_rules(
            [rule(name="deep", when="($f := function($x){ 1 + $f($x + 1) }; $f(0)) > 0", action="keep")],
            max_depth=100,
        )
        outcome = apply_rules(rules, document_for({}))
        assert outcome.outcome == "rule-error"
        assert outcome.reason is not None
        assert "Stack overflow" in outcome.reason

    def test_timeout_counts_per_evaluation_not_since_loading(self, monkeypatch: pytest.MonkeyPatch) -> None:
        clock = [1_000_000]
        monkeypatch.setattr(timebox.Timebox, "current_milli_time", staticmethod(lambda: clock[0]))
        rules = load_rules([rule(name="quick", when="data.a = 1", action="discard", reason="r")], timeout_ms=100)
        clock[0] += 60_000
        assert apply_rules(rules, document_for({"a": 1})).outcome == "discard"

    def test_now_is_the_evaluation_time_of_this_rule(self, monkeypatch: pytest.MonkeyPatch) -> None:
        clock = [1_000_000]
        monkeypatch.setattr(timebox.Timebox, "current_milli_time", staticmethod(lambda: clock[0]))
        rules = load_rules(
            [
                rule(name="stamp", when="true", action="repair", repair="{'at': $millis()}"),
                rule(name="compiled-later", when="false", action="keep"),
            ]
        )
        clock[0] = 5_000_000
        assert apply_rules(rules, document_for({})).data == {"at": 5_000_000}


class TestPythonRulesInTheEngine:
    def test_raising_rule_is_a_rule_error_and_record_is_not_dropped(self) -> None:
        def explode(document: RuleDocument) -> Decision | None:
            raise RuntimeError("boom")

        rules = [PythonRule("explodes", explode, "test"), PythonRule("after", lambda d: Decision.discard("x"), "t")]
        assert apply_rules(rules, document_for({})) == RuleOutcome(
            "rule-error", rule="explodes", reason="RuntimeError: boom"
        )

    def test_non_decision_result_is_a_rule_error(self) -> None:
        rules = [PythonRule("stringly", lambda d: "discard", "test")]  # type: ignore[arg-type,return-value]
        outcome = apply_rules(rules, document_for({}))
        assert outcome == RuleOutcome(
            "rule-error", rule="stringly", reason="returned a str; a rule returns a Decision or None"
        )

    def test_invalid_decision_built_by_a_rule_is_a_rule_error(self) -> None:
        rules = [PythonRule("no-reason", lambda d: Decision("discard"), "test")]
        outcome = apply_rules(rules, document_for({}))
        assert outcome.outcome == "rule-error"
        assert outcome.reason == "ValueError: a discard decision needs a reason; it is archived with the record"

    def test_non_json_repair_is_a_rule_error(self) -> None:
        rules = [PythonRule("sets", lambda d: Decision.repair({"tags": {"a"}}), "test")]  # type: ignore[dict-item]
        outcome = apply_rules(rules, document_for({}))
        assert outcome.outcome == "rule-error"
        assert outcome.reason == "repaired data is not JSON: repaired data.tags is a set, which is not a JSON value"

    def test_in_place_changes_reach_neither_later_rules_nor_the_caller(self) -> None:
        def scribble(document: RuleDocument) -> Decision | None:
            assert isinstance(document["data"], dict)
            document["data"]["kind"] = "scribbled"
            document["text"] = "scribbled"
            return None

        def report(document: RuleDocument) -> Decision | None:
            assert isinstance(document["data"], dict)
            return Decision.keep(reason=f"saw {document['data']['kind']}")

        document = document_for({"kind": "original"})
        outcome = apply_rules([PythonRule("scribble", scribble, "t"), PythonRule("report", report, "t")], document)
        assert outcome.reason == "saw original"
        assert document["data"] == {"kind": "original"}
        assert document["text"] == '{"kind": "original"}'

    def test_builtin_and_jsonata_rules_mix_in_one_list(self) -> None:
        rules = load_rules([{"python": "discard-unparseable"}, *SPEC_EXAMPLE])
        document = rule_document(kinesis_record(b"\x00\xff binary"), FAILURE)
        assert apply_rules(rules, document) == RuleOutcome(
            "discard", rule="discard-unparseable", reason="payload is not JSON"
        )
        assert apply_rules(rules, document_for({"type": "test"})).rule == "drop-test-events"


class TestDecision:
    def test_unknown_action_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown action 'drop'"):
            Decision("drop")  # type: ignore[arg-type]

    def test_discard_needs_a_reason(self) -> None:
        with pytest.raises(ValueError, match="needs a reason"):
            Decision.discard("")

    def test_constructors(self) -> None:
        assert Decision.repair({"a": 1}, reason="why") == Decision("repair", reason="why", data={"a": 1})
        assert Decision.keep() == Decision("keep")


class TestOutcomeAsDict:
    def test_data_only_for_repair(self) -> None:
        assert RuleOutcome("discard", rule="r", reason="why").as_dict() == {
            "outcome": "discard",
            "rule": "r",
            "reason": "why",
        }
        assert RuleOutcome("repair", rule="r", data=None).as_dict() == {
            "outcome": "repair",
            "rule": "r",
            "reason": None,
            "data": None,
        }


class TestLoadRulesErrors:
    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            (rule(action="drop"), "rules[1] ('r'): field 'action' is 'drop'; use one of keep, repair, discard"),
            (rule(action=None), "rules[1] ('r'): field 'action' is required"),
            (rule(when=None), "rules[1] ('r'): field 'when' is required"),
            (rule(when="  "), "rules[1] ('r'): field 'when' is required"),
            (rule(when=True), "rules[1] ('r'): field 'when' must be a string, got bool"),
            (rule(action="repair"), "rules[1] ('r'): field 'repair' is required when action is 'repair'"),
            (rule(action="discard", reason="x", repair="data"), "rules[1] ('r'): field 'repair' is only used with"),
            (rule(action="discard"), "rules[1] ('r'): field 'reason' is required when action is 'discard'"),
            (rule(name=None), "rules[1]: field 'name' is required"),
            (rule(reapir="data"), "rules[1] ('r'): unknown field(s) 'reapir'; a JSONata rule has name, when,"),
            (rule(when="data.("), "rules[1] ('r'): field 'when' is not valid JSONata: Expected ) before end"),
            (
                rule(action="repair", repair="$merge([data, {'a': 1]"),
                "rules[1] ('r'): field 'repair' is not valid JSONata:",
            ),
            ("drop everything", "rules[1]: a rule must be an object, got str"),
            (rule(name="ok"), "rules[1] ('ok'): name 'ok' is already used by rules[0]; names must be unique"),
            ({"name": "p", "python": "discard-unparseable", "when": "true"}, "rules[1] ('p'): unknown field(s) 'when'"),
            ({"name": "p", "python": ""}, "rules[1] ('p'): field 'python' must be the name of a registered rule"),
        ],
    )
    def test_invalid_rule_names_the_rule_and_the_field(self, spec: Any, message: str) -> None:
        with pytest.raises(InvalidRule) as raised:
            load_rules([rule(name="ok"), spec])
        assert str(raised.value).startswith(message)

    def test_compile_error_gives_code_and_position(self) -> None:
        with pytest.raises(InvalidRule, match=r"\(S0203 at character 6\)"):
            load_rules([rule(when="data.(")])

    def test_rules_must_be_a_list(self) -> None:
        with pytest.raises(InvalidRule, match="rules must be a list of rule objects, got str"):
            load_rules("data.type = 'test'")  # type: ignore[arg-type]

    def test_unknown_python_rule_is_an_unknown_rule_error(self) -> None:
        with pytest.raises(UnknownRule) as raised:
            load_rules([rule(name="ok"), {"name": "mystery", "python": "no-such-rule-anywhere"}])
        message = str(raised.value)
        assert message.startswith("rules[1] ('mystery'): no Python rule named 'no-such-rule-anywhere'")
        assert "discard-unparseable" in message

    def test_a_bad_rule_anywhere_fails_the_whole_list(self) -> None:
        with pytest.raises(InvalidRule, match=r"rules\[2\]"):
            load_rules([*SPEC_EXAMPLE, rule(name="late", action="explode")])
