"""Rehearse a redrive on the local stack: the product's way to try rules before production.

One scenario, start to finish: deploy template.yaml, write the records, let the consumer's
event source mapping fail on the poison ones (pointers land in the DLQ), trim what the
scenario says the stream loses (``stack``), start the workflow through the DLQ alarm or by
hand and wait for it, answering the approval (``operator``), and gather a report of what
happened to every message and record (``report``). :class:`Rehearsal` composes the three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..deploy import DeployedStack
from ..engine import LocalEngine, get_engine
from ..esm import StreamConsumerEmulator
from ..inspect import queue_bodies
from ..scenario import Scenario
from . import report
from .errors import RehearsalError
from .operator import APPROVE_MODES, EXECUTION_TIMEOUT, Narrate, RehearsalOperator, fresh_approval
from .stack import RehearsalStack

WARM_LANES_MAX = 10  # warm sandboxes per function at most (each is a process of 50 MB or so)

__all__ = ["APPROVE_MODES", "EXECUTION_TIMEOUT", "Narrate", "Rehearsal", "RehearsalError"]


class Rehearsal:
    """One scenario on its own stack: ``run()`` prepares it and redrives once; ``prepare()``
    and ``redrive(run_input)`` let a test redrive the same stack several times."""

    def __init__(
        self,
        scenario: Scenario,
        trigger: str = "alarm",
        narrate: Narrate = lambda line: None,
        engine: LocalEngine | None = None,
        template: Path | None = None,
        approve: str = "auto",
    ) -> None:
        self.scenario = scenario
        self.trigger = trigger
        self.say = narrate
        self.engine = engine or get_engine()
        self.setup = RehearsalStack(self.engine, scenario, template or self.engine.repo_root / "template.yaml", trigger)
        self.operator = RehearsalOperator(self.engine, self.setup, trigger, approve, narrate)

    # --- what tests and the CLI read of the parts ----------------------------------------
    @property
    def extra_parameters(self) -> dict[str, str]:
        """More template parameters for the deploy (set before ``prepare``)."""
        return self.setup.extra_parameters

    @extra_parameters.setter
    def extra_parameters(self, parameters: dict[str, str]) -> None:
        self.setup.extra_parameters = parameters

    @property
    def stack(self) -> DeployedStack | None:
        return self.setup.stack

    @property
    def outputs(self) -> dict[str, str]:
        return self.setup.outputs

    @property
    def written(self) -> list[tuple[str, str]]:
        """(shard id, sequence number) per scenario record."""
        return self.setup.written

    @property
    def consumer(self) -> StreamConsumerEmulator:
        return self.setup.consumer

    @property
    def approval(self) -> dict[str, Any]:
        return self.operator.approval

    def processed_by_consumer(self) -> list[Any]:
        """The consumer's sink table as plain JSON, sorted by id."""
        return report.processed_by_consumer(self.engine, self.stack.resources["OrdersSinkTable"] if self.stack else "")

    # --- the rehearsal --------------------------------------------------------------------
    def prepare(self) -> None:
        """Deploy, write the records, let the consumer fail, trim, add the extra messages."""
        self.setup.prepare(self.say)

    def start(self, run_input: dict[str, Any] | None = None) -> str:
        return self.operator.start(run_input)

    def run(self) -> dict[str, Any]:
        """The whole rehearsal; returns the report (see README: Rehearsal report)."""
        self.prepare()
        return self.redrive()

    def _warm_lanes(self, settings: dict[str, Any]) -> None:
        """As many warm sandboxes of the Redrive function and the example consumer as the run
        has lanes, started while Prepare, Collect and Fetch run: the pace then measures the
        limiter, not the lanes' cold starts (an operator would give both functions that much
        provisioned concurrency on AWS for a paced redrive; see README: Performance)."""
        if self.stack is None:
            return
        asked = (settings.get("redrive") or {}).get("concurrency") or self._stack_default_concurrency()
        try:
            lanes = min(int(asked), WARM_LANES_MAX)
        except (TypeError, ValueError):
            return  # Prepare refuses it by name
        names = (self.stack.resources.get("RedriveFunction", ""), self.outputs.get("ExampleConsumerFunction", ""))
        self.engine.warm_functions(self.stack.name, lanes, names)

    def _stack_default_concurrency(self) -> str:
        """The concurrency a run that names none gets: Prepare's DEFAULT_CONCURRENCY, as deployed."""
        prepare = self.stack.resources.get("PrepareFunction", "") if self.stack else ""
        configuration = self.engine.client("lambda").get_function_configuration(FunctionName=prepare)
        return str(configuration.get("Environment", {}).get("Variables", {}).get("DEFAULT_CONCURRENCY", ""))

    def redrive(self, run_input: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start the workflow on the prepared stack, wait for it, and report."""
        self.operator.approval = fresh_approval()
        dlq_url = self.outputs["DeadLetterQueueUrl"]
        before = queue_bodies(dlq_url)
        self.say(f"DLQ holds {len(before)} message(s)")
        invocations_before = sum(self.engine.runtime.invocations.values())
        execution_arn = self.operator.start(run_input)
        self.say(f"execution started ({self.trigger}): {execution_arn.rsplit(':', 1)[-1]}")
        settings = self.scenario.run if run_input is None else run_input
        target = (settings.get("redrive") or {}).get("target", "invoke")
        self._warm_lanes(settings)
        execution = self.operator.wait(execution_arn, drain_stream=target == "stream")
        if target == "stream":
            self.consumer.run_until_idle()
        self.say(f"execution {execution['status']}")
        run = report.run_report(self.engine, self.outputs["RunBucketName"], execution)
        seen = report.RunObservations(
            execution_arn=execution_arn,
            execution=execution,
            trigger=self.trigger,
            dlq_before=before,
            dlq_after=queue_bodies(dlq_url),
            approval=self.approval,
            lambda_invocations=sum(self.engine.runtime.invocations.values()) - invocations_before,
        )
        return report.assemble_report(
            seen, run, self.scenario, self.processed_by_consumer(), report.state_transitions(self.engine, execution_arn)
        )
