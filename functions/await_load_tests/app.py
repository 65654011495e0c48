"""Before any restart: wait until no load test run uses a location of the running config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.aws_clients import dynamodb_client, read_api_token, s3_client, sns_client
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.health import deployed_location_ids
from controlplane.http_client import http_get
from controlplane.load_tests import await_load_tests, publisher
from controlplane.models import AwaitLoadTestsInput
from controlplane.records import RecordStore
from controlplane.settings import Settings, get_settings
from controlplane.telemetry import correlate, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _running_locations(settings: Settings) -> list[str] | None:
    last_good = RecordStore.of(settings, dynamodb=dynamodb_client()).last_good()
    if last_good is None:
        return None
    return deployed_location_ids(last_good.version_id, s3=s3_client(), settings=settings)


@logger.inject_lambda_context(clear_state=True)
@parse_event(AwaitLoadTestsInput)
def lambda_handler(event: AwaitLoadTestsInput, context: LambdaContext) -> dict[str, Any]:
    correlate(event.execution.id, event.execution.name, event.config.version_id)
    settings = get_settings()
    wait = await_load_tests(
        event,
        settings=settings,
        running_locations=lambda: _running_locations(settings),
        http_get=http_get,
        read_token=lambda: read_api_token(settings),
        notify=publisher(sns=sns_client(), topic_arn=settings.require_topic_arn(), service=settings.service),
    )
    return dump(msgspec.structs.replace(event, load_tests=wait))
