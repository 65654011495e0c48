"""What the health check does about what it found: count, heal, redeliver, and record it all.

Rules (docs/health.md):
- A run where a control-plane check (`service`, `revision`, `info`, `locations`) fails adds one to
  the consecutive failures; a healthy run resets the count; while a deployment runs (the workflow's
  lock, a waiting execution, or an ECS rollout within its deadline) the count stays as it is.
- After `SELF_HEAL_AFTER_FAILURES` consecutive failures the workflow is started for the last good
  config version with reason `self-heal`: never while a deployment runs, never without a last good
  version, and at most once per `SELF_HEAL_MIN_INTERVAL_MINUTES`. When the control plane is down
  (the `service` or `info` check failed) the request says `force`: no load test run can be using
  it, so the workflow does not wait for runs before the restart. The interval is claimed with a
  conditional write before the execution starts, so two overlapping runs cannot both heal, and a
  heal that keeps failing (the control plane never comes up) is retried once per interval, no more.
- A lost upload (the `config` check) starts the workflow for that version at once, unless a
  deployment runs; once per version, whatever happens to that execution.
- Drift (the `revision` check: the service is set to, or runs, another revision than the last good
  one, and no deployment runs): a deployment the workflow did not start, such as a `sam deploy` that
  touched the service (CloudFormation re-sends its desired count of 0 and the stack's own revision).
  The workflow is started for the last good version at once, once per drifted revision, without
  waiting for consecutive failures; it copies the stack's current revision, so an image or size
  change of that `sam deploy` is deployed too, on the validated config.
- Every action is a `HEAL#` item; its outcome is updated when its execution ends. Every run is a
  `HEALTH#` item, and `HEALTH_STATE` keeps the count, the last heal and the last report (the item
  kinds are in `records`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from botocore.exceptions import ClientError
from msgspec import field

from controlplane import clock
from controlplane.errors import error_code, outcome_of_error
from controlplane.models import CONTROL_PLANE_CHECKS, HealthReport, Payload
from controlplane.records import (
    HEAL_PREFIX,
    ActionKind,
    HealAction,
    HealDecision,
    HealDecisionKind,
    HealthState,
    OpenAction,
    RecordStore,
)
from controlplane.settings import Settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

SELF_HEAL_REASON = "self-heal"
LOST_UPLOAD_REASON = "lost upload: the health check found a config version the workflow never saw"
DRIFT_REASON = "drift: the service was moved off the last good revision by someone else"
# How many drifted revisions HEALTH_STATE remembers (each is healed once).
_REMEMBERED_DRIFTS = 20
# How many lost-upload versions HEALTH_STATE remembers (each is redelivered once).
_REMEMBERED_LOST_UPLOADS = 20


class HealthOutcome(Payload, frozen=True, kw_only=True):
    """What one run found and did (the handler's result; also what `cpctl local health-check` prints)."""

    report: HealthReport
    consecutive_failures: int
    heal: HealDecision
    actions: list[HealAction] = field(default_factory=list)
    resolved: list[HealAction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the rules


def next_consecutive(report: HealthReport, previous: int) -> int:
    """The consecutive failure count after this run."""
    if not report.failed(CONTROL_PLANE_CHECKS):
        return 0
    if report.deployment_running is not None:
        return previous  # a deployment explains a missing task; it neither counts nor clears
    return previous + 1


def heal_allowed_at(state: HealthState | None, *, min_interval_seconds: float) -> float | None:
    """When the next heal may start (epoch), or None if no heal was ever started."""
    last = state.last_heal_at if state is not None else None
    return None if last is None else float(last) + min_interval_seconds


def execution_name(prefix: str, now: float) -> str:
    """A unique, sortable execution name (Step Functions keeps names for 90 days: never reuse one)."""
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}-{stamp}-{uuid.uuid4().hex[:8]}"


def act(report: HealthReport, *, store: RecordStore, sfn: SFNClient, settings: Settings) -> HealthOutcome:
    """Apply the rules to one report; record the run and every action; the outcome."""
    now = clock.now()
    state = store.health_state() or HealthState()
    resolved = _resolve_open_actions(state, store=store, sfn=sfn, now=now)
    open_actions = [
        entry
        for entry in state.open_actions
        if entry.record_key not in {action.record_key for action in resolved}
    ]
    consecutive = next_consecutive(report, state.consecutive_failures or 0)
    busy = report.deployment_running
    actions: list[HealAction] = []
    notes: list[str] = []
    lost_uploads = dict(state.lost_uploads)

    # Each of these acts at once, once per what it found (a version, a revision), never while busy.
    once = _OnceEach(actions=actions, notes=notes, store=store, sfn=sfn, settings=settings, now=now)
    lost = report.lost_upload
    if lost is not None:
        busy = once.start(
            "deploy-lost-upload",
            key=lost.version_id,
            version_id=lost.version_id,
            seen=lost_uploads,
            busy=busy,
            reason=LOST_UPLOAD_REASON,
            trigger=report.checks["config"].detail,
            what=f"lost upload {lost.version_id}",
        )
    drifts = dict(state.drifts)
    drifted = _drifted_revision(report)
    if drifted is not None and report.last_good_version_id is not None:
        busy = once.start(
            "heal-drift",
            key=drifted,
            version_id=report.last_good_version_id,
            seen=drifts,
            busy=busy,
            reason=DRIFT_REASON,
            trigger=report.checks["revision"].detail,
            what=f"the drift to {drifted}",
        )

    decision = _heal(
        report, consecutive, busy=busy, state=state, store=store, sfn=sfn, settings=settings, now=now
    )
    if decision[1] is not None:
        actions.append(decision[1])
    open_actions += [
        OpenAction(record_key=action.record_key, execution_arn=action.execution_arn)
        for action in actions
        if action.execution_arn is not None
    ]
    outcome = HealthOutcome(
        report=report,
        consecutive_failures=consecutive,
        heal=decision[0],
        actions=actions,
        resolved=resolved,
        notes=notes,
    )
    key = store.put_run(
        report,
        consecutive_failures=consecutive,
        heal=decision[0],
        action_keys=[action.record_key for action in actions],
        now=now,
    )
    store.save_state(
        HealthState(
            consecutive_failures=consecutive,
            last_checked_at=report.checked_at.isoformat(),
            last_healthy=report.healthy,
            last_run=key,
            last_report=report,
            last_heal_decision=decision[0],
            open_actions=open_actions,
            lost_uploads=dict(list(lost_uploads.items())[-_REMEMBERED_LOST_UPLOADS:]),
            drifts=dict(list(drifts.items())[-_REMEMBERED_DRIFTS:]),
        )
    )
    logger.info(
        "health checked",
        extra={
            "healthy": report.healthy,
            "summary": report.summary(),
            "consecutive_failures": consecutive,
            "heal": decision[0].decision,
            "actions": [action.execution_name for action in actions],
        },
    )
    return outcome


@dataclass
class _OnceEach:
    """Starts the workflow for something a run found, once per key (remembered in `seen`)."""

    actions: list[HealAction]
    notes: list[str]
    store: RecordStore
    sfn: SFNClient
    settings: Settings
    now: float

    def start(
        self,
        kind: ActionKind,
        *,
        key: str,
        version_id: str,
        seen: dict[str, str],
        busy: str | None,
        reason: str,
        trigger: str,
        what: str,
    ) -> str | None:
        """What keeps the service busy afterwards (the execution started here, or `busy` as it was)."""
        if key in seen:
            self.notes.append(f"{what} was already handled by execution {seen[key]}: not starting it again")
            return busy
        if busy is not None:
            self.notes.append(f"{what} waits: {busy}")
            return busy
        action = _start(
            kind,
            version_id,
            reason=reason,
            trigger=trigger,
            store=self.store,
            sfn=self.sfn,
            settings=self.settings,
            now=self.now,
        )
        self.actions.append(action)
        seen[key] = action.execution_name
        return f"execution {action.execution_name} handles {what}" if action.execution_arn else None


def _drifted_revision(report: HealthReport) -> str | None:
    """The revision the service was moved to, when the revision check found drift."""
    if report.checks.get("revision") is None or report.checks["revision"].status != "fail":
        return None
    for arn in (report.service_task_definition_arn, report.running_task_definition_arn):
        if arn and arn != report.last_good_task_definition_arn:
            return arn
    return None


def _heal(
    report: HealthReport,
    consecutive: int,
    *,
    busy: str | None,
    state: HealthState,
    store: RecordStore,
    sfn: SFNClient,
    settings: Settings,
    now: float,
) -> tuple[HealDecision, HealAction | None]:
    failed = report.failed(CONTROL_PLANE_CHECKS)
    wanted = settings.self_heal_after_failures
    if not failed:
        return HealDecision(decision="not_needed", detail="the control plane checks pass"), None
    if consecutive < wanted:
        detail = f"{consecutive} of {wanted} consecutive failed runs before a self-heal"
        if busy is not None:
            detail += f" (not counting while {busy})"
        return HealDecision(decision="counting", detail=detail), None
    if busy is not None:
        return HealDecision(decision="deployment_running", detail=f"no self-heal while {busy}"), None
    if report.last_good_version_id is None:
        return HealDecision(
            decision="no_last_good", detail="no last good version recorded: nothing to heal to"
        ), None
    name = execution_name("self-heal", now)
    interval = settings.self_heal_min_interval_seconds
    if not store.claim_heal_slot(now=now, min_interval_seconds=interval, execution_name=name):
        allowed = heal_allowed_at(store.health_state(), min_interval_seconds=interval) or now
        last = state.last_heal_execution or "?"
        return (
            HealDecision(
                decision="rate_limited",
                detail=(
                    f"last self-heal {last} started less than {settings.self_heal_min_interval_minutes:g} min ago; "
                    f"next one allowed after {datetime.fromtimestamp(allowed, tz=UTC).isoformat(timespec='seconds')}"
                ),
            ),
            None,
        )
    action = _start(
        "self-heal",
        report.last_good_version_id,
        reason=SELF_HEAL_REASON,
        force=bool({"service", "info"} & set(failed)),
        trigger=f"{consecutive} consecutive failed runs: {', '.join(failed)}",
        store=store,
        sfn=sfn,
        settings=settings,
        now=now,
        name=name,
    )
    kind: HealDecisionKind = "started" if action.execution_arn is not None else "failed_to_start"
    return HealDecision(decision=kind, detail=action.detail), action


def _start(
    kind: ActionKind,
    version_id: str,
    *,
    reason: str,
    trigger: str,
    store: RecordStore,
    sfn: SFNClient,
    settings: Settings,
    now: float,
    name: str | None = None,
    force: bool = False,
) -> HealAction:
    """Start the deployment workflow for `version_id` (the manual request shape) and record the action."""
    name = name or execution_name("lost-upload" if kind == "deploy-lost-upload" else kind, now)
    at = clock.utcnow()
    record_key = f"{HEAL_PREFIX}{at.isoformat()}#{name}"
    request: dict[str, Any] = {"version_id": version_id, "reason": reason}
    if force:
        request["force"] = True
    try:
        arn: str | None = sfn.start_execution(
            stateMachineArn=settings.require_state_machine_arn(), name=name, input=json.dumps(request)
        )["executionArn"]
        outcome, detail = "started", f"started execution {name} to deploy version {version_id}"
    except ClientError as error:
        arn = None
        code = error_code(error, "error")
        outcome, detail = "failed_to_start", f"could not start execution {name}: {code}"
    action = HealAction(
        record_key=record_key,
        action=kind,
        version_id=version_id,
        reason=reason,
        trigger=trigger,
        at=at,
        execution_name=name,
        execution_arn=arn,
        outcome=outcome,
        detail=detail,
    )
    store.put_action(action, now=now)
    logger.warning("heal action", extra={"action": kind, "outcome": outcome, "detail": detail})
    return action


def _resolve_open_actions(
    state: HealthState, *, store: RecordStore, sfn: SFNClient, now: float
) -> list[HealAction]:
    """Actions whose execution has ended since the last run, with their outcome recorded."""
    resolved: list[HealAction] = []
    for entry in state.open_actions:
        arn = entry.execution_arn
        key = entry.record_key
        if not arn or not key:
            continue
        try:
            described = sfn.describe_execution(executionArn=str(arn))
        except sfn.exceptions.ExecutionDoesNotExist:
            status, error, stopped = "UNKNOWN", None, None
        else:
            if described["status"] == "RUNNING":
                continue
            status, error, stopped = described["status"], described.get("error"), described.get("stopDate")
        action = store.action(str(key))
        if action is None:
            continue
        # A failed execution reports the outcome its Fail state stands for; any other end, its status.
        outcome = "succeeded" if status == "SUCCEEDED" else outcome_of_error(error) or status.lower()
        finished = stopped if isinstance(stopped, datetime) else clock.utcnow()
        updated = msgspec.structs.replace(
            action,
            outcome=outcome,
            detail=f"execution {action.execution_name} ended {status}" + (f" ({error})" if error else ""),
            finished_at=finished,
        )
        store.put_action(updated, now=now)
        resolved.append(updated)
    return resolved
