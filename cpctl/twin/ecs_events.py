"""ECS's events in the twin: `ECS Task State Change` when a task changes state, `ECS Deployment State
Change` when a service deployment starts, completes or fails.

Neither moto nor the simulated Fargate sends them. `TaskStateEvents.tick` (a listener of the
simulated clock) notices every task whose last status changed since the last tick and publishes the
event ECS would send through the twin's EventBridge, so rules on these events (the stopped-task
recorder in template.yaml) receive them like in AWS: `detail` is the task exactly as DescribeTasks
returns it, timestamps as ISO 8601 strings.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cpctl.twin.eventbridge import EventBridge

DETAIL_TYPE = "ECS Task State Change"
DEPLOYMENT_DETAIL_TYPE = "ECS Deployment State Change"
# rolloutState -> (eventName, eventType), "Amazon ECS service deployment state change events" in the ECS
# developer guide: IN_PROGRESS for initial and rollback deployments, COMPLETED once the service reached
# a steady state, FAILED only for services with the deployment circuit breaker on.
_DEPLOYMENT_EVENTS = {
    "IN_PROGRESS": ("SERVICE_DEPLOYMENT_IN_PROGRESS", "INFO"),
    "COMPLETED": ("SERVICE_DEPLOYMENT_COMPLETED", "INFO"),
    "FAILED": ("SERVICE_DEPLOYMENT_FAILED", "ERROR"),
}


class TaskStateEvents:
    """Publishes an `ECS Task State Change` event for each change of a task's `lastStatus`."""

    def __init__(self, *, account_id: str, region: str, eventbridge: EventBridge, ecs: Any) -> None:
        self._account_id = account_id
        self._region = region
        self._eventbridge = eventbridge
        self._ecs = ecs  # a boto3 ECS client of the twin: details come from DescribeTasks itself
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()
        self.published: list[dict[str, Any]] = []

    def tick(self, now: float) -> None:
        """Compare every task's last status with the previous tick's; publish the changes."""
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[self._account_id][self._region]
        changed: dict[str, list[str]] = {}
        with self._lock:
            for cluster, tasks in list(backend.tasks.items()):
                for arn, task in list(tasks.items()):
                    status = str(task.last_status)
                    if self._seen.get(arn) != status:
                        self._seen[arn] = status
                        changed.setdefault(cluster, []).append(arn)
        for cluster, arns in changed.items():
            for start in range(0, len(arns), 100):
                described = self._ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])
                for task in described.get("tasks", []):
                    self.publish(task, now)

    def publish(self, task: Mapping[str, Any], now: float) -> dict[str, Any]:
        """The event ECS sends for `task` (as DescribeTasks describes it), delivered to matching rules."""
        detail = _jsonable(task)
        detail.setdefault("updatedAt", _iso(datetime.fromtimestamp(now, UTC)))
        event = _event(DETAIL_TYPE, self._account_id, self._region, str(task.get("taskArn")), detail, now)
        self.published.append(event)
        self._eventbridge.publish(event)
        return event


def _event(
    detail_type: str, account: str, region: str, resource: str, detail: Any, now: float
) -> dict[str, Any]:
    """The envelope ECS events arrive in (EventBridge User Guide, "AWS service event metadata")."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.ecs",
        "account": account,
        "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [resource],
        "detail": detail,
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(inner) for inner in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class DeploymentStateEvents:
    """Publishes an `ECS Deployment State Change` event each time a service deployment's rolloutState changes."""

    def __init__(self, *, account_id: str, region: str, eventbridge: EventBridge, ecs: Any) -> None:
        self._account_id = account_id
        self._region = region
        self._eventbridge = eventbridge
        self._ecs = ecs
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()
        self.published: list[dict[str, Any]] = []

    def tick(self, now: float) -> None:
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[self._account_id][self._region]
        # moto's own objects, as the simulated Fargate renders them: a DescribeServices per tick would
        # cost more wall time than the rest of a rollout.
        for service in list(backend.services.values()):
            deployments: list[dict[str, Any]] = list(service.deployments or [])
            for deployment in deployments:
                state = str(deployment.get("rolloutState") or "")
                with self._lock:
                    if state not in _DEPLOYMENT_EVENTS or self._seen.get(deployment["id"]) == state:
                        continue
                    self._seen[deployment["id"]] = state
                self.publish(str(service.arn), deployment, now)

    def publish(self, service_arn: str, deployment: Mapping[str, Any], now: float) -> dict[str, Any]:
        name, kind = _DEPLOYMENT_EVENTS[str(deployment.get("rolloutState"))]
        detail = {
            "eventType": kind,
            "eventName": name,
            "deploymentId": str(deployment.get("id")),
            "updatedAt": _iso(datetime.fromtimestamp(now, UTC)),
            "reason": str(deployment.get("rolloutStateReason") or ""),
        }
        event = _event(DEPLOYMENT_DETAIL_TYPE, self._account_id, self._region, service_arn, detail, now)
        self.published.append(event)
        self._eventbridge.publish(event)
        return event
