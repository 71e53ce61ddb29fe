"""What a run input may point the run at instead of the stack's own resources.

IAM grants the stack's functions the stack's DLQ and consumer, plus exactly the ARNs the
template parameters ``AllowedDlqArns`` and ``AllowedConsumerFunctionArns`` list (and the
queue target only ``RedriveQueueArn``). An override outside them would fail deep in the run
with AccessDenied, after messages had left the DLQ; Prepare refuses it first, naming the
parameter that would allow it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import InvalidInput


def queue_identity(url_or_arn: str) -> tuple[str, str]:
    """(account, queue name) of an SQS queue URL (``https://host/account/name``) or ARN."""
    text = url_or_arn.strip()
    if text.startswith("arn:"):
        parts = text.split(":")
        return (parts[4], parts[5]) if len(parts) == 6 else ("", text)
    path = [p for p in text.split("://", 1)[-1].split("/")[1:] if p]
    return (path[-2], path[-1]) if len(path) >= 2 else ("", text)


@dataclass(frozen=True)
class FunctionRef:
    account: str  # "" when the caller's (a bare or qualified name)
    name: str
    qualifier: str


def function_identity(name_or_arn: str) -> FunctionRef:
    """A Lambda FunctionName in any of the forms Invoke takes: name, name:qualifier,
    account:function:name[:qualifier], or the full ARN with or without a qualifier."""
    parts = name_or_arn.strip().split(":")
    if parts[0] == "arn" and len(parts) >= 7:
        return FunctionRef(parts[4], parts[6], parts[7] if len(parts) > 7 else "")
    if len(parts) >= 3 and parts[1] == "function":
        return FunctionRef(parts[0], parts[2], parts[3] if len(parts) > 3 else "")
    return FunctionRef("", parts[0], parts[1] if len(parts) > 1 else "")


def _same_function(requested: FunctionRef, allowed: FunctionRef) -> bool:
    # Any version or alias of an allowed function is allowed (IAM grants name and name:*).
    accounts_agree = not requested.account or not allowed.account or requested.account == allowed.account
    return requested.name == allowed.name and accounts_agree


def check_dlq(dlq_url: str, stack_dlq_url: str, allowed_dlq_arns: Iterable[str]) -> None:
    wanted = queue_identity(dlq_url)
    if stack_dlq_url and wanted == queue_identity(stack_dlq_url):
        return
    if any(wanted == queue_identity(arn) for arn in allowed_dlq_arns):
        return
    raise InvalidInput(
        f"dlqUrl: {dlq_url} is neither this stack's DLQ nor listed in the template parameter AllowedDlqArns, "
        "so the stack's roles may not read it; add its ARN there (IAM and Prepare both read it)"
    )


def check_function(function_name: str, consumer_function: str, allowed_function_arns: Iterable[str]) -> None:
    wanted = function_identity(function_name)
    allowed = [function_identity(a) for a in (consumer_function, *allowed_function_arns) if a]
    if any(_same_function(wanted, a) for a in allowed):
        return
    raise InvalidInput(
        f"redrive.functionName: {function_name} is neither the protected consumer nor listed in the template "
        "parameter AllowedConsumerFunctionArns, so the Redrive function may not invoke it; add its unqualified "
        "ARN there (its versions and aliases are then allowed too)"
    )


def check_redrive_queue(queue_url: str, redrive_queue_arn: str) -> None:
    if redrive_queue_arn and queue_identity(queue_url) == queue_identity(redrive_queue_arn):
        return
    allowed = f"only {redrive_queue_arn}" if redrive_queue_arn else "none (RedriveQueueArn is empty)"
    raise InvalidInput(
        f"redrive.queueUrl: {queue_url} is not the queue the template parameter RedriveQueueArn allows "
        f"({allowed}), so the Redrive function may not send to it"
    )
