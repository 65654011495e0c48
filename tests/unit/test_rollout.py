"""Rolling out: UpdateService, then waiting for that exact deployment under a deadline."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from controlplane.models import Watch
from controlplane.records import RecordStore, Ticket
from controlplane.rollout import await_deployment, start_or_adopt_rollout
from moto import mock_aws

from tests.unit import workflow_fakes as fakes

NEW = fakes.task_definition(2)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, fakes.FakeClock]]:
    for name, value in fakes.ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws(), fakes.fake_clock() as clock:
        logs = boto3.client("logs", region_name=fakes.REGION)
        logs.create_log_group(logGroupName=fakes.LOG_GROUP)
        dynamodb = boto3.client("dynamodb", region_name=fakes.REGION)
        fakes.create_records_table(dynamodb)
        holding(EXECUTION)
        yield logs, clock


EXECUTION = "exec-1"


def store() -> RecordStore:
    return RecordStore.of(fakes.settings(), dynamodb=boto3.client("dynamodb", region_name=fakes.REGION))


def holding(execution_name: str) -> None:
    """The deployment lock, held by `execution_name` (admission took it before Start rollout runs)."""
    ticket = Ticket(execution_name, f"arn:{execution_name}", "v1", "upload", None, 0)
    assert store().acquire_lock(
        ticket,
        now=time.time(),
        lease_seconds=3600,
        acquired_at_iso="2026-12-01T00:00:00+00:00",
        replacing=None,
    )


def started(ecs: fakes.FakeEcs, *, execution_name: str = EXECUTION, revision: dict[str, Any] = NEW) -> Watch:
    ecs.task_definitions[revision["taskDefinitionArn"]] = revision
    return start_or_adopt_rollout(
        revision["taskDefinitionArn"],
        execution_name=execution_name,
        ecs=ecs,  # type: ignore[arg-type]
        store=store(),
        settings=fakes.settings(),
    )


def wait(watch: Watch, ecs: fakes.FakeEcs, logs: Any, **overrides: str) -> Watch:
    return await_deployment(watch, ecs=ecs, logs=logs, settings=fakes.settings(**overrides))  # type: ignore[arg-type]


def idle(polls: int) -> list[Any]:
    return [lambda ecs: None] * polls


def test_start_forces_a_new_deployment_and_keeps_its_id(env: Any) -> None:
    ecs = fakes.FakeEcs()
    watch = started(ecs)
    assert ecs.calls == ["describe_services", "update_service"]
    assert watch.deployment_id == ecs.primary["id"] != "ecs-svc/0000000000000000000"
    assert watch.task_definition_arn == NEW["taskDefinitionArn"]
    assert watch.deadline - watch.started_at == timedelta(minutes=15)


def test_a_retried_start_adopts_the_deployment_its_first_attempt_noted_without_asking_ecs(env: Any) -> None:
    ecs = fakes.FakeEcs()
    first = started(ecs)
    ecs.calls.clear()

    # Step Functions retried at once: the first attempt's answer was lost, and DescribeServices may not
    # list its deployment yet (eventual consistency). The note on the lock is read strongly consistent.
    again = started(ecs)

    assert ecs.calls == [], "the retry asked ECS (eventually consistent) instead of its own note"
    assert again.deployment_id == first.deployment_id
    assert (again.started_at, again.deadline) == (first.started_at, first.deadline), "the same deadline"
    assert again.task_definition_arn == first.task_definition_arn


def test_a_first_attempt_that_ended_before_its_note_is_adopted_from_ecs(env: Any) -> None:
    ecs = fakes.FakeEcs()
    first = started(ecs)
    store().note_rollout(EXECUTION, {})  # the first attempt stopped between UpdateService and the note
    ecs.calls.clear()

    again = started(ecs)

    assert ecs.calls == ["describe_services"], "the retry restarted the control plane again"
    assert again.deployment_id == first.deployment_id


def test_a_note_of_another_revision_is_not_adopted(env: Any) -> None:
    ecs = fakes.FakeEcs()
    started(ecs)
    ecs.calls.clear()

    other = started(ecs, revision=fakes.task_definition(3))  # e.g. Roll back onto another revision

    assert ecs.calls == ["describe_services", "update_service"]
    assert other.task_definition_arn == fakes.task_definition(3)["taskDefinitionArn"]
    noted = store().noted_rollout(EXECUTION)
    assert noted is not None and noted["task_definition_arn"] == other.task_definition_arn
    assert noted["deployment_id"] == other.deployment_id


def test_an_execution_without_the_lock_still_rolls_out_and_notes_nothing(env: Any) -> None:
    ecs = fakes.FakeEcs()
    watch = started(ecs, execution_name="exec-2")  # the lock is exec-1's

    assert ecs.calls == ["describe_services", "update_service"]
    assert watch.deployment_id == ecs.primary["id"]
    assert store().noted_rollout("exec-2") is None
    assert store().noted_rollout(EXECUTION) is None


def test_success_needs_completed_our_revision_and_a_running_task_with_a_good_side_car(env: Any) -> None:
    logs, clock = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)
    ecs.script = [*idle(17), lambda e: e.complete(ip="10.0.7.7")]
    done = wait(watch, ecs, logs)
    assert done.status == "succeeded" and done.invocations == 1
    assert done.private_ip == "10.0.7.7" and done.task_arn in ecs.tasks
    assert clock.sleeps == [5.0] * 17, "polls every 5 s and stops at once"
    assert done.finished_at is not None and (done.finished_at - watch.started_at).total_seconds() == 85


def test_completed_is_not_enough_without_a_running_task_of_our_revision(env: Any) -> None:
    logs, _ = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)

    def completed_without_task(e: fakes.FakeEcs) -> None:
        e.primary.update(rolloutState="COMPLETED")

    def good_task_later(e: fakes.FakeEcs) -> None:
        e.add_task(e.primary["id"], running=True)

    ecs.script = [completed_without_task]
    ecs.add_task(ecs.primary["id"], running=True, side_car_exit=None)  # side-car still running: not proof
    ecs.add_task(ecs.primary["id"], running=True, task_definition_arn="arn:other:td")
    polls = {"n": 0}
    real_describe = ecs.describe_services

    def describe(**kwargs: Any) -> Any:
        polls["n"] += 1
        if polls["n"] == 4:
            good_task_later(ecs)
        return real_describe(**kwargs)

    ecs.describe_services = describe  # type: ignore[method-assign]
    done = wait(watch, ecs, logs)
    assert done.status == "succeeded"
    assert polls["n"] == 4


def test_a_failed_deployment_fails_at_once_with_why(env: Any) -> None:
    logs, clock = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)
    ecs.script = [*idle(2), lambda e: e.fail_with_side_car()]
    logs.create_log_stream(logGroupName=fakes.LOG_GROUP, logStreamName="config-loader/config-loader/task0004")
    logs.put_log_events(
        logGroupName=fakes.LOG_GROUP,
        logStreamName="config-loader/config-loader/task0004",
        logEvents=[
            {
                "timestamp": int(time.time() * 1000),
                "message": "An error occurred (AccessDenied) when calling the GetObject operation",
            }
        ],
    )
    done = wait(watch, ecs, logs)
    assert done.status == "failed"
    assert clock.sleeps == [5.0, 5.0]
    failure = done.failure
    assert failure is not None and failure.phase == "rollout"
    assert "circuit breaker" in failure.reason and "config download from S3 failed" in failure.reason
    assert len(failure.tasks) == 3 and all(
        t.side_car_failed and t.stop_code == "EssentialContainerExited" for t in failure.tasks
    )
    assert failure.log_lines == [
        "[config-loader] An error occurred (AccessDenied) when calling the GetObject operation"
    ]


def test_a_deployment_not_listed_yet_is_in_progress_within_the_grace_window(env: Any) -> None:
    logs, clock = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)
    shown = copy.deepcopy(ecs.service)
    # ECS is eventually consistent: the first DescribeServices answers still show the service as before.
    before = {**shown, "taskDefinition": fakes.task_definition(1)["taskDefinitionArn"]}
    before["deployments"] = [{**shown["deployments"][1], "status": "PRIMARY"}]
    real = ecs.describe_services
    polls = {"n": 0}

    def lagging(cluster: str, services: list[str]) -> dict[str, Any]:
        polls["n"] += 1
        if polls["n"] <= 3:
            return {"services": [copy.deepcopy(before)]}
        return real(cluster, services)

    ecs.describe_services = lagging  # type: ignore[method-assign]
    ecs.script = [*idle(2), lambda e: e.complete()]
    done = wait(watch, ecs, logs)
    assert done.status == "succeeded", done.failure
    assert clock.sleeps[:3] == [5.0, 5.0, 5.0]


def drop(ecs: fakes.FakeEcs, watch: Watch) -> None:
    """DescribeServices forgets the watched deployment; the one before is PRIMARY again."""
    ecs.service["deployments"] = [d for d in ecs.service["deployments"] if d["id"] != watch.deployment_id]
    ecs.service["deployments"][0]["status"] = "PRIMARY"


def test_a_deployment_gone_after_the_grace_window_is_explained_by_its_service_deployment(env: Any) -> None:
    logs, clock = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)

    def vanish(e: fakes.FakeEcs) -> None:
        drop(e, watch)
        e.service_deployments[-1].update(status="STOPPED", statusReason="a user stopped the deployment")

    ecs.script = [vanish]
    done = wait(watch, ecs, logs)
    assert done.status == "failed" and done.failure is not None
    reason = done.failure.reason
    assert "no longer listed" in reason and "STOPPED (a user stopped the deployment)" in reason, reason
    assert "ecs-svc/0000000000000000000" in reason, "says what the service runs now"
    waited = clock.now() - watch.started_at.timestamp()
    assert 60 <= waited <= 65, "waits out the consistency window first, then no longer"


def test_a_deployment_ecs_has_no_record_of_vanished(env: Any) -> None:
    logs, _ = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)

    def vanish(e: fakes.FakeEcs) -> None:
        drop(e, watch)
        e.service_deployments.clear()

    ecs.script = [vanish]
    done = wait(watch, ecs, logs)
    assert done.status == "failed" and done.failure is not None
    assert "vanished" in done.failure.reason and "ecs-svc/0000000000000000000" in done.failure.reason


def test_startedby_refused_with_another_filter_is_filtered_here(env: Any) -> None:
    logs, _ = env
    ecs = fakes.FakeEcs(refuse_started_by_with_filters=True)
    watch = started(ecs)
    ecs.add_task("ecs-svc/0000000000000000000", running=False, stopped_reason="an older deployment's")
    for _ in range(3):  # a crash loop: tasks of ours that ran, then stopped
        arn = ecs.add_task(watch.deployment_id, running=False, control_plane_exit=1)
        ecs.tasks[arn]["startedAt"] = "2026-11-29T12:00:00Z"
    done = wait(watch, ecs, logs)
    assert done.status == "failed" and done.failure is not None
    assert "3 tasks of deployment" in done.failure.reason, done.failure.reason
    assert [t.stopped_reason for t in done.failure.tasks if "older" in str(t.stopped_reason)] == []


def test_a_superseded_deployment_fails(env: Any) -> None:
    logs, _ = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)
    ecs.update_service(
        cluster=fakes.CLUSTER,
        service=fakes.CLUSTER,
        taskDefinition="arn:someone-else:td",
        forceNewDeployment=True,
    )
    done = wait(watch, ecs, logs)
    assert done.status == "failed" and done.failure is not None and "superseded" in done.failure.reason


def test_completed_while_the_service_is_on_another_revision_fails(env: Any) -> None:
    logs, _ = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)

    def completed_elsewhere(e: fakes.FakeEcs) -> None:
        e.primary.update(rolloutState="COMPLETED")
        e.service["taskDefinition"] = "arn:old:td"

    ecs.script = [completed_elsewhere]
    done = wait(watch, ecs, logs)
    assert done.status == "failed" and done.failure is not None and "not our revision" in done.failure.reason


def test_a_missing_service_fails(env: Any) -> None:
    logs, _ = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)
    ecs.service["status"] = "DRAINING"
    done = wait(watch, ecs, logs)
    assert (
        done.status == "failed" and done.failure is not None and "missing or inactive" in done.failure.reason
    )


def test_the_deadline_ends_the_wait_across_invocations(env: Any) -> None:
    logs, clock = env
    ecs = fakes.FakeEcs()
    watch = started(ecs)
    ecs.script = idle(10_000)
    first = wait(watch, ecs, logs)
    assert (first.status, first.invocations) == ("in_progress", 1)
    assert 595 <= clock.now() - watch.started_at.timestamp() <= 600
    second = wait(first, ecs, logs)
    assert (second.status, second.invocations) == ("failed", 2)
    assert clock.now() == pytest.approx(watch.deadline.timestamp())
    assert second.failure is not None and "did not complete within 900 s" in second.failure.reason
    assert "IN_PROGRESS" in second.failure.reason


def test_a_note_that_cannot_be_written_does_not_fail_the_rollout_it_follows(env: Any) -> None:
    ecs = fakes.FakeEcs()
    boto3.client("dynamodb", region_name=fakes.REGION).delete_table(TableName=fakes.TABLE)

    watch = started(ecs)  # UpdateService took effect: failing now would roll back a rollout under way

    assert ecs.calls == ["describe_services", "update_service"]
    assert watch.deployment_id == ecs.primary["id"]
