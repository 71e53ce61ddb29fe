"""IAM as AWS enforces it: a function's calls are authorised against its own role's policies.

moto checks no IAM unless its access-control mode is on, and that mode cannot serve here: it
names a resource only for SQS and S3 (every other call is checked against ``"*"``, so a
policy scoped to a table or a stream would deny everything), and it refuses the harness's
own admin credentials. So the local stack does what AWS does, in one place:

- every principal the stack runs code as (a function, through the local Lambda runtime; the
  state machine, through the Step Functions interpreter's Lambda client; an event source
  mapping, through the emulator) signs its calls with credentials that moto's STS issued
  when the stack assumed that principal's role (:func:`role_credentials`);
- each call signed with such credentials is authorised against the role's policies as the
  translated template attached them (inline and managed), with AWS's evaluation: an explicit
  Deny wins, otherwise some Allow must match the action and the resource;
- calls with any other credentials (the harness's clients, moto's own) are not checked:
  they stand for an administrator.

The resource of a call is named as AWS names it for the actions this product calls (queue,
bucket / object, table / index, stream, function, state machine / execution, topic, secret,
parameter). Where the local stack cannot name it (a task token), the call is authorised on
its action alone, which is never stricter than AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError
from moto.core.exceptions import _RESTError as RESTError
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from .policy_evaluation import is_allowed
from .registry import aws_rule
from .switch import enabled

# API operation names whose IAM action is named differently (AWS's Service Authorization
# Reference lists the action each operation needs).
_IAM_ACTION = {
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "SendMessageBatch"): "SendMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
}

# The error each service returns for a denied call: (code, HTTP status, JSON body).
_DENIED = {
    "s3": ("AccessDenied", 403, False),
    "sns": ("AuthorizationError", 403, False),
    "sqs": ("AccessDenied", 403, True),
    "lambda": ("AccessDeniedException", 403, True),
}
_DENIED_DEFAULT = ("AccessDeniedException", 400, True)

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")


@dataclass(frozen=True)
class RoleCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    role_arn: str

    def as_client_kwargs(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


_issued: dict[tuple[str, str, str], RoleCredentials] = {}
_sessions: dict[str, tuple[RoleCredentials, str]] = {}  # access key id -> (credentials, session name)
_issued_lock = threading.Lock()


def role_credentials(role_arn: str, session_name: str, region: str) -> RoleCredentials:
    """Credentials of ``role_arn``, from moto's STS AssumeRole (one session per role and name,
    reused as a Lambda execution environment reuses its credentials)."""
    account = _account_of(role_arn)
    key = (role_arn, session_name, region)
    with _issued_lock:
        issued = _issued.get(key)
        backend = sts_backends[account][_partition_of(role_arn)]
        if issued is None or not any(r.access_key_id == issued.access_key_id for r in backend.assumed_roles):
            role = backend.assume_role(
                region_name=region,
                role_session_name=session_name[:64],
                role_arn=role_arn,
                policy="",
                duration=43200,
                external_id="",
            )
            issued = RoleCredentials(role.access_key_id, role.secret_access_key, role.session_token, role_arn)
            _issued[key] = issued
            _sessions[issued.access_key_id] = (issued, session_name[:64])
        return issued


def _account_of(arn: str) -> str:
    return arn.split(":")[4]


def _partition_of(arn: str) -> str:
    return arn.split(":")[1]


@dataclass(frozen=True)
class Caller:
    role_arn: str
    session_arn: str


def _caller(headers: Any) -> tuple[Caller, str, str] | None:
    """(the assumed role, the signing service, the region) of a request signed with
    credentials this module issued; None for any other credentials."""
    match = _CREDENTIAL.search(str(headers.get("Authorization", "")))
    if match is None:
        return None
    access_key, region, service = match.groups()
    with _issued_lock:
        entry = _sessions.get(access_key)
    if entry is None:
        return None
    found, session = entry
    role_name = found.role_arn.rsplit("/", 1)[-1]
    account = _account_of(found.role_arn)
    partition = _partition_of(found.role_arn)
    return (
        Caller(found.role_arn, f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}"),
        service,
        region,
    )


def role_policies(role_arn: str) -> list[dict[str, Any]]:
    """Every policy document the role has: inline, then managed (their default version). A
    role that does not exist (deleted, or never made) has none: its calls are denied, as AWS
    denies credentials whose role is gone, where moto's lookup would fail the request."""
    backend = iam_backends[_account_of(role_arn)][_partition_of(role_arn)]
    try:
        role = backend.get_role(role_arn.rsplit("/", 1)[-1])
    except NotFoundException:
        return []
    documents: list[dict[str, Any]] = []
    for document in role.policies.values():
        documents.append(json.loads(document) if isinstance(document, str) else dict(document))
    for policy in role.managed_policies.values():
        version = next(v for v in policy.versions if v.is_default)
        document = version.document
        documents.append(json.loads(document) if isinstance(document, str) else dict(document))
    return documents


