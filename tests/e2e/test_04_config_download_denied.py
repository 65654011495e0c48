"""Scenario 4: the side-car may not download the config: the Cause says so, and why."""

from __future__ import annotations

from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy


def test_a_denied_config_download_is_named_as_the_cause(twin: LocalTwin, baseline: Baseline) -> None:
    result = deploy(twin, changed_config(), "config-download-denied")

    report = result.report
    assert report.status == "FAILED"
    assert report.error == "DeploymentRolledBack"
    cause = report.cause or ""
    assert "config download from S3 failed" in cause, cause
    assert "AccessDenied" in cause, cause  # why: what the aws CLI of the side-car said
    assert result.service.task_definition == baseline.task_definition
    assert result.service.config_version_id == baseline.version_id
