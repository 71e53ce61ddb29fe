"""classify_message on generated bodies: it never raises, says why it refuses, and what it
accepts serialises and parses back unchanged."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from redrive.contracts.messages import REDRIVE_MARKER, DlqMessage, Pointer, RedriveMarker
from redrive.contracts.records import StreamRecord
from redrive.contracts.vocab import MessageKind
from redrive.core.collect import build_manifest
from redrive.core.finalize import requeue_body
from redrive.core.messages import ClassifiedMessage, classify_message
from tests.fakes import memory_run
from tests.reliability import strategies as gen
from tests.reliability.profiles import profile
from tests.reliability.tally import TALLY


def _classified(text: str) -> ClassifiedMessage:
    TALLY.current.inputs += 1
    TALLY.current.classified += 1
    return classify_message(text)


def _same_json(a: object, b: object) -> bool:
    """Equal as JSON text (NaN is not equal to itself as a float, but is as text)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@profile("classify")
@given(gen.any_body())
def test_classify_never_raises_and_every_refusal_has_a_reason(case: tuple[str | None, str]) -> None:
    expected, text = case
    classified = _classified(text)
    assert isinstance(classified.kind, MessageKind)
    if classified.kind is MessageKind.UNRECOGNISED:
        assert classified.reason.strip(), f"unrecognised without a reason: {text[:200]!r}"
        assert classified.pointer is None and classified.marker is None and classified.payload_records == []
    if expected is not None and classified.kind != expected:
        TALLY.current.wrong_decisions += 1
        raise AssertionError(f"a valid {expected} body was classified {classified.kind}: {classified.reason}")


@profile("round-trip")
@given(gen.any_body())
def test_what_is_accepted_round_trips_through_json(case: tuple[str | None, str]) -> None:
    _, text = case
    classified = _classified(text)
    if classified.kind is MessageKind.UNRECOGNISED:
        return
    models: list[tuple[type[Pointer] | type[StreamRecord] | type[RedriveMarker], object]] = []
    if classified.pointer is not None:
        models.append((Pointer, classified.pointer))
    models.extend((StreamRecord, record) for record in classified.payload_records)
    if classified.marker is not None:
        models.append((RedriveMarker, classified.marker))
    assert models, f"{classified.kind} with nothing in it"
    for model_type, model in models:
        wire = json.loads(json.dumps(model.to_json()))  # type: ignore[attr-defined]
        back = model_type.parse(wire)
        assert _same_json(back.to_json(), wire), f"{model_type.__name__} changed in a JSON round trip"
    # The whole manifest of that one message is written and read back (Collect's side).
    data = memory_run("run-rt")
    message = DlqMessage(message_id="m-1", body=text)
    if classified.marker is not None and classified.marker.record_ref is not None:
        data.store.put_json(classified.marker.record_ref.key, {"not": "a record"})
    build_manifest([message], data)
    manifest = data.manifest()
    assert manifest is not None and [e.message_id for e in manifest.messages] == ["m-1"]


@profile("requeue-body")
@given(gen.stream_records(), st.text(min_size=1, max_size=60))
def test_a_requeued_record_reads_back_as_the_record_it_was(record: StreamRecord, reason: str) -> None:
    body = requeue_body(record, "run-9", reason, memory_run("run-9"), "bucket")
    classified = _classified(body)
    assert classified.kind is MessageKind.REDRIVE_RECORD, classified.reason
    marker = classified.marker
    assert marker is not None and marker.record is not None
    assert marker.record == record.without_failure()
    assert marker.failure.redrive_attempts == record.failure.redrive_attempts + 1
    assert marker.reason == reason and marker.run_id == "run-9"
    assert json.loads(body)[REDRIVE_MARKER]["recordId"] == record.record_id
