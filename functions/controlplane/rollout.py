"""Rolling the service onto a revision and waiting for that exact deployment, under a deadline.

"Service stable" is not "deployed": after a circuit-breaker rollback the service is stable on the
old revision. Success here needs the deployment started by our UpdateService call to be PRIMARY and
COMPLETED, the service on our revision, and a RUNNING task of our revision whose config-loader
side-car exited 0. FAILED or superseded deployments fail at once. ECS is eventually consistent: a
deployment DescribeServices does not list yet is in progress for `consistency_grace_seconds`; after
that, the service-deployments API says what became of it (service_deployments.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from controlplane import clock
from controlplane.codec import dump, parse
from controlplane.diagnostics import failure_lines, stopped_tasks, tasks_started_by, unavailable_reason
from controlplane.ecs_service import active_service, describe_service, primary_deployment
from controlplane.errors import ServiceNotFound
from controlplane.liveness import task_private_ip as private_ip
from controlplane.models import FailureReport, TaskFailure, Watch, WatchStatus
from controlplane.revisions import CONFIG_LOADER
from controlplane.service_deployments import fate_of
from controlplane.settings import Settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import DeploymentTypeDef, ServiceTypeDef, TaskTypeDef
    from mypy_boto3_logs import CloudWatchLogsClient

    from controlplane.records import RecordStore


CONTROL_PLANE_TASKS = 1  # two control planes on one token is undocumented
# What a retried call needs of its first attempt's rollout to watch the same deployment to the same deadline.
_NOTED: Final = frozenset({"deployment_id", "task_definition_arn", "started_at", "deadline", "created_at"})


@dataclass(frozen=True)
class Observation:
    """One look at the deployment: where it stands, in words, and the task that proves success."""

    status: WatchStatus
    detail: str
    task: TaskTypeDef | None = None


def start_or_adopt_rollout(
    task_definition_arn: str, *, execution_name: str, ecs: ECSClient, store: RecordStore, settings: Settings
) -> Watch:
    """`start_rollout` once per execution and revision. Step Functions retries Lambda service errors
    and the first attempt may have run: a retried call adopts the deployment that attempt started
    instead of forcing a second restart. It finds it noted on the lock the execution holds (read
    strongly consistent), else as the service's PRIMARY deployment of the revision (DescribeServices,
    eventually consistent, for a first attempt that ended between UpdateService and the note). A pinned
    revision belongs to one execution, so nobody else starts deployments of it."""
    try:
        noted = store.noted_rollout(execution_name)
    except (ClientError, BotoCoreError) as error:
        logger.warning("rollout notes unreadable: asking ECS", extra={"error": str(error)})
        noted = None
    if noted is not None and noted.get("task_definition_arn") == task_definition_arn:
        watch = parse(Watch, noted)
        logger.info(
            "rollout already started: adopting the noted one", extra={"deployment_id": watch.deployment_id}
        )
        return watch
    adopted = _deployment_of(task_definition_arn, ecs=ecs, settings=settings)
    watch = adopted if adopted is not None else start_rollout(task_definition_arn, ecs=ecs, settings=settings)
    try:
        noted_now = store.note_rollout(
            execution_name, {name: value for name, value in dump(watch).items() if name in _NOTED}
        )
    except (ClientError, BotoCoreError) as error:
        # The rollout is under way: failing here would roll back a deployment that may be fine.
        logger.warning("rollout not noted", extra={"deployment_id": watch.deployment_id, "error": str(error)})
        noted_now = False
    if not noted_now:
        logger.warning(
            "a retried call can find this rollout only once ECS lists it",
            extra={"deployment_id": watch.deployment_id},
        )
    return watch


def start_rollout(task_definition_arn: str, *, ecs: ECSClient, settings: Settings) -> Watch:
    """UpdateService onto the revision with forceNewDeployment; the new PRIMARY deployment to watch."""
    service = ecs.update_service(
        cluster=settings.cluster,
        service=settings.service,
        taskDefinition=task_definition_arn,
        # The stack creates the service with no task; the workflow owns the count (one control plane).
        desiredCount=CONTROL_PLANE_TASKS,
        forceNewDeployment=True,
    )["service"]
    primary = primary_deployment(service)
    if primary is None:
        raise ServiceNotFound(f"UpdateService on {settings.service} returned no PRIMARY deployment")
    started = clock.utcnow()
    logger.info(
        "rollout started", extra={"deployment_id": primary["id"], "task_definition": task_definition_arn}
    )
    return Watch(
        deployment_id=primary["id"],
        task_definition_arn=task_definition_arn,
        started_at=started,
        deadline=started + timedelta(seconds=settings.deployment_deadline_seconds),
        created_at=primary.get("createdAt"),
    )


def _deployment_of(task_definition_arn: str, *, ecs: ECSClient, settings: Settings) -> Watch | None:
    """The service's live PRIMARY deployment of the revision with our desired count, to watch; else None."""
    primary = primary_deployment(active_service(ecs, cluster=settings.cluster, service=settings.service))
    if (
        primary is None
        or primary.get("taskDefinition") != task_definition_arn
        or primary.get("desiredCount") != CONTROL_PLANE_TASKS
        or primary.get("rolloutState") not in ("IN_PROGRESS", "COMPLETED")
    ):
        return None
    created = primary.get("createdAt")
    logger.info("rollout already started: adopting it", extra={"deployment_id": primary["id"]})
    return _watching(
        str(primary["id"]),
        task_definition_arn,
        started=created if isinstance(created, datetime) else clock.utcnow(),
        settings=settings,
    )


