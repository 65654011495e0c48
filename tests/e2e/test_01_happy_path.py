"""Scenario 1: a changed config (a new location) is deployed, checked, recorded and notified."""

from __future__ import annotations

from cpctl.twin.twin import LocalTwin

from .conftest import (
    Baseline,
    changed_config,
    deploy,
    deployment_record,
    notifications_about,
    sha256,
    version_record,
)

# The deployment workflow's target (issue 4): at most 20 billed state transitions for a deployment.
MAX_TRANSITIONS = 20


def test_a_new_location_is_deployed_on_a_pinned_revision(twin: LocalTwin, baseline: Baseline) -> None:
    data = changed_config()

    result = deploy(twin, data)

    report = result.report
    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    # The service runs a new revision pinned to exactly the uploaded version.
    service = result.service
    assert service.task_definition != baseline.task_definition
    assert service.config_version_id == result.version_id
    assert service.config_sha256 == sha256(data)
    assert result.revisions_registered == 1
    assert not result.rolled_back
    definition = twin.client("ecs").describe_task_definition(taskDefinition=service.task_definition)
    loader = next(
        c for c in definition["taskDefinition"]["containerDefinitions"] if c["name"] == "config-loader"
    )
    assert loader["command"][loader["command"].index("--version-id") + 1] == result.version_id
    # The control plane registered the new location with Gatling.
    assert "prl_twin_eu_central_1" in result.registered_locations
    assert set(baseline.locations) <= set(result.registered_locations)
    # Recorded and notified.
    record = deployment_record(twin, report.name)
    assert record["outcome"] == "succeeded"
    assert record["version_id"] == result.version_id
    assert record["task_definition_arn"] == service.task_definition
    assert version_record(twin, result.version_id)["status"] == "succeeded"
    notes = notifications_about(twin, result.version_id)
    assert len(notes) == 1 and "succeeded" in (notes[0]["subject"] + notes[0]["message"]).lower()
    # Within the workflow's budget of state transitions.
    assert report.transitions <= MAX_TRANSITIONS, [step.name for step in report.states]
