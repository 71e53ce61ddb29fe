"""Hypothesis settings per property, at two sizes.

``REDRIVE_RELIABILITY=full`` (``make reliability``) runs at least 10,000 bodies through
classification and 10,000 through whole in-process runs; the default (``make test``) runs a
small, derandomised subset in a few seconds.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

LEVEL = "full" if os.environ.get("REDRIVE_RELIABILITY", "").strip().lower() == "full" else "default"
FULL = LEVEL == "full"

# max_examples per property, at each level.
SIZES: dict[str, dict[str, int]] = {
    "classify": {"default": 200, "full": 10_000},
    "round-trip": {"default": 100, "full": 2_000},
    "requeue-body": {"default": 50, "full": 1_000},
    "run": {"default": 12, "full": 150},
    "collect-crash": {"default": 8, "full": 60},
    "redrive-crash": {"default": 8, "full": 60},
    "finalize-crash": {"default": 8, "full": 60},
}

# Bodies per DLQ in the whole-run properties: in the full profile, 540 runs of at least 25
# bodies put more than 10,000 bodies through collection, plan and finalize.
DLQ_SIZE = {"default": (1, 10), "full": (25, 40)}[LEVEL]

for level in ("default", "full"):
    settings.register_profile(
        f"reliability-{level}",
        deadline=None,
        derandomize=level == "default",  # `make test` sees the same examples every time
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


def profile(name: str, **overrides: Any) -> settings:
    """The settings of one property at the active level."""
    return settings(settings.get_profile(f"reliability-{LEVEL}"), max_examples=SIZES[name][LEVEL], **overrides)
