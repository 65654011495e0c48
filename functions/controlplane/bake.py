"""The bake: after "up", watch the new control plane for `BakeMinutes` before it becomes the last good.

As AWS AppConfig keeps watching a deployment for its bake time and rolls it back on an alarm, every
`BAKE_CHECK_INTERVAL_SECONDS` the bake checks that
1. the task that proved the control plane up is still RUNNING (no stop, no restart): a stop fails the
   bake at once, with the task's stop reason, exit codes and the control plane's error lines;
2. `GET /info` on it still answers 200 (through the probe in the VPC), and
3. with a Gatling API token, Gatling still lists every location of the config.
Checks 2 and 3 fail the bake after `FAILING_CHECKS_BEFORE_FAILING` failures in a row, so one lost
probe does not roll back a healthy control plane. A failed bake rolls back exactly like a failure
before "up"; the last-good pointer moves only after a bake that passed (or with `BakeMinutes` 0).

It long-polls like the other waits: a 5-minute bake is one invocation, two state transitions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import msgspec

from controlplane import clock
from controlplane.diagnostics import task_failure
from controlplane.errors import GatlingApiError, GatlingApiRefused
from controlplane.gatling_api import private_location_ids
from controlplane.http_client import HttpGet
from controlplane.liveness import Probe, ReadToken
from controlplane.models import Bake, FailureReport, TaskFailure
from controlplane.settings import Settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskTypeDef

FAILING_CHECKS_BEFORE_FAILING = 2
# The state keeps times to the microsecond: a bake whose end is this close has ended.
_END_TOLERANCE_SECONDS = 0.001

DescribeTask = Callable[[str], "TaskTypeDef | None"]
"""The task as DescribeTasks shows it; None when ECS does not know it (any more)."""
ErrorLines = Callable[[TaskFailure], list[str]]
"""The control plane's last error lines of a stopped task (redacted)."""


def begin(settings: Settings, task_arn: str | None) -> Bake:
    started = clock.utcnow()
    deadline = started + timedelta(seconds=settings.bake_seconds)
    if not settings.bakes:
        return Bake(
            status="off", started_at=started, deadline=started, task_arn=task_arn, finished_at=started
        )
    return Bake(status="baking", started_at=started, deadline=deadline, task_arn=task_arn)


def watch(
    bake: Bake,
    *,
    private_ip: str | None,
    location_ids: list[str],
    settings: Settings,
    describe_task: DescribeTask,
    error_lines: ErrorLines,
    probe: Probe,
    http_get: HttpGet,
    read_token: ReadToken,
) -> Bake:
    """Check once per interval until the bake passes, fails, or the invocation's budget is spent."""
    if bake.status != "baking":
        return bake
    invocations = bake.invocations + 1
    if bake.task_arn is None or private_ip is None:
        return _failed(bake, invocations, "the bake has no task to watch (the up-check named none)", None, [])
    budget_end = clock.now() + settings.invocation_budget_seconds
    deadline = bake.deadline.timestamp()
    checks, failing = bake.checks, bake.failing_checks
    while True:
        checks += 1
        into = _into(bake)
        task = describe_task(bake.task_arn)
        if task is None or task.get("lastStatus") != "RUNNING" or task.get("desiredStatus") == "STOPPED":
            status = "unknown to ECS" if task is None else f"{task.get('lastStatus')}"
            stopped = task_failure(task) if task is not None else None
            lines = error_lines(stopped) if stopped is not None else []
            reason = f"the control plane's task is {status} {into} (check {checks}): it stopped or restarted"
            return _failed(bake, invocations, reason, stopped, lines, checks=checks)
        problem = probe(private_ip, settings.server_port)
        if problem is None:
            problem = _locations_problem(
                location_ids, settings=settings, http_get=http_get, read_token=read_token
            )
        failing = failing + 1 if problem is not None else 0
        if failing >= FAILING_CHECKS_BEFORE_FAILING:
            reason = f"{problem} {into} ({failing} checks in a row, check {checks})"
            return _failed(bake, invocations, reason, None, [], checks=checks)
        now = clock.now()
        update = {
            "invocations": invocations,
            "checks": checks,
            "failing_checks": failing,
            "last_problem": problem,
        }
        if now >= deadline - _END_TOLERANCE_SECONDS:
            logger.info("bake passed", extra={"checks": checks})
            return msgspec.structs.replace(bake, **update, status="passed", finished_at=clock.utcnow())
        if now + settings.bake_check_interval_seconds > budget_end:
            return msgspec.structs.replace(bake, **update)
        clock.sleep(min(settings.bake_check_interval_seconds, deadline - now))


def _into(bake: Bake) -> str:
    seconds = clock.now() - bake.started_at.timestamp()
    total = (bake.deadline - bake.started_at).total_seconds()
    return f"{seconds:.0f} s into the {total:.0f} s bake"


def _locations_problem(
    location_ids: list[str], *, settings: Settings, http_get: HttpGet, read_token: ReadToken
) -> str | None:
    if not location_ids:
        return None
    try:
        token = read_token()
        if token is None:
            return None
        listed = private_location_ids(
            settings.gatling_api_url, token, http_get=http_get, timeout=settings.http_timeout_seconds
        )
    except GatlingApiRefused as error:
        # A broken check, not a broken control plane: the up-check recorded it as a monitoring problem.
        logger.warning("locations not checked during the bake", extra={"problem": str(error)})
        return None
    except GatlingApiError as error:
        return str(error)
    missing = sorted(set(location_ids) - listed)
    return f"Gatling no longer lists location(s) {', '.join(missing)}" if missing else None


def _failed(
    bake: Bake,
    invocations: int,
    reason: str,
    task: TaskFailure | None,
    lines: list[str],
    *,
    checks: int | None = None,
) -> Bake:
    logger.warning("bake failed", extra={"reason": reason})
    return msgspec.structs.replace(
        bake,
        status="failed",
        invocations=invocations,
        checks=checks if checks is not None else bake.checks,
        last_problem=reason,
        finished_at=clock.utcnow(),
        failure=FailureReport(
            phase="bake",
            reason=f"the bake failed: {reason}",
            tasks=[task] if task else [],
            log_lines=lines,
        ),
    )
