"""Every strict rule ``install()`` applies is pinned by a test of this folder that passed in
this session: a test that shows moto accepting the call lenient and the rule refusing it with
AWS's error. Run the whole folder: with only part of it collected, what the rest pins is not
seen."""

from __future__ import annotations

import pytest

from redrive_local.strict import AWS_RULES

from .conftest import RULES_PINNED_BY_PASSING_TESTS, rules_of


def test_every_strict_rule_is_pinned_by_a_test_that_passed(request: pytest.FixtureRequest) -> None:
    registered = set(AWS_RULES)
    assert registered, "the strict registry is empty"
    declared = {name for item in request.session.items for name in rules_of(item)}
    passed = request.config.stash.get(RULES_PINNED_BY_PASSING_TESTS, {})
    assert sorted(declared - registered) == [], "tests pin names that are not registered strict rules"
    assert sorted(registered - declared) == [], "registered but no collected test is marked as pinning them"
    assert sorted(registered - set(passed)) == [], "pinned only by tests that did not pass in this session"


def test_every_rule_names_the_aws_rule_it_enforces() -> None:
    for rule in AWS_RULES.values():
        assert len(rule.rule) > 20, f"{rule.name} must say which AWS rule it enforces"
