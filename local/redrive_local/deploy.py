"""Deploy template.yaml onto the local stack, as ``sam deploy`` would onto AWS.

SAM is translated to CloudFormation offline with aws-sam-translator, after the two
rewrites ``sam package`` does: a local ``CodeUri`` becomes an S3 location (which the
local Lambda runtime maps back to the folder) and a local ``DefinitionUri`` is inlined as
``Definition``. moto's CloudFormation engine then creates the stack; the resource types
it lacks are supplied by ``workarounds``. After the deploy, every translated resource
whose Condition holds must have a physical id, or the deploy fails loudly.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from .runtime import CODE_BUCKET


class DeployError(Exception):
    """The template did not deploy completely on the local stack."""


def load_template(path: Path) -> dict[str, Any]:
    return yaml_parse(path.read_text())  # type: ignore[no-any-return]


def package_locally(template: dict[str, Any], root: Path) -> dict[str, Any]:
    """Rewrite local CodeUri and DefinitionUri the way ``sam package`` does."""
    packaged = copy.deepcopy(template)

    def code_location(uri: str) -> str:
        folder = (root / uri).resolve()
        if not folder.is_dir():
            raise DeployError(f"CodeUri {uri!r} is not a folder under {root}")
        return f"s3://{CODE_BUCKET}/{folder.relative_to(root.resolve())}"

    globals_fn = packaged.get("Globals", {}).get("Function", {})
    if isinstance(globals_fn.get("CodeUri"), str):
        globals_fn["CodeUri"] = code_location(globals_fn["CodeUri"])
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = code_location(props["CodeUri"])
        if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text())
    return packaged


def translate(template: dict[str, Any], parameters: dict[str, str], region: str, account: str) -> dict[str, Any]:
    """SAM to CloudFormation, offline: no managed policy is looked up by bare name (the
    template names none), and the region comes from an explicit session."""
    values = {"AWS::Region": region, "AWS::AccountId": account, **parameters}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        return translator.translate(  # type: ignore[no-any-return]
            copy.deepcopy(template), parameter_values=values, get_managed_policy_map=dict
        )
    finally:
        translator.metrics.publish()  # its metrics go nowhere; unpublished ones warn at exit


@dataclass
class DeployedStack:
    name: str
    outputs: dict[str, str]
    resources: dict[str, str]  # logical id -> physical id
    parameters: dict[str, str] = field(default_factory=dict)


def _active_resources(translated: dict[str, Any], parameters: dict[str, str]) -> set[str]:
    """Logical ids whose Condition holds, evaluated as CloudFormation does."""
    declared = {k: str(v.get("Default", "")) for k, v in translated.get("Parameters", {}).items()}
    declared.update(parameters)
    conditions = translated.get("Conditions", {})
    cache: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return declared.get(node["Ref"], node["Ref"])
        return node

    def holds(expr: Any) -> bool:
        ((fn, args),) = expr.items()
        if fn == "Condition":
            return condition(args)
        if fn == "Fn::Equals":
            return str(value(args[0])) == str(value(args[1]))
        if fn == "Fn::And":
            return all(holds(a) for a in args)
        if fn == "Fn::Or":
            return any(holds(a) for a in args)
        if fn == "Fn::Not":
            return not holds(args[0])
        raise DeployError(f"unsupported condition function {fn}")

    def condition(name: str) -> bool:
        if name not in cache:
            cache[name] = holds(conditions[name])
        return cache[name]

    return {
        logical
        for logical, resource in translated["Resources"].items()
        if "Condition" not in resource or condition(resource["Condition"])
    }


def deploy_stack(
    session: Any,
    template_path: Path,
    stack_name: str,
    parameters: dict[str, str],
    region: str,
    account: str,
    timeout: float = 60.0,
) -> DeployedStack:
    root = template_path.parent
    translated = translate(package_locally(load_template(template_path), root), parameters, region, account)
    cfn = session.client("cloudformation")
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status.endswith("_COMPLETE") or status.endswith("_FAILED"):
            break
        if time.monotonic() > deadline:
            raise DeployError(f"stack {stack_name} still {status} after {timeout}s")
        time.sleep(0.1)
    if status != "CREATE_COMPLETE":
        raise DeployError(f"stack {stack_name} ended {status}: {stack.get('StackStatusReason', '')}")
    listed = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    # moto lists resources whose Condition is false without a LogicalResourceId.
    resources = {r["LogicalResourceId"]: r.get("PhysicalResourceId") or "" for r in listed if "LogicalResourceId" in r}
    missing = sorted(
        f"{logical} ({translated['Resources'][logical]['Type']})"
        for logical in _active_resources(translated, parameters)
        if not resources.get(logical)
    )
    if missing:
        raise DeployError("the local stack did not create: " + ", ".join(missing))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return DeployedStack(name=stack_name, outputs=outputs, resources=resources, parameters=dict(parameters))
