"""Is the control plane healthy right now? Five checks, each with a verdict and the reason for it.

1. `service`: the ECS service is ACTIVE with one task desired and one running, and no service
   deployment has been IN_PROGRESS longer than the workflow's deployment deadline.
2. `revision`: the running task (and the service) use the last good revision from the records;
   anything else is drift, reported with the revision that runs and, when ECS says so, who
   registered it and which deployment started it.
3. `info`: `GET /info` on the running task's private IP answers 200 (the up-checker's probe, run by
   the probe function in the VPC).
4. `locations`: with a Gatling API token configured, Gatling lists every location of the deployed
   config (a location stays listed after its control plane went down: this proves registration,
   not liveness; `info` proves liveness).
5. `config`: the newest config version in the bucket is the deployed one, or a deployment for it is
   running, or the workflow has seen it and decided (rejected, rolled back, superseded ...).
   Otherwise its upload event was lost: `lost_upload` names it so the caller starts the workflow.

A check `fail`s on evidence, is `skipped` when it does not apply (no token, nothing deployed yet)
and is `unknown` when its evidence could not be read (Gatling's API down); only `fail` makes the
control plane unhealthy. Nothing here writes anything: `healing` acts on the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from controlplane import clock
from controlplane.config_versions import (
    DENIED_CODES,
    MISSING_OR_DENIED,
    no_config_uploaded,
    read_version,
)
from controlplane.ecs_service import describe_service
from controlplane.errors import GatlingApiError, GatlingApiRefused, error_code
from controlplane.gatling_api import private_location_ids
from controlplane.http_client import HttpGet
from controlplane.liveness import Probe
from controlplane.liveness import task_private_ip as private_ip
from controlplane.models import CheckResult, HealthReport, LostUpload
from controlplane.records import LastGood, RecordStore
from controlplane.revisions import TAG_EXECUTION, describe_pin, pinned_version
from controlplane.settings import Settings
from controlplane.telemetry import metrics

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import ServiceTypeDef, TaskDefinitionTypeDef, TaskTypeDef
    from mypy_boto3_s3 import S3Client

# An upload's event normally starts the workflow within seconds; younger uploads are not "lost" yet.
LOST_UPLOAD_GRACE_SECONDS = 120.0
# Version statuses the workflow writes once it has decided about an upload (records.mark_version).
_DECIDED = frozenset(
    {"succeeded", "rejected", "failed", "rolled_back", "rollback_failed", "unchanged", "stale", "superseded"}
)
_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound"})

IsRunning = Callable[[str], bool]
ReadToken = Callable[[], str | None]


def short(task_definition_arn: str | None) -> str:
    """`gatling-control-plane:3` from a task definition ARN."""
    return task_definition_arn.rsplit("/", 1)[-1] if task_definition_arn else "(none)"


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


# ---------------------------------------------------------------- facts


def service_and_tasks(
    *, ecs: ECSClient, settings: Settings
) -> tuple[ServiceTypeDef | None, list[TaskTypeDef]]:
    """The service as DescribeServices shows it, and its tasks whose last status is RUNNING."""
    service = describe_service(ecs, cluster=settings.cluster, service=settings.service)
    arns = ecs.list_tasks(
        cluster=settings.cluster, serviceName=settings.service, desiredStatus="RUNNING"
    ).get("taskArns", [])
    tasks: list[TaskTypeDef] = []
    if arns:
        described = ecs.describe_tasks(cluster=settings.cluster, tasks=arns[:100]).get("tasks", [])
        tasks = [task for task in described if task.get("lastStatus") == "RUNNING"]
    return service, tasks


def running_deployment(store: RecordStore, *, is_running: IsRunning, now: float) -> str | None:
    """The workflow execution that holds the service's lock or waits for it, in words; None when idle."""
    lock = store.lock()
    if lock is not None and is_running(lock.holder.execution_arn):
        return f"execution {lock.holder.execution_name} deploys version {lock.holder.version_id}"
    for waiter in store.waiters(now=now):
        if is_running(waiter.execution_arn):
            return f"execution {waiter.execution_name} waits to deploy version {waiter.version_id}"
    return None


