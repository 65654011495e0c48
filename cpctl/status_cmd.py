"""`cpctl status` and `cpctl history`: the control plane as the records table and ECS see it.

- `status`: the running revision and its config version, the last good revision, the last
  deployment and its outcome, a deployment in progress, the last health result per check and the
  self-heal state, the health alarm, the most recent stopped-task reasons.
- `history`: deployments and heal actions, newest first.

Against AWS, `--stack-name` reads the stack's outputs with CloudFormation (normal credentials and
region). Against the local twin (`cpctl local up`), `--endpoint-url` points at it; without a stack
name the resources are found by listing (one cluster, one service, the records table, the deploy
state machine, the `<name>-unhealthy` alarm). Nothing secret is read or printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound
from controlplane.codec import dump
from controlplane.ecs_service import describe_service
from controlplane.health import short
from controlplane.models import CHECKS
from controlplane.records import RecordStore
from controlplane.revisions import pinned_version

from cpctl.aws_options import REGION_HELP, LocationError, add_stack_arguments, locate
from cpctl.terminal import wants_json, write

if TYPE_CHECKING:
    from controlplane.records import DeploymentRecord
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import ServiceTypeDef

STACK_OUTPUTS = {
    "ClusterName": "cluster",
    "ServiceName": "service",
    "RecordsTableName": "table",
    "StateMachineArn": "state_machine_arn",
    "HealthAlarmName": "alarm",
    "ConfigBucketName": "bucket",
    "DashboardUrl": "dashboard_url",
}


class StatusError(RuntimeError):
    """The stack or its resources cannot be found or read."""


@dataclass(frozen=True)
class StackState:
    """The stack itself, as CloudFormation's DescribeStacks describes it (the `Stack` data type)."""

    name: str
    status: str  # StackStatus
    created_at: str | None  # CreationTime
    updated_at: str | None  # LastUpdatedTime: only once the stack has been updated at least once
    reason: str | None = None  # StackStatusReason
    health_check_enabled: bool | None = None  # its HealthCheckEnabled parameter (None: not given)

    @classmethod
    def of(cls, described: Mapping[str, Any]) -> StackState | None:
        if not described.get("StackStatus"):
            return None
        parameters = {
            item.get("ParameterKey"): item.get("ParameterValue") for item in described.get("Parameters") or []
        }
        enabled = parameters.get("HealthCheckEnabled")
        return cls(
            name=str(described.get("StackName")),
            status=str(described["StackStatus"]),
            created_at=_iso(described.get("CreationTime")),
            updated_at=_iso(described.get("LastUpdatedTime")),
            reason=described.get("StackStatusReason"),
            health_check_enabled=None if enabled is None else enabled == "true",
        )


@dataclass(frozen=True)
class StackRef:
    """The resources of one deployed stack."""

    cluster: str
    service: str
    table: str
    state_machine_arn: str | None = None
    alarm: str | None = None
    bucket: str | None = None
    dashboard_url: str | None = None
    source: str = ""
    stack: StackState | None = None  # read with the outputs (none when the endpoint has no stack)


@dataclass(frozen=True)
class Clients:
    ecs: ECSClient
    dynamodb: DynamoDBClient
    cloudwatch: CloudWatchClient
    cloudformation: CloudFormationClient
    s3: Any = None  # `cpctl diff`, `cpctl deploy`
    logs: Any = None  # `cpctl logs`
    stepfunctions: Any = None  # `cpctl deploy`, `rollback`, `redeploy`
    lambda_: Any = None  # `cpctl deploy`: the validator's deployment context

    @classmethod
    def create(cls, *, region: str | None, endpoint_url: str | None, profile: str | None = None) -> Clients:
        if endpoint_url:
            # The twin accepts any key: a twin call never carries real credentials.
            session = boto3.Session(
                aws_access_key_id="twin",
                aws_secret_access_key="twin",  # noqa: S106 - the twin's placeholder, not a secret
                region_name=region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION"),
            )
        else:
            try:
                session = boto3.Session(region_name=region, profile_name=profile)
            except ProfileNotFound as error:
                raise StatusError(f"{error} (--profile or AWS_PROFILE)") from None
        if session.region_name is None:
            raise StatusError(f"no region: {REGION_HELP}")

        def client(name: str) -> Any:
            return session.client(name, endpoint_url=endpoint_url)  # type: ignore[call-overload]

        return cls(
            ecs=client("ecs"),
            dynamodb=client("dynamodb"),
            cloudwatch=client("cloudwatch"),
            cloudformation=client("cloudformation"),
            s3=client("s3"),
            logs=client("logs"),
            stepfunctions=client("stepfunctions"),
            lambda_=client("lambda"),
        )


