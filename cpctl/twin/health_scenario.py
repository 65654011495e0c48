"""The health checks on the twin: scheduled runs, EMF metrics, the alarm, stopped-task events, faults.

`HealthWatch.attach(twin)` adds to a started `LocalTwin` what AWS does around the health check and
the twin does not do by itself: metrics from the EMF lines the Lambdas print and alarm evaluation
(cpctl/twin/metrics.py); every twin already sends `ECS Task State Change` events
(cpctl/twin/ecs_events.py). `run_check()` is one scheduled run: the scheduled rule's event,
delivered to the health check Lambda of template.yaml, in process, then metrics collected and
alarms evaluated. `advance_to_next_run()` lets simulated time pass until the schedule's next run
(executions started meanwhile run on).

`run_scenario(fault)` is `cpctl local health-check`: a fresh twin deploys the built-in config, a
healthy run, the fault, then runs on the schedule until the heal has completed (a heal action's
execution ended and a later run is healthy) or the run limit is reached.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cpctl.twin.deployments import deploy_initial
from cpctl.twin.ecs_events import TaskStateEvents
from cpctl.twin.eventbridge import target_input
from cpctl.twin.health_faults import HealthFaults, InjectedFault
from cpctl.twin.lambdas import FunctionSpec
from cpctl.twin.metrics import AlarmEvaluator, EmfCollector, Transition
from cpctl.twin.twin import LocalTwin, TwinError, TwinOptions

HEALTH_FUNCTION = "HealthCheckFunction"
DEFAULT_MAX_RUNS = 30
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours)\)$")


def rate_seconds(expression: str) -> float:
    """Seconds between runs of an EventBridge `rate(...)` expression."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise TwinError(f"the twin runs rate(N minutes|hours) schedules, not {expression!r}")
    return float(match.group(1)) * (60 if match.group(2).startswith("minute") else 3600)


@dataclass
class HealthRun:
    """One run of the health check: when (simulated) and what the Lambda returned."""

    at: float
    result: dict[str, Any]
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.error is None and bool(self.result["report"]["healthy"])

    @property
    def failed(self) -> list[str]:
        checks = self.result.get("report", {}).get("checks", {})
        return [name for name, check in checks.items() if check["status"] == "fail"]


