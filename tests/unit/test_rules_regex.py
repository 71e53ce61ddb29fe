"""Regular expressions in JSONata rules run on RE2: linear time, and clear errors for what RE2 lacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from redrive.rules import InvalidRule, RuleDocument, RuleOutcome, apply_rules, load_rules

CATASTROPHIC = "/^(a+)+$/"


def document(text: str, data: Any = None) -> RuleDocument:
    return {
        "data": data,
        "text": text,
        "partitionKey": "k",
        "sequenceNumber": "1",
        "shardId": "shardId-000000000000",
        "source": "kinesis",
        "eventName": None,
        "failure": {"condition": None, "functionError": None, "approximateInvokeCount": None, "redriveAttempts": 0},
    }


def outcome(when: str, text: str, data: Any = None) -> RuleOutcome:
    rules = load_rules([{"name": "r", "when": when, "action": "discard", "reason": "matched"}])
    return apply_rules(rules, document(text, data))


GUARDED = textwrap.dedent(
    """
    import json, sys
    from redrive.rules import apply_rules, load_rules
    when, text = json.loads(sys.stdin.read())
    rules = load_rules([{"name": "r", "when": when, "action": "discard", "reason": "matched"}])
    doc = {"data": None, "text": text, "partitionKey": "k", "sequenceNumber": "1", "shardId": "s",
           "source": "kinesis", "eventName": None,
           "failure": {"condition": None, "functionError": None, "approximateInvokeCount": None, "redriveAttempts": 0}}
    print(json.dumps(apply_rules(rules, doc).as_dict()))
    """
)


def guarded_outcome(when: str, text: str, seconds: float = 10) -> dict[str, Any]:
    """The outcome, computed in a child process killed after ``seconds``: a backtracking match
    holds the GIL, so no thread in this process could stop it."""
    try:
        finished = subprocess.run(
            [sys.executable, "-c", GUARDED],
            input=json.dumps([when, text]),
            capture_output=True,
            text=True,
            timeout=seconds,
            check=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{when!r} on {len(text)} characters did not finish in {seconds} s")
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


def test_a_catastrophic_pattern_finishes_on_a_long_record() -> None:
    """Backtracking needs about 2**n steps here (30 characters held Plan for 12.8 s)."""
    when = f"$contains(text, {CATASTROPHIC})"
    length = 5000
    assert guarded_outcome(when, "a" * length + "!") == {"outcome": "redrive", "rule": None, "reason": None}
    assert guarded_outcome(when, "a" * length) == {"outcome": "discard", "rule": "r", "reason": "matched"}


def test_the_catastrophic_pattern_in_process() -> None:
    assert outcome(f"$contains(text, {CATASTROPHIC})", "a" * 30 + "!") == RuleOutcome("redrive")
    assert outcome(f"$contains(text, {CATASTROPHIC})", "a" * 5000 + "!") == RuleOutcome("redrive")
    assert outcome(f"text ~> {CATASTROPHIC}", "a" * 5000 + "!") == RuleOutcome("redrive")


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [("/(a)\\1/", "backreference"), ("/a(?=b)/", "lookahead"), ("/(?<!a)b/", "lookbehind")],
)
def test_a_pattern_re2_cannot_compile_is_an_invalid_rule(pattern: str, kind: str) -> None:
    with pytest.raises(InvalidRule) as raised:
        load_rules([{"name": kind, "when": f"$contains(text, {pattern})", "action": "keep"}])
    message = str(raised.value)
    assert message.startswith(f"rules[0] ('{kind}'): field 'when': regular expression {pattern} is not supported")
    assert "no backreferences or lookaround" in message


def test_a_pattern_only_known_at_evaluation_is_a_rule_error() -> None:
    result = outcome("$eval('$contains(text, /a(?=b)/)')", "ab")
    assert result.outcome == "rule-error"
    assert result.rule == "r"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$replace(text, /(b)/, '[$1]')", "a[b]c"),
        ("$replace(text, /(b)/, '[$2]')", "a[]c"),  # a group the pattern lacks is dropped
        ("$replace(text, /(b)/, '[$12]')", "a[b2]c"),  # $12 with one group is $1 then "2"
        ("$replace(text, /(b)/, '[$$]')", "a[$]c"),
        ("$replace(text, /B/i, function($m) { '<' & $m.match & '>' })", "a<b>c"),
        ("$split(text, /b/)", ["a", "c"]),
        ("$match(text, /(a)(x)?/).groups", ["a", None]),
        ("$contains('x\\nabc', /^abc$/m)", True),
        ("$contains(text, /^ABC$/i)", True),
    ],
)
def test_jsonata_regex_functions_behave_as_before(expression: str, expected: Any) -> None:
    rules = load_rules([{"name": "r", "when": "true", "action": "repair", "repair": expression}])
    assert apply_rules(rules, document("abc")) == RuleOutcome("repair", rule="r", data=expected)
