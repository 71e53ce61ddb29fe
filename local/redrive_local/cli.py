"""``redrive-local``: the local stack's command line.

redrive-local demo                      the default scenario, told step by step
redrive-local run SCENARIO.json --report REPORT.json [--trigger alarm|manual] [--approve auto|reject|manual]
redrive-local validate                  the ASL and template checks

A problem with the input (the scenario, the report's folder, the deploy) is one line on
stderr and exit code 2; anything else that goes wrong is one line and exit code 1, with its
traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .engine import REPO_ROOT

DEMO_SCENARIO = REPO_ROOT / "events" / "scenarios" / "demo.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redrive-local", description="Stream Redrive on a local stack (no AWS account)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="rehearse a redrive from a scenario file and write a report")
    run.add_argument("scenario", type=Path)
    run.add_argument("--report", type=Path, required=True, help="where to write the JSON report")
    run.add_argument("--trigger", choices=["alarm", "manual"], default="alarm")
    run.add_argument(
        "--approve",
        choices=["auto", "reject", "manual"],
        default="auto",
        help="the approval step: approve or reject through the email's link and page, or wait for a person",
    )
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    demo = commands.add_parser("demo", help="run the default scenario and explain each step")
    demo.add_argument("--scenario", type=Path, default=DEMO_SCENARIO)
    demo.add_argument("--report", type=Path, default=None)
    for command in (run, demo):
        command.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
        command.add_argument(
            "--lenient",
            action="store_true",
            help="accept what moto accepts and AWS refuses (the local stack is strict by default)",
        )
    commands.add_parser("validate", help="check statemachines/*.asl.json and template.yaml")
    return parser


def summary_lines(report: dict[str, Any]) -> list[str]:
    counts = report["counts"]
    lines = [
        f"Execution: {report['execution']['status']} (started by {report['execution']['trigger']})",
        f"DLQ: {len(report['dlq']['before'])} message(s) before, {len(report['dlq']['after'])} after",
        "Counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
        "Records:",
    ]
    for record in report["records"]:
        where = f"{record.get('shardId')}:{record.get('sequenceNumber') or '?'}"
        rule = f" [{record['rule']}]" if record.get("rule") else ""
        reason = f" - {record['reason']}" if record.get("reason") else ""
        data = json.dumps(record.get("data")) if record.get("data") is not None else repr(record.get("text"))
        lines.append(f"  {record['outcome']:<10} {record['class']:<12} {where}{rule} {data[:60]}{reason}")
    redrive = report.get("redrive") or {}
    if redrive.get("achievedPerSecond"):
        lines.append(
            f"Redrive: {redrive['target']}, {redrive['achievedPerSecond']:.1f} records/s "
            f"(limit {redrive.get('ratePerSecond')})"
        )
    lines.append(f"Consumer processed {len(report['consumer']['processed'])} record(s) in all")
    return lines


def _rehearse(scenario_path: Path, trigger: str, narrate: bool, approve: str = "auto") -> dict[str, Any]:
    from .rehearsal import Rehearsal
    from .scenario import load_scenario

    scenario = load_scenario(scenario_path)
    say = (lambda line: print(line, flush=True)) if narrate or approve == "manual" else (lambda line: None)
    return Rehearsal(scenario, trigger=trigger, narrate=say, approve=approve).run()


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    return lines[0] + (" ..." if len(lines) > 1 else "")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .deploy import DeployError
    from .rehearsal import RehearsalError
    from .scenario import ScenarioError

    if getattr(args, "lenient", False):
        from .strict import set_lenient

        set_lenient(True)
    try:
        if args.command == "validate":
            from .validate import validate_project

            result = validate_project(REPO_ROOT)
            print("checked: " + ", ".join(result.checks))
            for problem in result.problems:
                print(f"problem: {problem}", file=sys.stderr)
            return 0 if result.ok else 1
        if args.command in ("run", "demo") and args.report and not args.report.parent.is_dir():
            print(f"redrive-local: cannot write the report {args.report}: its folder does not exist", file=sys.stderr)
            return 2
        if args.command == "run":
            report = _rehearse(args.scenario, args.trigger, narrate=not args.quiet, approve=args.approve)
            args.report.write_text(json.dumps(report, indent=2, default=str))
            print("\n".join(summary_lines(report)))
            print(f"Report written to {args.report}")
            return 0 if report["execution"]["status"] == "SUCCEEDED" else 1
        report = _rehearse(args.scenario, "alarm", narrate=True)
        print()
        print("\n".join(summary_lines(report)))
        if args.report:
            args.report.write_text(json.dumps(report, indent=2, default=str))
        return 0 if report["execution"]["status"] == "SUCCEEDED" else 1
    except (ScenarioError, DeployError, RehearsalError) as error:
        print(f"redrive-local: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if getattr(args, "debug", False):
            raise
        print("redrive-local: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if getattr(args, "debug", False):
            raise
        print(f"redrive-local: {type(error).__name__}: {_one_line(error)}", file=sys.stderr)
        print("redrive-local: re-run with --debug to see the traceback", file=sys.stderr)
        return 1