@dataclass
class HealthWatch:
    """The health check of a started twin, with what CloudWatch and ECS do around it."""

    twin: LocalTwin
    spec: FunctionSpec
    rule: dict[str, Any]
    period: float
    ecs_events: TaskStateEvents
    emf: EmfCollector
    alarms: AlarmEvaluator
    runs: list[HealthRun] = field(default_factory=list)
    next_run_at: float = 0.0
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def attach(cls, twin: LocalTwin) -> HealthWatch:
        functions = {spec.logical_id: spec for spec in twin.functions().values()}
        spec = functions.get(HEALTH_FUNCTION)
        if spec is None or twin.eventbridge is None or twin.ecs_events is None:
            raise TwinError(f"template.yaml defines no {HEALTH_FUNCTION}")
        events = twin.client("events")
        rule = next(
            (
                {**item, "Targets": events.list_targets_by_rule(Rule=item["Name"])["Targets"]}
                for item in events.list_rules()["Rules"]
                if item.get("ScheduleExpression")
                and any(
                    t["Arn"] == spec.arn for t in events.list_targets_by_rule(Rule=item["Name"])["Targets"]
                )
            ),
            None,
        )
        if rule is None:
            raise TwinError(f"no schedule targets {spec.function_name}")
        log_groups = [item.log_group_name for item in twin.functions().values()]
        watch = cls(
            twin=twin,
            spec=spec,
            rule=rule,
            period=rate_seconds(str(rule["ScheduleExpression"])),
            ecs_events=twin.ecs_events,
            emf=EmfCollector(
                logs=twin.client("logs"), cloudwatch=twin.client("cloudwatch"), log_groups=log_groups
            ),
            alarms=AlarmEvaluator(
                cloudwatch=twin.client("cloudwatch"),
                sns=twin.client("sns"),
                kms=twin.client("kms"),
                account_id=twin.account_id,
                region=twin.region,
            ),
        )
        watch.alarms.start()
        watch.next_run_at = twin.clock.now()
        return watch

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    @property
    def enabled(self) -> bool:
        return self.rule.get("State") == "ENABLED"

    def run_check(self) -> HealthRun:
        """One run, as the schedule starts it: the rule's event to the Lambda; then metrics and alarms."""
        assert self.twin.lambdas is not None
        now = self.twin.clock.now()
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.twin.account_id,
            "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.twin.region,
            "resources": [self.rule["Arn"]],
            "detail": {},
        }
        target = next(t for t in self.rule["Targets"] if t["Arn"] == self.spec.arn)
        payload = target_input(target, event, rule_name=self.rule["Name"], rule_arn=self.rule["Arn"])
        with self.twin.clock.worker():
            raw, error = self.twin.lambdas.invoke(self.spec, payload.encode())
            at = self.twin.clock.now()
        result = json.loads(raw) if raw else {}
        run = HealthRun(at=at, result=result, error=error)
        self.runs.append(run)
        self.after_run()
        return run

    def after_run(self) -> list[Transition]:
        """What CloudWatch does after data arrives: extract the EMF metrics, evaluate the alarms."""
        with self.twin.clock.worker():
            self.emf.collect()
            return self.alarms.evaluate(self.twin.clock.now())

    def advance_to_next_run(self) -> None:
        """Let simulated time pass until the schedule's next run is due."""
        self.next_run_at += self.period
        wait = self.next_run_at - self.twin.clock.now()
        if wait > 0:
            self.twin.advance(wait)
        else:  # the last run was held up (invocations are serialized): the schedule starts again from now
            self.next_run_at = self.twin.clock.now()

    def actions(self) -> list[dict[str, Any]]:
        """Every heal action recorded, oldest first, with its latest outcome."""
        items = [item for item in self.twin.records() if item.get("kind") == "heal"]
        return sorted(items, key=lambda item: str(item["sk"]))

    def alarm_notifications(self, state: str = "ALARM") -> list[dict[str, Any]]:
        """Messages the alarms published with `state` as their new state (delivered ones only: an
        action AWS would refuse is in `alarms.failed_actions` instead)."""
        found = []
        for sent in self.twin.notifications():
            try:
                message = json.loads(sent["message"])
            except (TypeError, ValueError):
                continue
            if isinstance(message, dict) and message.get("NewStateValue") == state and "AlarmName" in message:
                found.append(message)
        return found


# ---------------------------------------------------------------- the scenario of cpctl local health-check
@dataclass
class ScenarioResult:
    fault: str | None
    injected: InjectedFault | None
    baseline: HealthRun
    first: HealthRun
    runs: list[HealthRun]
    actions: list[dict[str, Any]]
    transitions: list[Transition]
    alarm_messages: list[dict[str, Any]]
    failed_alarm_actions: list[str]  # actions AWS would refuse, as the alarm history shows them
    stopped_tasks: list[dict[str, Any]]
    simulated_seconds: float
    wall_seconds: float
    healed: bool

    def as_json(self) -> dict[str, Any]:
        last = self.runs[-1]
        return {
            "fault": self.fault,
            "injected": self.injected.detail if self.injected else None,
            "healthy": self.first.healthy,
            "checks": self.first.result.get("report", {}).get("checks", {}),
            "actions": [_action_view(item) for item in self.actions],
            "after": {
                "healthy": last.healthy,
                "checks": last.result.get("report", {}).get("checks", {}),
                "consecutive_failures": last.result.get("consecutive_failures"),
                "heal": last.result.get("heal"),
                "minutes_after_fault": round((last.at - (self.injected or self.baseline).at) / 60, 1),
            },
            "runs": [
                {
                    "minute": round((run.at - self.baseline.at) / 60, 1),
                    "healthy": run.healthy,
                    "failed": run.failed,
                    "consecutive_failures": run.result.get("consecutive_failures"),
                    "heal": (run.result.get("heal") or {}).get("decision"),
                    "error": run.error,
                }
                for run in self.runs
            ],
            "alarm": [
                {
                    "alarm": item.alarm,
                    "state": item.new,
                    "minute": round((item.at.timestamp() - self.baseline.at) / 60, 1),
                }
                for item in self.transitions
            ],
            "pages": len(self.alarm_messages),
            "failed_alarm_actions": self.failed_alarm_actions,
            "stopped_tasks": [
                {
                    "task": item.get("task_id"),
                    "stop_code": item.get("stop_code"),
                    "reason": item.get("stopped_reason"),
                }
                for item in self.stopped_tasks
            ],
            "healed": self.healed,
            "simulated_minutes": round(self.simulated_seconds / 60, 1),
            "wall_seconds": round(self.wall_seconds, 2),
        }


