"""Scenario 4: the side-car may not download the config: the Cause says so, and why.

Its tasks never reach RUNNING, so ECS's circuit breaker counts them, fails the deployment after 3
and rolls back by itself; the workflow watches that rollback instead of forcing another one, so the
control plane ECS has just started is not restarted.
"""

from __future__ import annotations

import re

from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy, deployment_record

TRIPPED = re.compile(r"circuit breaker tripped, deployment (\S+) FAILED")
ECS_ROLLED_BACK = re.compile(r"ECS rolled back to revision (\S+) \(deployment (\S+)\)")


def test_a_denied_config_download_is_named_as_the_cause(twin: LocalTwin, baseline: Baseline) -> None:
    assert twin.fargate is not None
    seen = len(twin.fargate.events)
    result = deploy(twin, changed_config(), "config-download-denied")

    report = result.report
    assert report.status == "FAILED"
    assert report.error == "DeploymentRolledBack"
    cause = report.cause or ""
    assert "config download from S3 failed" in cause, cause
    assert "AccessDenied" in cause, cause  # why: what the aws CLI of the side-car said
    assert result.service.task_definition == baseline.task_definition
    assert result.service.config_version_id == baseline.version_id
    # The circuit breaker tripped and ECS rolled back to the last good revision; the workflow
    # watched that rollback (one deployment of it) rather than forcing a second restart.
    events = twin.fargate.events[seen:]
    assert any(TRIPPED.search(line) for line in events), "\n".join(events)
    rollbacks = [m.groups() for line in events for m in [ECS_ROLLED_BACK.search(line)] if m]
    assert [revision for revision, _ in rollbacks] == [baseline.task_definition.rsplit("/", 1)[-1]]
    record = deployment_record(twin, report.name)
    assert record["rollback"]["started_by"] == "ecs"
    assert record["rollback"]["deployment_id"] == rollbacks[0][1]
