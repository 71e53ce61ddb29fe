"""The local stand-in for CloudWatch alarm evaluation on SQS queue depth.

moto stores alarms but never evaluates them from SQS metrics, and ``SetAlarmState``
emits no EventBridge event. On AWS, CloudWatch evaluates each period's datapoint and, on
a state change, EventBridge receives a "CloudWatch Alarm State Change" event from
``aws.cloudwatch``. :class:`QueueDepthAlarms` does both locally: each :meth:`evaluate`
is one period; the datapoint is the queue's real ``ApproximateNumberOfMessages``
(what ``ApproximateNumberOfMessagesVisible`` reports), or, for a metric-math alarm, the
sum of the queue metrics its expression adds (``visible + inFlight``, with
``ApproximateNumberOfMessagesNotVisible``); the alarm goes to ALARM when
``DatapointsToAlarm`` of the last ``EvaluationPeriods`` datapoints breach, to OK when
none of them does; a change is written with SetAlarmState and put on the default event
bus in the documented event shape.

CloudWatch evaluates an alarm every period for as long as it exists, not once:
:class:`AlarmWatch` evaluates in the background over a whole rehearsal (a period is
``interval`` seconds of real time), so every transition a run causes, back to ALARM
included, reaches EventBridge as it would on AWS.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SQS_DEPTH_METRICS = {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessages"}
_QUEUE_ATTRIBUTE = {
    "ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessages": "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}
"""The SQS metrics an alarm here may use, and the queue attribute each one reports."""


class UnsupportedAlarm(Exception):
    """An alarm on SQS metrics this evaluator cannot compute (say which part)."""


_COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass
class AlarmTransition:
    alarm_name: str
    previous: str
    current: str
    datapoint: float
    event: dict[str, Any]


def _configuration_metrics(queries: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A metric-math alarm's queries as the state change event's ``configuration.metrics``."""
    out = []
    for query in queries or []:
        entry: dict[str, Any] = {"id": query["Id"], "returnData": query.get("ReturnData", True)}
        if query.get("Expression"):
            entry.update(expression=query["Expression"], label=query.get("Label", ""))
        else:
            metric = query["MetricStat"]["Metric"]
            entry["metricStat"] = {
                "metric": {
                    "namespace": metric["Namespace"],
                    "name": metric["MetricName"],
                    "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
                },
                "period": query["MetricStat"].get("Period", 60),
                "stat": query["MetricStat"].get("Stat", "Maximum"),
            }
        out.append(entry)
    return out


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