def _param(response: Any, name: str) -> str:
    try:
        value = response._get_param(name)
    except Exception:  # a body that is not JSON / a form names nothing
        value = None
    if value is None:
        params = getattr(response, "params", None)
        if isinstance(params, dict):
            value = params.get(name)
    return str(value) if value else ""


def _kinesis_stream_of_iterator(iterator: str) -> str:
    try:
        return base64.b64decode(iterator.encode()).decode().split(":")[0]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def _resources(response: Any, service: str, action: str, region: str, account: str, partition: str) -> Iterator[str]:
    """The ARNs a call acts on, as IAM names them; nothing when the call names none."""
    prefix = f"arn:{partition}"
    if service == "sqs":
        arn = response._determine_resource()
        if arn != "*":
            yield arn
    elif service == "dynamodb":
        stream = _param(response, "StreamArn") or _param(response, "ShardIterator").split("|")[0]
        table = _param(response, "TableName")
        if stream.startswith("arn:"):
            yield stream
        elif table:
            arn = table if table.startswith("arn:") else f"{prefix}:dynamodb:{region}:{account}:table/{table}"
            index = _param(response, "IndexName")
            yield f"{arn}/index/{index}" if index else arn
        else:
            items = getattr(response, "params", {}) or {}
            for key in ("RequestItems",):
                for name in items.get(key, {}) or {}:
                    yield name if name.startswith("arn:") else f"{prefix}:dynamodb:{region}:{account}:table/{name}"
    elif service == "kinesis":
        arn = _param(response, "StreamARN")
        name = _param(response, "StreamName") or (
            "" if arn else _kinesis_stream_of_iterator(_param(response, "ShardIterator"))
        )
        if arn:
            yield arn
        elif name:
            yield f"{prefix}:kinesis:{region}:{account}:stream/{name}"
    elif service == "lambda":
        match = re.search(r"/functions/([^/]+)", unquote(str(getattr(response, "path", "") or "")))
        if match:
            name = match.group(1)
            qualifier = (
                _param(response, "Qualifier")
                or ((getattr(response, "querystring", {}) or {}).get("Qualifier", [""])[0])
            )
            if not name.startswith("arn:"):
                name = f"{prefix}:lambda:{region}:{account}:function:{name}"
            yield f"{name}:{qualifier}" if qualifier and name.count(":") == 6 else name
    elif service == "states":
        for key in ("stateMachineArn", "executionArn", "mapRunArn"):
            if arn := _param(response, key):
                yield arn
    elif service == "sns":
        if arn := _param(response, "TopicArn"):
            yield arn
    elif service == "secretsmanager":
        if secret := _param(response, "SecretId"):
            yield secret if secret.startswith("arn:") else f"{prefix}:secretsmanager:{region}:{account}:secret:{secret}"
    elif service == "ssm":
        names = [_param(response, "Name"), *((getattr(response, "params", {}) or {}).get("Names", []) or [])]
        for name in filter(None, names):
            yield f"{prefix}:ssm:{region}:{account}:parameter/{str(name).lstrip('/')}"


# DynamoDB transactions are no IAM action of their own: each item needs the action it does.
_TRANSACTION_ITEMS = {
    ("dynamodb", "TransactWriteItems"): {
        "Put": "dynamodb:PutItem",
        "Update": "dynamodb:UpdateItem",
        "Delete": "dynamodb:DeleteItem",
        "ConditionCheck": "dynamodb:ConditionCheckItem",
    },
    ("dynamodb", "TransactGetItems"): {"Get": "dynamodb:GetItem"},
}


def _transaction_targets(
    response: Any, actions: dict[str, str], region: str, account: str, partition: str
) -> list[tuple[str, str | None]]:
    params = getattr(response, "params", None) or getattr(response, "body", None) or {}
    targets: list[tuple[str, str | None]] = []
    for item in params.get("TransactItems", []) if isinstance(params, dict) else []:
        for kind, action in actions.items():
            if isinstance(item, dict) and kind in item:
                table = str(item[kind].get("TableName", ""))
                arn = (
                    table if table.startswith("arn:") else f"arn:{partition}:dynamodb:{region}:{account}:table/{table}"
                )
                targets.append((action, arn))
    return targets or [(next(iter(actions.values())), None)]


class _Denied(RESTError):
    code = 403


class _JsonDenied(JsonRESTError):
    code = 400


def _deny(service: str, caller: Caller, action: str, resource: str | None) -> Exception:
    code, status, as_json = _DENIED.get(service, _DENIED_DEFAULT)
    on = f" on resource: {resource}" if resource else ""
    message = (
        f"User: {caller.session_arn} is not authorized to perform: {action}{on} "
        f"because no identity-based policy allows the {action} action"
    )
    error: RESTError = _JsonDenied(code, message) if as_json else _Denied(code, message)
    error.code = status
    return error


