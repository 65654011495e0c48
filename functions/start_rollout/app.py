"""Step 4: point the service at the pinned revision with forceNewDeployment (or adopt the deployment a
retried call's first attempt started); keep the deployment id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.aws_clients import dynamodb_client, ecs_client
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.models import StartRolloutInput
from controlplane.records import RecordStore
from controlplane.rollout import start_or_adopt_rollout
from controlplane.settings import get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@parse_event(StartRolloutInput)
def lambda_handler(event: StartRolloutInput, context: LambdaContext) -> dict[str, Any]:
    correlate(event.execution.id, event.execution.name, event.config.version_id)
    settings = get_settings()
    watch = start_or_adopt_rollout(
        event.revision.task_definition_arn,
        execution_name=event.execution.name,
        ecs=ecs_client(),
        store=RecordStore.of(settings, dynamodb=dynamodb_client()),
        settings=settings,
    )
    return dump(msgspec.structs.replace(event, rollout=watch))