def _watching(
    deployment_id: str, task_definition_arn: str, *, started: datetime, settings: Settings
) -> Watch:
    return Watch(
        deployment_id=deployment_id,
        task_definition_arn=task_definition_arn,
        started_at=started,
        deadline=started + timedelta(seconds=settings.deployment_deadline_seconds),
    )


def _ecs_rollback(
    service: ServiceTypeDef | None, task_definition_arn: str, *, failed: Watch, settings: Settings
) -> Watch | None:
    """ECS's own rollback onto the revision, to watch instead of starting another; None when there is none.

    That is: the service is on the revision, its PRIMARY deployment is a newer one than `failed` (the
    deployment ECS rolled back: FAILED, or gone once the rollback drained it), of that revision, and
    still IN_PROGRESS or already COMPLETED. A forced deployment on top of it would restart the task it
    has just started.
    """
    if service is None or service.get("status") != "ACTIVE":
        return None
    if service.get("taskDefinition") != task_definition_arn:
        return None
    deployments = service.get("deployments", [])
    primary = primary_deployment(service)
    if (
        primary is None
        or primary.get("id") == failed.deployment_id
        or primary.get("taskDefinition") != task_definition_arn
        or primary.get("rolloutState") not in ("IN_PROGRESS", "COMPLETED")
    ):
        return None
    rolled_back = next((d for d in deployments if d.get("id") == failed.deployment_id), None)
    if rolled_back is not None and rolled_back.get("rolloutState") != "FAILED":
        return None
    started = clock.utcnow()
    logger.info(
        "ECS is rolling back by itself",
        extra={"deployment_id": primary["id"], "task_definition": task_definition_arn},
    )
    return Watch(
        deployment_id=primary["id"],
        task_definition_arn=task_definition_arn,
        started_at=started,
        deadline=started + timedelta(seconds=settings.deployment_deadline_seconds),
        created_at=primary.get("createdAt"),
    )


def await_ecs_rollback(
    task_definition_arn: str, *, failed: Watch, ecs: ECSClient, settings: Settings
) -> Watch | None:
    """ECS's own rollback onto the revision (`_ecs_rollback`), looked for through the consistency
    window while ECS is bound to roll back (our deployment FAILED, the circuit breaker's rollback on):
    DescribeServices may not list ECS's rollback deployment yet, and a forced deployment instead would
    restart the control plane twice."""
    end = clock.now() + settings.consistency_grace_seconds
    while True:
        service = describe_service(ecs, cluster=settings.cluster, service=settings.service)
        found = _ecs_rollback(service, task_definition_arn, failed=failed, settings=settings)
        if found is not None or clock.now() >= end or not _ecs_rolls_back(service, failed):
            return found
        clock.sleep(settings.poll_interval_seconds)


def _ecs_rolls_back(service: ServiceTypeDef | None, failed: Watch) -> bool:
    if service is None:
        return False
    breaker = service.get("deploymentConfiguration", {}).get("deploymentCircuitBreaker", {})
    ours = next((d for d in service.get("deployments", []) if d.get("id") == failed.deployment_id), None)
    return bool(breaker.get("rollback")) and ours is not None and ours.get("rolloutState") == "FAILED"


