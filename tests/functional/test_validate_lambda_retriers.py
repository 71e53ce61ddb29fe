"""The Lambda retrier rule of ``redrive-local validate``, on small inline definitions.

Every Task that invokes a function, at any depth (Map ItemProcessor or Iterator, Parallel
Branches), must retry the transient Lambda service errors; the project's ASL does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from redrive_local.validate import LAMBDA_SERVICE_ERRORS, is_lambda_task, lambda_retrier_problems

RETRIER = {
    "ErrorEquals": list(LAMBDA_SERVICE_ERRORS),
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2.0,
    "JitterStrategy": "FULL",
}
PROJECT_ASL = Path(__file__).resolve().parents[2] / "statemachines" / "redrive.asl.json"
ALL_MISSING = ", ".join(LAMBDA_SERVICE_ERRORS)


def task(resource: str = "${WorkFunctionArn}", retry: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, "End": True}
    if retry is not None:
        state["Retry"] = retry
    return state


def machine(**states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": next(iter(states)), "States": states}


def map_of(inner: dict[str, Any], key: str = "ItemProcessor") -> dict[str, Any]:
    return {"Type": "Map", key: inner, "End": True}


@pytest.mark.parametrize(
    "resource",
    [
        "${WorkFunctionArn}",
        "arn:aws:lambda:us-east-1:123456789012:function:work",
        "arn:aws:states:::lambda:invoke",
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
    ],
)
def test_every_form_of_function_resource_is_a_lambda_task(resource: str) -> None:
    assert is_lambda_task(task(resource))
    assert lambda_retrier_problems(machine(Work=task(resource))) == [f"Lambda Task Work does not retry {ALL_MISSING}"]


@pytest.mark.parametrize(
    "state",
    [
        {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True},
        {"Type": "Task", "Resource": "${WorkStateMachineArn}", "End": True},
        {"Type": "Pass", "End": True},
    ],
)
def test_other_states_need_no_lambda_retrier(state: dict[str, Any]) -> None:
    assert not is_lambda_task(state)
    assert lambda_retrier_problems(machine(Other=state)) == []


def test_a_compliant_definition_passes() -> None:
    definition = machine(
        First={**task(retry=[RETRIER, {"ErrorEquals": ["Busy"], "MaxAttempts": 2}]), "End": False, "Next": "Fan"},
        Fan=map_of(machine(Inner=task("arn:aws:states:::lambda:invoke", [RETRIER]))),
    )
    assert lambda_retrier_problems(definition) == []


def test_a_task_without_retry_is_named() -> None:
    definition = machine(Covered=task(retry=[RETRIER]), Bare=task())
    assert lambda_retrier_problems(definition) == [f"Lambda Task Bare does not retry {ALL_MISSING}"]


def test_a_partial_retrier_names_the_missing_errors() -> None:
    """The retrier the project had before: three of the five errors."""
    old = {
        "ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.SdkClientException"],
        "MaxAttempts": 3,
    }
    assert lambda_retrier_problems(machine(Work=task(retry=[old]))) == [
        "Lambda Task Work does not retry Lambda.ClientExecutionTimeoutException, Lambda.AWSLambdaException"
    ]


def test_errors_may_be_spread_over_retriers_or_caught_by_states_all() -> None:
    split = [
        {"ErrorEquals": list(LAMBDA_SERVICE_ERRORS[:2])},
        {"ErrorEquals": list(LAMBDA_SERVICE_ERRORS[2:]), "MaxAttempts": 1},
    ]
    assert lambda_retrier_problems(machine(Split=task(retry=split))) == []
    assert lambda_retrier_problems(machine(Any=task(retry=[{"ErrorEquals": ["States.ALL"]}]))) == []


def test_a_first_matching_retrier_that_never_retries_does_not_count() -> None:
    """Step Functions applies the first retrier naming the error; MaxAttempts 0 disables it."""
    never = {"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 0}
    assert lambda_retrier_problems(machine(Work=task(retry=[never, RETRIER]))) == [
        "Lambda Task Work does not retry Lambda.TooManyRequestsException"
    ]


@pytest.mark.parametrize("key", ["ItemProcessor", "Iterator"])
def test_a_task_inside_a_map_is_named_with_its_parents(key: str) -> None:
    lane = map_of(machine(Batch=task()), key)
    definition = machine(Outer=map_of(machine(Lane=lane), key))
    assert lambda_retrier_problems(definition) == [f"Lambda Task Outer/Lane/Batch does not retry {ALL_MISSING}"]


def test_tasks_in_parallel_branches_are_checked() -> None:
    parallel = {
        "Type": "Parallel",
        "Branches": [machine(Left=task(retry=[RETRIER])), machine(Right=task())],
        "End": True,
    }
    assert lambda_retrier_problems(machine(Both=parallel)) == [f"Lambda Task Both/Right does not retry {ALL_MISSING}"]


def test_malformed_parts_are_left_to_the_schema_checks() -> None:
    assert lambda_retrier_problems({"States": []}) == []
    assert lambda_retrier_problems(machine(Odd="not a state", Map={"Type": "Map", "ItemProcessor": None})) == []
    retry = [{**RETRIER, "MaxAttempts": "six"}]
    assert lambda_retrier_problems(machine(Work=task(retry=retry))) == [
        f"Lambda Task Work does not retry {ALL_MISSING}"
    ]


def test_the_project_asl_passes() -> None:
    definition = json.loads(PROJECT_ASL.read_text())
    assert lambda_retrier_problems(definition) == []


def test_the_project_asl_puts_the_retrier_first_on_every_lambda_task() -> None:
    definition = json.loads(PROJECT_ASL.read_text())
    found: list[str] = []

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if is_lambda_task(state):
                found.append(name)
                assert state["Retry"][0] == RETRIER, name
            for inner in (state.get("ItemProcessor"), *state.get("Branches", [])):
                if inner:
                    walk(inner["States"])

    walk(definition["States"])
    assert len(found) == 11
