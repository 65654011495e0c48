"""EventBridge delivery in the twin: S3 events and schedules reach state machines and Lambdas.

moto matches S3 `Object Created` events against rules but cannot deliver to a state machine or a
Lambda (the error is swallowed), sends every event with the same `sequencer`, and never fires a
schedule. `EventBridge.install()` takes over both paths:

- S3 events are built the way S3 sends them (unique `id`, ISO `time` on the simulated clock,
  `etag`, `version-id`, a `sequencer` that grows with every write of the bucket and varies in
  length, `reason`);
- every rule of every bus whose pattern matches gets the event (also events from PutEvents), and
  each target receives what its `Input`, `InputPath` or `InputTransformer` makes of it;
- a state machine target starts an execution with a unique name (AWS never lets a rule choose it),
  a Lambda target is invoked asynchronously, SQS, SNS and log group targets get the message;
- `fire_schedules()` fires every enabled scheduled rule and EventBridge Scheduler schedule once;
- delivery is at least once and unordered when a fault says so (`arm`, cpctl/twin/faults.py):
  `events-duplicated` delivers every rule's event to each target again `REDELIVERY_SECONDS` later,
  `event-late` holds the next S3 event back until `REDELIVERY_SECONDS` after a later one. Both
  wait on the simulated clock in a worker thread of their own, so time moves to them like to any
  sleeper; `pending()` says what is still to come, and `release_late()` delivers what no later
  event overtook.

A target of a kind the twin cannot deliver to fails loudly with the rule and target named.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cpctl.twin import faults
from cpctl.twin.capture import Capture
from cpctl.twin.clock import ClockStopped, SimulatedClock
from cpctl.twin.iam_calls import TargetCheck
from cpctl.twin.iam_eval import Decision
from cpctl.twin.lambdas import LambdaRouter

LOG = logging.getLogger(__name__)

_S3_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
}


# How much later a duplicate, or a late event after the event that overtook it, is delivered. AWS
# documents no figure ("typically ... in seconds but can sometimes take a minute or longer", S3 User
# Guide, "Amazon S3 Event Notifications"): a minute puts it inside the rollout the first one started.
REDELIVERY_SECONDS = 60.0
# The faults of cpctl/twin/faults.py that EventBridge acts out (`arm`).
EVENT_FAULTS: Final = faults.names("deploy", armed_by=("eventbridge",))


class DeliveryError(RuntimeError):
    """A rule's target the twin cannot deliver to, or a delivery AWS would refuse."""


@dataclass
class Delivery:
    """One event handed to one target."""

    rule: str
    target_arn: str
    event_id: str
    input: str
    execution_arn: str | None = None
    error: str | None = None


