"""Static checks of the two deployable files: the ASL and template.yaml.

- the ASL through npm ``asl-validator`` (schema and graph: missing targets,
  unreachable states) and PyPI ``statelint``, with DefinitionSubstitutions filled in
  as CloudFormation would; and through moto's ASL parser, the local engine;
- every ``${Name}`` in the ASL has a DefinitionSubstitution and every substitution is used;
- every Lambda Task, nested ones included, retries the transient Lambda service errors
  (``LAMBDA_SERVICE_ERRORS``), as AWS recommends in "Handle transient Lambda service exceptions";
- template.yaml through cfn-lint, and the translated CloudFormation too (cfn-lint checks
  nothing inside AWS::Serverless::StateMachine).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .deploy import load_template, package_locally, translate
from .workarounds import apply_definition_substitutions, express_children_as_standard

# On the translated template cfn-lint resolves parameters to their defaults. The Globals
# environment reaches the example consumer, whose own Condition makes one If branch
# unreachable there (W1028). Nothing else is ignored: W1030/W1035 (a value that does not
# match its pattern, such as "" as an IAM Resource) are reported. Errors are never ignored.
TRANSLATED_IGNORED = ("W1028",)

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

# Transient errors of the Lambda service itself (not of the function's code): AWS recommends a
# retrier for them on every Task that invokes a function.
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
# A Task invokes a function when its Resource is a function ARN (written here as a
# ``${...FunctionArn}`` substitution) or the optimised lambda:invoke integration (its
# partition literal or the ``${Partition}`` substitution).
FUNCTION_RESOURCE = re.compile(
    r"^(\$\{[A-Za-z0-9_]*FunctionArn\}"
    r"|arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:.+"
    r"|arn:(aws[a-z-]*|\$\{Partition\}):states:::lambda:invoke(\.waitForTaskToken)?)$"
)


@dataclass
class ValidationReport:
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _placeholder_value(name: str) -> str:
    """A syntactically valid stand-in for a substitution, by the name's suffix."""
    if name == "Partition":
        return "aws"
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    if name.endswith("TopicArn"):
        return f"arn:aws:sns:us-east-1:123456789012:{name}"
    if name.endswith("QueueUrl"):
        return f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"
    if name.endswith("TableName") or name.endswith("BucketName"):
        return name.lower()
    return f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical: resource["Properties"]
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
    }