def _action_view(item: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "action",
        "version_id",
        "reason",
        "trigger",
        "execution_name",
        "outcome",
        "detail",
        "at",
        "finished_at",
    )
    return {key: item.get(key) for key in keys if item.get(key) is not None}


def run_scenario(
    fault: str | None,
    *,
    max_runs: int = DEFAULT_MAX_RUNS,
    options: TwinOptions | None = None,
    wall_timeout: float = 300.0,
    progress: Callable[[str], None] | None = None,
    inspect: Callable[[LocalTwin, HealthWatch], None] | None = None,
) -> ScenarioResult:
    """A fresh twin, the built-in config deployed, a healthy run, `fault`, then scheduled runs until
    the heal completes (or, with no fault, one more run) or `max_runs` runs. `inspect(twin, watch)`
    is called at the end, before the twin stops (tests look at records and status there)."""
    say = progress or (lambda text: None)
    wall_start = time.monotonic()
    with LocalTwin(options) as twin:
        say(f"twin ready in {twin.startup_seconds:.1f} s; deploying the built-in config ...")
        deploy_initial(twin)
        watch = HealthWatch.attach(twin)
        faults = HealthFaults(twin)
        try:
            baseline = watch.run_check()
            say(
                f"baseline run: {'healthy' if baseline.healthy else 'UNHEALTHY: ' + ', '.join(baseline.failed)}"
            )
            injected = faults.inject(fault) if fault else None
            if injected is not None:
                say(f"fault {fault}: {injected.detail}")
            runs: list[HealthRun] = []
            healed = False
            while len(runs) < max_runs:
                if time.monotonic() - wall_start > wall_timeout:
                    raise TwinError(f"the scenario took more than {wall_timeout:.0f} s of wall time")
                watch.advance_to_next_run()
                run = watch.run_check()
                runs.append(run)
                say(_run_line(run, baseline))
                if fault is None or _healed(watch, runs):
                    healed = fault is not None
                    break
            twin.wait_until_idle(wall_timeout=max(10.0, wall_timeout - (time.monotonic() - wall_start)))
            watch.after_run()
            if inspect is not None:
                inspect(twin, watch)
            stopped = sorted(
                (item for item in twin.records() if item.get("kind") == "stopped_task"),
                key=lambda item: str(item["sk"]),
            )
            return ScenarioResult(
                fault=fault,
                injected=injected,
                baseline=baseline,
                first=runs[0],
                runs=runs,
                actions=watch.actions(),
                transitions=list(watch.alarms.transitions),
                alarm_messages=watch.alarm_notifications(),
                failed_alarm_actions=watch.alarms.failed_actions,
                stopped_tasks=stopped,
                simulated_seconds=twin.clock.now() - baseline.at,
                wall_seconds=time.monotonic() - wall_start,
                healed=healed,
            )
        finally:
            faults.close()
            watch.close()


def _healed(watch: HealthWatch, runs: list[HealthRun]) -> bool:
    """A heal action's execution has ended and a run after that end was healthy."""
    if not runs[-1].healthy:
        return False
    return any(item.get("finished_at") for item in watch.actions())


def _run_line(run: HealthRun, baseline: HealthRun) -> str:
    minute = (run.at - baseline.at) / 60
    heal = (run.result.get("heal") or {}).get("decision", "?")
    state = "healthy" if run.healthy else f"UNHEALTHY ({', '.join(run.failed) or run.error})"
    actions = [a["execution_name"] for a in run.result.get("actions", [])]
    suffix = f"; started {', '.join(actions)}" if actions else ""
    return f"+{minute:5.1f} min  {state}; failures in a row {run.result.get('consecutive_failures')}; heal {heal}{suffix}"
