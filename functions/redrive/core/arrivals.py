"""New failures while the DLQ alarm stays in ALARM: start a run for them, and only them.

The alarm (visible + in flight messages) changes to ALARM when the DLQ fills from empty,
and EventBridge starts a run on that change only. A run the alarm started leaves in the
DLQ the messages earlier runs returned (rejected, dry run, released, failed again), so the
alarm may stay in ALARM for days; a new failure pointer arriving meanwhile changes nothing
there. This check, on a schedule, compares the DLQ's depth with what the last such run left
in it: more than that (by the alarm's threshold) is new, and starts a run as the alarm
would, unless a run holds the DLQ. Messages returned since are counted as new once: that
run leaves them in place and records them, and nobody is asked.
"""

from __future__ import annotations

from ..contracts.base import Contract
from .ports import DlqArrivals


class ArrivalsChecked(Contract):
    depth: int
    left_in_place: int
    started: str | None = None
    why: str


def start_run_for_new_failures(arrivals: DlqArrivals, dlq_url: str, threshold: int, alarm_name: str) -> ArrivalsChecked:
    depth = arrivals.depth(dlq_url)
    left = arrivals.left_in_place(depth.queue_arn)
    new = depth.total - left
    if new < max(1, threshold):
        return ArrivalsChecked(
            depth=depth.total, left_in_place=left, why=f"{max(new, 0)} new message(s), threshold {threshold}"
        )
    holder = arrivals.lock_holder(depth.queue_arn)
    if holder is not None:
        return ArrivalsChecked(depth=depth.total, left_in_place=left, why=f"run {holder} holds the DLQ")
    reason = (
        f"{new} message(s) arrived in the DLQ while its alarm stayed in ALARM "
        f"(depth {depth.total}, {left} returned by earlier runs)"
    )
    started = arrivals.start_run({"trigger": "alarm", "alarmName": alarm_name, "alarmReason": reason})
    return ArrivalsChecked(depth=depth.total, left_in_place=left, started=started, why=reason)
