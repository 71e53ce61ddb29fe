"""Print the reliability suite's figures as one line; exit non-zero unless nothing was
lost, delivered twice, wrongly decided or left locked (and the pytest run passed).

Usage: python -m tests.reliability.summary <summary.json>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.reliability.tally import MUST_BE_ZERO

FULL_MINIMUM = 10_000  # bodies through classification, and through collection, in the full profile
STACK_MINIMUM = 500  # generated bodies through the whole workflow on the local stack, in the full profile


def line(totals: dict[str, int]) -> str:
    return (
        f"reliability: {totals['inputs']} inputs, {totals['faults']} faults, {totals['lost']} lost, "
        f"{totals['delivered_twice']} delivered twice, {totals['wrong_decisions']} wrong decisions, "
        f"{totals['lock_leaks']} lock leaks"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    if not path.exists():
        print(f"reliability: no figures ({path} was not written: did the suite run?)")
        return 1
    document = json.loads(path.read_text())
    totals = document["totals"]
    print(line(totals))
    problems = [name for name in MUST_BE_ZERO if totals[name]]
    if document["exitstatus"] != 0:
        problems.append(f"pytest exit status {document['exitstatus']}")
    if document["profile"] == "full":
        for name in ("classified", "collected"):
            if totals[name] < FULL_MINIMUM:
                problems.append(f"only {totals[name]} bodies {name} (the full profile needs {FULL_MINIMUM})")
        stacked = totals.get("stacked", 0)
        if stacked < STACK_MINIMUM:
            problems.append(
                f"only {stacked} bodies through the workflow on the local stack "
                f"(the full profile needs {STACK_MINIMUM})"
            )
    if problems:
        print("reliability: failed: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
