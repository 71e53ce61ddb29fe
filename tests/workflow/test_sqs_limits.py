"""A rehearsal AWS would refuse ends with an error naming SQS's limit, not a traceback."""

from __future__ import annotations

import pytest

from redrive_local.engine import LocalEngine
from redrive_local.rehearsal import Rehearsal, RehearsalError

from .conftest import kinesis_scenario


def test_a_dlq_body_of_1_5_mb_ends_the_rehearsal_naming_the_limit(engine: LocalEngine) -> None:
    scenario = kinesis_scenario(
        [{"partitionKey": "a", "data": {"id": "big-1", "amount": 1}}], extraDlqMessages=["x" * 1_500_000]
    )
    with pytest.raises(RehearsalError) as refused:
        Rehearsal(scenario, trigger="manual", engine=engine).prepare()
    message = str(refused.value)
    assert "extraDlqMessages[0] (1500000 bytes)" in message
    assert "InvalidParameterValue" in message and "1048576 bytes" in message
