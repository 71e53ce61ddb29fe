"""Whatever a scenario file holds, ``load_scenario`` returns a Scenario or raises ScenarioError.

Hypothesis writes arbitrary JSON documents, the shipped scenarios with one part swapped for
arbitrary JSON, and the shipped scenarios with their text cut or spliced. Functional, as it
writes files; about 200 examples in all, so it runs in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redrive_local.engine import REPO_ROOT
from redrive_local.scenario import Scenario, ScenarioError, load_scenario

SHIPPED = {
    path.name: json.loads(path.read_text()) for path in sorted((REPO_ROOT / "events" / "scenarios").glob("*.json"))
}

FUZZ = settings(
    max_examples=70,
    deadline=None,
    database=None,  # writes nothing to the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every character, lone surrogates and control characters included.
any_text = st.text(st.characters(codec=None, categories=None), max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
    | st.sampled_from(["kinesis", "dynamodb", "pk", ""])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text | st.sampled_from(["pk"]), children, max_size=4)
    ),
    max_leaves=30,
)


def check(path: Path) -> None:
    try:
        result = load_scenario(path)
    except ScenarioError as error:
        message = str(error)
        assert message.startswith(f"{path}: "), message
        assert len(message.splitlines()) == 1, message
    else:
        assert isinstance(result, Scenario)


def replace_at(document: Any, data: st.DataObject) -> Any:
    """``document`` with one part (drawn by walking down from the top) swapped for arbitrary JSON."""
    if not isinstance(document, dict | list) or not document or data.draw(st.integers(0, 3)) == 0:
        return data.draw(json_values)
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = data.draw(st.sampled_from(keys))
    copy: Any = dict(document) if isinstance(document, dict) else list(document)
    copy[key] = replace_at(copy[key], data)
    return copy


@pytest.mark.functional
@FUZZ
@given(document=json_values)
def test_arbitrary_json(document: Any, tmp_path: Path) -> None:
    path = tmp_path / "arbitrary.json"
    path.write_text(json.dumps(document))
    check(path)


@pytest.mark.functional
@FUZZ
@given(name=st.sampled_from(sorted(SHIPPED)), data=st.data())
def test_shipped_scenario_with_one_part_replaced(name: str, data: st.DataObject, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(replace_at(SHIPPED[name], data)))
    check(path)


@pytest.mark.functional
@FUZZ
@given(name=st.sampled_from(sorted(SHIPPED)), data=st.data())
def test_shipped_scenario_text_spliced(name: str, data: st.DataObject, tmp_path: Path) -> None:
    text = json.dumps(SHIPPED[name]).encode()
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    splice = data.draw(
        st.binary(max_size=8) | st.sampled_from([b"NaN", b"1e999", b"[" * 200, b"\\ud800", b'"', b"\xff"])
    )
    path = tmp_path / name
    path.write_bytes(text[:start] + splice + text[end:])
    check(path)