def _nested_state_maps(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``States`` of the machines inside a Map (ItemProcessor, or the older Iterator)
    or a Parallel (each of its Branches)."""
    machines = [state.get("ItemProcessor"), state.get("Iterator")]
    branches = state.get("Branches")
    if isinstance(branches, list):
        machines.extend(branches)
    return [m["States"] for m in machines if isinstance(m, dict) and isinstance(m.get("States"), dict)]


def is_lambda_task(state: dict[str, Any]) -> bool:
    return state.get("Type") == "Task" and bool(FUNCTION_RESOURCE.match(str(state.get("Resource", ""))))


def unretried_lambda_errors(state: dict[str, Any]) -> list[str]:
    """The LAMBDA_SERVICE_ERRORS this state does not retry. Step Functions uses the first
    retrier whose ErrorEquals names the error (or States.ALL), so that one must retry at
    least once (MaxAttempts defaults to 3; 0 means never)."""
    retriers = [r for r in state.get("Retry") or [] if isinstance(r, dict)]
    missing = []
    for error in LAMBDA_SERVICE_ERRORS:
        first = next((r for r in retriers if {error, "States.ALL"} & set(r.get("ErrorEquals") or [])), None)
        attempts = first.get("MaxAttempts", 3) if first else 0
        if not isinstance(attempts, int) or attempts < 1:
            missing.append(error)
    return missing


def lambda_retrier_problems(definition: dict[str, Any]) -> list[str]:
    """One problem per Lambda Task, at any depth, that lacks a retrier for every transient
    Lambda service error; a nested state is named with its parents (``Outer/Inner``)."""
    problems: list[str] = []

    def walk(states: dict[str, Any], parents: str) -> None:
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            where = f"{parents}{name}"
            if is_lambda_task(state) and (missing := unretried_lambda_errors(state)):
                problems.append(f"Lambda Task {where} does not retry {', '.join(missing)}")
            for nested in _nested_state_maps(state):
                walk(nested, f"{where}/")

    states = definition.get("States")
    if isinstance(states, dict):
        walk(states, "")
    return problems


STATELINT_FALSE_POSITIVES = ('Field "InputType" not allowed in State Machine.States.',)
"""What statelint refuses that AWS documents (a Distributed Map ItemReader's
``ReaderConfig.InputType``, required for a JSON file read with ``s3:getObject``)."""


def statelint_problems(output: str) -> list[str]:
    """statelint's error lines, less its known false positives."""
    lines = [line.strip() for line in output.splitlines()[1:] if line.strip()]
    return [line for line in lines if not line.startswith(STATELINT_FALSE_POSITIVES)]


def _run(command: list[str]) -> tuple[int, str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.returncode, (done.stdout + done.stderr).strip()


def validate_asl(asl_path: Path, substitutions: dict[str, Any], root: Path, report: ValidationReport) -> None:
    text = asl_path.read_text()
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as error:
        report.problems.append(f"{asl_path}: not JSON: {error}")
        return
    used = set(PLACEHOLDER.findall(text))
    declared = set(substitutions)
    for name in sorted(used - declared):
        report.problems.append(f"{asl_path}: ${{{name}}} has no DefinitionSubstitution in template.yaml")
    for name in sorted(declared - used):
        report.problems.append(f"template.yaml: DefinitionSubstitution {name} is not used in {asl_path.name}")
    filled = apply_definition_substitutions(text, {name: _placeholder_value(name) for name in used})

    with tempfile.NamedTemporaryFile("w", suffix=".asl.json", delete=False) as handle:
        handle.write(filled)
    node_validator = root / "node_modules" / ".bin" / "asl-validator"
    if node_validator.exists():
        code, output = _run([str(node_validator), "--json-path", handle.name])
        report.checks.append("asl-validator")
        if code:
            report.problems.append(f"asl-validator: {asl_path}: {output}")
    else:
        report.problems.append("asl-validator is not installed (run: npm ci)")
    code, output = _run([str(Path(sys.executable).with_name("statelint")), handle.name])
    report.checks.append("statelint")
    if code and statelint_problems(output):
        report.problems.append(f"statelint: {asl_path}: {output}")
    Path(handle.name).unlink()

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    try:
        AmazonStateLanguageParser.parse(express_children_as_standard(filled))
        report.checks.append("moto ASL parser")
    except Exception as error:
        report.problems.append(f"moto's ASL parser rejects {asl_path}: {type(error).__name__}: {error}")

    if isinstance(definition, dict):
        report.checks.append("Lambda retriers")
        report.problems.extend(f"{asl_path}: {problem}" for problem in lambda_retrier_problems(definition))


def validate_template(template_path: Path, report: ValidationReport) -> None:
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    code, output = _run([cfn_lint, str(template_path)])
    report.checks.append("cfn-lint template.yaml")
    if code:
        report.problems.append(f"cfn-lint: {template_path}: {output}")
    root = template_path.parent
    try:
        translated = translate(package_locally(load_template(template_path), root), {}, "us-east-1", "123456789012")
    except Exception as error:
        report.problems.append(f"SAM translation of {template_path} failed: {error}")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(translated, handle)
    code, output = _run([cfn_lint, "--ignore-checks", *TRANSLATED_IGNORED, "--", handle.name])
    report.checks.append("cfn-lint translated template")
    Path(handle.name).unlink()
    if code:
        report.problems.append(f"cfn-lint (translated CloudFormation): {output}")


def validate_project(root: Path) -> ValidationReport:
    report = ValidationReport()
    template_path = root / "template.yaml"
    template = load_template(template_path)
    validate_template(template_path, report)
    for logical, props in state_machines(template).items():
        uri = props.get("DefinitionUri")
        if not isinstance(uri, str):
            report.problems.append(f"{logical}: DefinitionUri must name a file under statemachines/")
            continue
        validate_asl(root / uri, props.get("DefinitionSubstitutions", {}), root, report)
    return report
