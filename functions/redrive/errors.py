"""Named errors. Their class names are the States error names the ASL matches."""

from __future__ import annotations


class RedriveError(Exception):
    """Base of every error the workflow raises on purpose."""


class InvalidInput(RedriveError):
    """The run input is wrong; the message names the field and what is expected."""


class ConfigurationError(RedriveError):
    """The function's environment is incomplete or wrong (a deployment problem, not input)."""


class TargetError(RedriveError):
    """The redrive target refused a request in a way a retry will not fix."""


class NoConfirmedSubscriber(RedriveError):
    """The operators' topic has no confirmed subscription: an approval request would reach
    no one and the run would wait until its approval timed out."""

    def __init__(self, topic_arn: str) -> None:
        super().__init__(
            f"the operators' topic {topic_arn} has no confirmed subscription, so no one would receive the "
            "approval email: confirm the subscription (the link in AWS's 'Subscription Confirmation' email), "
            "or subscribe again if it was unsubscribed, then start the run again; every message went back "
            "to the DLQ"
        )
        self.topic_arn = topic_arn


class LockHeld(RedriveError):
    """Another run holds the DLQ's lock."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"another run holds this DLQ's lock: {holder}")
        self.holder = holder


class AlreadyClaimed(RedriveError):
    """A batch was claimed before in this run (a retried Map iteration)."""

    def __init__(self, batch_id: str, status: str) -> None:
        super().__init__(f"batch {batch_id} was already claimed ({status})")
        self.status = status


def aws_error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError (``ConditionalCheckFailedException``,
    ``ThrottlingException``, ...), or the exception's class name for anything else."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


class Fenced(RedriveError):
    """The run's lease is closed (it ended, was aborted, or is being settled): a Lambda
    still running for it may no longer delete from the DLQ or send to a target."""


class SettleIncomplete(RedriveError):
    """Settling could not send everything back yet; the ledger keeps the rest and the
    reconciler tries again."""


class ShardReadThrottled(RedriveError):
    """A shard kept refusing GetRecords (ProvisionedThroughputExceededException or
    LimitExceededException) past the read's throttle budget. Nothing is lost: the Fetch is
    retried, and if it still fails the run releases every message back to the DLQ. Lower the
    live consumer's load, or raise ``fetch.throttleBudgetSeconds`` in the run input."""
