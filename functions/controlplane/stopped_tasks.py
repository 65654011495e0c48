"""Why the control plane's tasks stopped, kept in the records table: ECS forgets stopped tasks after
about an hour, the health check and `cpctl status` need the reasons afterwards.

An EventBridge rule sends every `ECS Task State Change` event of this service whose `lastStatus` is
STOPPED; each becomes one `STOPPED#<stopped at>#<task id>` item (see docs/records.md). Events arrive
at least once: the key is the same for a redelivery, so recording twice writes the same item.
Reasons are redacted like the workflow's diagnostics: nothing resembling a token is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from aws_lambda_powertools.metrics import MetricUnit
from msgspec import field

from controlplane import clock
from controlplane.diagnostics import redact, task_failure
from controlplane.models import Payload
from controlplane.records import RecordStore, StoppedTask
from controlplane.settings import Settings
from controlplane.telemetry import logger, metrics

# ---------------------------------------------------------------- the event, as ECS sends it


class EcsContainer(msgspec.Struct, kw_only=True):
    """One container of the task in the event (the fields the record keeps; the others are ignored)."""

    name: str
    lastStatus: str | None = None  # ECS's field names, as the event has them
    exitCode: int | None = None
    reason: str | None = None


class EcsTaskDetail(msgspec.Struct, kw_only=True):
    """`detail` of an `ECS Task State Change` event: the task as DescribeTasks describes it."""

    taskArn: str
    clusterArn: str
    lastStatus: str
    group: str | None = None
    desiredStatus: str | None = None
    taskDefinitionArn: str | None = None
    startedBy: str | None = None
    stopCode: str | None = None
    stoppedReason: str | None = None
    createdAt: datetime | None = None
    startedAt: datetime | None = None
    stoppedAt: datetime | None = None
    containers: list[EcsContainer] = field(default_factory=list)


class EventBridgeEvent(msgspec.Struct, kw_only=True):
    """The fields every EventBridge event carries (EventBridge User Guide, "Amazon EventBridge events").

    Declared here rather than taken from Powertools' parser models: importing those builds the models
    of every event source Powertools knows, a third of this function's cold start."""

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = field(name="detail-type")


class EcsTaskStateChange(EventBridgeEvent, kw_only=True):
    """The EventBridge event the stopped-task rule delivers."""

    detail: EcsTaskDetail


# ---------------------------------------------------------------- what is kept


class RecordResult(Payload, frozen=True, kw_only=True):
    """What the handler did with one event."""

    status: Literal["recorded", "ignored"]
    detail: str
    record_key: str | None = None
    task: StoppedTask | None = None


def stopped_task_of(detail: EcsTaskDetail, *, event_time: datetime) -> StoppedTask:
    """The record of a stopped task from the event's detail, reasons redacted."""
    failure = task_failure(
        {
            "taskArn": detail.taskArn,
            "taskDefinitionArn": detail.taskDefinitionArn,
            "stoppedReason": detail.stoppedReason,
            "stopCode": detail.stopCode,
            "containers": [
                {"name": c.name, "exitCode": c.exitCode, "reason": c.reason} for c in detail.containers
            ],
        }
    )
    return StoppedTask(
        task_arn=detail.taskArn,
        task_id=detail.taskArn.rsplit("/", 1)[-1],
        task_definition_arn=detail.taskDefinitionArn,
        started_by=detail.startedBy,
        stop_code=detail.stopCode,
        stopped_reason=redact(detail.stoppedReason) if detail.stoppedReason else None,
        containers=[
            msgspec.structs.replace(container, reason=redact(container.reason) if container.reason else None)
            for container in failure.containers
        ],
        side_car_failed=failure.side_car_failed,
        started_at=detail.startedAt,
        stopped_at=detail.stoppedAt or event_time,
    )


def record_stopped_task(event: EcsTaskStateChange, *, store: RecordStore, settings: Settings) -> RecordResult:
    """Record one STOPPED event of this stack's service; anything else is ignored (and says why)."""
    detail = event.detail
    expected_group = f"service:{settings.service}"
    cluster = detail.clusterArn.rsplit("/", 1)[-1]
    if detail.lastStatus != "STOPPED":
        return RecordResult(status="ignored", detail=f"task state {detail.lastStatus}, not STOPPED")
    if detail.group != expected_group or cluster != settings.cluster:
        return RecordResult(
            status="ignored",
            detail=f"task of {detail.group or 'no group'} in {cluster}, not of {expected_group} in {settings.cluster}",
        )
    task = stopped_task_of(detail, event_time=event.time)
    key = store.put_stopped_task(task, event_id=event.id, recorded_at=clock.now())
    metrics.add_dimension(name="control_plane", value=settings.service)
    metrics.add_dimension(name="stop_code", value=task.stop_code or "unknown")
    metrics.add_metric(name="StoppedTasks", unit=MetricUnit.Count, value=1)
    logger.info("stopped task recorded", extra={"record_key": key, "summary": task.describe()})
    return RecordResult(status="recorded", detail=task.describe(), record_key=key, task=task)
