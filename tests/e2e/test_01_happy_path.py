"""Scenario 1: a changed config (a new location) is deployed, checked, recorded and notified."""

from __future__ import annotations

import time

from cpctl.twin.twin import LocalTwin

from .conftest import (
    Baseline,
    changed_config,
    deploy,
    deployment_record,
    notifications_about,
    records_of_kind,
    sha256,
    version_record,
)

# The deployment workflow's target: at most 20 billed state transitions for a deployment.
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


def test_the_old_task_stop_is_recorded_as_on_aws(twin: LocalTwin, baseline: Baseline) -> None:
    # Every twin sends ECS Task State Change events to the template's rules, health scenario or not:
    # the rollout stopped the old revision's task, and RecordStoppedTask keeps why.
    result = deploy(twin, changed_config())
    assert result.report.status == "SUCCEEDED", f"{result.report.error}: {result.report.cause}"

    deadline = time.monotonic() + 10.0  # the record comes from an asynchronous invocation
    while True:
        stopped = [
            item
            for item in records_of_kind(twin, "stopped_task")
            if item.get("task_definition_arn") == baseline.task_definition
        ]
        if stopped or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(stopped) == 1, records_of_kind(twin, "stopped_task")
    assert stopped[0]["stop_code"] == "ServiceSchedulerInitiated"
    # Exactly one delivery per stop: the rule's pattern (lastStatus STOPPED) is what selects events.
    record_function = next(
        spec for spec in twin.functions().values() if spec.logical_id == "RecordStoppedTaskFunction"
    )
    deliveries = [d for d in twin.eventbridge.deliveries if d.target_arn == record_function.arn]  # type: ignore[union-attr]
    assert len(deliveries) == len(records_of_kind(twin, "stopped_task"))