def register(subparsers: Any) -> None:
    for name, help_text, handler in (
        (
            "status",
            "the control plane now: revision, config, last deployment, health, stopped tasks",
            run_status,
        ),
        ("history", "deployments and heal actions, newest first", run_history),
    ):
        parser = subparsers.add_parser(name, help=help_text)
        add_stack_arguments(parser)
        if name == "history":
            parser.add_argument("--limit", type=int, default=20, help="entries of each kind (default 20)")
        parser.set_defaults(handler=handler)


# ---------------------------------------------------------------------------------- finding the stack
def resolve_stack(clients: Clients, *, stack_name: str | None, endpoint_url: str | None) -> StackRef:
    """The stack's resources: from its outputs, or (twin, no stack name) by listing."""
    if stack_name:
        try:
            stacks = clients.cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as error:
            raise StatusError(
                f"cannot read stack {stack_name}: {error.response['Error'].get('Message', error)}"
            ) from None
        outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
        values = {field: outputs.get(key) for key, field in STACK_OUTPUTS.items()}
        missing = [
            key
            for key, field in STACK_OUTPUTS.items()
            if field in ("cluster", "service", "table") and not values[field]
        ]
        if missing:
            raise StatusError(
                f"stack {stack_name} has no output(s) {', '.join(missing)}: is it a Control Plane Autopilot stack?"
            )
        return StackRef(
            source=f"stack {stack_name}",
            stack=StackState.of(stacks[0]),
            **{k: v for k, v in values.items()},  # type: ignore[arg-type]
        )
    if not endpoint_url:
        raise StatusError("pass --stack-name (AWS) or --endpoint-url (the local twin)")
    return discover(clients, source=f"twin at {endpoint_url}")


def discover(clients: Clients, *, source: str) -> StackRef:
    """Find the one control plane stack of an endpoint by listing its resources."""
    clusters = clients.ecs.list_clusters().get("clusterArns", [])
    if len(clusters) != 1:
        raise StatusError(f"expected one ECS cluster, found {len(clusters)}: pass --stack-name")
    cluster = clusters[0].rsplit("/", 1)[-1]
    services = clients.ecs.list_services(cluster=cluster).get("serviceArns", [])
    if len(services) != 1:
        raise StatusError(
            f"expected one service in cluster {cluster}, found {len(services)}: pass --stack-name"
        )
    service = services[0].rsplit("/", 1)[-1]
    tables = [name for name in clients.dynamodb.list_tables().get("TableNames", []) if "RecordsTable" in name]
    if len(tables) != 1:
        raise StatusError(f"expected one records table, found {len(tables)}: pass --stack-name")
    alarms = clients.cloudwatch.describe_alarms(AlarmNames=[f"{service}-unhealthy"]).get("MetricAlarms", [])
    # The template names the workflow `<ControlPlaneName>-deploy` (DeployStateMachine's Name).
    machines = [
        item["stateMachineArn"]
        for item in (
            clients.stepfunctions.list_state_machines().get("stateMachines", [])
            if clients.stepfunctions is not None
            else []
        )
        if item.get("name") == f"{service}-deploy"
    ]
    # The template names the dashboard after the control plane; its URL is the stack output's form.
    region = clients.cloudwatch.meta.region_name
    dashboards = clients.cloudwatch.list_dashboards(DashboardNamePrefix=service).get("DashboardEntries", [])
    dashboard_url = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={service}"
        if any(item.get("DashboardName") == service for item in dashboards)
        else None
    )
    return StackRef(
        cluster=cluster,
        service=service,
        table=tables[0],
        state_machine_arn=machines[0] if machines else None,
        dashboard_url=dashboard_url,
        alarm=alarms[0]["AlarmName"] if alarms else None,
        source=source,
        stack=_stack_of_service(clients, cluster=cluster, service=service),
    )


def _stack_of_service(clients: Clients, *, cluster: str, service: str) -> StackState | None:
    """The stack whose outputs name `service` in `cluster` (DescribeStacks without a name lists every
    stack of the account and region); None when there is none."""
    if clients.cloudformation is None:
        return None
    for described in clients.cloudformation.describe_stacks().get("Stacks", []):
        outputs = {item["OutputKey"]: item["OutputValue"] for item in described.get("Outputs") or []}
        if outputs.get("ServiceName") == service and outputs.get("ClusterName") == cluster:
            return StackState.of(described)
    return None


