"""Step 3: register a revision of the task definition pinned to the validated config version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.aws_clients import ecs_client
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.models import RegisterRevisionInput
from controlplane.revisions import register_revision
from controlplane.settings import get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@parse_event(RegisterRevisionInput)
def lambda_handler(event: RegisterRevisionInput, context: LambdaContext) -> dict[str, Any]:
    correlate(event.execution.id, event.execution.name, event.config.version_id)
    revision = register_revision(
        event.config, event.execution.name, ecs=ecs_client(), settings=get_settings()
    )
    logger.info("revision registered", extra={"task_definition": revision.task_definition_arn})
    return dump(msgspec.structs.replace(event, revision=revision))
