"""On every STOPPED task of the service (EventBridge): keep why it stopped, ECS forgets after an hour."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane.aws_clients import dynamodb_client
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.records import RecordStore
from controlplane.settings import get_settings
from controlplane.stopped_tasks import EcsTaskStateChange, record_stopped_task
from controlplane.telemetry import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@parse_event(EcsTaskStateChange)
def lambda_handler(event: EcsTaskStateChange, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(event_id=event.id, task=event.detail.taskArn.rsplit("/", 1)[-1])
    settings = get_settings()
    result = record_stopped_task(
        event, store=RecordStore.of(settings, dynamodb=dynamodb_client()), settings=settings
    )
    return dump(result)
