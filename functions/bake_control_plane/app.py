"""After "up": watch the new control plane for BakeMinutes (task RUNNING, /info, locations)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.aws_clients import ecs_client, lambda_client, logs_client, read_api_token
from controlplane.bake import begin, watch
from controlplane.codec import dump
from controlplane.diagnostics import CONTROL_PLANE, error_lines
from controlplane.handler import parse_event
from controlplane.http_client import http_get
from controlplane.liveness import invoked_probe
from controlplane.models import BakeInput, TaskFailure
from controlplane.settings import Settings, get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_ecs.type_defs import TaskTypeDef


def _describe_task(task_arn: str, settings: Settings) -> TaskTypeDef | None:
    tasks = ecs_client().describe_tasks(cluster=settings.cluster, tasks=[task_arn]).get("tasks", [])
    return tasks[0] if tasks else None


def _error_lines(task: TaskFailure, settings: Settings) -> list[str]:
    if settings.log_group is None:
        return []
    return error_lines(task.task_arn, CONTROL_PLANE, log_group=settings.log_group, logs=logs_client())


@logger.inject_lambda_context(clear_state=True)
@parse_event(BakeInput)
def lambda_handler(event: BakeInput, context: LambdaContext) -> dict[str, Any]:
    correlate(event.execution.id, event.execution.name, event.config.version_id)
    settings = get_settings()
    bake = watch(
        event.bake or begin(settings, event.rollout.task_arn),
        private_ip=event.rollout.private_ip,
        location_ids=event.config.location_ids,
        settings=settings,
        describe_task=lambda arn: _describe_task(arn, settings),
        error_lines=lambda task: _error_lines(task, settings),
        probe=invoked_probe(settings.require_probe_function_arn(), lambda_client=lambda_client()),
        http_get=http_get,
        read_token=lambda: read_api_token(settings),
    )
    return dump(msgspec.structs.replace(event, bake=bake))
