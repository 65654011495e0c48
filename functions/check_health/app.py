"""Scheduled: check the control plane, publish the health metrics, heal when the rules say so."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.admission import execution_liveness
from controlplane.aws_clients import (
    dynamodb_client,
    ecs_client,
    lambda_client,
    read_api_token,
    s3_client,
    sfn_client,
)
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.healing import act
from controlplane.health import emit_metrics, run_checks
from controlplane.http_client import http_get
from controlplane.liveness import invoked_probe
from controlplane.records import RecordStore
from controlplane.settings import get_settings
from controlplane.telemetry import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


class HealthCheckTrigger(msgspec.Struct, kw_only=True):
    """The schedule's `Scheduled Event` (its other fields ignored); a hand-made `{}` works too (`aws lambda invoke`)."""

    id: str | None = None
    detail_type: str | None = msgspec.field(name="detail-type", default=None)
    time: datetime | None = None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@parse_event(HealthCheckTrigger)
def lambda_handler(event: HealthCheckTrigger, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(trigger=event.id)
    settings = get_settings()
    store = RecordStore.of(settings, dynamodb=dynamodb_client())
    is_running = execution_liveness(sfn_client())
    report = run_checks(
        settings=settings,
        ecs=ecs_client(),
        s3=s3_client(),
        store=store,
        probe=invoked_probe(settings.require_probe_function_arn(), lambda_client=lambda_client()),
        http_get=http_get,
        read_token=lambda: read_api_token(settings),
        is_running=is_running,
        last_stopped=lambda: next((task.describe() for task in store.stopped_tasks(limit=1)), None),
    )
    emit_metrics(report, control_plane=settings.service)
    outcome = act(report, store=store, sfn=sfn_client(), settings=settings)
    return dump(outcome)
