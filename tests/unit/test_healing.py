"""The heal rules: counting consecutive failures, when a self-heal starts, the rate limit (also when the
heal keeps failing), never while a deployment runs, lost uploads redelivered once, every action recorded
with its outcome."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from controlplane.codec import parse
from controlplane.healing import SELF_HEAL_REASON, HealthOutcome, act, next_consecutive
from controlplane.models import CHECKS, HealthReport
from controlplane.records import HEAL_PREFIX, HEALTH_PREFIX, HEALTH_STATE_SK, RecordStore

from tests.unit import health_fakes as hf
from tests.unit import workflow_fakes as fakes

RUN_EVERY = 300.0  # the schedule's default rate


def report(
    failed: tuple[str, ...] = (),
    *,
    last_good: str | None = "v1",
    deploying: str | None = None,
    lost: str | None = None,
) -> HealthReport:
    checks = {
        name: {"status": "fail" if name in failed else "pass", "detail": f"{name} detail"} for name in CHECKS
    }
    return parse(
        HealthReport,
        {
            "checked_at": fakes.START,
            "healthy": not failed,
            "checks": checks,
            "running_tasks": 0 if "service" in failed else 1,
            "last_good_version_id": last_good,
            "last_good_task_definition_arn": hf.revision_arn(2) if last_good else None,
            "deployment_running": deploying,
            "lost_upload": {"version_id": lost, "uploaded_at": fakes.START} if lost else None,
        },
    )


@dataclass
class World:
    store: RecordStore
    sfn: hf.FakeSfn
    clock: Any

    def run(self, checked: HealthReport, **overrides: str) -> HealthOutcome:
        """One scheduled run at the clock's time, then the clock moves to the next one."""
        stamped = msgspec.structs.replace(checked, checked_at=datetime.fromtimestamp(self.clock.time, UTC))
        outcome = act(stamped, store=self.store, sfn=self.sfn, settings=hf.settings(**overrides))  # type: ignore[arg-type]
        self.clock.time += RUN_EVERY
        return outcome

    def items(self, prefix: str) -> list[dict[str, Any]]:
        return self.store._query_prefix(prefix)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with hf.aws(monkeypatch) as aws, fakes.fake_clock() as clock:
        store = RecordStore(dynamodb=aws.dynamodb, table=fakes.TABLE, service=hf.CLUSTER)
        yield World(store=store, sfn=hf.FakeSfn(), clock=clock)


# ---------------------------------------------------------------- counting


def test_failures_count_up_a_healthy_run_resets_and_a_deployment_freezes_the_count() -> None:
    assert next_consecutive(report(("info",)), 2) == 3
    assert next_consecutive(report(), 2) == 0
    assert next_consecutive(report(("info",), deploying="execution x deploys v2"), 2) == 2
    # A lost upload alone is the config check: a redeploy of the last good version would not fix it.
    assert next_consecutive(report(("config",)), 2) == 0


# ---------------------------------------------------------------- self-heal


def test_the_self_heal_starts_after_n_consecutive_failures_with_the_manual_request_shape(
    world: World,
) -> None:
    first = world.run(report(("service", "info")))
    second = world.run(report(("service", "info")))
    assert (first.heal.decision, second.heal.decision) == ("counting", "counting")
    assert "2 of 3" in second.heal.detail and not world.sfn.started

    third = world.run(report(("service", "info")))

    assert third.heal.decision == "started" and third.consecutive_failures == 3
    [started] = world.sfn.started
    assert started["stateMachineArn"] == hf.STATE_MACHINE_ARN
    # The control plane is down (service and info fail): the request says force, so the workflow
    # does not wait for load test runs that cannot be using it.
    assert started["input"] == {"version_id": "v1", "reason": SELF_HEAL_REASON, "force": True}
    assert started["name"].startswith("self-heal-20261129T") and len(started["name"]) <= 80
    [action] = third.actions
    assert (
        action.action == "self-heal"
        and action.outcome == "started"
        and action.execution_arn == started["arn"]
    )
    assert "3 consecutive failed runs: service, info" in action.trigger
    # Recorded: the action, every run, the state.
    [heal_item] = world.items(HEAL_PREFIX)
    assert heal_item["execution_name"] == started["name"] and heal_item["expires_at"] > world.clock.time
    assert len(world.items(HEALTH_PREFIX)) == 3
    state = world.store.health_state()
    assert state is not None
    assert state.consecutive_failures == 3 and state.last_heal_execution == started["name"]


def test_the_threshold_comes_from_the_settings(world: World) -> None:
    outcome = world.run(report(("info",)), SELF_HEAL_AFTER_FAILURES="1")
    assert outcome.heal.decision == "started"


def test_a_single_transient_failure_heals_nothing(world: World) -> None:
    world.run(report(("info",)))
    healthy = world.run(report())
    assert healthy.heal.decision == "not_needed" and healthy.consecutive_failures == 0
    world.run(report(("info",)))
    world.run(report(("info",)))
    assert not world.sfn.started, "two failures after a healthy run are not three in a row"