def image_digests(task: TaskTypeDef) -> dict[str, str]:
    """Container name -> the image digest it runs, as DescribeTasks reports it."""
    return {
        str(container["name"]): str(container["imageDigest"])
        for container in task.get("containers", [])
        if container.get("imageDigest")
    }


def _side_car_exit(task: TaskTypeDef) -> int | None:
    for container in task.get("containers", []):
        if container.get("name") == CONFIG_LOADER:
            code = container.get("exitCode")
            return None if code is None else int(code)
    return None


def _stopped_count(watch: Watch, *, ecs: ECSClient, settings: Settings) -> int:
    """How many tasks of our deployment stopped after they had run: those with a `startedAt` (when a
    task went from PENDING to RUNNING, ECS API reference). Tasks that never ran are the circuit
    breaker's to count."""
    tasks = tasks_started_by(watch.deployment_id, desired_status="STOPPED", cluster=settings.cluster, ecs=ecs)
    return sum(1 for task in tasks if task.get("startedAt") is not None)


def running_task(
    deployment_id: str, task_definition_arn: str, *, ecs: ECSClient, settings: Settings
) -> TaskTypeDef | None:
    """A RUNNING task of the deployment, of that revision, whose config-loader side-car exited 0."""
    tasks = tasks_started_by(deployment_id, desired_status="RUNNING", cluster=settings.cluster, ecs=ecs)
    for task in tasks:
        if (
            task.get("lastStatus") == "RUNNING"
            and task.get("taskDefinitionArn") == task_definition_arn
            and _side_car_exit(task) == 0
        ):
            return task
    return None


def observe(watch: Watch, *, ecs: ECSClient, settings: Settings) -> Observation:
    """Where the watched deployment stands now."""
    service = active_service(ecs, cluster=settings.cluster, service=settings.service)
    if service is None:
        return Observation("failed", f"the service {settings.service} is missing or inactive")
    deployments = service.get("deployments", [])
    primary = primary_deployment(service)
    now_running = (
        f"; the service now runs deployment {primary.get('id')} of {primary.get('taskDefinition')}"
        if primary
        else ""
    )
    ours = next((d for d in deployments if d.get("id") == watch.deployment_id), None)
    if ours is None:
        return _not_listed(watch, primary, now_running, ecs=ecs, settings=settings)
    state = ours.get("rolloutState")
    if state == "FAILED":
        reason = ours.get("rolloutStateReason") or "no reason given"
        return Observation("failed", f"ECS marked deployment {watch.deployment_id} FAILED: {reason}")
    if ours.get("status") != "PRIMARY":
        return Observation("failed", f"deployment {watch.deployment_id} was superseded{now_running}")
    progress = (
        f"rollout {state or 'state unknown'}: {ours.get('runningCount', 0)}/{ours.get('desiredCount', 0)} "
        f"running, {ours.get('failedTasks', 0)} failed task(s)"
    )
    if state != "COMPLETED":
        stopped = _stopped_count(watch, ecs=ecs, settings=settings)
        if stopped >= settings.stopped_tasks_before_failing:
            # ECS's circuit breaker does not count a task that reached RUNNING and then exited
            # (Deployment.failedTasks), so a control plane that refuses its config after its JVM
            # started would restart until the deadline.
            return Observation(
                "failed",
                f"{stopped} tasks of deployment {watch.deployment_id} stopped after starting, a restart loop "
                "ECS's circuit breaker does not count: the control plane exits on start (see why below)",
            )
        return Observation("in_progress", progress)
    if service.get("taskDefinition") != watch.task_definition_arn:
        return Observation(
            "failed",
            f"deployment completed but the service is on {service.get('taskDefinition')}, not our revision",
        )
    task = running_task(watch.deployment_id, watch.task_definition_arn, ecs=ecs, settings=settings)
    if task is None:
        return Observation(
            "in_progress", progress + "; no RUNNING task of our revision with a successful side-car yet"
        )
    return Observation("succeeded", f"deployment {watch.deployment_id} completed", task)