# ---------------------------------------------------------------------------------- what is read
def service_of(ref: StackRef, clients: Clients) -> ServiceTypeDef | None:
    """The stack's ECS service as DescribeServices shows it; None when ECS does not know it."""
    return describe_service(clients.ecs, cluster=ref.cluster, service=ref.service)


def service_revision(ref: StackRef, clients: Clients) -> str:
    """The task definition the stack's service is set to."""
    service = service_of(ref, clients)
    if service is None:
        raise StatusError(f"service {ref.service} not found in cluster {ref.cluster}")
    return str(service["taskDefinition"])


def collect_status(ref: StackRef, clients: Clients) -> dict[str, Any]:
    """Everything `cpctl status` shows, as plain JSON values."""
    store = RecordStore(dynamodb=clients.dynamodb, table=ref.table, service=ref.service)
    service = service_of(ref, clients)
    arns = clients.ecs.list_tasks(cluster=ref.cluster, serviceName=ref.service, desiredStatus="RUNNING").get(
        "taskArns", []
    )
    tasks = clients.ecs.describe_tasks(cluster=ref.cluster, tasks=arns).get("tasks", []) if arns else []
    versions: dict[str, str | None] = {}
    for arn in {str(task.get("taskDefinitionArn")) for task in tasks} | (
        {str(service.get("taskDefinition"))} if service else set()
    ):
        try:
            versions[arn] = pinned_version(
                clients.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            )
        except ClientError:
            versions[arn] = None
    last_good = store.last_good()
    lock = store.lock()
    deployments = store.deployments(limit=1)
    health = store.health_state()
    alarm = None
    if ref.alarm:
        found = clients.cloudwatch.describe_alarms(AlarmNames=[ref.alarm]).get("MetricAlarms", [])
        if found:
            alarm = {
                "name": ref.alarm,
                "state": found[0]["StateValue"],
                "since": _iso(found[0].get("StateUpdatedTimestamp")),
            }
    return {
        "source": ref.source,
        "cluster": ref.cluster,
        "service": ref.service,
        "ecs": {
            "status": service.get("status") if service else "MISSING",
            "desired": service.get("desiredCount") if service else 0,
            "running": sum(1 for task in tasks if task.get("lastStatus") == "RUNNING"),
            "task_definition": service.get("taskDefinition") if service else None,
            "config_version_id": versions.get(str(service.get("taskDefinition"))) if service else None,
            "deployments": [
                {
                    "id": item.get("id"),
                    "status": item.get("status"),
                    "rollout": item.get("rolloutState"),
                    "task_definition": item.get("taskDefinition"),
                    "created_at": _iso(item.get("createdAt")),
                }
                for item in (service.get("deployments", []) if service else [])
            ],
            "tasks": [
                {
                    "task_id": str(task.get("taskArn", "")).rsplit("/", 1)[-1],
                    "last_status": task.get("lastStatus"),
                    "task_definition": task.get("taskDefinitionArn"),
                    "config_version_id": versions.get(str(task.get("taskDefinitionArn"))),
                    "started_at": _iso(task.get("startedAt")),
                }
                for task in tasks
            ],
        },
        "last_good": asdict(last_good) if last_good else None,
        "deploying": {"execution": lock.holder.execution_name, "version_id": lock.holder.version_id}
        if lock
        else None,
        "last_deployment": _deployment_view(deployments[0]) if deployments else None,
        "health": {
            "checked_at": health.last_checked_at,
            "healthy": health.last_healthy,
            "consecutive_failures": health.consecutive_failures,
            "checks": dump(health.last_report)["checks"] if health.last_report else {},
            "heal": dump(health.last_heal_decision) if health.last_heal_decision else None,
            "last_heal_execution": health.last_heal_execution,
            "last_heal_at": _iso(health.last_heal_at),
        }
        if health
        else None,
        "alarm": alarm,
        "stack": asdict(ref.stack) if ref.stack else None,
        "dashboard_url": ref.dashboard_url,
        "stopped_tasks": [
            {
                "stopped_at": task.stopped_at.isoformat(),
                "task_id": task.task_id,
                "revision": short(task.task_definition_arn),
                "summary": task.describe(),
            }
            for task in store.stopped_tasks(limit=5)
        ],
    }


