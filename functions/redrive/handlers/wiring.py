"""What every handler shares: its adapters, and the end of a run."""

from __future__ import annotations

import time
from typing import Any

from ..adapters.aws import AwsAdapters
from ..contracts.report import FinalizeOutput
from ..contracts.run import RunConfig
from ..contracts.vocab import FinalizeMode
from ..core.finish import finish_run
from ..core.ports import Adapters
from ..observability import PowertoolsMetrics
from ..settings import FinalizeSettings


def adapters_or_aws(adapters: Adapters | None) -> Adapters:
    return adapters if adapters is not None else AwsAdapters()


def finish(
    adapters: Adapters,
    run: RunConfig,
    mode: FinalizeMode,
    settings: FinalizeSettings,
    error: Any = None,
    approval: dict[str, Any] | None = None,
    leave_to_reconciler: bool = False,
) -> FinalizeOutput:
    return finish_run(
        run,
        mode,
        data=adapters.run_data(run.bucket, run.run_id),
        dlq=adapters.dlq(run.dlq_url),
        notifier=adapters.notifier(settings.topic_arn) if settings.topic_arn else None,
        metrics=PowertoolsMetrics(),
        state_store=adapters.state_table(settings.state_table),
        now=time.time(),
        error=error,
        approval=approval,
        leave_to_reconciler=leave_to_reconciler,
        objects=adapters.failure_objects(run.source.s3.bucket) if run.source else None,
        history=adapters.execution_history(),
    )