def test_the_rate_limit_holds_while_the_heal_keeps_failing(world: World) -> None:
    decisions = []
    for _ in range(30):  # two and a half hours of a control plane that never comes back
        outcome = world.run(report(("info",)))
        decisions.append(outcome.heal.decision)
        for started in world.sfn.started:
            if world.sfn.is_running(started["arn"]):
                world.sfn.finish(started["arn"], "FAILED", "DeploymentRolledBack")
    starts = [index for index, decision in enumerate(decisions) if decision == "started"]
    # Run 3 (minute 10), then exactly one hour later, then one hour after that; nothing in between.
    assert starts == [2, 14, 26]
    assert all(decisions[index] == "rate_limited" for index in range(3, 14))
    assert len(world.sfn.started) == 3
    # Every heal's outcome was recorded once its execution ended.
    outcomes = [item["outcome"] for item in world.items(HEAL_PREFIX)]
    assert outcomes[:2] == ["rolled_back", "rolled_back"]


def test_the_interval_comes_from_the_settings(world: World) -> None:
    for _ in range(8):
        world.run(report(("info",)), SELF_HEAL_MIN_INTERVAL_MINUTES="10", SELF_HEAL_AFTER_FAILURES="1")
    # Every 10 minutes = every other run.
    assert len(world.sfn.started) == 4


def test_the_heal_slot_is_claimed_once_even_by_two_overlapping_runs(world: World) -> None:
    now = world.clock.time
    assert world.store.claim_heal_slot(now=now, min_interval_seconds=3600, execution_name="a")
    assert not world.store.claim_heal_slot(now=now + 1, min_interval_seconds=3600, execution_name="b")
    assert world.store.claim_heal_slot(now=now + 3600, min_interval_seconds=3600, execution_name="c")


def test_no_self_heal_while_a_deployment_runs(world: World) -> None:
    for _ in range(3):
        world.run(report(("info",)))
    assert len(world.sfn.started) == 1
    world.clock.time += 3600  # the rate limit is not what stops the next one
    busy = world.run(report(("info",), deploying="execution e deploys version v2"))
    assert busy.heal.decision == "deployment_running" and len(world.sfn.started) == 1
    assert busy.consecutive_failures == 3


def test_no_self_heal_without_a_last_good_version(world: World) -> None:
    for _ in range(3):
        outcome = world.run(report(("info",), last_good=None))
    assert outcome.heal.decision == "no_last_good" and not world.sfn.started


def test_a_heal_that_cannot_start_is_recorded_and_still_waits_for_the_interval(world: World) -> None:
    world.sfn.fail_start = "AccessDeniedException"
    outcomes = [world.run(report(("info",))) for _ in range(5)]
    assert [outcome.heal.decision for outcome in outcomes] == [
        "counting",
        "counting",
        "failed_to_start",
        "rate_limited",
        "rate_limited",
    ]
    [item] = world.items(HEAL_PREFIX)
    assert item["outcome"] == "failed_to_start" and "AccessDeniedException" in item["detail"]


def test_the_outcome_of_a_heal_is_recorded_when_its_execution_ends(world: World) -> None:
    for _ in range(3):
        world.run(report(("info",)))
    [started] = world.sfn.started
    still = world.run(report(("info",), deploying="execution self-heal deploys v1"))
    assert not still.resolved
    world.sfn.finish(started["arn"], "SUCCEEDED")
    after = world.run(report())
    [resolved] = after.resolved
    assert resolved.outcome == "succeeded" and resolved.finished_at is not None
    assert world.store.action(resolved.record_key).outcome == "succeeded"  # type: ignore[union-attr]
    assert world.store.health_state().open_actions == []  # type: ignore[union-attr]


# ---------------------------------------------------------------- lost uploads


def test_a_lost_upload_is_deployed_at_once_and_only_once(world: World) -> None:
    first = world.run(report(("config",), lost="v9"))
    [action] = first.actions
    assert action.action == "deploy-lost-upload" and action.version_id == "v9"
    [started] = world.sfn.started
    assert started["input"]["version_id"] == "v9" and started["input"]["reason"].startswith("lost upload")
    assert started["name"].startswith("lost-upload-")
    assert first.heal.decision == "not_needed", "a lost upload is not a reason to self-heal"
    world.sfn.finish(started["arn"], "FAILED", "AdmissionFailed")
    again = world.run(report(("config",), lost="v9"))
    assert not again.actions and "already handled" in again.notes[0]
    assert len(world.sfn.started) == 1


def test_a_lost_upload_waits_while_a_deployment_runs(world: World) -> None:
    waiting = world.run(report(("config",), lost="v9", deploying="execution e deploys version v8"))
    assert not waiting.actions and "waits" in waiting.notes[0] and not world.sfn.started


def test_the_lost_upload_deployment_keeps_the_self_heal_from_starting_in_the_same_run(world: World) -> None:
    world.run(report(("info",)))
    world.run(report(("info",)))
    outcome = world.run(report(("info", "config"), lost="v9"))
    assert [action.action for action in outcome.actions] == ["deploy-lost-upload"]
    assert outcome.heal.decision == "deployment_running"


def test_the_state_item_is_one_per_service(world: World) -> None:
    world.run(report())
    item = world.store._get(HEALTH_STATE_SK)
    assert item is not None and item["kind"] == "health_state" and item["last_healthy"] is True
    assert item["last_report"]["checks"]["info"]["status"] == "pass"


def test_a_self_heal_of_a_control_plane_that_answers_does_not_force(world: World) -> None:
    for _ in range(3):
        outcome = world.run(report(("locations",)))
    assert outcome.heal.decision == "started"
    [started] = world.sfn.started
    # /info answers: a run may be using it, so the workflow waits for runs as for any restart.
    assert started["input"] == {"version_id": "v1", "reason": SELF_HEAL_REASON}
