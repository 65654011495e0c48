"""Why a deployment failed: the stopped tasks as ECS describes them and the containers' own error lines.

ECS forgets stopped tasks after about an hour, so the workflow copies the reasons into its record.
Log lines are filtered, capped and redacted: nothing resembling a token leaves this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from controlplane.deployment_context import hide_token_like
from controlplane.errors import error_code
from controlplane.models import ContainerExit, TaskFailure
from controlplane.revisions import CONFIG_LOADER

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import TaskTypeDef
    from mypy_boto3_logs import CloudWatchLogsClient

CONTROL_PLANE = "control-plane"
MAX_STOPPED_TASKS = 3
MAX_LOG_LINES = 20
MAX_LOG_BYTES = 2048
MAX_LINE_CHARS = 300
_INTERESTING = re.compile(r"error|exception|failed|fatal|refused|denied", re.IGNORECASE)
_ASSIGNED_SECRET = re.compile(r"(?i)\b(token|authorization|password|secret)(\"?\s*[=:]\s*\"?)[^\s\",}]+")


def unavailable_reason(error: ClientError) -> str:
    """One line for a failed diagnostics call: the AWS error code and its message, redacted."""
    details = error.response.get("Error", {})
    code = details.get("Code", "error")
    message = details.get("Message", "")
    operation = getattr(error, "operation_name", "")
    return redact(f"{code} calling {operation}: {message}" if operation else f"{code}: {message}")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with known secrets, token-like words and `token = ...` values replaced by `***`."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = hide_token_like(text)
    return _ASSIGNED_SECRET.sub(r"\1\2***", text)


def task_failure(task: Mapping[str, Any]) -> TaskFailure:
    """What ECS says about one stopped task (a DescribeTasks answer, or the task of a task state change
    event); a side-car that did not exit 0 means the config download failed."""
    containers = [
        ContainerExit(name=str(c.get("name")), exit_code=c.get("exitCode"), reason=c.get("reason"))
        for c in task.get("containers", [])
    ]
    side_car = next((c for c in containers if c.name == CONFIG_LOADER), None)
    return TaskFailure(
        task_arn=str(task["taskArn"]),
        task_definition_arn=task.get("taskDefinitionArn"),
        stopped_reason=task.get("stoppedReason"),
        stop_code=task.get("stopCode"),
        containers=containers,
        side_car_failed=side_car is not None and side_car.exit_code not in (None, 0),
    )


def tasks_started_by(
    deployment_id: str, *, desired_status: str, cluster: str, ecs: ECSClient
) -> list[TaskTypeDef]:
    """The tasks (as DescribeTasks describes them) a service deployment started, with this desired status.

    The ECS API reference says of ListTasks' `startedBy`: "When you specify startedBy as the filter,
    it must be the only filter that you use". RUNNING is ListTasks' default desired status, so those
    need no second filter. For STOPPED the combined request is tried, and if ECS refuses it
    (InvalidParameterException) the cluster's tasks of that desired status are filtered here by
    their `startedBy`: a refused filter never fails the rollout wait.
    """
    if desired_status == "RUNNING":
        arns = _task_arns(ecs, cluster=cluster, startedBy=deployment_id)
        return [task for task in _described(ecs, cluster, arns) if task.get("startedBy") == deployment_id]
    try:
        arns = _task_arns(ecs, cluster=cluster, startedBy=deployment_id, desiredStatus=desired_status)
    except ClientError as error:
        if error_code(error) not in _REFUSED_FILTER:
            raise
        arns = _task_arns(ecs, cluster=cluster, desiredStatus=desired_status)
    return [task for task in _described(ecs, cluster, arns) if task.get("startedBy") == deployment_id]


_REFUSED_FILTER = ("InvalidParameterException", "ClientException")
_MAX_TASK_PAGES = 5  # 500 tasks: ECS keeps stopped tasks about an hour, the stack's cluster runs one service


def _task_arns(ecs: ECSClient, **request: Any) -> list[str]:
    arns: list[str] = []
    for _ in range(_MAX_TASK_PAGES):
        page = ecs.list_tasks(**request)
        arns += page.get("taskArns", [])
        token = page.get("nextToken")
        if not token:
            break
        request = {**request, "nextToken": token}
    return arns


def _described(ecs: ECSClient, cluster: str, arns: list[str]) -> list[TaskTypeDef]:
    tasks: list[TaskTypeDef] = []
    for start in range(0, len(arns), 100):  # DescribeTasks takes at most 100 tasks
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100]).get("tasks", [])
    return tasks


def stopped_tasks(deployment_id: str, *, cluster: str, ecs: ECSClient) -> list[TaskFailure]:
    """The newest stopped tasks a service deployment started (their `startedBy` is the deployment id)."""
    tasks = tasks_started_by(deployment_id, desired_status="STOPPED", cluster=cluster, ecs=ecs)
    tasks.sort(key=lambda task: str(task.get("stoppedAt") or task.get("createdAt") or ""), reverse=True)
    return [task_failure(task) for task in tasks[:MAX_STOPPED_TASKS]]


def error_lines(
    task_arn: str, container: str, *, log_group: str, logs: CloudWatchLogsClient, secrets: Iterable[str] = ()
) -> list[str]:
    """The last error lines a container of a task wrote (awslogs stream `<container>/<container>/<task id>`)."""
    stream = f"{container}/{container}/{task_arn.rsplit('/', 1)[-1]}"
    try:
        events = logs.get_log_events(
            logGroupName=log_group, logStreamName=stream, startFromHead=False, limit=500
        ).get("events", [])
    except logs.exceptions.ResourceNotFoundException:
        return []
    matching = [str(event.get("message", "")).rstrip() for event in events]
    matching = [line for line in matching if _INTERESTING.search(line)]
    return cap_lines(f"[{container}] {redact(line, secrets)[:MAX_LINE_CHARS]}" for line in matching)


def cap_lines(lines: Iterable[str]) -> list[str]:
    """The last `MAX_LOG_LINES` lines, within `MAX_LOG_BYTES`."""
    kept: list[str] = []
    size = 0
    for line in reversed(list(lines)[-MAX_LOG_LINES:]):
        size += len(line.encode()) + 1
        if size > MAX_LOG_BYTES:
            break
        kept.append(line)
    return kept[::-1]


def failure_lines(
    tasks: list[TaskFailure],
    *,
    log_group: str | None,
    logs: CloudWatchLogsClient,
    secrets: Iterable[str] = (),
) -> list[str]:
    """Error lines of the newest stopped task: the side-car's when it failed, else the control plane's."""
    if not tasks or log_group is None:
        return []
    newest = tasks[0]
    container = CONFIG_LOADER if newest.side_car_failed else CONTROL_PLANE
    return error_lines(newest.task_arn, container, log_group=log_group, logs=logs, secrets=secrets)