CHECKED: Counter[tuple[str, str, str, bool]] = Counter()
"""(role name, action, resource or "", allowed) -> how many calls were checked so: what each
role really calls, for least privilege (``redrive-local`` prints nothing of it; tests read it)."""


def check(response: Any, resource_hint: str) -> None:
    """Authorise one request made with issued role credentials; raise AWS's AccessDenied."""
    found = _caller(response.headers)
    if found is None:
        return
    caller, signing_service, region = found
    service = "s3" if signing_service == "s3" else signing_service
    operation = str(response._get_action())
    action = f"{service}:{_IAM_ACTION.get((service, operation), operation)}"
    partition = _partition_of(caller.role_arn)
    account = _account_of(caller.role_arn)
    targets: list[tuple[str, str | None]]
    deletes_keys = action == "s3:DeleteObject" and "/" not in resource_hint.split(":::", 1)[-1]
    if service == "s3" and (operation == "DeleteObjects" or deletes_keys):
        # DeleteObjects (a POST on the bucket): AWS checks s3:DeleteObject on each key of the
        # request's body; the keys are not parsed here, so any statement for the action
        # counts (the bucket alone never would).
        targets = [(action, None)]
    elif service == "s3":
        targets = [(action, resource_hint if resource_hint not in ("*", "") else None)]
    elif (service, operation) in _TRANSACTION_ITEMS:
        targets = _transaction_targets(response, _TRANSACTION_ITEMS[(service, operation)], region, account, partition)
    else:
        named: list[str | None] = list(_resources(response, service, operation, region, account, partition))
        targets = [(action, resource) for resource in named or [None]]
    policies = role_policies(caller.role_arn)
    role_name = caller.role_arn.rsplit("/", 1)[-1]
    context = {"s3:prefix": _param(response, "prefix")} if action == "s3:ListBucket" else {}
    for action, resource in targets:
        allowed = is_allowed(policies, action, resource, context)
        CHECKED[(role_name, action, resource or "", allowed)] += 1
        if not allowed:
            raise _deny(service, caller, action, resource)


@aws_rule(
    "IAM: a request signed with a role's credentials is allowed only if an identity-based policy of the "
    "role allows its action on its resource and none denies it (AccessDenied / AccessDeniedException)"
)
def _iam_role_policies() -> None:
    """moto checks no policy unless its access-control mode is on; AWS checks every call."""
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action
    run_interpreter_as_execution_role()

    def authenticate_and_authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if enabled():
            check(self, resource)
        original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_and_authorize  # type: ignore[method-assign]


_running_as = threading.local()  # the role of the execution whose state is calling Lambda


def _execution_role(env: Any) -> str:
    try:
        return str(env.states.context_object.context_object_data["Execution"]["RoleArn"])
    except (AttributeError, KeyError, TypeError):
        return ""


def run_interpreter_as_execution_role() -> None:
    """The Step Functions interpreter calls Lambda with fixed credentials of its own; on AWS a
    state machine invokes with its execution role. Its Lambda client is made with that role's
    credentials here, so the role's ``lambda:InvokeFunction`` grants are what let it run."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    if getattr(lambda_eval_utils, "_redrive_local_as_role", False):
        return
    make_client = lambda_eval_utils.boto_client_for

    made: dict[tuple[str, str, str, RoleCredentials], Any] = {}
    made_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(_running_as, "role_arn", "")
        if not role_arn or state_credentials is not None:
            return make_client(region=region, service=service, state_credentials=state_credentials)
        credentials = role_credentials(role_arn, "states-execution", region)
        # One client per role and service, reused by every task as AWS's service reuses its
        # connections (making one per task was a tenth of the local stack's CPU).
        key = (region, service, role_arn, credentials)
        with made_lock:
            client = made.get(key)
            if client is None:
                import boto3

                template = make_client(region=region, service=service, state_credentials=None)
                client = boto3.session.Session().client(
                    service,
                    region_name=region,
                    endpoint_url=template.meta.endpoint_url,
                    config=template.meta.config,
                    **credentials.as_client_kwargs(),
                )
                made[key] = client
        return client

    def as_role(call: Any) -> Any:
        def wrapped(env: Any, *args: Any, **kwargs: Any) -> Any:
            previous = getattr(_running_as, "role_arn", "")
            _running_as.role_arn = _execution_role(env)
            try:
                return call(env, *args, **kwargs)
            finally:
                _running_as.role_arn = previous

        return wrapped

    lambda_eval_utils.boto_client_for = boto_client_for  # type: ignore[assignment]
    lambda_eval_utils.exec_lambda_function = as_role(lambda_eval_utils.exec_lambda_function)  # type: ignore[assignment]
    lambda_eval_utils.execute_lambda_function_integration = as_role(  # type: ignore[assignment]
        lambda_eval_utils.execute_lambda_function_integration
    )
    lambda_eval_utils._redrive_local_as_role = True  # type: ignore[attr-defined]
