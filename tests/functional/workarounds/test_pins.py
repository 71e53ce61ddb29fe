"""Every workaround ``install()`` applies and every local CloudFormation model is pinned by a
test of this folder that passed in this session.

A test declares what it pins with ``@pytest.mark.pins("_kinesis_iterators_from_stream_arn")``;
the conftest records the names of each test that passes and runs this check last. So a
workaround with no test, a test whose marker names nothing registered, and a pin whose only
tests failed or were skipped all fail here. Run the whole folder: with only part of it
collected, what the rest pins is not seen.
"""

from __future__ import annotations

import pytest

from redrive_local.workarounds import LOCAL_MODELS, WORKAROUNDS

from .conftest import PINNED_BY_PASSING_TESTS, pins_of


def test_every_workaround_is_pinned_by_a_test_that_passed(request: pytest.FixtureRequest) -> None:
    registered = set(WORKAROUNDS) | set(LOCAL_MODELS)
    assert len(WORKAROUNDS) >= 13 and len(LOCAL_MODELS) >= 6, "the registry lost entries"
    declared = {name for item in request.session.items for name in pins_of(item)}
    passed = request.config.stash.get(PINNED_BY_PASSING_TESTS, {})
    assert sorted(declared - registered) == [], "tests pin names that are not registered workarounds"
    assert sorted(registered - declared) == [], "registered but no collected test is marked as pinning them"
    assert sorted(registered - set(passed)) == [], "pinned only by tests that did not pass in this session"
