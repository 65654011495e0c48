"""In the VPC: `GET /info` on a task's private IP, for the functions outside the VPC. No AWS API call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.http_client import http_get
from controlplane.liveness import probe_info
from controlplane.models import ProbeInfoInput, ProbeInfoResult
from controlplane.settings import get_settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@parse_event(ProbeInfoInput)
def lambda_handler(event: ProbeInfoInput, context: LambdaContext) -> dict[str, Any]:
    problem = probe_info(
        event.private_ip, event.port, http_get=http_get, timeout=get_settings().http_timeout_seconds
    )
    return dump(ProbeInfoResult(answered=problem is None, problem=problem))
