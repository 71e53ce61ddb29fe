"""Request approval: store the task token server side and email the operators a link.

Invoked by the state machine with ``lambda:invoke.waitForTaskToken``; the execution waits
until the decision page's POST calls SendTaskSuccess, or the task times out.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from aws_lambda_powertools import Logger

from ..adapters import aws
from ..adapters.approvals import ApprovalStore
from ..adapters.store import S3Store
from ..core.approval import ApprovalSummary, render_email, sign_decision_id
from ..models import run_config_from_state
from ..settings import Settings
from .signing_key import signing_key

logger = Logger(service="stream-redrive")
RETENTION_HOURS = 24  # Kinesis default and DynamoDB Streams' fixed retention


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = run_config_from_state(event["run"])
    settings = Settings.from_env()
    store = S3Store(aws.client("s3"), run.bucket)
    plan = store.get_json(f"{run.prefix}plan.json")["summary"]
    now = int(time.time())
    deadline = now + run.approval.timeout_seconds
    summary = ApprovalSummary(
        run_id=run.run_id,
        dlq_url=run.dlq_url,
        counts_by_class=plan["byClass"],
        counts_by_action=plan["byAction"],
        records=plan["records"],
        expired=plan["expired"],
        rules=plan["rules"],
        target=run.redrive.target,
        rate_per_second=run.redrive.rate_per_second,
        concurrency=run.redrive.concurrency,
        batches=plan["batches"],
        oldest_arrival=plan["oldestArrival"],
        retention_hours=RETENTION_HOURS,
        deadline=deadline,
    )
    decision_id = str(uuid.uuid4())
    approvals = ApprovalStore(aws.client("dynamodb"), settings.state_table)
    approvals.put_request(decision_id, event["taskToken"], run.run_id, summary.to_json(), deadline)
    signed = sign_decision_id(decision_id, deadline, signing_key())
    link = f"{os.environ['APPROVAL_URL']}?id={signed}"
    subject, body = render_email(summary, link)
    aws.client("sns").publish(TopicArn=settings.topic_arn, Subject=subject, Message=body)
    store.put_json(f"{run.prefix}approval.json", {"requestedAt": now, "deadline": deadline, "subject": subject})
    logger.info("approval requested", extra={"runId": run.run_id, "deadline": deadline})
    return {"requested": True}
