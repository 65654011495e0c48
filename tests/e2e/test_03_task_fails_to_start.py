"""Scenario 3: the new revision's tasks fail to start; ECS's circuit breaker rolls back by itself.

That rollback leaves the service stable on the old revision, which naive deploy tools report as a
success. The workflow must report a failure, with the task's stopped reason, and leave the service
on the last good revision with the last good config. ECS's rollback already goes to the last good
revision, so the workflow watches it instead of forcing another deployment: the control plane ECS
has just started is not restarted.
"""

from __future__ import annotations

import re

from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy, deployment_record, version_record

TRIPPED = re.compile(r"circuit breaker tripped, deployment (\S+) FAILED")
ECS_ROLLED_BACK = re.compile(r"ECS rolled back to revision (\S+) \(deployment (\S+)\)")
DEPLOYMENT_STARTED = re.compile(r"deployment (\S+) started \(revision (\S+)\)")
TASK_LAUNCHED = re.compile(r"task (\w+) launched at \S+ \(revision ([^,]+),")
TASK_STOPPING = re.compile(r"stopping task (\w+):")


def test_ecs_rolling_back_by_itself_is_a_failure(twin: LocalTwin, baseline: Baseline) -> None:
    assert twin.fargate is not None
    seen = len(twin.fargate.events)
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
    record = deployment_record(twin, report.name)
    assert record["outcome"] == "rolled_back"
    assert version_record(twin, result.version_id)["status"] == "rolled_back"

    # After the circuit breaker tripped, the last good revision got exactly what ECS's own rollback
    # made: one deployment and one task, never stopped. A forced deployment on top of it would show
    # as a second deployment, a second launch, and the first task stopped: a needless restart.
    events = twin.fargate.events[seen:]
    tripped = next(i for i, line in enumerate(events) if TRIPPED.search(line))
    after = events[tripped:]
    good = baseline.task_definition.rsplit("/", 1)[-1]
    ((revision, ecs_deployment),) = [
        m.groups() for line in after for m in [ECS_ROLLED_BACK.search(line)] if m
    ]
    assert revision == good
    started = [
        m.group(1) for line in after for m in [DEPLOYMENT_STARTED.search(line)] if m and m.group(2) == good
    ]
    assert started == [ecs_deployment], "\n".join(after)
    launched = [
        m.group(1) for line in after for m in [TASK_LAUNCHED.search(line)] if m and m.group(2) == good
    ]
    stopped = {m.group(1) for line in after for m in [TASK_STOPPING.search(line)] if m}
    assert len(launched) == 1 and not stopped & set(launched), "\n".join(after)
    assert record["rollback"]["deployment_id"] == ecs_deployment
    assert record["rollback"]["started_by"] == "ecs"