def collect_history(ref: StackRef, clients: Clients, *, limit: int = 20) -> list[dict[str, Any]]:
    """Deployments and heal actions, newest first."""
    store = RecordStore(dynamodb=clients.dynamodb, table=ref.table, service=ref.service)
    entries = [
        {"kind": "deployment", "at": record.started_at, **_deployment_view(record)}
        for record in store.deployments(limit=limit)
    ]
    for action in store.actions(limit=limit):
        entries.append(
            {
                "kind": "heal",
                "at": action.at.isoformat(),
                "action": action.action,
                "execution": action.execution_name,
                "version_id": action.version_id,
                "outcome": action.outcome,
                "reason": action.reason,
                "trigger": action.trigger,
                "finished_at": action.finished_at.isoformat() if action.finished_at else None,
            }
        )
    entries.sort(key=lambda entry: _sortable(entry.get("at")), reverse=True)
    return entries


def _deployment_view(record: DeploymentRecord) -> dict[str, Any]:
    return {
        "execution": record.execution_name,
        "outcome": record.outcome,
        "source": record.source,
        "reason": record.reason,
        "version_id": record.version_id,
        "task_definition": record.task_definition_arn,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "cause": record.cause.splitlines()[0] if record.cause else None,
        "validation_warnings": list(record.validation_warnings or []),
    }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
    return str(value)


def _sortable(value: Any) -> float:
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


# ---------------------------------------------------------------------------------- text
def _when(value: Any) -> str:
    """`2026-01-01 00:15:10` (UTC) from an ISO string; `-` when unknown."""
    if not value:
        return "-"
    try:
        return (
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            .astimezone(UTC)
            .strftime("%Y-%m-%d %H:%M:%S")
        )
    except ValueError:
        return str(value)


def format_status(status: Mapping[str, Any]) -> str:
    ecs = status["ecs"]
    lines = [f"Control plane {status['service']} (cluster {status['cluster']}, {status['source']})", ""]
    running = ecs["tasks"][0] if ecs["tasks"] else None
    if running:
        lines.append(
            f"  Running          {short(running['task_definition'])}, config version {running['config_version_id'] or '(not pinned)'}"
        )
        lines.append(
            f"                   task {running['task_id']} {running['last_status']} since {_when(running['started_at'])}"
        )
    else:
        lines.append("  Running          no task")
    lines.append(
        f"  Service          {ecs['status']}, {ecs['running']}/{ecs['desired']} task(s) running, set to {short(ecs['task_definition'])}"
    )
    for deployment in ecs["deployments"]:
        lines.append(
            f"                   deployment {deployment['id']} {deployment['status']} {deployment['rollout'] or ''} "
            f"({short(deployment['task_definition'])}, created {_when(deployment['created_at'])})"
        )
    good = status["last_good"]
    lines.append(
        f"  Last good        {short(good['task_definition_arn'])}, config version {good['version_id']}, "
        f"deployed {_when(good['deployed_at'])} by {good['execution_name']}"
        if good
        else "  Last good        none recorded yet"
    )
    for container, digest in sorted(((good or {}).get("image_digests") or {}).items()):
        lines.append(f"                   {container} image {digest}")
    deployment = status["last_deployment"]
    if deployment:
        why = f" ({deployment['reason']})" if deployment.get("reason") else ""
        lines.append(
            f"  Last deployment  {deployment['outcome']}: {deployment['execution']}, {deployment['source']}{why}, "
            f"version {deployment['version_id']}, finished {_when(deployment['finished_at'])}"
        )
        if deployment.get("cause") and deployment["outcome"] != "succeeded":
            lines.append(f"                   {deployment['cause']}")
            for warning in deployment.get("validation_warnings") or []:
                lines.append(f"                   validator warning: {warning}")
    else:
        lines.append("  Last deployment  none recorded yet")
    if status["deploying"]:
        lines.append(
            f"  Deploying now    {status['deploying']['execution']} (version {status['deploying']['version_id']})"
        )
    health = status["health"]
    if health:
        verdict = "healthy" if health["healthy"] else "UNHEALTHY"
        lines.append(
            f"  Health           {verdict} at {_when(health['checked_at'])}, "
            f"{health['consecutive_failures']} failed run(s) in a row"
        )
        for name in CHECKS:
            check = health["checks"].get(name)
            if check:
                lines.append(f"    {name:<10} {check['status']:<8} {check['detail']}")
        heal = health.get("heal") or {}
        if heal:
            lines.append(f"  Self-heal        {heal.get('decision')}: {heal.get('detail')}")
        if health.get("last_heal_execution"):
            lines.append(
                f"                   last heal {health['last_heal_execution']} at {_when(health['last_heal_at'])}"
            )
        if (status.get("stack") or {}).get("health_check_enabled") is False:
            lines.append(
                "                   (the last run before the check was turned off: HealthCheckEnabled=false)"
            )
    elif (status.get("stack") or {}).get("health_check_enabled") is False:
        lines.append(
            "  Health           check off (HealthCheckEnabled=false): no schedule, no alarm, no self-heal"
        )
    else:
        lines.append("  Health           not checked yet")
    alarm = status["alarm"]
    if alarm:
        lines.append(f"  Alarm            {alarm['name']}: {alarm['state']} since {_when(alarm['since'])}")
    stack = status.get("stack")
    if stack:
        when = (
            f"last updated {_when(stack['updated_at'])}"
            if stack["updated_at"]
            else f"created {_when(stack['created_at'])}, never updated"
        )
        why = f" ({stack['reason']})" if stack.get("reason") and stack["status"].endswith("FAILED") else ""
        lines.append(f"  Stack            {stack['name']} {stack['status']}{why}, {when}")
    if status.get("dashboard_url"):
        lines.append(f"  Dashboard        {status['dashboard_url']}")
    if status["stopped_tasks"]:
        lines.append("  Stopped tasks    (newest first, kept 30 days)")
        for task in status["stopped_tasks"]:
            lines.append(f"    {_when(task['stopped_at'])}  {task['revision']}  {task['summary']}")
    else:
        lines.append("  Stopped tasks    none recorded")
    return "\n".join(lines)


