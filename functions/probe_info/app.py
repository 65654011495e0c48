"""In the VPC: `GET /info` on a task's private IP, for the functions outside the VPC. No AWS API call."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from controlplane.http_client import http_get
from controlplane.liveness import probe_info
from controlplane.models import ProbeInfoInput, ProbeInfoResult
from controlplane.settings import get_settings
from controlplane.telemetry import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=ProbeInfoInput)
def lambda_handler(event: ProbeInfoInput, context: LambdaContext) -> dict[str, Any]:
    problem = probe_info(
        event.private_ip, event.port, http_get=http_get, timeout=get_settings().http_timeout_seconds
    )
    return ProbeInfoResult(answered=problem is None, problem=problem).model_dump(mode="json")