@dataclass
class EventBridge:
    account_id: str
    region: str
    clock: SimulatedClock
    capture: Capture
    lambdas: LambdaRouter
    start_execution: Callable[[str, str, str], str]  # (state machine arn, name, input) -> execution arn
    # (rule ARN, target) -> the IAM decision of EventBridge delivering to it (iam_calls.target_check)
    authorize: Callable[[str, dict[str, Any]], TargetCheck] | None = None
    target_checks: list[TargetCheck] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # every event seen, in order
    held: list[dict[str, Any]] | None = None  # S3 events kept back instead of delivered (see hold)
    duplicating: bool = False  # fault events-duplicated: every delivery again REDELIVERY_SECONDS later
    late_next: bool = False  # fault event-late: the next S3 event waits for a later one
    late: list[dict[str, Any]] = field(default_factory=list)  # S3 events no later event overtook yet
    redelivery_errors: list[str] = field(default_factory=list)
    _pending: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)
    # Called with each S3 event as S3 emits it, before any rule sees it (`cpctl local up --fault`).
    on_s3_event: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    _sequencer: int = 0x617F08299329D189
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _undo: list[Callable[[], None]] = field(default_factory=list)

    # ---------------------------------------------------------------- moto hooks
    def install(self) -> None:
        from moto.events import models as events_models
        from moto.s3 import notifications

        bridge = self
        original_send = events_models.Rule.send_to_targets
        original_s3 = notifications._send_event_bridge_message

        def send_to_targets(rule: Any, event: dict[str, Any], transform_input: bool = True) -> None:
            bridge._deliver_to_rule(rule, event)

        def send_s3_event(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
            event = bridge.s3_event(bucket, event_name, key)
            for observe in list(bridge.on_s3_event):
                observe(event)
            created = event_name.startswith("s3:ObjectCreated")  # an upload (moto also sends ACL events)
            if bridge.held is not None:
                bridge.held.append(event)
            elif created and bridge.late_next:
                bridge.late_next = False
                bridge.late.append(event)
            else:
                bridge.publish(event)
                overtaken = [late for late in bridge.late if created and _same_object(late, event)]
                bridge.late = [late for late in bridge.late if late not in overtaken]
                for late in overtaken:  # this upload's event overtook them: they arrive a while after it
                    bridge._later(REDELIVERY_SECONDS, functools.partial(bridge.publish, late), "late")

        events_models.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
        notifications._send_event_bridge_message = send_s3_event
        self._undo.append(lambda: setattr(events_models.Rule, "send_to_targets", original_send))
        self._undo.append(lambda: setattr(notifications, "_send_event_bridge_message", original_s3))

    def uninstall(self) -> None:
        # The clock is closed by now: a redelivery still waiting ends with ClockStopped.
        for thread in list(self._threads):
            thread.join(timeout=5.0)
        while self._undo:
            self._undo.pop()()

    # ---------------------------------------------------------------- at least once, unordered
    def arm(self, fault: str) -> None:
        """Act out `fault` (one of EVENT_FAULTS, declared in cpctl/twin/faults.py) from now on."""
        if fault == "events-duplicated":
            self.duplicating = True
        elif fault == "event-late":
            self.late_next = True
        else:
            raise ValueError(f"EventBridge acts out {', '.join(EVENT_FAULTS)}, not {fault!r}")

    def pending(self) -> int:
        """Deliveries still to come: redeliveries waiting on the clock, and late events held."""
        with self._lock:
            return self._pending + len(self.late)

    def release_late(self) -> int:
        """Deliver, now, the late events no later event overtook (late, never lost); how many."""
        released, self.late = self.late, []
        with self.clock.worker():
            for event in released:
                self.publish(event)
        return len(released)

    def _later(self, seconds: float, deliver: Callable[[], object], what: str) -> None:
        """Run `deliver` after `seconds` of simulated time, in a clock worker of its own (counted from
        now, so time cannot pass it by before the thread starts)."""
        self.clock.enter_worker()
        with self._lock:
            self._pending += 1

        def run() -> None:
            try:
                self.clock.sleep(seconds)
                deliver()
            except ClockStopped:
                pass  # the twin stopped: nothing is delivered into the embedded AWS it stops
            except Exception as error:  # a failed redelivery is a finding, not a silent loss
                LOG.exception("eventbridge: %s delivery failed", what)
                self.redelivery_errors.append(f"{what}: {type(error).__name__}: {error}")
            finally:
                with self._lock:
                    self._pending -= 1
                self.clock.leave_worker()

        thread = threading.Thread(target=run, daemon=True, name=f"eventbridge-{what}")
        with self._lock:
            self._threads = [item for item in self._threads if item.is_alive()] + [thread]
        thread.start()

    @contextlib.contextmanager
    def hold(self) -> Iterator[list[dict[str, Any]]]:
        """Keep S3 events back for the block (they are late); `publish` delivers them afterwards."""
        self.held = []
        try:
            yield self.held
        finally:
            self.held = None

    # ---------------------------------------------------------------- events
    def s3_event(self, bucket: Any, event_name: str, key: Any) -> dict[str, Any]:
        """The event S3 sends to EventBridge for `event_name` on `key` of `bucket`."""
        from moto.s3.notifications import _detail_type

        with self._lock:
            self._sequencer += 1
            # S3's sequencers are hex strings of varying length, compared after right-padding the
            # shorter with zeros (S3 User Guide, "Event message structure"): writes have 0, 2 or 4 more
            # digits in turn, so a reader that left-pads (or compares lengths) orders them wrongly.
            tail = f"{self._sequencer % 251:02X}" * ((self._sequencer * 7) % 3)
            sequencer = f"{self._sequencer:016X}{tail}"
        obj: dict[str, Any] = {"key": key.name, "size": key.size, "etag": key.etag.replace('"', "")}
        if key.version_id and key.version_id != "null":
            obj["version-id"] = key.version_id
        obj["sequencer"] = sequencer
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": obj,
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": self.account_id,
            "source-ip-address": "127.0.0.1",
            "reason": _S3_REASONS.get(event_name, event_name.split(":")[-1]),
        }
        if event_name.startswith("s3:ObjectRemoved"):
            detail["deletion-type"] = (
                "Delete Marker Created"
                if event_name.endswith("DeleteMarkerCreated")
                else "Permanently Deleted"
            )
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": _detail_type(event_name),
            "source": "aws.s3",
            "account": self.account_id,
            "time": self._iso_now(),
            "region": self.region,
            "resources": [f"arn:aws:s3:::{bucket.name}"],
            "detail": detail,
        }

    def publish(self, event: dict[str, Any]) -> list[Delivery]:
        """Deliver `event` to every matching rule of every bus (also used to redeliver an event)."""
        from moto.events.models import events_backends

        self.events.append(copy.deepcopy(event))
        self.capture.add("eventbridge-event", json.dumps(event))
        delivered: list[Delivery] = []
        backend = events_backends[self.account_id][self.region]
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                delivered += self._deliver_to_rule(rule, event)
        return delivered

    def fire_schedules(self) -> list[Delivery]:
        """Fire every enabled scheduled rule and EventBridge Scheduler schedule once, now."""
        from moto.events.models import events_backends
        from moto.scheduler.models import scheduler_backends

        delivered: list[Delivery] = []
        backend = events_backends[self.account_id][self.region]
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                if rule.scheduled_expression and rule.state == "ENABLED":
                    event = {
                        "version": "0",
                        "id": str(uuid.uuid4()),
                        "detail-type": "Scheduled Event",
                        "source": "aws.events",
                        "account": self.account_id,
                        "time": self._iso_now(),
                        "region": self.region,
                        "resources": [rule.arn],
                        "detail": {},
                    }
                    self.events.append(event)
                    delivered += self._deliver_to_targets(rule.name, rule.arn, rule.targets, event)
        scheduler = scheduler_backends[self.account_id][self.region]
        for group in list(scheduler.schedule_groups.values()):
            for schedule in list(group.schedules.values()):
                if schedule.state != "ENABLED":
                    continue
                target = schedule.target
                payload = target.get("Input") or "{}"
                delivered.append(self._send(f"schedule/{schedule.name}", target["Arn"], "", payload))
        return delivered

    # ---------------------------------------------------------------- delivery
    def _deliver_to_rule(self, rule: Any, event: dict[str, Any]) -> list[Delivery]:
        if rule.state != "ENABLED" or rule.scheduled_expression:
            return []
        if not rule.event_pattern.get_pattern() or not rule.event_pattern.matches_event(event):
            return []
        return self._deliver_to_targets(rule.name, rule.arn, rule.targets, event)

    def _deliver_to_targets(
        self,
        rule_name: str,
        rule_arn: str,
        targets: list[dict[str, Any]],
        event: dict[str, Any],
        *,
        again: bool = False,
    ) -> list[Delivery]:
        delivered = []
        for target in targets:
            payload = target_input(target, event, rule_name=rule_name, rule_arn=rule_arn)
            refused = self._refused(rule_arn, target)
            if refused is None:
                delivered.append(self._send(rule_name, target["Arn"], event.get("id", ""), payload, target))
                if self.duplicating and not again:
                    again_later = functools.partial(
                        self._deliver_to_targets, rule_name, rule_arn, [target], event, again=True
                    )
                    self._later(REDELIVERY_SECONDS, again_later, "duplicate")
                continue
            # EventBridge cannot invoke the target: after its retries the event goes to the target's
            # dead-letter queue when EventBridge may send there, else it is dropped
            # (EventBridge User Guide, "Using dead-letter queues to process undelivered events").
            failed = Delivery(rule_name, str(target["Arn"]), event.get("id", ""), payload, error=refused)
            self.deliveries.append(failed)
            queue = (target.get("DeadLetterConfig") or {}).get("Arn")
            if queue and self._refused(rule_arn, {"Arn": queue}) is None:
                self._send(rule_name, str(queue), event.get("id", ""), json.dumps(event), {"Arn": queue})
        return delivered

    def _refused(self, rule_arn: str, target: dict[str, Any]) -> str | None:
        """Why EventBridge may not deliver to `target`, or None when it may."""
        if self.authorize is None:
            return None
        check = self.authorize(rule_arn, target)
        self.target_checks.append(check)
        if check.decision is Decision.ALLOW:
            return None
        return f"EventBridge may not {check.check[0]} on {check.target_arn} (decided under {check.under})"

    def _send(
        self, rule: str, arn: str, event_id: str, payload: str, target: dict[str, Any] | None = None
    ) -> Delivery:
        delivery = Delivery(rule, arn, event_id, payload)
        self.deliveries.append(delivery)
        self.capture.add(f"eventbridge-delivery:{rule}", payload)
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "states":
            name = f"{rule[:40]}-{uuid.uuid4().hex}"[:80]
            try:
                json.loads(payload)
            except json.JSONDecodeError as error:
                raise DeliveryError(f"rule {rule}: input for {arn} is not JSON ({error})") from None
            delivery.execution_arn = self.start_execution(arn, name, payload)
        elif service == "lambda":
            spec = self.lambdas.find(arn)
            if spec is None:
                raise DeliveryError(f"rule {rule}: target Lambda {arn} is not a function of the template")
            self.lambdas.invoke_async(spec, payload.encode())
        elif service == "sqs":
            from moto.sqs.models import sqs_backends

            group = (target or {}).get("SqsParameters", {}).get("MessageGroupId")
            queue_name = arn.split(":")[5]
            sqs_backends[self.account_id][self.region].send_message(
                queue_name, payload, group_id=group, deduplication_id=str(uuid.uuid4()) if group else None
            )
        elif service == "sns":
            from moto.sns.models import sns_backends

            sns_backends[self.account_id][self.region].publish(payload, arn=arn)
        elif service == "logs":
            from moto.logs.models import logs_backends

            group_name = arn.split(":")[6]
            logs = logs_backends[self.account_id][self.region]
            stream = str(uuid.uuid4())
            logs.create_log_stream(group_name, stream)
            logs.put_log_events(
                group_name, stream, [{"timestamp": int(self.clock.now() * 1000), "message": payload}]
            )
        else:
            raise DeliveryError(f"rule {rule}: the twin cannot deliver to target {arn}")
        return delivery

    def _iso_now(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _same_object(one: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two S3 events are about the same key of the same bucket."""
    first, second = one["detail"], other["detail"]
    return bool(
        first["bucket"]["name"] == second["bucket"]["name"]
        and first["object"]["key"] == second["object"]["key"]
    )


# ---------------------------------------------------------------- input of a target
def target_input(target: dict[str, Any], event: dict[str, Any], *, rule_name: str, rule_arn: str) -> str:
    """What EventBridge sends to `target` for `event`: Input, InputPath, InputTransformer or the event."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return json.dumps(json_path(event, target["InputPath"]))
    transformer = target.get("InputTransformer")
    if transformer:
        values: dict[str, Any] = {}
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            values[name] = json_path(event, path)
        values.setdefault("aws.events.rule-arn", rule_arn)
        values.setdefault("aws.events.rule-name", rule_name)
        values.setdefault("aws.events.event.ingestion-time", event.get("time", ""))
        values.setdefault("aws.events.event", event)
        values.setdefault("aws.events.event.json", event)
        return render_template(str(transformer["InputTemplate"]), values)
    return json.dumps(event)


_MISSING = object()
_PATH_TOKEN = re.compile(r"\.([^.\[\]*]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def json_path(document: Any, path: str) -> Any:
    """Evaluate a simple JSONPath (`$.a.b-c[0]['d']`); a missing path gives None, as AWS gives null."""
    if not path.startswith("$"):
        raise DeliveryError(f"unsupported JSONPath {path!r}: it must start with $")
    position, value = 1, document
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if match is None:
            raise DeliveryError(
                f"unsupported JSONPath {path!r} at {path[position:]!r} (the twin reads $.a.b[0] paths)"
            )
        position = match.end()
        name, index, quoted, double = match.groups()
        if index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else _MISSING
        else:
            key = name if name is not None else (quoted if quoted is not None else double)
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return None
    return value


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def render_template(template: str, values: dict[str, Any]) -> str:
    """Fill `<name>` placeholders the way EventBridge does: inside a JSON string a string value is
    inserted escaped, without quotes; outside one, every value is inserted as JSON."""
    output: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "\\" and in_string:
            output.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        if char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match is not None and match.group(1) in values:
                value = values[match.group(1)]
                if in_string:
                    output.append(json.dumps(value)[1:-1] if isinstance(value, str) else json.dumps(value))
                else:
                    output.append(json.dumps(value))
                position = match.end()
                continue
        output.append(char)
        position += 1
    return "".join(output)
