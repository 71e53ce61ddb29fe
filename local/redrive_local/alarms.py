"""The local stand-in for CloudWatch alarm evaluation on SQS queue depth.

moto stores alarms but never evaluates them from SQS metrics, and ``SetAlarmState``
emits no EventBridge event. On AWS, CloudWatch evaluates each period's datapoint and, on
a state change, EventBridge receives a "CloudWatch Alarm State Change" event from
``aws.cloudwatch``. :class:`QueueDepthAlarms` does both locally: each :meth:`evaluate`
is one period; the datapoint is the queue's real ``ApproximateNumberOfMessages``
(what ``ApproximateNumberOfMessagesVisible`` reports); the alarm goes to ALARM when
``DatapointsToAlarm`` of the last ``EvaluationPeriods`` datapoints breach, to OK when
none of them does; a change is written with SetAlarmState and put on the default event
bus in the documented event shape.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SQS_DEPTH_METRICS = {"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessages"}

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

    def _queue_depth(self, queue_name: str) -> float:
        url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return float(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def evaluate(self, now: datetime | None = None) -> list[AlarmTransition]:
        """Evaluate one period for every SQS depth alarm; return the state changes."""
        now = now or datetime.now(UTC)
        transitions = []
        for alarm in self.cloudwatch.describe_alarms()["MetricAlarms"]:
            if alarm.get("Namespace") != "AWS/SQS" or alarm.get("MetricName") not in SQS_DEPTH_METRICS:
                continue
            dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
            if "QueueName" not in dims:
                continue
            value = self._queue_depth(dims["QueueName"])
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
                    "metrics": [
                        {
                            "id": "m1",
                            "metricStat": {
                                "metric": {
                                    "namespace": alarm["Namespace"],
                                    "name": alarm["MetricName"],
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
