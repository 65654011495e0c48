"""Step 1, admission: normalise the trigger, drop duplicates and stale uploads, wait for the service's lock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from controlplane.admission import admit, execution_liveness
from controlplane.aws_clients import dynamodb_client, s3_client, sfn_client
from controlplane.codec import dump
from controlplane.handler import parse_event
from controlplane.models import AdmitDeploymentInput
from controlplane.records import RecordStore
from controlplane.settings import get_settings
from controlplane.telemetry import correlate, count_deployment, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

QUIET_ENDINGS = ("duplicate", "stale", "superseded")


@logger.inject_lambda_context(clear_state=True)
@parse_event(AdmitDeploymentInput)
def lambda_handler(event: AdmitDeploymentInput, context: LambdaContext) -> dict[str, Any]:
    correlate(event.execution.id, event.execution.name, event.request.version_id)
    settings = get_settings()
    state = admit(
        event,
        store=RecordStore.of(settings, dynamodb=dynamodb_client()),
        s3=s3_client(),
        is_running=execution_liveness(sfn_client()),
        settings=settings,
    )
    assert state.admission is not None
    if state.admission.decision in QUIET_ENDINGS:
        count_deployment(state.admission.decision)
    plan = {"wait_for_runs": settings.waits_for_runs, "bake": settings.bakes}
    return dump(msgspec.structs.replace(state, admission=msgspec.structs.replace(state.admission, **plan)))
