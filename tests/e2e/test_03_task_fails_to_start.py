"""Scenario 3: the new control plane exits as it starts (a config its JVM refuses): a restart loop.

ECS's circuit breaker does not count a task that reached RUNNING and then exited
(Deployment.failedTasks, ECS API reference), so ECS would restart it until the deployment deadline.
The workflow fails the rollout once `StoppedTasksBeforeFailing` (3) tasks of its deployment have
stopped, says why with their stop reasons and exit codes, and rolls back to the last good revision
itself. The case the circuit breaker does count (tasks that never run) is scenario 4.
"""

from __future__ import annotations

import re

from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy, deployment_record, restored_revision, version_record

TRIPPED = re.compile(r"circuit breaker tripped, deployment (\S+) FAILED")
ECS_ROLLED_BACK = re.compile(r"ECS rolled back to revision (\S+) \(deployment (\S+)\)")
DEPLOYMENT_STARTED = re.compile(r"deployment (\S+) started \(revision (\S+)\)")
TASK_LAUNCHED = re.compile(r"task (\w+) launched at \S+ \(revision ([^,]+),")
TASK_STOPPING = re.compile(r"stopping task (\w+):")


def test_a_restart_loop_is_rolled_back_after_three_tasks_not_at_the_deadline(
    twin: LocalTwin, baseline: Baseline
) -> None:
    assert twin.fargate is not None
    seen = len(twin.fargate.events)
    result = deploy(twin, changed_config(), "task-fails-to-start")

    report = result.report
    assert report.status == "FAILED"
    assert report.error == "DeploymentRolledBack"
    cause = report.cause or ""
    assert "3 tasks of deployment" in cause and "stopped after starting" in cause, cause
    assert cause.count("EssentialContainerExited") == 3, cause  # each task's stopped reason
    assert "exit code 1" in cause and "failed to start" in cause, (
        cause
    )  # exit code and the control plane's error
    # Found within three restarts, far before the 15-minute deadline.
    assert report.simulated_seconds < 6 * 60, report.simulated_seconds
    # ECS never tripped its circuit breaker: the workflow rolled back, to the last good revision.
    events = twin.fargate.events[seen:]
    assert not any(TRIPPED.search(line) for line in events), "\n".join(events)
    assert result.rolled_back
    # Back on the last good revision's config and software (its image-pinned copy).
    assert (
        restored_revision(twin, result.service.task_definition) == baseline.task_definition.rsplit("/", 1)[-1]
    )
    assert result.service.config_version_id == baseline.version_id
    assert result.service.config_sha256 == baseline.sha256
    assert result.service.running_count == 1
    assert "prl_twin_eu_central_1" not in twin.gatling.location_ids()
    record = deployment_record(twin, report.name)
    assert record["outcome"] == "rolled_back"
    assert record["rollback"]["started_by"] == "workflow"
    assert version_record(twin, result.version_id)["status"] == "rolled_back"
