"""Step 2: validate the exact config version against the stack's deployment context; say whether an
upload has the running config's content."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.aws_clients import ecs_client, s3_client
from controlplane.codec import dump
from controlplane.config_versions import validate_version
from controlplane.handler import parse_event
from controlplane.models import ValidateConfigInput
from controlplane.revisions import running_revision_with
from controlplane.settings import get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@parse_event(ValidateConfigInput)
def lambda_handler(event: ValidateConfigInput, context: LambdaContext) -> dict[str, Any]:
    target = event.admission.target
    correlate(event.execution.id, event.execution.name, target.version_id)
    settings = get_settings()
    report, config = validate_version(target, s3=s3_client(), settings=settings)
    if config is not None and event.request.source == "upload":
        # The same bytes as the running config: nothing to restart (a manual redeploy still restarts).
        running = running_revision_with(config.sha256, ecs=ecs_client(), settings=settings)
        if running is not None:
            report = msgspec.structs.replace(report, unchanged=True, running_task_definition_arn=running)
    logger.info(
        "config validated",
        extra={"valid": report.valid, "errors": len(report.errors), "unchanged": report.unchanged},
    )
    state = msgspec.structs.replace(event, validation=report, config=config)
    return dump(state)
