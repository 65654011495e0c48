"""Scenario 17: the control plane image's tag moves to a broken build; a rollback restores the software.

ECS resolves image tags to digests once per deployment, and a circuit-breaker rollback reuses the
last successful service revision's digests; a deployment the workflow starts resolves the tag
again. So a rollback onto a revision that names a tag would pull the broken build. The workflow
rolls back onto a copy of the last good revision whose images are pinned by the digests its task
ran, and that copy becomes the last good revision.
"""

from __future__ import annotations

from cpctl.twin.health_scenario import HealthWatch
from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy, records_of_kind


def running_digests(twin: LocalTwin) -> dict[str, str]:
    ecs = twin.client("ecs")
    arns = ecs.list_tasks(cluster=twin.cluster, desiredStatus="RUNNING")["taskArns"]
    (task,) = ecs.describe_tasks(cluster=twin.cluster, tasks=arns)["tasks"]
    return {container["name"]: container["imageDigest"] for container in task["containers"]}


def images(twin: LocalTwin, task_definition: str) -> dict[str, str]:
    described = twin.client("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return {container["name"]: container["image"] for container in described["containerDefinitions"]}


def test_a_rollback_after_the_tag_moved_runs_the_digests_that_proved_good(
    twin: LocalTwin, baseline: Baseline
) -> None:
    (last_good,) = records_of_kind(twin, "last_good")
    proved = dict(last_good["image_digests"])
    assert running_digests(twin) == proved

    result = deploy(twin, changed_config(), "image-tag-moved")

    report = result.report
    assert report.error == "DeploymentRolledBack", report.cause
    cause = report.cause or ""
    assert "images pinned to the digests it ran" in cause, cause
    service = twin.service()
    assert service.running_count == 1
    assert service.config_version_id == baseline.version_id
    # The software that proved good runs again, by digest, not what the tag names now.
    assert running_digests(twin) == proved
    pinned = images(twin, service.task_definition)
    for container, digest in proved.items():
        assert pinned[container].endswith(f"@{digest}"), pinned
    (record,) = [
        item for item in records_of_kind(twin, "deployment") if item["version_id"] == result.version_id
    ]
    assert record["rollback"]["restores_task_definition_arn"] == baseline.task_definition
    # The copy is now the last good revision, so the health check sees the service where it should be.
    (moved,) = records_of_kind(twin, "last_good")
    assert moved["task_definition_arn"] == service.task_definition
    assert moved["version_id"] == baseline.version_id and moved["image_digests"] == proved
    watch = HealthWatch.attach(twin)
    try:
        run = watch.run_check()
    finally:
        watch.close()
    assert run.healthy, run.failed