def deployment_for(version_id: str, store: RecordStore, *, is_running: IsRunning, now: float) -> str | None:
    """The running execution that deploys (or waits to deploy) `version_id`, in words."""
    lock = store.lock()
    if lock is not None and lock.holder.version_id == version_id and is_running(lock.holder.execution_arn):
        return f"execution {lock.holder.execution_name} is deploying it"
    for waiter in store.waiters(now=now):
        if waiter.version_id == version_id and is_running(waiter.execution_arn):
            return f"execution {waiter.execution_name} is waiting to deploy it"
    return None


# ---------------------------------------------------------------- 1. service


def check_service(
    service: ServiceTypeDef | None,
    tasks: Sequence[TaskTypeDef],
    *,
    now: float,
    deadline_seconds: float,
    last_stopped: str | None = None,
) -> CheckResult:
    """ACTIVE, one desired, one running, no deployment stuck past the deadline."""
    if service is None or service.get("status") != "ACTIVE":
        status = "missing" if service is None else str(service.get("status"))
        return CheckResult(status="fail", detail=f"the service is {status}, not ACTIVE")
    problems: list[str] = []
    desired = int(service.get("desiredCount", 0))
    if desired != 1:
        problems.append(f"{desired} task(s) desired, not 1")
    if len(tasks) != 1:
        text = f"{len(tasks)} task(s) running, not 1"
        if not tasks and last_stopped:
            text += f" (last stopped: {last_stopped})"
        problems.append(text)
    for deployment in service.get("deployments", []):
        if deployment.get("rolloutState") != "IN_PROGRESS":
            continue
        created = _epoch(deployment.get("createdAt"))
        if created is not None and now - created > deadline_seconds:
            problems.append(
                f"deployment {deployment.get('id')} of {short(deployment.get('taskDefinition'))} has been "
                f"in progress for {int((now - created) // 60)} min (deadline {int(deadline_seconds // 60)} min)"
            )
    if problems:
        return CheckResult(status="fail", detail="; ".join(problems))
    task = tasks[0]
    since = f" since {_when(task['startedAt'])}" if task.get("startedAt") else ""
    return CheckResult(
        status="pass",
        detail=f"ACTIVE, 1/1 task running (task {str(task.get('taskArn', '')).rsplit('/', 1)[-1]}{since})",
    )


# ---------------------------------------------------------------- 2. revision


def check_revision(
    service: ServiceTypeDef | None,
    tasks: Sequence[TaskTypeDef],
    last_good: LastGood | None,
    *,
    ecs: ECSClient,
    deploying: str | None = None,
) -> CheckResult:
    """The running task and the service are on the last good revision; otherwise name what runs and who changed it.

    `deploying` is the workflow execution that holds the lock: a revision it registered is not drift
    while it rolls out, checks and bakes it (the last good pointer moves only when it is recorded).
    """
    if last_good is None:
        return CheckResult(status="skipped", detail="no deployment recorded yet: nothing to compare with")
    expected = last_good.task_definition_arn
    running = sorted({str(task.get("taskDefinitionArn")) for task in tasks})
    desired = str(service.get("taskDefinition")) if service is not None else None
    others = [arn for arn in running if arn != expected]
    if desired is not None and desired != expected and desired not in others:
        others.append(desired)
    if not others:
        where = "the running task uses" if running else "the service is set to"
        return CheckResult(
            status="pass",
            detail=f"{where} the last good revision {short(expected)} (config version {last_good.version_id})",
        )
    drifted = others[0]
    verb = "runs" if drifted in running else "is set to"
    if deploying is not None and len(others) == 1 and _registered_by(drifted, ecs=ecs) == deploying:
        return CheckResult(
            status="pass",
            detail=f"the service {verb} {short(drifted)}, which execution {deploying} is deploying "
            f"(the last good revision stays {short(expected)} until that deployment is recorded)",
        )
    text = (
        f"the service {verb} {short(drifted)}, not the last good revision {short(expected)} "
        f"(config version {last_good.version_id})"
    )
    text += _who_changed(drifted, service, tasks, ecs=ecs)
    return CheckResult(status="fail", detail=text)


def _registered_by(arn: str, *, ecs: ECSClient) -> str | None:
    """The workflow execution that registered a revision (its `execution` tag), when ECS tells."""
    try:
        described = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    except ClientError:
        return None
    return next(
        (str(t.get("value")) for t in described.get("tags", []) if t.get("key") == TAG_EXECUTION), None
    )


