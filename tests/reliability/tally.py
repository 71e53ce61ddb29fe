"""The suite's own figures: what went in, what was injected, and what went wrong.

Every property adds to :data:`TALLY` as it runs (so do the whole-workflow runs of
tests/workflow/test_reliability_stack.py). The conftest moves a test's counts into
the session totals when it ends (the counts of a known failure, marked ``xfail``, are kept
apart), and writes the totals to ``$REDRIVE_RELIABILITY_SUMMARY`` when the session ends;
:mod:`tests.reliability.summary` prints them as one line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FIGURES = ("inputs", "faults", "lost", "delivered_twice", "wrong_decisions", "lock_leaks")
MUST_BE_ZERO = ("lost", "delivered_twice", "wrong_decisions", "lock_leaks")


@dataclass
class Counts:
    inputs: int = 0
    faults: int = 0
    lost: int = 0
    delivered_twice: int = 0
    wrong_decisions: int = 0
    lock_leaks: int = 0
    classified: int = 0  # inputs that went through classify_message alone
    collected: int = 0  # inputs that went through a whole in-process run
    stacked: int = 0  # generated bodies through the whole workflow on the local stack (tests/workflow)

    def add(self, other: Counts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class Tally:
    current: Counts = field(default_factory=Counts)
    totals: Counts = field(default_factory=Counts)
    known: Counts = field(default_factory=Counts)  # from tests marked xfail

    def close_test(self, expected_to_fail: bool) -> None:
        (self.known if expected_to_fail else self.totals).add(self.current)
        self.current = Counts()

    def write(self, path: Path, profile: str, exitstatus: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = {
            "profile": profile,
            "exitstatus": int(exitstatus),
            "totals": asdict(self.totals),
            "known": asdict(self.known),
        }
        path.write_text(json.dumps(document, indent=2) + "\n")


TALLY = Tally()
