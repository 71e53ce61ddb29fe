"""Static checks of the deployable files (local/redrive_local/validate.py).

The real repository passes. A copy with a broken state machine (a transition to a state that
does not exist, a placeholder without a DefinitionSubstitution, a substitution nothing uses
and a nested Lambda Task without its retrier) is refused, each problem named. The retrier
rule itself is tested on small definitions in tests/unit/test_validate_lambda_retriers.py.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from redrive_local.engine import REPO_ROOT
from redrive_local.validate import ValidationReport, validate_asl, validate_project

ASL = Path("statemachines") / "redrive.asl.json"
ALL_CHECKS = [
    "cfn-lint template.yaml",
    "cfn-lint translated template",
    "asl-validator",
    "statelint",
    "moto ASL parser",
    "Lambda retriers",
]


def copy_project(target: Path) -> Path:
    shutil.copy(REPO_ROOT / "template.yaml", target / "template.yaml")
    shutil.copytree(REPO_ROOT / "statemachines", target / "statemachines")
    shutil.copytree(REPO_ROOT / "functions", target / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    (target / "node_modules").symlink_to((REPO_ROOT / "node_modules").resolve(), target_is_directory=True)
    return target


def break_state_machine(root: Path) -> dict[str, str]:
    """Send a Choice's Default to a state that does not exist, rename one placeholder and
    drop the Retry of a Task inside a Map; return what was done, for the assertions."""
    path = root / ASL
    definition = json.loads(path.read_text())
    states = definition["States"]
    choice = next(name for name, state in states.items() if state["Type"] == "Choice" and "Default" in state)
    target = states[choice]["Default"]
    states[choice]["Default"] = target + "Typo"
    task = next(name for name, state in states.items() if str(state.get("Resource", "")).startswith("${"))
    placeholder = states[task]["Resource"][2:-1]
    states[task]["Resource"] = "${Renamed" + placeholder + "}"
    mapped = next(name for name, state in states.items() if state["Type"] == "Map")
    inner = states[mapped]["ItemProcessor"]["States"]
    unretried = next(name for name, state in inner.items() if state["Type"] == "Task")
    del inner[unretried]["Retry"]
    path.write_text(json.dumps(definition, indent=2))
    return {
        "missing": target + "Typo",
        "choice": choice,
        "unused": placeholder,
        "undeclared": "Renamed" + placeholder,
        "unretried": f"{mapped}/{unretried}",
    }


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[ValidationReport, ValidationReport, dict[str, str]]:
    """validate_project on the repository and on a broken copy, run side by side (each is
    mostly cfn-lint and node subprocesses)."""
    broken_root = copy_project(tmp_path_factory.mktemp("broken"))
    broken = break_state_machine(broken_root)
    with ThreadPoolExecutor(2) as pool:
        real = pool.submit(validate_project, REPO_ROOT)
        copy = pool.submit(validate_project, broken_root)
        return real.result(timeout=120), copy.result(timeout=120), broken


def test_the_repository_passes(reports: tuple[ValidationReport, ValidationReport, dict[str, str]]) -> None:
    real, _, _ = reports
    assert real.problems == []
    assert real.ok
    assert real.checks == ALL_CHECKS


def test_broken_copy_names_each_problem(reports: tuple[ValidationReport, ValidationReport, dict[str, str]]) -> None:
    _, report, broken = reports
    assert not report.ok
    assert report.checks == ALL_CHECKS
    problems = "\n".join(report.problems)
    assert f"redrive.asl.json: ${{{broken['undeclared']}}} has no DefinitionSubstitution in template.yaml" in problems
    assert f"DefinitionSubstitution {broken['unused']} is not used in redrive.asl.json" in problems
    assert f"redrive.asl.json: Lambda Task {broken['unretried']} does not retry Lambda." in problems
    by_tool = {p.split(":", 1)[0]: p for p in report.problems if p.startswith(("asl-validator:", "statelint:"))}
    assert set(by_tool) == {"asl-validator", "statelint"}
    assert all(broken["missing"] in text for text in by_tool.values()), by_tool
    assert f'No state found named "{broken["missing"]}"' in by_tool["statelint"]


def test_asl_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.asl.json"
    path.write_text('{"StartAt": "A", "States": {')
    report = ValidationReport()
    validate_asl(path, {}, tmp_path, report)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"{path}: not JSON: ")
    assert report.checks == []


def test_validators_missing_from_the_project_are_a_problem(tmp_path: Path) -> None:
    """Without node_modules the ASL graph check cannot run; that is reported, not skipped."""
    asl = tmp_path / "machine.asl.json"
    asl.write_text(json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))
    report = ValidationReport()
    validate_asl(asl, {}, tmp_path, report)
    assert report.problems == ["asl-validator is not installed (run: npm ci)"]
    assert report.checks == ["statelint", "moto ASL parser", "Lambda retriers"]