def _who_changed(
    arn: str, service: ServiceTypeDef | None, tasks: Sequence[TaskTypeDef], *, ecs: ECSClient
) -> str:
    """What ECS says about a drifted revision: its config, who registered it, which deployment started it."""
    parts: list[str] = []
    try:
        try:
            described = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        except ClientError as error:
            if error_code(error) not in ("AccessDeniedException", "AccessDenied"):
                raise
            described = ecs.describe_task_definition(taskDefinition=arn)  # the tags are a bonus
    except ClientError as error:
        parts.append(f"ECS cannot describe it ({error.response.get('Error', {}).get('Code', 'error')})")
    else:
        definition: TaskDefinitionTypeDef = described.get("taskDefinition", {})
        parts.append(describe_pin(definition))
        tags = {tag.get("key"): tag.get("value") for tag in described.get("tags", [])}
        if tags.get(TAG_EXECUTION):
            parts.append(f"registered by workflow execution {tags[TAG_EXECUTION]}")
        elif definition.get("registeredBy"):
            parts.append(f"registered by {definition['registeredBy']}")
        if definition.get("registeredAt"):
            parts.append(f"at {_when(definition['registeredAt'])}")
    deployments = list(service.get("deployments", [])) if service is not None else []
    started_by = next((str(t.get("startedBy")) for t in tasks if t.get("taskDefinitionArn") == arn), None)
    deployment = next(
        (d for d in deployments if d.get("id") == started_by or d.get("taskDefinition") == arn), None
    )
    if deployment is not None:
        parts.append(
            f"deployed by ECS deployment {deployment.get('id')} created {_when(deployment.get('createdAt'))}"
        )
    return f"; {', '.join(parts)}" if parts else ""


# ---------------------------------------------------------------- 3. /info


def check_info(tasks: Sequence[TaskTypeDef], *, settings: Settings, probe: Probe) -> CheckResult:
    """`GET /info` on the running task answers 200 (the same probe as the workflow's up-check)."""
    if not tasks:
        return CheckResult(status="fail", detail="no running task to probe")
    problems = []
    for task in tasks:
        address = private_ip(task)
        if address is None:
            problems.append(
                f"task {str(task.get('taskArn', '')).rsplit('/', 1)[-1]} has no private IP address"
            )
            continue
        problem = probe(address, settings.server_port)
        if problem is None:
            return CheckResult(
                status="pass", detail=f"GET /info on {address}:{settings.server_port} answered 200"
            )
        problems.append(problem)
    return CheckResult(status="fail", detail="; ".join(problems))


# ---------------------------------------------------------------- 4. locations


def deployed_location_ids(version_id: str, *, s3: S3Client, settings: Settings) -> list[str]:
    """The location ids of one config version (parsed the way the validator does; the token is never kept).

    The validator (and its HOCON parser) is imported here: only the locations check, which needs a
    Gatling API token, reads a config, so a health check without one never loads it."""
    from controlplane.validation import validate_config

    data = read_version(settings.config_bucket, settings.config_key, version_id, s3=s3)
    summary = validate_config(
        data, context=settings.deployment_context(), filename=settings.config_key
    ).summary
    return [location.id for location in summary.locations] if summary is not None else []


def check_locations(
    version_id: str | None,
    *,
    location_ids: Callable[[str], list[str]],
    settings: Settings,
    http_get: HttpGet,
    read_token: ReadToken,
) -> CheckResult:
    """With an API token, Gatling lists every location of the deployed config version."""
    if settings.gatling_api_token_secret_arn is None:
        return CheckResult(
            status="skipped", detail="no Gatling API token configured (GatlingApiTokenSecretArn)"
        )
    if version_id is None:
        return CheckResult(status="skipped", detail="no deployed config version known")
    try:
        wanted = location_ids(version_id)
    except ClientError as error:
        code = error_code(error, "error")
        return CheckResult(status="unknown", detail=f"cannot read config version {version_id} ({code})")
    if not wanted:
        return CheckResult(status="pass", detail=f"config version {version_id} defines no location")
    try:
        token = read_token()
        if token is None:
            return CheckResult(status="skipped", detail="no Gatling API token configured")
        listed = private_location_ids(
            settings.gatling_api_url, token, http_get=http_get, timeout=settings.http_timeout_seconds
        )
    except GatlingApiRefused as error:
        return CheckResult(status="unknown", detail=f"{error}: fix the GatlingApiTokenSecretArn secret")
    except GatlingApiError as error:
        return CheckResult(status="unknown", detail=str(error))
    missing = sorted(set(wanted) - listed)
    if missing:
        return CheckResult(status="fail", detail=f"Gatling does not list location(s) {', '.join(missing)}")
    return CheckResult(
        status="pass", detail=f"Gatling lists all {len(wanted)} location(s): {', '.join(sorted(wanted))}"
    )


