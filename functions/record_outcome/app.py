"""Step 7 and every other ending: record the outcome, move the last-good pointer, prune, notify, unlock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane.aws_clients import dynamodb_client, ecs_client, s3_client, sns_client
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.models import RecordOutcomeInput
from controlplane.outcomes import finish
from controlplane.records import RecordStore
from controlplane.settings import get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@parse_event(RecordOutcomeInput)
def lambda_handler(event: RecordOutcomeInput, context: LambdaContext) -> dict[str, Any]:
    version = event.admission.target.version_id if event.admission else event.request.version_id
    correlate(event.execution.id, event.execution.name, version)
    settings = get_settings()
    state = finish(
        event,
        store=RecordStore.of(settings, dynamodb=dynamodb_client()),
        ecs=ecs_client(),
        sns=sns_client(),
        s3=s3_client(),
        settings=settings,
    )
    return dump(state)
