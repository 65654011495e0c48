"""Scenario 12: a later `sam deploy`, as CloudFormation performs it, never runs an unvalidated config.

CloudFormation replaces the task definition when one of its properties changes, re-sends every
specified property of the service to UpdateService (its DesiredCount of 0 and the new revision
included), waits for the service to stabilize, then deregisters the old revision (AWS::ECS::Service
and AWS::ECS::TaskDefinition, CloudFormation User Guide). The workflow then heals the drift at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cpctl.twin.deployments import deploy_initial
from cpctl.twin.fargate import image_digest
from cpctl.twin.twin import LocalTwin, TwinError, TwinOptions

from .conftest import WALL_TIMEOUT, Baseline, config_with_location, deploy, records_of_kind
from .test_02_invalid_config import INVALID

NEW_IMAGE = "gatlingcorp/control-plane:1.99.0"


def images(twin: LocalTwin, task_definition: str) -> dict[str, str]:
    described = twin.client("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return {container["name"]: container["image"] for container in described["containerDefinitions"]}


def every_task_revision(twin: LocalTwin) -> set[str]:
    ecs = twin.client("ecs")
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        arns += ecs.list_tasks(cluster=twin.cluster, desiredStatus=status)["taskArns"]
    tasks = ecs.describe_tasks(cluster=twin.cluster, tasks=arns)["tasks"] if arns else []
    return {task["taskDefinitionArn"] for task in tasks}


def pinned_versions(twin: LocalTwin, revisions: set[str]) -> set[str | None]:
    found: set[str | None] = set()
    for arn in revisions:
        tags = {
            t["key"]: t["value"] for t in twin.client("ecs").list_tags_for_resource(resourceArn=arn)["tags"]
        }
        found.add(tags.get("config-version-id"))
    return found


def template_revision(twin: LocalTwin) -> str:
    return str(twin._stack().resources["TaskDefinition"].ref)


def status_of(twin: LocalTwin, task_definition: str) -> str:
    return str(
        twin.client("ecs").describe_task_definition(taskDefinition=task_definition)["taskDefinition"][
            "status"
        ]
    )


def test_an_image_change_restarts_on_the_last_good_config_not_the_newer_rejected_upload(
    twin: LocalTwin, baseline: Baseline
) -> None:
    rejected = deploy(twin, INVALID)
    assert rejected.report.error == "ConfigRejected"
    rejected_version = rejected.version_id
    old_template = template_revision(twin)
    tasks_before = every_task_revision(twin)

    before = {report.name for report in twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)}
    update = twin.update_stack({"ControlPlaneImage": NEW_IMAGE})
    reports = [r for r in twin.wait_until_idle(wall_timeout=WALL_TIMEOUT) if r.name not in before]

    assert list(update.replaced) == ["TaskDefinition"], "an image change replaces the task definition"
    assert "Service" in update.updated
    # The drift was recognised and healed at once, by the workflow, on the last good version.
    heals = [item for item in records_of_kind(twin, "heal") if item["action"] == "heal-drift"]
    assert len(heals) == 1, f"the stack update's drift was not healed once: {heals}"
    heal = heals[0]
    assert heal["version_id"] == baseline.version_id
    assert template_revision(twin).rsplit("/", 1)[-1] in heal["trigger"], heal["trigger"]
    assert [(report.name, report.status) for report in reports] == [(heal["execution_name"], "SUCCEEDED")]
    service = twin.service()
    assert service.running_count == 1
    assert service.config_version_id == baseline.version_id, "the rejected upload never runs"
    assert images(twin, service.task_definition)["control-plane"] == NEW_IMAGE, "the new image is deployed"
    # The software that proved good is recorded by digest, as the task reported it.
    (last_good,) = records_of_kind(twin, "last_good")
    assert last_good["image_digests"]["control-plane"] == image_digest(NEW_IMAGE)
    # No task since the update ran an unpinned revision or the rejected version.
    started = every_task_revision(twin) - tasks_before
    assert started and pinned_versions(twin, started) == {baseline.version_id}
    assert rejected_version not in pinned_versions(twin, every_task_revision(twin))
    # CloudFormation's clean-up deregistered its replaced revision, after the update succeeded.
    assert status_of(twin, old_template) == "INACTIVE"
    assert status_of(twin, template_revision(twin)) == "ACTIVE"


@pytest.fixture
def small_twin() -> Iterator[LocalTwin]:
    with LocalTwin(TwinOptions(parameters={"KeepRevisions": "2"})) as local:
        deploy_initial(local, wall_timeout=WALL_TIMEOUT)
        yield local


def test_a_stack_update_after_more_deployments_than_kept_revisions_succeeds(small_twin: LocalTwin) -> None:
    twin = small_twin
    stack_revision = template_revision(twin)
    for index in range(3):
        result = deploy(twin, config_with_location(f"prl_extra_{index}"))
        assert result.report.status == "SUCCEEDED"
    # Pruning kept 2 revisions but never the stack's own, which CloudFormation updates and rolls back onto.
    assert status_of(twin, stack_revision) == "ACTIVE", "the workflow deregistered the stack's own revision"
    active = [r["arn"] for r in twin.revisions() if status_of(twin, r["arn"]) == "ACTIVE"]
    assert len(active) < len(twin.revisions()), "pruning ran"

    before = {report.name for report in twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)}
    twin.update_stack({"ControlPlaneImage": NEW_IMAGE})
    reports = [r for r in twin.wait_until_idle(wall_timeout=WALL_TIMEOUT) if r.name not in before]

    assert [report.status for report in reports] == ["SUCCEEDED"]
    assert images(twin, twin.service().task_definition)["control-plane"] == NEW_IMAGE
    assert status_of(twin, stack_revision) == "INACTIVE", "replaced by the update, then cleaned up"


def side_car_fetches(twin: LocalTwin) -> list[str]:
    """Every config fetch a side-car made, as the simulated Fargate tells it."""
    return [line for line in twin.fargate.events if "side-car of task" in line and " fetched " in line]


def test_when_the_heal_after_an_update_fails_ecs_rolls_back_onto_the_stack_revision_which_runs_no_config(
    twin: LocalTwin, baseline: Baseline
) -> None:
    """The circuit breaker rolls back to the last deployment that completed (ECS developer guide,
    "Amazon ECS deployment circuit breaker"); after a stack update that is CloudFormation's own, of
    the template's revision. That revision names no config version, so its side-car fails and the
    control plane is down rather than up on the newest upload, which the workflow rejected."""
    rejected = deploy(twin, INVALID)
    assert rejected.report.error == "ConfigRejected"
    before = {report.name for report in twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)}
    fetched_before = len(side_car_fetches(twin))
    # The last good version can no longer be read: the heal's deployment and its rollback fail.
    twin.arm("config-download-denied", baseline.version_id)

    try:
        twin.update_stack({"ControlPlaneImage": NEW_IMAGE})
        update_failure = ""
    except TwinError as error:
        update_failure = str(error)
    reports = [r for r in twin.wait_until_idle(wall_timeout=WALL_TIMEOUT) if r.name not in before]

    stack_revision = template_revision(twin)
    assert any(
        f"ECS rolled back to revision {stack_revision.rsplit('/', 1)[-1]}" in line
        for line in twin.fargate.events
    ), "the scenario needs ECS's own rollback onto the stack's revision"
    assert side_car_fetches(twin)[fetched_before:] == [], "a side-car read a config after the update"
    assert rejected.version_id not in pinned_versions(twin, every_task_revision(twin))
    ecs = twin.client("ecs")
    running = ecs.list_tasks(cluster=twin.cluster, desiredStatus="RUNNING")["taskArns"]
    assert running == [] or all(
        task["lastStatus"] != "RUNNING"
        for task in ecs.describe_tasks(cluster=twin.cluster, tasks=running)["tasks"]
    ), "a control plane runs, on no config the workflow validated"
    # CloudFormation's wait on the service saw the circuit breaker fail it: the update failed.
    assert "UPDATE_FAILED: Service (AWS::ECS::Service): ECS deployment circuit breaker" in update_failure
    # The heal says it could not restore the control plane, and why.
    (heal,) = reports
    assert heal.status == "FAILED" and heal.error == "RollbackFailed", (heal.status, heal.error)
