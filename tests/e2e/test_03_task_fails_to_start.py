"""Scenario 3: the new revision's tasks fail to start; ECS's circuit breaker rolls back by itself.

That rollback leaves the service stable on the old revision, which naive deploy tools report as a
success. The workflow must report a failure, with the task's stopped reason, and leave the service
on the last good revision with the last good config.
"""

from __future__ import annotations

from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy, deployment_record, version_record


def test_ecs_rolling_back_by_itself_is_a_failure(twin: LocalTwin, baseline: Baseline) -> None:
    result = deploy(twin, changed_config(), "task-fails-to-start")

    report = result.report
    assert report.status == "FAILED", "ECS's own rollback was reported as a success"
    assert report.error == "DeploymentRolledBack"
    cause = report.cause or ""
    assert "circuit breaker" in cause, cause
    assert "EssentialContainerExited" in cause, cause  # the task's stopped reason
    assert "exit code 1" in cause, cause
    # The service ends on the last good revision, with the last good config, running.
    assert result.rolled_back
    assert result.service.task_definition == baseline.task_definition
    assert result.service.config_version_id == baseline.version_id
    assert result.service.config_sha256 == baseline.sha256
    assert result.service.running_count == 1
    assert "prl_twin_eu_central_1" not in twin.gatling.location_ids()
    assert deployment_record(twin, report.name)["outcome"] == "rolled_back"
    assert version_record(twin, result.version_id)["status"] == "rolled_back"
