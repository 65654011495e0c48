"""Step 6: wait until /info answers (probed by the probe function in the VPC) and Gatling lists every location."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.aws_clients import ecs_client, lambda_client, read_api_token
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.http_client import http_get
from controlplane.liveness import await_up, begin, invoked_probe
from controlplane.models import AwaitControlPlaneUpInput
from controlplane.rollout import running_task
from controlplane.settings import get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@parse_event(AwaitControlPlaneUpInput)
def lambda_handler(event: AwaitControlPlaneUpInput, context: LambdaContext) -> dict[str, Any]:
    correlate(event.execution.id, event.execution.name, event.config.version_id)
    settings = get_settings()
    check = await_up(
        event.up or begin(settings),
        private_ip=event.rollout.private_ip,
        location_ids=event.config.location_ids,
        settings=settings,
        probe=invoked_probe(settings.require_probe_function_arn(), lambda_client=lambda_client()),
        http_get=http_get,
        read_token=lambda: read_api_token(settings),
        find_task=lambda: running_task(
            event.rollout.deployment_id,
            event.rollout.task_definition_arn,
            ecs=ecs_client(),
            settings=settings,
        ),
    )
    return dump(msgspec.structs.replace(event, up=check))
