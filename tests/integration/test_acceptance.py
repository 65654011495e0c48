"""What a user checks on a fresh stack: deploy, reject, roll back by version id, health check."""

from __future__ import annotations

import json

from tests.e2e.test_02_invalid_config import INVALID
from tests.integration.conftest import DeployedStack


def test_a_valid_upload_is_deployed_on_a_revision_pinned_to_it(deployed: DeployedStack) -> None:
    known = deployed.known_executions()
    version = deployed.upload(deployed.valid_configs[0])
    execution = deployed.wait_for_new_execution(known)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert deployed.pinned_version() == version
    assert deployed.service()["runningCount"] == 1


def test_an_invalid_upload_is_rejected_and_the_service_untouched(deployed: DeployedStack) -> None:
    before = deployed.service()["taskDefinition"]
    known = deployed.known_executions()
    deployed.upload(INVALID)
    execution = deployed.wait_for_new_execution(known)
    assert (execution["status"], execution.get("error")) == ("FAILED", "ConfigRejected")
    assert deployed.service()["taskDefinition"] == before


def test_a_rollback_by_version_id_deploys_that_version(deployed: DeployedStack) -> None:
    known = deployed.known_executions()
    first = deployed.pinned_version()
    assert first is not None
    deployed.upload(deployed.valid_configs[1])
    assert deployed.wait_for_new_execution(known)["status"] == "SUCCEEDED"
    known = deployed.known_executions()
    deployed.client("stepfunctions").start_execution(
        stateMachineArn=deployed.outputs["StateMachineArn"],
        name="acceptance-rollback",
        input=json.dumps({"version_id": first, "reason": "acceptance: roll back by version id"}),
    )
    execution = deployed.wait_for_new_execution(known)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert deployed.pinned_version() == first


def test_the_health_check_finds_the_control_plane_healthy(deployed: DeployedStack) -> None:
    answer = deployed.client("lambda").invoke(
        FunctionName=deployed.outputs["HealthCheckFunctionName"], Payload=b"{}"
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    outcome = json.loads(answer["Payload"].read())
    assert outcome["report"]["healthy"] is True, outcome["report"]["checks"]
