"""``make bench``: scale and cost of a redrive, measured on the local stack.

Runs rehearsals of 1,000, 10,000 and 100,000 records (not the last with ``REDRIVE_BENCH_100K=0``) with no
``batchSize`` (the run takes the stack's default, bounded by the consumer's own batch), one of
1,000 at another batch size (so the fit can tell the per-record part from the per-batch part),
and the naive design on the same engine; fits
each figure as ``fixed + a * records + b * batches``, carries it to a million records,
prices that at list prices (bench/cost.py), prints the pace table (bench/redrive_pace.py),
and ends with the one ``bench:`` line. The same text replaces the block between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md.

    .venv/bin/python bench [--no-readme]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cost
import scale

README = scale.REPO / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
MILLION = 1_000_000
NAIVE_RECORDS = 500  # one Kinesis event per record in the naive machine's input, under 256 KiB
FIT_BATCH = 50  # the second batch size the fit needs


def _pace() -> tuple[str, list[float]]:
    """The pace table of bench/redrive_pace.py at its defaults, and every achieved/target ratio
    in it. It runs in a process of its own, on a fresh engine: the rehearsals before it leave
    moto's stores holding hundreds of thousands of records, which slows every call after."""
    command = [sys.executable, str(Path(__file__).resolve().parent / "redrive_pace.py")]
    rows: list[str] = []
    ratios: list[float] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            rows.append(line.rstrip("\n"))
            print(rows[-1], file=sys.stderr, flush=True)
            fields = rows[-1].split()
            if len(rows) > 1 and not rows[-1].startswith("pace:") and len(fields) >= 7:
                ratios.append(float(fields[6]))
    if process.returncode:
        raise SystemExit(f"bench/redrive_pace.py failed ({process.returncode})")
    return "\n".join(rows), ratios


def _usage(figures: dict[str, float], child_gb_seconds: float) -> cost.Usage:
    express = scale.child_workflow_type() == "EXPRESS"
    return cost.Usage(
        standard_transitions=figures["parentTransitions"] if express else figures["transitions"],
        express_requests=figures["children"] if express else 0.0,
        express_gb_seconds=child_gb_seconds if express else 0.0,
        lambda_requests=figures["lambdaInvocations"],
        lambda_gb_seconds=figures["lambdaGbSeconds"],
        s3_puts=figures["s3Puts"],
        s3_gets=figures["s3Gets"],
        dynamodb_write_units=figures["dynamodbWriteUnits"],
        dynamodb_read_units=figures["dynamodbReadUnits"],
        sqs_requests=figures["sqsRequests"],
    )


