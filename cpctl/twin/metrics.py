"""CloudWatch in the twin: EMF log lines become metrics, and alarms are evaluated and notify.

moto stores metrics and alarms but neither extracts Embedded Metric Format lines from logs nor
evaluates an alarm. Two small parts do what CloudWatch does:

- `EmfCollector.collect()` reads the log events of the stack's Lambdas (the twin writes what a
  handler prints, Powertools' EMF JSON included, to its log group) and puts every metric of every
  EMF line into moto's CloudWatch, once. The data point's time is the log event's (simulated) time:
  Powertools stamps EMF with the wall clock, which the twin does not simulate.
- `AlarmEvaluator.evaluate()` evaluates every metric alarm the way CloudWatch does, from its own
  definition (provisioned from template.yaml): the statistic of each of the last `EvaluationPeriods`
  periods, `DatapointsToAlarm` of them breaching `Threshold` by `ComparisonOperator`,
  `TreatMissingData` for periods without data. A change of state is written with SetAlarmState and
  published to the state's actions (SNS topics), in CloudWatch's notification format, when AWS would
  let CloudWatch publish there (`alarm_actions.py`: the topic's policy, its KMS key); an action AWS
  refuses is not delivered and is kept, as the alarm history shows it, in `failed_actions`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cpctl.twin.alarm_actions import ActionDenied, AlarmActionPolicy

# moto's own reason for a new alarm; AWS starts such an alarm in INSUFFICIENT_DATA.
_MOTO_INITIAL_REASON = "Unchecked: Initial alarm creation"
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


@dataclass
class EmfCollector:
    """Puts the metrics of EMF log lines of the given log groups into CloudWatch."""

    logs: Any
    cloudwatch: Any
    log_groups: Iterable[str]
    _read: dict[tuple[str, str], int] = field(default_factory=dict)  # events already read per stream
    data_points: int = 0

    def collect(self) -> int:
        """Read new log events; the number of data points put."""
        put = 0
        for group in sorted(set(self.log_groups)):
            for stream in self._streams(group):
                events = self._events(group, stream)
                seen = self._read.get((group, stream), 0)
                for event in events[seen:]:
                    put += self._put(str(event.get("message", "")), int(event["timestamp"]))
                self._read[(group, stream)] = len(events)
        self.data_points += put
        return put

    def _streams(self, group: str) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": group}
        try:
            while True:
                page = self._page(kwargs)
                names += [stream["logStreamName"] for stream in page.get("logStreams", [])]
                if not page.get("nextToken"):
                    return names
                kwargs["nextToken"] = page["nextToken"]
        except self.logs.exceptions.ResourceNotFoundException:
            return []

    def _page(self, kwargs: dict[str, Any]) -> Any:
        # moto's in-process logs backend iterates its streams without a lock: a Lambda of a running
        # execution creating a stream meanwhile makes it raise RuntimeError. A twin artefact (AWS
        # answers), so the page is asked for again.
        for _ in range(4):
            try:
                return self.logs.describe_log_streams(**kwargs)
            except RuntimeError:
                continue
        return self.logs.describe_log_streams(**kwargs)

    def _events(self, group: str, stream: str) -> list[dict[str, Any]]:
        return list(
            self.logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True).get(
                "events", []
            )
        )

    def _put(self, message: str, timestamp_ms: int) -> int:
        document = parse_emf(message)
        if document is None:
            return 0
        when = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        put = 0
        for directive in document["_aws"].get("CloudWatchMetrics", []):
            namespace = directive["Namespace"]
            data = []
            for dimension_set in directive.get("Dimensions", [[]]):
                dimensions = [{"Name": name, "Value": str(document[name])} for name in dimension_set]
                for metric in directive.get("Metrics", []):
                    values: Any = document.get(metric["Name"])
                    for value in values if isinstance(values, list) else [values]:
                        if not isinstance(value, int | float):
                            continue
                        datum: dict[str, Any] = {
                            "MetricName": metric["Name"],
                            "Dimensions": dimensions,
                            "Value": float(value),
                            "Timestamp": when,
                        }
                        if metric.get("Unit"):
                            datum["Unit"] = metric["Unit"]
                        data.append(datum)
            if data:
                self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)
                put += len(data)
        return put


def parse_emf(message: str) -> dict[str, Any] | None:
    """The EMF document in a log line, or None if the line is not one."""
    text = message.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return None
    return document


@dataclass(frozen=True)
class Transition:
    """One change of an alarm's state, and the topics notified."""

    alarm: str
    old: str
    new: str
    reason: str
    at: datetime
    notified: tuple[str, ...]
    failed: tuple[ActionDenied, ...] = ()