def format_history(entries: list[Mapping[str, Any]]) -> str:
    if not entries:
        return "No deployment or heal action recorded yet."
    lines = [f"{'WHEN (UTC)':<20} {'KIND':<11} {'OUTCOME':<16} {'VERSION':<38} WHAT"]
    for entry in entries:
        if entry["kind"] == "deployment":
            what = f"{entry['execution']} ({entry['source']}{': ' + entry['reason'] if entry.get('reason') else ''})"
            kind = "deployment"
        else:
            what = f"{entry['execution']} ({entry['trigger']})"
            kind = entry["action"]
        lines.append(
            f"{_when(entry['at']):<20} {kind:<11} {entry['outcome']!s:<16} {entry['version_id']!s:<38} {what}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- commands
def _context(args: argparse.Namespace) -> tuple[StackRef, Clients]:
    try:
        where = locate(args)
    except LocationError as error:
        raise StatusError(str(error)) from None
    clients = Clients.create(region=where.region, endpoint_url=where.endpoint_url, profile=where.profile)
    return resolve_stack(clients, stack_name=where.stack_name, endpoint_url=where.endpoint_url), clients


def run_status(args: argparse.Namespace, out: TextIO | None = None) -> int:
    return run_against_stack(
        args, "status", lambda ref, clients: collect_status(ref, clients), format_status, out
    )


def run_history(args: argparse.Namespace, out: TextIO | None = None) -> int:
    return run_against_stack(
        args,
        "history",
        lambda ref, clients: collect_history(ref, clients, limit=args.limit),
        format_history,
        out,
    )


def run_against_stack(
    args: argparse.Namespace,
    command: str,
    collect: Callable[[StackRef, Clients], Any],
    render: Callable[[Any], str],
    out: TextIO | None,
    *,
    exit_code: Callable[[Any], int] = lambda _data: 0,
    wrap_lines: bool = True,
) -> int:
    """Find the stack of `args`, collect, print as text or JSON (`exit_code` of what was collected)."""
    stream = out or sys.stdout

    def collect_and_print(ref: StackRef, clients: Clients) -> int:
        data = collect(ref, clients)
        if wants_json(args):
            stream.write(json.dumps(data, indent=2, default=str) + "\n")
        elif wrap_lines:
            write(stream, render(data))
        else:
            stream.write(render(data) + "\n")
        return exit_code(data)

    return with_stack(args, command, collect_and_print)


def with_stack(args: argparse.Namespace, command: str, body: Callable[[StackRef, Clients], int]) -> int:
    """`body`'s exit code on the stack of `args`; one line and exit 2 (1 for an AWS error) when the
    stack or its resources cannot be read."""
    try:
        ref, clients = _context(args)
        return body(ref, clients)
    except StatusError as error:
        print(f"cpctl {command}: {error}", file=sys.stderr)
        return 2
    except NoCredentialsError:
        print(
            f"cpctl {command}: no AWS credentials (configure them, or use --endpoint-url for the twin)",
            file=sys.stderr,
        )
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"cpctl {command}: {error}", file=sys.stderr)
        return 1