def _not_listed(
    watch: Watch,
    primary: DeploymentTypeDef | None,
    now_running: str,
    *,
    ecs: ECSClient,
    settings: Settings,
) -> Observation:
    """Our deployment is not in `deployments[]`: not shown yet (eventual consistency), or gone."""
    since = (clock.utcnow() - watch.started_at).total_seconds()
    if since < settings.consistency_grace_seconds:
        return Observation(
            "in_progress",
            f"DescribeServices does not list deployment {watch.deployment_id} yet ({since:.0f} s after "
            f"UpdateService; ECS is eventually consistent, waited for up to {settings.consistency_grace_seconds:.0f} s)",
        )
    fate = fate_of(watch.created_at, ecs=ecs, settings=settings) if watch.created_at else None
    if fate is None:
        return Observation("failed", f"deployment {watch.deployment_id} vanished{now_running}")
    newer = primary is not None and _created_after(primary, watch.created_at)
    if fate.ongoing or (fate.status == "SUCCESSFUL" and not newer):
        # SUCCESSFUL while DescribeServices still shows an older PRIMARY: not listed yet, wait for it.
        return Observation(
            "in_progress",
            f"DescribeServices does not list deployment {watch.deployment_id}; {fate.describe()}",
        )
    return Observation(
        "failed", f"deployment {watch.deployment_id} is no longer listed: {fate.describe()}{now_running}"
    )


def _created_after(deployment: DeploymentTypeDef, moment: datetime | None) -> bool:
    created = deployment.get("createdAt")
    return isinstance(created, datetime) and moment is not None and created > moment


def await_deployment(
    watch: Watch, *, ecs: ECSClient, logs: CloudWatchLogsClient, settings: Settings
) -> Watch:
    """Poll every `poll_interval_seconds` until the outcome is known, the deadline passes or this invocation's
    budget is spent (then `status` stays `in_progress` and the workflow calls again)."""
    budget_end = clock.now() + settings.invocation_budget_seconds
    deadline = watch.deadline.timestamp()
    invocations = watch.invocations + 1
    while True:
        seen = observe(watch, ecs=ecs, settings=settings)
        now = clock.now()
        if seen.status == "succeeded" and seen.task is not None:
            return msgspec.structs.replace(
                watch,
                status="succeeded",
                invocations=invocations,
                finished_at=clock.utcnow(),
                task_arn=seen.task.get("taskArn"),
                private_ip=private_ip(seen.task),
                image_digests=image_digests(seen.task),
            )
        if seen.status == "failed" or now >= deadline:
            reason = (
                seen.detail
                if seen.status == "failed"
                else (
                    f"deployment {watch.deployment_id} did not complete within "
                    f"{int((watch.deadline - watch.started_at).total_seconds())} s ({seen.detail})"
                )
            )
            return msgspec.structs.replace(
                watch,
                status="failed",
                invocations=invocations,
                finished_at=clock.utcnow(),
                failure=explain_failure(watch.deployment_id, reason, ecs=ecs, logs=logs, settings=settings),
            )
        if now + settings.poll_interval_seconds > budget_end:
            logger.info("rollout still in progress", extra={"detail": seen.detail})
            return msgspec.structs.replace(watch, invocations=invocations)
        clock.sleep(min(settings.poll_interval_seconds, deadline - now))


def explain_failure(
    deployment_id: str, reason: str, *, ecs: ECSClient, logs: CloudWatchLogsClient, settings: Settings
) -> FailureReport:
    """The failure with the deployment's stopped tasks and their containers' error lines."""
    tasks: list[TaskFailure] = []
    lines: list[str] = []
    unavailable = None
    try:
        tasks = stopped_tasks(deployment_id, cluster=settings.cluster, ecs=ecs)
        lines = failure_lines(tasks, log_group=settings.log_group, logs=logs)
    except ClientError as error:
        # An explanation must never stand in the way of the rollback it explains.
        unavailable = unavailable_reason(error)
        logger.warning(
            "diagnostics unavailable", extra={"deployment_id": deployment_id, "error": unavailable}
        )
    if any(task.side_car_failed for task in tasks):
        reason += "; the config-loader side-car failed, so the config download from S3 failed"
    logger.warning("deployment failed", extra={"deployment_id": deployment_id, "reason": reason})
    return FailureReport(
        phase="rollout", reason=reason, tasks=tasks, log_lines=lines, diagnostics_unavailable=unavailable
    )