# ---------------------------------------------------------------- 5. config


def newest_config_version(
    *, s3: S3Client, settings: Settings, knows_a_version: Callable[[], bool]
) -> tuple[str, datetime] | None:
    """The latest version of the config object and when it was written; None when there is no object
    (404, or 403 while the records know no version: S3's answer for a missing key without s3:ListBucket)."""
    try:
        head = s3.head_object(Bucket=settings.config_bucket, Key=settings.config_key)
    except ClientError as error:
        code = error_code(error)
        if code in _MISSING_OBJECT_CODES or (code in DENIED_CODES and not knows_a_version()):
            return None
        raise
    version = head.get("VersionId")
    if not version or version == "null":
        return None
    return str(version), head["LastModified"]


def check_config(
    newest: tuple[str, datetime] | None,
    last_good: LastGood | None,
    store: RecordStore,
    *,
    is_running: IsRunning,
    now: float,
) -> tuple[CheckResult, bool, LostUpload | None]:
    """(verdict, whether a config is pending, the lost upload if any)."""
    if newest is None:
        return CheckResult(status="skipped", detail="no config object in the bucket yet"), False, None
    version_id, uploaded = newest
    if last_good is not None and last_good.version_id == version_id:
        return CheckResult(status="pass", detail=f"the newest version {version_id} is deployed"), False, None
    deploying = deployment_for(version_id, store, is_running=is_running, now=now)
    if deploying is not None:
        return (
            CheckResult(status="pass", detail=f"the newest version {version_id} is pending: {deploying}"),
            True,
            None,
        )
    seen = store.version(version_id)
    status = str(seen.get("status")) if seen else None
    if status in _DECIDED:
        execution = seen.get("last_execution") or seen.get("first_execution") if seen else None
        staying = f"; the service stays on {last_good.version_id}" if last_good else ""
        return (
            CheckResult(
                status="pass",
                detail=f"the newest version {version_id} was handled ({status}, execution {execution}){staying}",
            ),
            False,
            None,
        )
    age = now - uploaded.timestamp()
    if age < LOST_UPLOAD_GRACE_SECONDS:
        return (
            CheckResult(
                status="pass",
                detail=f"the newest version {version_id} was uploaded {int(age)} s ago: its event may be on its way",
            ),
            True,
            None,
        )
    never = (
        "never reached the workflow"
        if seen is None
        else "was queued but its execution ended without an outcome"
    )
    return (
        CheckResult(
            status="fail",
            detail=f"the newest version {version_id} (uploaded {_when(uploaded)}) {never}: its upload was lost",
        ),
        True,
        LostUpload(version_id=version_id, uploaded_at=uploaded),
    )


# ---------------------------------------------------------------- all of them


