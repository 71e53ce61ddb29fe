"""The example rules, read from ``events/manual-start.json`` so tests and the documented
input cannot drift apart. Pure Python: every tier may import it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANUAL_START = Path(__file__).resolve().parents[2] / "events" / "manual-start.json"

RULES: dict[str, dict[str, Any]] = {rule["name"]: rule for rule in json.loads(MANUAL_START.read_text())["rules"]}

AMOUNT_AS_NUMBER = RULES["amount-as-number"]
DROP_TEST_EVENTS = RULES["drop-test-events"]