@dataclass
class AlarmEvaluator:
    """Evaluates the metric alarms of the twin's CloudWatch like CloudWatch does."""

    cloudwatch: Any
    sns: Any
    kms: Any
    account_id: str
    region: str
    transitions: list[Transition] = field(default_factory=list)

    @property
    def failed_actions(self) -> list[str]:
        """Every alarm action AWS would have refused, as the alarm history shows it, oldest first."""
        return [denied.history for item in self.transitions for denied in item.failed]

    def start(self) -> None:
        """Put alarms moto just created into INSUFFICIENT_DATA, AWS's initial state (no action runs)."""
        for alarm in self._alarms():
            if alarm.get("StateReason") == _MOTO_INITIAL_REASON:
                self.cloudwatch.set_alarm_state(
                    AlarmName=alarm["AlarmName"],
                    StateValue="INSUFFICIENT_DATA",
                    StateReason="Insufficient Data: alarm created",
                )

    def evaluate(self, now: float) -> list[Transition]:
        """Evaluate every alarm at simulated time `now`; the state changes, already notified."""
        changes = []
        for alarm in self._alarms():
            state, reason = self.state_of(alarm, now)
            if state is None or state == alarm["StateValue"]:
                continue
            changes.append(self._transition(alarm, state, reason, now))
        self.transitions += changes
        return changes

    def state_of(self, alarm: dict[str, Any], now: float) -> tuple[str | None, str]:
        """The state `alarm` should be in at `now` (None: keep it) and CloudWatch's kind of reason."""
        period = int(alarm["Period"])
        periods = int(alarm["EvaluationPeriods"])
        needed = int(alarm.get("DatapointsToAlarm") or periods)
        threshold = float(alarm["Threshold"])
        compare = _COMPARE[alarm["ComparisonOperator"]]
        treat = alarm.get("TreatMissingData") or "missing"
        # Periods are aligned to multiples of Period; the newest one is the period `now` falls in.
        end = (math.floor(now / period) + 1) * period
        values = [
            self._statistic(alarm, end - (periods - index) * period, period) for index in range(periods)
        ]
        present = [value for value in values if value is not None]
        missing = len(values) - len(present)
        breaching = sum(1 for value in present if compare(value, threshold))
        if treat == "breaching":
            breaching += missing
        elif treat == "ignore" and missing:
            return None, ""
        elif treat == "missing" and not present:
            return "INSUFFICIENT_DATA", f"Insufficient Data: {periods} datapoints were unknown."
        shown = ", ".join("missing" if value is None else f"{value:g}" for value in values)
        if breaching >= needed:
            return "ALARM", (
                f"Threshold Crossed: {breaching} out of the last {periods} datapoints [{shown}] "
                f"were {_operator_text(alarm['ComparisonOperator'])} the threshold ({threshold:g})"
            )
        return "OK", (
            f"Threshold Crossed: {breaching} out of the last {periods} datapoints [{shown}] "
            f"were {_operator_text(alarm['ComparisonOperator'])} the threshold ({threshold:g}); "
            f"{needed} needed for ALARM"
        )

    def _statistic(self, alarm: dict[str, Any], start: float, period: int) -> float | None:
        arguments: dict[str, Any] = {
            "Namespace": alarm["Namespace"],
            "MetricName": alarm["MetricName"],
            "Dimensions": alarm.get("Dimensions", []),
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(start + period, UTC),
            "Period": period,
            "Statistics": [alarm["Statistic"]],
        }
        points = self.cloudwatch.get_metric_statistics(**arguments).get("Datapoints", [])
        if not points:
            return None
        return float(points[0][alarm["Statistic"]])

    def _transition(self, alarm: dict[str, Any], state: str, reason: str, now: float) -> Transition:
        name = alarm["AlarmName"]
        at = datetime.fromtimestamp(now, UTC)
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
        actions = {
            "ALARM": alarm.get("AlarmActions", []),
            "OK": alarm.get("OKActions", []),
            "INSUFFICIENT_DATA": alarm.get("InsufficientDataActions", []),
        }[state]
        notified: list[str] = []
        failed: list[ActionDenied] = []
        if alarm.get("ActionsEnabled", True):
            message = {
                "AlarmName": name,
                "AlarmDescription": alarm.get("AlarmDescription"),
                "AWSAccountId": self.account_id,
                "AlarmConfigurationUpdatedTimestamp": _iso(alarm.get("AlarmConfigurationUpdatedTimestamp")),
                "NewStateValue": state,
                "NewStateReason": reason,
                "StateChangeTime": _iso(at),
                "Region": self.region,
                "AlarmArn": alarm.get("AlarmArn"),
                "OldStateValue": alarm["StateValue"],
                "Trigger": {
                    "MetricName": alarm["MetricName"],
                    "Namespace": alarm["Namespace"],
                    "StatisticType": "Statistic",
                    "Statistic": str(alarm["Statistic"]).upper(),
                    "Unit": None,
                    "Dimensions": [
                        {"value": item["Value"], "name": item["Name"]} for item in alarm.get("Dimensions", [])
                    ],
                    "Period": alarm["Period"],
                    "EvaluationPeriods": alarm["EvaluationPeriods"],
                    "DatapointsToAlarm": alarm.get("DatapointsToAlarm"),
                    "ComparisonOperator": alarm["ComparisonOperator"],
                    "Threshold": alarm["Threshold"],
                    "TreatMissingData": alarm.get("TreatMissingData"),
                },
            }
            subject = f'{state}: "{name}" in {self.region}'[:100]
            policy = AlarmActionPolicy(sns=self.sns, kms=self.kms, account_id=self.account_id)
            for topic in actions:
                if not str(topic).startswith("arn:aws:sns:"):
                    continue
                denied = policy.denial(str(topic), str(alarm["AlarmArn"]))
                if denied is not None:
                    failed.append(denied)
                    continue
                self.sns.publish(TopicArn=topic, Subject=subject, Message=json.dumps(message))
                notified.append(str(topic))
        return Transition(name, str(alarm["StateValue"]), state, reason, at, tuple(notified), tuple(failed))

    def _alarms(self) -> list[dict[str, Any]]:
        alarms: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"AlarmTypes": ["MetricAlarm"]}
        while True:
            page = self.cloudwatch.describe_alarms(**kwargs)
            alarms += page.get("MetricAlarms", [])
            if not page.get("NextToken"):
                return alarms
            kwargs["NextToken"] = page["NextToken"]


def _operator_text(operator: str) -> str:
    return {
        "GreaterThanOrEqualToThreshold": "greater than or equal to",
        "GreaterThanThreshold": "greater than",
        "LessThanThreshold": "less than",
        "LessThanOrEqualToThreshold": "less than or equal to",
    }.get(operator, operator)


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return None if value is None else str(value)
