"""Rolling back after a failure past registration: where to, how, and when it is not needed."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import msgspec
import pytest
from controlplane.codec import dump, parse
from controlplane.models import (
    Admission,
    CaughtError,
    ConfigObject,
    ConfigRef,
    ExecutionRef,
    FailureReport,
    RevisionRef,
    RollBackInput,
    UpCheck,
    Watch,
    WorkflowState,
)
from controlplane.records import LastGood, RecordStore, Ticket
from controlplane.revisions import pinned_command, pinned_version
from controlplane.rollback import roll_back

from tests.unit import workflow_fakes as fakes


@dataclass
class World:
    ecs: fakes.FakeEcs
    s3: Any
    logs: Any
    store: RecordStore
    versions: list[str]
    clock: fakes.FakeClock

    def roll_back(self, state: WorkflowState) -> WorkflowState:
        return roll_back(
            parse(RollBackInput, dump(state)),
            ecs=self.ecs,  # type: ignore[arg-type]
            s3=self.s3,
            logs=self.logs,
            store=self.store,
            settings=fakes.settings(),
        )

    def failed_state(self, *, rollout: bool = True, up_failed: bool = False) -> WorkflowState:
        """The state of an execution whose new revision (td:2, pinned to the newest version) failed."""
        new = fakes.task_definition(2, command=pinned_command(fakes.BUCKET, fakes.KEY, self.versions[-1]))
        self.ecs.task_definitions[new["taskDefinitionArn"]] = new
        now = fakes.START
        target = ConfigObject(bucket=fakes.BUCKET, key=fakes.KEY, version_id=self.versions[-1])
        state = WorkflowState(
            request=fakes.upload_request(self.versions[-1]),  # type: ignore[arg-type]
            execution=parse(ExecutionRef, fakes.execution()),
            admission=Admission(
                decision="admitted", detail="", target=target, wait_deadline=now, admitted_at=now
            ),
            config=ConfigRef(
                bucket=fakes.BUCKET, key=fakes.KEY, version_id=self.versions[-1], sha256="0" * 64, size=1
            ),
            revision=RevisionRef(
                task_definition_arn=new["taskDefinitionArn"],
                previous_task_definition_arn=self.ecs.service["taskDefinition"],
                registered_at=now,
            ),
        )
        if not rollout:
            return msgspec.structs.replace(state, error=CaughtError(Error="States.Timeout", Cause=""))
        self.ecs.update_service(
            cluster="", service="", taskDefinition=new["taskDefinitionArn"], forceNewDeployment=True
        )
        watch = Watch(
            deployment_id=self.ecs.primary["id"],
            task_definition_arn=new["taskDefinitionArn"],
            started_at=now,
            deadline=now + timedelta(minutes=15),
        )
        if up_failed:
            self.ecs.primary["rolloutState"] = "COMPLETED"
            task = self.ecs.add_task(watch.deployment_id, running=True)
            watch = msgspec.structs.replace(watch, status="succeeded", task_arn=task, private_ip="10.0.1.23")
            failure = FailureReport(
                phase="control_plane_up", reason="the control plane was not up within 300 s"
            )
            up = UpCheck(started_at=now, deadline=now, status="failed", failure=failure)
            return msgspec.structs.replace(state, rollout=watch, up=up)
        self.ecs.primary["rolloutState"] = "FAILED"
        failure = FailureReport(phase="rollout", reason="ECS marked deployment FAILED")
        return msgspec.structs.replace(
            state, rollout=msgspec.structs.replace(watch, status="failed", failure=failure)
        )

    def on_last_good(self) -> str:
        """The service runs td:5, pinned to the first config version and recorded as the last good one."""
        good = fakes.task_definition(5, command=pinned_command(fakes.BUCKET, fakes.KEY, self.versions[0]))
        arn = str(good["taskDefinitionArn"])
        self.ecs.task_definitions[arn] = good
        self.ecs.service["taskDefinition"] = self.ecs.primary["taskDefinition"] = arn
        self.store.set_last_good(LastGood(self.versions[0], "a" * 64, arn, "d", "t", "e0", None))
        return arn

    def launches_of(self, task_definition_arn: str) -> list[str]:
        return [arn for arn, t in self.ecs.tasks.items() if t["taskDefinitionArn"] == task_definition_arn]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    configs = [b"good config", b"bad config"]
    with (
        fakes.records_and_config(monkeypatch, configs) as (dynamodb, s3, versions),
        fakes.fake_clock() as clock,
    ):
        logs = boto3.client("logs", region_name=fakes.REGION)
        logs.create_log_group(logGroupName=fakes.LOG_GROUP)
        store = RecordStore(dynamodb=dynamodb, table=fakes.TABLE, service=fakes.CLUSTER)
        # The good config once deployed (its version record says so); the bad one is being deployed.
        store.mark_version(versions[0], status="succeeded", execution_name="exec-0")
        yield World(fakes.FakeEcs(), s3, logs, store, versions, clock)


def test_it_rolls_back_to_the_last_good_revision_and_waits_for_that_rollout(world: World) -> None:
    good = fakes.task_definition(5, command=pinned_command(fakes.BUCKET, fakes.KEY, world.versions[0]))
    world.ecs.task_definitions[good["taskDefinitionArn"]] = good
    world.store.set_last_good(
        LastGood(world.versions[0], "a" * 64, good["taskDefinitionArn"], "d", "t", "e0", None)
    )
    state = world.failed_state()
    world.ecs.script = [lambda e: None, lambda e: e.complete()]
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "succeeded"
    assert after.target_task_definition_arn == good["taskDefinitionArn"]
    assert world.ecs.service["taskDefinition"] == good["taskDefinitionArn"]
    assert after.failure.reason == "ECS marked deployment FAILED"
    assert after.invocations == 1


def test_without_a_last_good_it_rolls_back_to_the_previous_revision_pinned_to_an_older_good_config(
    world: World,
) -> None:
    state = world.failed_state()  # the previous revision, td:1, pins no config
    world.ecs.script = [lambda e: e.complete()]
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "succeeded"
    target = world.ecs.task_definitions[after.target_task_definition_arn or ""]
    assert pinned_version(target) == world.versions[0], "restores the config that was current before"
    tags = {t["key"]: t["value"] for t in world.ecs.tags[target["taskDefinitionArn"]]}
    assert tags["config-version-id"] == world.versions[0]
    assert len(tags["config-sha256"]) == 64


@pytest.mark.parametrize("status", ["rejected", "rolled_back", "failed"])
def test_an_older_config_that_never_deployed_successfully_is_not_safe_to_roll_back_to(
    world: World, status: str
) -> None:
    """Upload A is rejected (or failed), B passes validation and fails: with no last good revision,
    starting the control plane on A, the version just before B, would run a config nobody proved."""
    state = world.failed_state()
    world.store.mark_version(world.versions[0], status=status, execution_name="exec-0")
    updates = world.ecs.calls.count("update_service")
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "failed" and after.problem is not None
    assert "no config version older than" in after.problem and "ever deployed successfully" in after.problem
    assert world.ecs.calls.count("update_service") == updates
    assert "register_task_definition" not in world.ecs.calls


def test_with_nothing_safe_to_roll_back_to_it_changes_nothing(world: World) -> None:
    world.versions = world.versions[:1]  # the failing version is the very first config
    state = world.failed_state()
    updates = world.ecs.calls.count("update_service")
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "failed" and after.problem is not None
    assert "nothing safe to roll back to" in after.problem
    assert world.ecs.calls.count("update_service") == updates
    assert "register_task_definition" not in world.ecs.calls


def test_no_rollback_when_update_service_never_took_effect(world: World) -> None:
    state = world.failed_state(rollout=False)
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "not_needed"
    assert "update_service" not in world.ecs.calls
    assert after.failure.reason.startswith("States.Timeout")


def test_a_rollout_that_started_but_was_not_recorded_is_rolled_back(world: World) -> None:
    state = world.failed_state(rollout=False)
    world.ecs.update_service(
        cluster="", service="", taskDefinition=state.revision.task_definition_arn, forceNewDeployment=True
    )  # type: ignore[union-attr]
    world.ecs.primary["rolloutState"] = "FAILED"
    world.ecs.script = [lambda e: e.complete()]
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "succeeded"
    assert world.ecs.calls.count("update_service") == 2, "the rollback's own deployment"
    target = after.target_task_definition_arn or ""
    assert world.ecs.service["taskDefinition"] == target != state.revision.task_definition_arn  # type: ignore[union-attr]
    assert pinned_version(world.ecs.task_definitions[target]) == world.versions[0]


def test_a_failed_rollback_rollout_is_reported(world: World) -> None:
    state = world.failed_state()
    world.ecs.script = [lambda e: e.fail_with_side_car()]
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "failed"
    assert after.problem is not None and "config download from S3 failed" in after.problem


def test_a_long_rollback_resumes_without_a_second_update(world: World) -> None:
    state = world.failed_state()
    world.ecs.script = [lambda e: None] * 150 + [lambda e: e.complete()]  # done after 750 s, within 900 s
    first = world.roll_back(state)
    assert first.rollback is not None and (first.rollback.status, first.rollback.invocations) == (
        "in_progress",
        1,
    )
    updates = world.ecs.calls.count("update_service")
    second = world.roll_back(first)
    assert second.rollback is not None and (second.rollback.status, second.rollback.invocations) == (
        "succeeded",
        2,
    )
    assert world.ecs.calls.count("update_service") == updates


def test_an_up_check_failure_is_explained_with_the_control_plane_errors(world: World) -> None:
    state = world.failed_state(up_failed=True)
    task_id = (state.rollout.task_arn or "").rsplit("/", 1)[-1]  # type: ignore[union-attr]
    stream = f"control-plane/control-plane/{task_id}"
    world.logs.create_log_stream(logGroupName=fakes.LOG_GROUP, logStreamName=stream)
    world.logs.put_log_events(
        logGroupName=fakes.LOG_GROUP,
        logStreamName=stream,
        logEvents=[
            {
                "timestamp": int(time.time() * 1000),
                "message": "ERROR Control plane 'cp' failed to deploy private location 'prl_x'",
            }
        ],
    )
    world.ecs.script = [lambda e: e.complete()]
    after = world.roll_back(state).rollback
    assert after is not None and after.failure.phase == "control_plane_up"
    assert after.failure.log_lines == [
        "[control-plane] ERROR Control plane 'cp' failed to deploy private location 'prl_x'"
    ]


# ---------------------------------------------------------------- ECS's own circuit-breaker rollback


def test_ecs_rolling_back_onto_the_last_good_revision_is_watched_not_restarted(world: World) -> None:
    good = world.on_last_good()
    state = world.failed_state()
    ecs_rollback = world.ecs.roll_back_by_itself(good)
    updates = world.ecs.calls.count("update_service")
    world.ecs.script = [lambda e: None, lambda e: e.complete()]
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "succeeded"
    assert world.ecs.calls.count("update_service") == updates, (
        "a second deployment restarts the control plane"
    )
    assert after.watch is not None and after.watch.deployment_id == ecs_rollback
    assert after.started_by == "ecs" and after.target_task_definition_arn == good
    assert len(world.launches_of(good)) == 1, "only the task ECS's rollback started"
    assert world.ecs.service["taskDefinition"] == good


def test_a_completed_ecs_rollback_is_accepted_once_its_task_runs(world: World) -> None:
    good = world.on_last_good()
    state = world.failed_state()
    ecs_rollback = world.ecs.roll_back_by_itself(good)
    world.ecs.complete()
    # The rollback has drained the failed deployment: ECS no longer lists it.
    world.ecs.service["deployments"] = [world.ecs.primary]
    updates = world.ecs.calls.count("update_service")
    after = world.roll_back(state).rollback
    assert after is not None and (after.status, after.invocations) == ("succeeded", 1)
    assert after.watch is not None and after.watch.deployment_id == ecs_rollback
    assert world.ecs.calls.count("update_service") == updates


def test_a_failing_ecs_rollback_needs_manual_action_and_is_not_repeated(world: World) -> None:
    good = world.on_last_good()
    state = world.failed_state()
    world.ecs.roll_back_by_itself(good)
    updates = world.ecs.calls.count("update_service")
    world.ecs.script = [lambda e: None, lambda e: e.fail_with_side_car()]  # fails after the first look
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "failed" and after.started_by == "ecs"
    assert after.problem is not None and "FAILED" in after.problem
    assert world.ecs.calls.count("update_service") == updates


def test_an_ecs_rollback_that_never_completes_fails_at_the_deadline(world: World) -> None:
    good = world.on_last_good()
    state = world.failed_state()
    ecs_rollback = world.ecs.roll_back_by_itself(good)
    updates = world.ecs.calls.count("update_service")
    world.ecs.script = [lambda e: None] * 1000
    first = world.roll_back(state)
    second = world.roll_back(first).rollback
    assert second is not None and second.status == "failed"
    assert (
        second.problem is not None
        and f"deployment {ecs_rollback} did not complete within 900 s" in second.problem
    )
    assert world.ecs.calls.count("update_service") == updates


def test_ecs_rolling_back_onto_an_unpinned_revision_is_replaced_by_the_pinned_one(world: World) -> None:
    state = world.failed_state()  # no last good: the target is td:1 re-pinned to the older good config
    ecs_rollback = world.ecs.roll_back_by_itself(state.revision.previous_task_definition_arn)  # type: ignore[union-attr]
    updates = world.ecs.calls.count("update_service")
    # seen in progress (by the check for a rollout this execution started already, then by the wait), then ours completes
    world.ecs.script = [lambda e: None, lambda e: None, lambda e: e.complete()]
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "succeeded" and after.started_by == "workflow"
    assert world.ecs.calls.count("update_service") == updates + 1, "td:1 reads the failing config"
    assert after.watch is not None and after.watch.deployment_id != ecs_rollback
    assert (
        pinned_version(world.ecs.task_definitions[after.target_task_definition_arn or ""])
        == world.versions[0]
    )


DIGESTS = {"control-plane": "sha256:" + "d" * 64, "config-loader": "sha256:" + "e" * 64}


def test_a_rollback_it_starts_runs_the_last_good_images_by_digest(world: World) -> None:
    good = world.on_last_good()
    world.store.set_last_good(
        LastGood(world.versions[0], "a" * 64, good, "d", "t", "e0", None, image_digests=DIGESTS)
    )
    state = world.failed_state()
    world.ecs.script = [lambda e: None, lambda e: e.complete()]
    after = world.roll_back(state).rollback
    assert after is not None and after.status == "succeeded"
    target = after.target_task_definition_arn
    assert target is not None and target != good and after.restores_task_definition_arn == good
    containers = {c["name"]: c["image"] for c in world.ecs.task_definitions[target]["containerDefinitions"]}
    assert containers["control-plane"] == f"gatlingcorp/control-plane@{DIGESTS['control-plane']}"
    assert pinned_version(world.ecs.task_definitions[target]) == world.versions[0]
    assert world.ecs.service["taskDefinition"] == target


def test_ecs_rolling_back_onto_the_last_good_revision_keeps_its_digests_so_no_copy_is_made(
    world: World,
) -> None:
    good = world.on_last_good()
    world.store.set_last_good(
        LastGood(world.versions[0], "a" * 64, good, "d", "t", "e0", None, image_digests=DIGESTS)
    )
    state = world.failed_state()
    world.ecs.roll_back_by_itself(good)
    registered = world.ecs.calls.count("register_task_definition")
    world.ecs.script = [lambda e: None, lambda e: e.complete()]
    after = world.roll_back(state).rollback
    assert after is not None and after.started_by == "ecs" and after.target_task_definition_arn == good
    assert after.restores_task_definition_arn is None
    assert world.ecs.calls.count("register_task_definition") == registered


def _lagging(world: World, looks: int, before: dict[str, Any] | None = None) -> None:
    """DescribeServices answers its first `looks` calls with the service as it is now (or as `before`):
    as before an UpdateService made after (eventual consistency)."""
    before = copy.deepcopy(world.ecs.service if before is None else before)
    real = world.ecs.describe_services
    calls = {"n": 0}

    def describe(cluster: str, services: list[str]) -> dict[str, Any]:
        calls["n"] += 1
        return {"services": [copy.deepcopy(before)]} if calls["n"] <= looks else real(cluster, services)

    world.ecs.describe_services = describe  # type: ignore[method-assign]


def test_a_change_only_the_service_deployments_history_shows_is_rolled_back(world: World) -> None:
    state = world.failed_state(rollout=False)
    _lagging(world, looks=10)  # DescribeServices never shows it while the rollback decides
    world.ecs.update_service(
        cluster="", service="", taskDefinition=state.revision.task_definition_arn, forceNewDeployment=True
    )  # type: ignore[union-attr]
    after = world.roll_back(state).rollback
    assert after is not None and after.status != "not_needed"
    assert "the service was changed" in after.failure.reason and "IN_PROGRESS" in after.failure.reason
    assert world.ecs.calls.count("update_service") == 2, "the rollback's own deployment"


def test_not_changed_is_decided_by_two_looks_a_consistency_window_apart(world: World) -> None:
    state = world.failed_state(rollout=False)
    _lagging(world, looks=1)  # the first look still shows the service as before
    world.ecs.update_service(
        cluster="", service="", taskDefinition=state.revision.task_definition_arn, forceNewDeployment=True
    )  # type: ignore[union-attr]
    world.ecs.service_deployments.clear()  # and the history has not caught up either
    after = world.roll_back(state).rollback
    assert after is not None and after.status != "not_needed"
    assert "the service runs" in after.failure.reason


def test_a_retried_roll_back_adopts_the_rollout_its_first_attempt_started(world: World) -> None:
    good = world.on_last_good()
    state = world.failed_state()
    ticket = Ticket(state.execution.name, state.execution.id, world.versions[-1], "upload", None, 0)
    assert world.store.acquire_lock(
        ticket,
        now=time.time(),
        lease_seconds=3600,
        acquired_at_iso="2026-12-01T00:00:00+00:00",
        replacing=None,
    )
    world.ecs.script = [lambda e: None, lambda e: e.complete()]
    before_rollback = copy.deepcopy(world.ecs.service)
    first = world.roll_back(state).rollback
    assert first is not None and first.status == "succeeded" and first.target_task_definition_arn == good
    updates = world.ecs.calls.count("update_service")

    # Step Functions ran Roll back again with the same input: the first attempt's answer was lost,
    # and DescribeServices does not show the first attempt's deployment yet: only the note can tell.
    _lagging(world, looks=1000, before=before_rollback)
    again = world.roll_back(state).rollback

    assert world.ecs.calls.count("update_service") == updates, "the retry restarted the control plane again"
    assert again is not None and again.watch is not None and first.watch is not None
    assert again.watch.deployment_id == first.watch.deployment_id
