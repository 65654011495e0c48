"""Step 5: long-poll the deployment until it succeeds, fails, passes its deadline or this call's budget ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.aws_clients import ecs_client, logs_client
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.models import AwaitRolloutInput
from controlplane.rollout import await_deployment
from controlplane.settings import get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@parse_event(AwaitRolloutInput)
def lambda_handler(event: AwaitRolloutInput, context: LambdaContext) -> dict[str, Any]:
    correlate(event.execution.id, event.execution.name, event.config.version_id)
    watch = await_deployment(event.rollout, ecs=ecs_client(), logs=logs_client(), settings=get_settings())
    logger.info("rollout checked", extra={"status": watch.status, "invocations": watch.invocations})
    return dump(msgspec.structs.replace(event, rollout=watch))
