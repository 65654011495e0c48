"""After any failure past registration: roll back to the last good revision and wait for that rollout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane.aws_clients import dynamodb_client, ecs_client, logs_client, s3_client
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.models import RollBackInput
from controlplane.records import RecordStore
from controlplane.rollback import roll_back
from controlplane.settings import get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@parse_event(RollBackInput)
def lambda_handler(event: RollBackInput, context: LambdaContext) -> dict[str, Any]:
    correlate(event.execution.id, event.execution.name, event.config.version_id)
    settings = get_settings()
    state = roll_back(
        event,
        ecs=ecs_client(),
        s3=s3_client(),
        logs=logs_client(),
        store=RecordStore.of(settings, dynamodb=dynamodb_client()),
        settings=settings,
    )
    return dump(state)
