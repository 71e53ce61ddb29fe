"""The functions' environment, read into one typed object at the edge.

Read per invocation (it is a handful of lookups): the local runtime runs several
functions in one process, each with its own environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass(frozen=True)
class Settings:
    region: str
    dlq_url: str
    bucket: str
    state_table: str
    topic_arn: str
    consumer_function: str | None
    default_max_messages: int
    default_rate_per_second: float
    default_concurrency: int
    default_batch_size: int
    default_target: str
    run_defaults: str
    approval_timeout_seconds: int
    allow_skip_approval: bool

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            region=env.get("AWS_REGION", "us-east-1"),
            dlq_url=env.get("DLQ_URL", ""),
            bucket=env.get("RUN_BUCKET", ""),
            state_table=env.get("STATE_TABLE", ""),
            topic_arn=env.get("TOPIC_ARN", ""),
            consumer_function=env.get("CONSUMER_FUNCTION_ARN") or None,
            default_max_messages=_int("DEFAULT_MAX_MESSAGES", 1000),
            default_rate_per_second=float(env.get("DEFAULT_RATE_PER_SECOND") or 50),
            default_concurrency=_int("DEFAULT_CONCURRENCY", 2),
            default_batch_size=_int("DEFAULT_REDRIVE_BATCH_SIZE", 10),
            default_target=env.get("DEFAULT_TARGET") or "invoke",
            run_defaults=env.get("RUN_DEFAULTS") or "{}",
            approval_timeout_seconds=_int("APPROVAL_TIMEOUT_SECONDS", 86400),
            allow_skip_approval=(env.get("ALLOW_SKIP_APPROVAL") or "false").lower() == "true",
        )