def run_checks(
    *,
    settings: Settings,
    ecs: ECSClient,
    s3: S3Client,
    store: RecordStore,
    probe: Probe,
    http_get: HttpGet,
    read_token: ReadToken,
    is_running: IsRunning,
    last_stopped: Callable[[], str | None] = lambda: None,
) -> HealthReport:
    """Run the five checks once."""
    now = clock.now()
    service, tasks = service_and_tasks(ecs=ecs, settings=settings)
    last_good = store.last_good()
    checks: dict[str, CheckResult] = {}
    checks["service"] = check_service(
        service,
        tasks,
        now=now,
        deadline_seconds=settings.deployment_deadline_seconds,
        last_stopped=last_stopped() if len(tasks) != 1 else None,
    )
    lock = store.lock()
    deploying = (
        lock.holder.execution_name if lock is not None and is_running(lock.holder.execution_arn) else None
    )
    checks["revision"] = check_revision(service, tasks, last_good, ecs=ecs, deploying=deploying)
    checks["info"] = check_info(tasks, settings=settings, probe=probe)
    running_arn = str(tasks[0].get("taskDefinitionArn")) if tasks else None
    running_version = _pinned_version_of(running_arn, ecs=ecs) if running_arn else None
    deployed_version = running_version or (last_good.version_id if last_good else None)
    checks["locations"] = check_locations(
        deployed_version,
        location_ids=lambda version: deployed_location_ids(version, s3=s3, settings=settings),
        settings=settings,
        http_get=http_get,
        read_token=read_token,
    )
    newest: tuple[str, datetime] | None = None
    pending, lost = False, None
    try:
        newest = newest_config_version(s3=s3, settings=settings, knows_a_version=store.knows_a_version)
    except ClientError as error:
        where = f"s3://{settings.config_bucket}/{settings.config_key}"
        reason = f": {MISSING_OR_DENIED}" if error_code(error) in DENIED_CODES else ""
        checks["config"] = CheckResult(
            status="unknown", detail=f"cannot read {where} ({error_code(error)}){reason}"
        )
    else:
        if newest is None:
            detail = no_config_uploaded(settings.config_bucket, settings.config_key)
            checks["config"] = CheckResult(status="skipped", detail=detail)
        else:
            checks["config"], pending, lost = check_config(
                newest, last_good, store, is_running=is_running, now=now
            )
    report = HealthReport(
        checked_at=clock.utcnow(),
        healthy=not any(result.status == "fail" for result in checks.values()),
        checks=checks,
        running_tasks=len(tasks),
        running_task_definition_arn=running_arn,
        service_task_definition_arn=str(service["taskDefinition"])
        if service and service.get("taskDefinition")
        else None,
        running_config_version_id=running_version,
        last_good_task_definition_arn=last_good.task_definition_arn if last_good else None,
        last_good_version_id=last_good.version_id if last_good else None,
        newest_config_version_id=newest[0] if newest else None,
        revision_drift=checks["revision"].status == "fail",
        pending_config=pending,
        deployment_running=running_deployment(store, is_running=is_running, now=now)
        or _ecs_rollout(service, now=now, deadline_seconds=settings.deployment_deadline_seconds),
        lost_upload=lost,
    )
    return report


def _ecs_rollout(service: ServiceTypeDef | None, *, now: float, deadline_seconds: float) -> str | None:
    """An ECS deployment rolling out within its deadline (started by hand, or by ECS itself), in words."""
    for deployment in service.get("deployments", []) if service is not None else []:
        created = _epoch(deployment.get("createdAt"))
        if (
            deployment.get("rolloutState") == "IN_PROGRESS"
            and created is not None
            and now - created <= deadline_seconds
        ):
            return f"ECS deployment {deployment.get('id')} of {short(deployment.get('taskDefinition'))} is rolling out"
    return None


def _pinned_version_of(task_definition_arn: str, *, ecs: ECSClient) -> str | None:
    try:
        definition = ecs.describe_task_definition(taskDefinition=task_definition_arn)["taskDefinition"]
    except ClientError:
        return None
    return pinned_version(definition)


# ---------------------------------------------------------------- metrics


def emit_metrics(report: HealthReport, *, control_plane: str) -> None:
    """One custom metric, `Healthy` (dimensions service and control_plane, flushed with the handler's
    metrics), the alarm's input; the template's alarm names exactly these dimensions.

    The rest of the report rides in the same EMF document as plain properties, searchable with Logs
    Insights and free: `running_tasks`, `revision_drift`, `pending_config` and `checks` (each check's
    status). As metrics they were 8 more, each billed every hour a health check runs: $2.40 a month,
    most of the automation's bill, for numbers the records table and `cpctl status` already keep."""
    metrics.add_dimension(name="control_plane", value=control_plane)
    metrics.add_metric(name="Healthy", unit=MetricUnit.Count, value=1 if report.healthy else 0)
    metrics.add_metadata(key="running_tasks", value=report.running_tasks)
    metrics.add_metadata(key="revision_drift", value=report.revision_drift)
    metrics.add_metadata(key="pending_config", value=report.pending_config)
    metrics.add_metadata(key="checks", value={name: result.status for name, result in report.checks.items()})
