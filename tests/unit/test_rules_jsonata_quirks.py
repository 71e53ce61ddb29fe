"""What jsonata-python 0.7.1 does that JSONata users may not expect.

These pin the library, not our code: if an upgrade changes one, the matching note in
``redrive.rules.jsonata_rule`` (and possibly a workaround there) needs another look.
"""

from __future__ import annotations

from typing import Any

import jsonata
import pytest
from jsonata import timebox
from jsonata.utils import Utils

DATA = {"data": {"amount": "12.5", "n": 42, "f": 1.0, "big": 12345678901234567890, "x": None}}


def evaluate(expression: str, document: Any = DATA) -> Any:
    return jsonata.Jsonata(expression).evaluate(document)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    now = [1_000_000]
    monkeypatch.setattr(timebox.Timebox, "current_milli_time", staticmethod(lambda: now[0]))
    return now


class TestNumbers:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("$number('12.5')", 12.5),
            ("$number('12')", 12),
            ("$number('2.0')", 2),
            ("$number('1e3')", 1000),
            ("$number('0x10')", 16),
            ("data.n * 1.0", 42),
            ("data.n / 2", 21),
            ("$sum([1.5, 2.5])", 4),
            ("2.0", 2),
            ("data.f", 1.0),
            ("data.big", 12345678901234567890),
        ],
    )
    def test_integral_results_of_arithmetic_are_ints_but_input_floats_pass_through(
        self, expression: str, expected: int | float
    ) -> None:
        result = evaluate(expression)
        assert result == expected
        assert type(result) is type(expected)

    def test_merge_keeps_int_and_float_as_they_were(self) -> None:
        result = evaluate("$merge([data, {'amount': $number(data.amount)}])")
        assert result == {"amount": 12.5, "n": 42, "f": 1.0, "big": 12345678901234567890, "x": None}
        assert type(result["n"]) is int
        assert type(result["f"]) is float

    @pytest.mark.parametrize(
        ("expression", "error"),
        [("$number('abc')", ValueError), ("$number('')", ValueError), ("1/0", ZeroDivisionError)],
    )
    def test_some_errors_are_plain_python_exceptions(self, expression: str, error: type[Exception]) -> None:
        with pytest.raises(error):
            evaluate(expression)

    def test_out_of_range_number_is_a_jsonata_error(self) -> None:
        with pytest.raises(jsonata.JException, match="Number out of range"):
            evaluate("$number('1e400')")


class TestUndefinedAndNull:
    def test_by_default_undefined_and_null_are_both_none(self) -> None:
        assert evaluate("data.missing") is None
        assert evaluate("null") is None
        assert evaluate("data.x") is None

    def test_without_output_conversion_null_is_a_marker_and_undefined_is_none(self) -> None:
        def raw(expression: str) -> Any:
            compiled = jsonata.Jsonata(expression)
            compiled.set_output_convert_nulls(False)
            return compiled.evaluate(DATA)

        assert raw("data.missing") is None
        assert raw("null") is Utils.NULL_VALUE
        assert raw("data.x") is Utils.NULL_VALUE
        assert raw("[null]")[0] is Utils.NULL_VALUE
        assert raw("data") == DATA["data"]

    def test_undefined_values_drop_object_keys(self) -> None:
        assert evaluate("{'a': data.missing, 'b': 1}") == {"b": 1}

    def test_comparisons_with_undefined_are_false(self) -> None:
        assert evaluate("data.missing = 'x'") is False
        assert evaluate("$type(data.amount) = 'string'", {"data": None}) is False


class TestSharingAndTypes:
    def test_a_path_result_is_the_input_object_itself(self) -> None:
        document = {"data": {"a": 1}}
        assert evaluate("data", document) is document["data"]

    def test_merge_does_not_change_its_input(self) -> None:
        document = {"data": {"a": 1}}
        evaluate("$merge([data, {'a': 2}])", document)
        assert document == {"data": {"a": 1}}

    def test_array_results_are_a_list_subclass(self) -> None:
        result = evaluate("[1, 2]")
        assert result == [1, 2]
        assert type(result) is not list
        assert isinstance(result, list)

    def test_only_json_types_are_accepted_as_input(self) -> None:
        with pytest.raises(ValueError, match="Only JSON types"):
            evaluate("data", {"data": b"bytes"})


class TestRuntimeBounds:
    def test_timeout_clock_starts_when_the_bounds_are_set_not_per_evaluation(self, clock: list[int]) -> None:
        compiled = jsonata.Jsonata("1 + 1", timeout=100)
        assert compiled.evaluate({}) == 2
        clock[0] += 1_000
        with pytest.raises(jsonata.JException, match="Evaluation timeout after 100 milliseconds"):
            compiled.evaluate({})
        compiled.environment.set_runtime_bounds(100, None)
        assert compiled.evaluate({}) == 2

    def test_now_and_millis_read_the_last_compiled_expression(self, clock: list[int]) -> None:
        stamp = jsonata.Jsonata("$millis()")
        jsonata.Jsonata("1")
        clock[0] = 5_000_000
        assert stamp.evaluate({}) == 1_000_000
        jsonata.Jsonata.CURRENT.jsonata = stamp
        assert stamp.evaluate({}) == 5_000_000

    def test_compile_errors_carry_a_code_and_position(self) -> None:
        with pytest.raises(jsonata.JException) as raised:
            jsonata.Jsonata("data.(")
        assert (raised.value.error, raised.value.location) == ("S0203", 6)

    def test_unknown_functions_fail_only_at_evaluation(self) -> None:
        compiled = jsonata.Jsonata("$nosuchfunction(1)")
        with pytest.raises(jsonata.JException, match="non-function"):
            compiled.evaluate({})