def run() -> str:
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    default = int(scale.template_default("DefaultRedriveBatchSize"))
    sizes = [1000, 10_000] + ([] if os.environ.get("REDRIVE_BENCH_100K") == "0" else [100_000])
    runs = []
    for records, size in [(n, None) for n in sizes] + [(1000, FIT_BATCH)]:
        print(f"... rehearsing {records} records at batch {size or 'default'}", file=sys.stderr, flush=True)
        runs.append(scale.rehearse(records, size))
    rehearsal_10k = next(r for r in runs if r.records == 10_000)
    batch = rehearsal_10k.batch_size

    child_type = scale.child_workflow_type() or "none (inline Map)"
    say(
        f"Measured on the local stack (moto), {os.cpu_count()} cores; batch {batch} without a `batchSize` "
        f"(the stack's default {default}, bounded by the consumer's own batch of {scale.CONSUMER_BATCH}), "
        f"Distributed Map children: {child_type}; Lambda {scale.architecture()}."
    )
    say("")
    say(
        "| records | batch | largest execution (events) | transitions / record | Lambda invocations "
        "| Lambda GB-s | API calls | wall s | CPU s |"
    )
    say("|---|---|---|---|---|---|---|---|---|")
    points = []
    for r in runs:
        f = r.figures()
        f["parentTransitions"] = float(r.parent_transitions)
        points.append((float(r.records), float(r.batches), f))
        say(
            f"| {r.records:,} | {r.batch_size} | {f['historyEvents']:,.0f} | {f['transitions'] / r.records:.3f} | "
            f"{f['lambdaInvocations']:,.0f} | {f['lambdaGbSeconds']:.1f} | {f['apiCalls']:,.0f} | {r.seconds:.0f} "
            f"| {r.cpu_seconds:.0f} |"
        )
    fits = cost.fit_each(points)
    million_batches = MILLION / batch
    at_million = {name: max(0.0, fitted.at(MILLION, million_batches)) for name, fitted in fits.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    say("")
    say(
        f"Wall and CPU seconds run deploy to report (the first run also starts the engine; CPU counts the "
        f"engine's process and the functions' sandboxes), with the machine's "
        f"load average at {load:.1f}; Lambda GB-s are the local runtime's measured durations times each "
        "function's memory, so they grow with the load too."
    )
    say("")
    say("Fitted as fixed + per record + per batch, and carried to 1,000,000 records:")
    say("")
    say("| figure | fixed | per record | per batch | at 1M |")
    say("|---|---|---|---|---|")
    for name in (
        "historyEvents",
        "transitions",
        "lambdaInvocations",
        "lambdaGbSeconds",
        "apiCalls",
        "s3Puts",
        "s3Gets",
        "dynamodbWriteUnits",
        "consumerWriteUnits",
        "sqsRequests",
    ):
        fitted = fits[name]
        say(
            f"| {name} | {fitted.fixed:,.1f} | {fitted.per_record:.4f} | {fitted.per_batch:.3f} "
            f"| {at_million[name]:,.0f} |"
        )

    child_seconds = [s for r in runs if r.records == 10_000 for s in r.child_seconds]
    child_gb = sum(cost.express_gb_seconds(s) for s in child_seconds)
    child_gb_million = child_gb * MILLION / 10_000
    # No pacing wait is billed: a batch waits for its slot in the child's Wait state (core/redrive.py).
    priced = cost.cost(_usage(at_million, child_gb_million), scale.architecture())
    total = sum(priced.values())

    consumer = next(n for r in runs for n, logical in r.resources.items() if logical == "OrdersConsumerFunction")
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{consumer}"
    print("... the naive design", file=sys.stderr, flush=True)
    naive = scale.naive(NAIVE_RECORDS, arn).per_record()
    naive_usage = cost.Usage(
        standard_transitions=naive["transitions"] * MILLION,
        lambda_requests=naive["lambdaInvocations"] * MILLION,
        lambda_gb_seconds=naive["lambdaGbSeconds"] * MILLION,
    )
    naive_priced = cost.cost(naive_usage, scale.architecture())
    naive_total = sum(naive_priced.values())
    # The consumer's writes to its own table: both designs pay them, whatever redrives the records.
    own = cost.DYNAMODB_PER_WRITE_UNIT * at_million["consumerWriteUnits"]
    naive_own = cost.DYNAMODB_PER_WRITE_UNIT * naive["consumerWriteUnits"] * MILLION
    say("")
    say(
        "Cost per 1,000,000 redriven records at us-east-1 list prices (bench/cost.py), beside the naive "
        f"design measured on the same engine ({NAIVE_RECORDS} records, one inline Map iteration and one "
        "consumer invoke each):"
    )
    say("")
    say("| service | this design | naive |")
    say("|---|---|---|")
    for service in priced:
        say(f"| {service} | ${priced[service]:.2f} | ${naive_priced[service]:.2f} |")
    say(f"| **total** | **${total:.2f}** | **${naive_total:.2f}** |")
    apart = "the consumer's writes to its own table (in both designs, not in the totals)"
    say(f"| {apart} | ${own:.2f} | ${naive_own:.2f} |")
    say("")
    print("... the pace table", file=sys.stderr, flush=True)
    table, ratios = _pace()
    say("Pace (bench/redrive_pace.py):")
    say("")
    say("```text")
    say(table)
    say("```")
    say("")
    transitions_per_record = at_million["transitions"] / MILLION
    worst, best = (min(ratios), max(ratios)) if ratios else (0.0, 0.0)
    ratio = naive_total / total if total else 0.0
    say(
        f"bench: cost per 1M ${total:.2f} (naive ${naive_total:.2f}, {ratio:.0f}\u00d7 cheaper), "
        f"{transitions_per_record:.3f} transitions per record, largest execution at 1M "
        f"{at_million['historyEvents']:,.0f} events, pace worst {worst:.2f} best {best:.2f}, "
        f"10k rehearsal {rehearsal_10k.seconds:.0f} s"
    )
    return "\n".join(lines)


def rewrite_readme(block: str) -> None:
    """Replace the marked block of README.md (add it, under "Performance", if it is not there)."""
    text = README.read_text()
    generated = f"{START}\n<!-- generated by `make bench`: do not edit by hand -->\n\n{block}\n\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + generated + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n## Performance\n\n" + generated + "\n"
    README.write_text(text)


def main() -> None:
    started = time.monotonic()
    block = run()
    if "--no-readme" not in sys.argv:
        rewrite_readme(block)
        print(f"README.md: the Performance block rewritten ({time.monotonic() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