class QueueDepthAlarms:
    """Evaluates every alarm on an SQS depth metric; emits state change events."""

    def __init__(self, cloudwatch: Any, sqs: Any, events: Any, account: str, region: str) -> None:
        self.cloudwatch = cloudwatch
        self.sqs = sqs
        self.events = events
        self.account = account
        self.region = region
        self._datapoints: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=100))

    def _queue_metric(self, queue_name: str, metric_name: str) -> float:
        url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attribute = _QUEUE_ATTRIBUTE[metric_name]
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[attribute])
        return float(attrs["Attributes"][attribute])

    def _queue_depth(self, queue_name: str) -> float:
        return self._queue_metric(queue_name, "ApproximateNumberOfMessagesVisible")

    def _datapoint(self, alarm: dict[str, Any]) -> float | None:
        """This period's value of the alarm's metric, or of its metric math (a sum of SQS
        queue metrics, ``visible + inFlight``); None when the alarm is not on SQS."""
        queries = alarm.get("Metrics") or []
        if not queries:
            if alarm.get("Namespace") != "AWS/SQS" or alarm.get("MetricName") not in SQS_DEPTH_METRICS:
                return None
            dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
            return self._queue_depth(dims["QueueName"]) if "QueueName" in dims else None
        stats = {q["Id"]: q["MetricStat"]["Metric"] for q in queries if q.get("MetricStat")}
        if not stats or any(m.get("Namespace") != "AWS/SQS" for m in stats.values()):
            return None
        returned = [q for q in queries if q.get("ReturnData", True)]
        if len(returned) != 1:
            raise UnsupportedAlarm(f"{alarm['AlarmName']}: one query must return data, {len(returned)} do")
        (result,) = returned
        terms = [t.strip() for t in result["Expression"].split("+")] if result.get("Expression") else [result["Id"]]
        total = 0.0
        for term in terms:
            metric = stats.get(term)
            if metric is None or metric.get("MetricName") not in _QUEUE_ATTRIBUTE:
                raise UnsupportedAlarm(
                    f"{alarm['AlarmName']}: only a sum of SQS queue metrics is evaluated locally, not {term!r}"
                )
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            total += self._queue_metric(dims["QueueName"], metric["MetricName"])
        return total

    def evaluate(self, now: datetime | None = None) -> list[AlarmTransition]:
        """Evaluate one period for every SQS depth alarm; return the state changes."""
        now = now or datetime.now(UTC)
        transitions = []
        for alarm in self.cloudwatch.describe_alarms()["MetricAlarms"]:
            datapoint = self._datapoint(alarm)
            if datapoint is None:
                continue
            value = datapoint
            series = self._datapoints[alarm["AlarmName"]]
            series.append(value)
            periods = int(alarm.get("EvaluationPeriods", 1))
            needed = int(alarm.get("DatapointsToAlarm") or periods)
            window = list(series)[-periods:]
            compare = _COMPARE[alarm["ComparisonOperator"]]
            breaching = sum(1 for v in window if compare(v, float(alarm["Threshold"])))
            previous = alarm.get("StateValue", "INSUFFICIENT_DATA")
            if breaching >= needed:
                current = "ALARM"
            elif breaching == 0:
                current = "OK"
            else:
                current = previous
            if current == previous:
                continue
            reason = (
                f"Threshold Crossed: {len(window)} datapoint(s) [{', '.join(f'{v:g}' for v in window)}] "
                f"evaluated against the threshold {float(alarm['Threshold']):g} ({alarm['ComparisonOperator']})."
            )
            reason_data = json.dumps({"version": "1.0", "recentDatapoints": window, "threshold": alarm["Threshold"]})
            self.cloudwatch.set_alarm_state(
                AlarmName=alarm["AlarmName"], StateValue=current, StateReason=reason, StateReasonData=reason_data
            )
            event = self._state_change_event(alarm, previous, current, reason, reason_data, now)
            self._put(event)
            transitions.append(AlarmTransition(alarm["AlarmName"], previous, current, value, event))
        return transitions

    def _state_change_event(
        self, alarm: dict[str, Any], previous: str, current: str, reason: str, reason_data: str, now: datetime
    ) -> dict[str, Any]:
        """The event CloudWatch sends to EventBridge (AWS docs: "Alarm events and EventBridge")."""
        updated = alarm.get("StateUpdatedTimestamp")
        previous_timestamp = _timestamp(updated) if isinstance(updated, datetime) else _timestamp(now)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": self.account,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [alarm["AlarmArn"]],
            "detail": {
                "alarmName": alarm["AlarmName"],
                "state": {"value": current, "reason": reason, "reasonData": reason_data, "timestamp": _timestamp(now)},
                "previousState": {
                    "value": previous,
                    "reason": alarm.get("StateReason", ""),
                    "timestamp": previous_timestamp,
                },
                "configuration": {
                    "description": alarm.get("AlarmDescription", ""),
                    "metrics": _configuration_metrics(alarm.get("Metrics"))
                    or [
                        {
                            "id": "m1",
                            "metricStat": {
                                "metric": {
                                    "namespace": alarm.get("Namespace"),
                                    "name": alarm.get("MetricName"),
                                    "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
                                },
                                "period": alarm.get("Period", 60),
                                "stat": alarm.get("Statistic", "Maximum"),
                            },
                            "returnData": True,
                        }
                    ],
                },
            },
        }

    def _put(self, event: dict[str, Any]) -> None:
        response = self.events.put_events(
            Entries=[
                {
                    "Time": datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Resources": event["resources"],
                    "Detail": json.dumps(event["detail"]),
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the alarm event: {response['Entries']}")


class AlarmWatch:
    """CloudWatch's continuous evaluation for the duration of a ``with`` block: one period
    every ``interval`` seconds; ``transitions`` lists every state change, in order."""

    def __init__(self, alarms: QueueDepthAlarms, interval: float = 0.5, alarm_name: str | None = None) -> None:
        self.alarms = alarms
        self.interval = interval
        self.alarm_name = alarm_name
        self.transitions: list[AlarmTransition] = []
        self.periods = 0
        self.errors: list[Exception] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.evaluate_once()

    def evaluate_once(self) -> list[AlarmTransition]:
        try:
            changes = [t for t in self.alarms.evaluate() if self.alarm_name in (None, t.alarm_name)]
        except Exception as error:  # a failed period is CloudWatch's INSUFFICIENT_DATA, not a crash
            self.errors.append(error)
            return []
        self.periods += 1
        self.transitions.extend(changes)
        return changes

    def start(self) -> AlarmWatch:
        """Evaluate in the background (again, after a :meth:`stop`)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alarm-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> AlarmWatch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
