"""Scenario 14: no restart under a running load test, and a bake after every "up".

A run on a location of the running config defers an upload until it ends; one that never ends
reaches RunWaitMinutes and follows RunWaitExpiry; "force" deploys at once; a self-heal of a control
plane that is down does not wait. After "up", the bake rolls back a control plane that crashes two
minutes later, and a healthy bake moves the last good pointer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cpctl.local_cmd import deploy_initial
from cpctl.twin.fargate import CRASH_AFTER_UP_SECONDS
from cpctl.twin.health_faults import HealthFaults
from cpctl.twin.health_scenario import HealthWatch
from cpctl.twin.twin import RUN_IN_PROGRESS_SECONDS, LocalTwin, TwinOptions

from .conftest import (
    WALL_TIMEOUT,
    Baseline,
    changed_config,
    deploy,
    deployment_record,
    notifications_about,
    records_of_kind,
    restored_revision,
    states_entered,
)

WAIT_STATE = "Wait for load test runs"


def state_started(report: Any, name: str) -> float:
    """Simulated epoch seconds when the execution first entered state `name`."""
    return float(report.started + next(step.entered for step in report.states if step.name == name))


def last_good(twin: LocalTwin) -> dict[str, Any]:
    return next(item for item in twin.records() if item.get("kind") == "last_good")


def old_task_stopping_at(twin: LocalTwin, task_definition: str) -> float | None:
    """When the rollout began stopping the task of `task_definition` (simulated epoch seconds)."""
    for task in twin.client("ecs").list_tasks(cluster=twin.cluster, desiredStatus="STOPPED")["taskArns"]:
        described = twin.client("ecs").describe_tasks(cluster=twin.cluster, tasks=[task])["tasks"][0]
        if described["taskDefinitionArn"] == task_definition and described.get("stoppingAt"):
            return float(described["stoppingAt"].timestamp())
    return None


# ---------------------------------------------------------------- run-aware deployments


def test_a_run_in_progress_defers_the_upload_until_it_ends_then_it_deploys(
    twin: LocalTwin, baseline: Baseline
) -> None:
    uploaded_at = twin.clock.now()
    result = deploy(twin, changed_config(), "run-in-progress")

    report = result.report
    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    run_ended = uploaded_at + RUN_IN_PROGRESS_SECONDS
    # Nothing touched the service before the run ended, and the deployment went on within one check.
    registered = state_started(report, "Register pinned revision")
    assert run_ended <= registered <= run_ended + 61, (registered - run_ended, states_entered(report))
    stopping = old_task_stopping_at(twin, baseline.task_definition)
    assert stopping is not None and stopping >= run_ended
    # Cheap in transitions: a 12-minute wait is 2 invocations of the waiting Lambda.
    assert states_entered(report).count(WAIT_STATE) == 2
    record = deployment_record(twin, report.name)
    assert record["load_tests"]["status"] == "clear"
    assert record["load_tests"]["waited_seconds"] >= RUN_IN_PROGRESS_SECONDS - 1
    # Notified once when it started waiting, once when it went on, then the outcome.
    notes = notifications_about(twin, result.version_id)
    subjects = [note["subject"] for note in notes]
    assert len(notes) == 3, subjects
    assert "waits for a load test" in subjects[0] and "run_twin_0001" in notes[0]["message"]
    assert "goes on" in subjects[1] and "deployed" in subjects[2]


def test_a_run_that_never_ends_reaches_the_wait_limit_and_is_skipped() -> None:
    options = TwinOptions(parameters={"RunWaitMinutes": "15", "RunWaitExpiry": "skip"})
    with LocalTwin(options) as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        before = twin.service().task_definition
        uploaded_at = twin.clock.now()
        result = deploy(twin, changed_config(), "run-never-ends")

        report = result.report
        assert (report.status, report.error) == ("FAILED", "DeploymentFailed"), report.cause
        assert report.cause is not None and "RunWaitExpiry is skip" in report.cause
        assert '"force": true' in report.cause
        # The service was never touched: no revision registered, the old task still runs.
        assert twin.service().task_definition == before and result.revisions_registered == 0
        assert "Register pinned revision" not in states_entered(report)
        assert report.started + report.simulated_seconds >= uploaded_at + 15 * 60
        record = deployment_record(twin, report.name)
        assert record["load_tests"]["status"] == "gave_up"
        subjects = [n["subject"] for n in notifications_about(twin, result.version_id)]
        assert len(subjects) == 2 and "waits for a load test" in subjects[0], subjects


def test_a_run_that_never_ends_reaches_the_wait_limit_and_deploys_when_told_so() -> None:
    options = TwinOptions(parameters={"RunWaitMinutes": "10", "RunWaitExpiry": "deploy"})
    with LocalTwin(options) as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        uploaded_at = twin.clock.now()
        result = deploy(twin, changed_config(), "run-never-ends")

        report = result.report
        assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
        assert state_started(report, "Register pinned revision") >= uploaded_at + 10 * 60
        record = deployment_record(twin, report.name)
        assert record["load_tests"]["status"] == "expired"
        assert "run_twin_0001" in record["load_tests"]["detail"]


def test_force_deploys_at_once_under_a_running_load_test(twin: LocalTwin, baseline: Baseline) -> None:
    twin.start_run(never_ends=True)
    arn = twin.start_manual({"reason": "urgent config fix", "force": True})
    report = twin.wait_for_execution(arn, wall_timeout=WALL_TIMEOUT)

    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    assert states_entered(report).count(WAIT_STATE) == 1
    record = deployment_record(twin, report.name)
    assert record["load_tests"]["status"] == "not_needed" and record["load_tests"]["forced"] is True
    assert "force" in record["load_tests"]["detail"]
    assert not any("waits for a load test" in (n["subject"] or "") for n in twin.notifications())


def test_a_self_heal_of_a_dead_control_plane_does_not_wait_for_runs() -> None:
    with LocalTwin() as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        twin.start_run(never_ends=True)  # Gatling still shows a run on the location
        watch = HealthWatch.attach(twin)
        faults = HealthFaults(twin)
        try:
            watch.run_check()
            faults.inject("task-stopped")
            heals: list[dict[str, Any]] = []
            for _ in range(6):
                watch.advance_to_next_run()
                watch.run_check()
                heals = [e for e in twin.executions() if e["name"].startswith("self-heal-")]
                if heals:
                    break
            assert heals, "no self-heal started"
            report = twin.wait_for_execution(heals[0]["executionArn"], wall_timeout=WALL_TIMEOUT)
            watch.after_run()
        finally:
            faults.close()

        assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
        record = deployment_record(twin, report.name)
        assert record["load_tests"]["status"] == "not_needed"
        assert "self-heal of a control plane that does not answer" in record["load_tests"]["detail"]
        assert states_entered(report).count(WAIT_STATE) == 1


# ---------------------------------------------------------------- the bake


def test_a_control_plane_that_crashes_two_minutes_after_up_is_rolled_back_by_the_bake(
    twin: LocalTwin, baseline: Baseline
) -> None:
    good_before = last_good(twin)
    result = deploy(twin, changed_config(), "crash-after-up")

    report = result.report
    assert (report.status, report.error) == ("FAILED", "DeploymentRolledBack"), report.cause
    # Back on the last good revision's config and software (its image-pinned copy).
    assert result.rolled_back
    assert (
        restored_revision(twin, twin.service().task_definition) == baseline.task_definition.rsplit("/", 1)[-1]
    )
    states = states_entered(report)
    assert states.index("Bake new control plane") < states.index("Roll back")
    # The bake's evidence is in the cause: the stopped task, its exit code, the control plane's error.
    assert report.cause is not None
    assert "the bake failed" in report.cause and "into the 300 s bake" in report.cause
    assert "exit code 1" in report.cause and "OutOfMemoryError" in report.cause
    # Seen within one check interval (30 s) of the crash, 2 minutes after up (the up-check saw "up"
    # within one 5 s poll of it).
    up_seen = state_started(report, "Bake new control plane")
    rolled = state_started(report, "Roll back")
    assert CRASH_AFTER_UP_SECONDS - 10 <= rolled - up_seen <= CRASH_AFTER_UP_SECONDS + 45
    # The last good pointer never moved to the crashing version.
    assert last_good(twin)["version_id"] == good_before["version_id"]
    record = deployment_record(twin, report.name)
    assert record["bake"]["status"] == "failed" and record["failure"]["phase"] == "bake"


def test_a_healthy_bake_moves_last_good_only_after_it(twin: LocalTwin, baseline: Baseline) -> None:
    result = deploy(twin, changed_config())

    report = result.report
    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    assert last_good(twin)["version_id"] == result.version_id
    bake_started = state_started(report, "Bake new control plane")
    recorded = state_started(report, "Record outcome")
    assert recorded - bake_started >= 300  # the default BakeMinutes: 5
    record = deployment_record(twin, report.name)
    assert record["bake"]["status"] == "passed" and record["bake"]["checks"] == 11
    assert "5-minute" not in str(record) and "300 s bake" in record["cause"]
    assert report.transitions <= 20


@pytest.fixture
def no_bake_twin() -> Iterator[LocalTwin]:
    with LocalTwin(TwinOptions(parameters={"BakeMinutes": "0", "RunWaitMinutes": "0"})) as local:
        deploy_initial(local, wall_timeout=WALL_TIMEOUT)
        yield local


def test_bake_minutes_zero_and_run_wait_minutes_zero_skip_both_steps(no_bake_twin: LocalTwin) -> None:
    result = deploy(no_bake_twin, changed_config())
    report = result.report
    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    visited = [step.name for step in report.states]
    assert not {"Wait for load test runs", "Bake new control plane"} & set(visited), visited
    assert report.transitions == 13, visited  # what a deployment cost before the two steps existed
    record = deployment_record(no_bake_twin, report.name)
    assert record.get("bake") is None and record.get("load_tests") is None
    assert records_of_kind(no_bake_twin, "last_good")[0]["version_id"] == result.version_id
