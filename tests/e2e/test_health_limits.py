"""What the health checks must not do: heal more than once an hour when heals keep failing (never-up),
react to a single transient failure, or run when the parameter disables them. Also: the schedule in
template.yaml really starts the health check, and ECS's stopped-task events reach the records."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from cpctl.status_cmd import collect_status, discover, format_status
from cpctl.twin.deployments import deploy_initial
from cpctl.twin.health_faults import HealthFaults
from cpctl.twin.health_scenario import HealthWatch, run_scenario
from cpctl.twin.twin import LocalTwin, TwinOptions

from .test_health_selfheal import alarm_minutes, heal_starts, twin_clients

WALL_TIMEOUT = 120.0


def test_the_rate_limit_holds_when_the_heal_keeps_failing() -> None:
    # 16 runs: 80 simulated minutes after the fault, time for the first heal and exactly one more.
    result = run_scenario("never-up", max_runs=16, wall_timeout=WALL_TIMEOUT)

    first = result.runs[0]
    assert first.failed == ["info"], "the first run after the fault sees the silent control plane"
    assert not result.healed and not any(run.healthy for run in result.runs)
    starts = heal_starts(result)
    assert len(starts) == 2, [run.result.get("heal") for run in result.runs]
    minutes = [(result.runs[i].at - result.runs[starts[0]].at) / 60 for i in starts]
    assert minutes[1] >= 60, f"second heal {minutes[1]:.1f} min after the first"
    assert all(
        (run.result.get("heal") or {}).get("decision") in ("rate_limited", "deployment_running")
        for run in result.runs[starts[0] + 1 : starts[1]]
    )
    # Each heal ran the workflow, which rolled back again; both actions say so.
    assert [action["action"] for action in result.actions] == ["self-heal", "self-heal"]
    assert result.actions[0]["outcome"] == "rolled_back"
    # Paged once when it broke, not once per failed heal.
    assert len(result.alarm_messages) == 1 and alarm_minutes(result, "ALARM") == [15.0]


@pytest.fixture
def watched() -> Iterator[tuple[LocalTwin, HealthWatch]]:
    with LocalTwin() as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        watch = HealthWatch.attach(twin)
        try:
            yield twin, watch
        finally:
            watch.close()


def test_a_single_transient_failure_heals_nothing_and_pages_nobody(
    watched: tuple[LocalTwin, HealthWatch],
) -> None:
    twin, watch = watched
    assert watch.run_check().healthy
    faults = HealthFaults(twin)
    try:
        faults.inject("transient")
        twin.advance(30)  # a run that happens to come just after the task stopped
        caught = watch.run_check()
        later = []
        for _ in range(4):
            watch.advance_to_next_run()
            later.append(watch.run_check())
    finally:
        faults.close()

    assert not caught.healthy and "service" in caught.failed and caught.result["consecutive_failures"] == 1
    assert all(run.healthy for run in later), [run.failed for run in later]
    assert later[-1].result["consecutive_failures"] == 0
    assert not watch.actions(), "nothing was healed"
    assert not watch.alarm_notifications("ALARM"), "nobody was paged"
    assert all(item.new != "ALARM" for item in watch.alarms.transitions)
    # ECS's STOPPED event reached the recorder: the reason outlives ECS's hour.
    clients = twin_clients(twin)
    status = format_status(collect_status(discover(clients, source="twin"), clients))
    assert "twin fault transient" in status


def test_the_schedule_starts_the_health_check(watched: tuple[LocalTwin, HealthWatch]) -> None:
    twin, watch = watched
    assert watch.enabled and watch.period == 300
    assert twin.eventbridge is not None
    deliveries = twin.eventbridge.fire_schedules()
    assert [delivery.target_arn for delivery in deliveries] == [watch.spec.arn]
    deadline = time.monotonic() + 30
    while not [item for item in twin.records() if item.get("kind") == "health"]:
        assert time.monotonic() < deadline, "the scheduled health check never ran"
        twin.advance(1)
    [run] = [item for item in twin.records() if item.get("kind") == "health"]
    assert run["healthy"] is True


def test_the_parameter_disables_the_schedule_and_the_alarm() -> None:
    with LocalTwin(TwinOptions(parameters={"HealthCheckEnabled": "false"})) as twin:
        rules = twin.client("events").list_rules()["Rules"]
        [schedule] = [rule for rule in rules if rule.get("ScheduleExpression")]
        assert schedule["State"] == "DISABLED"
        assert twin.eventbridge is not None and not twin.eventbridge.fire_schedules()
        assert not twin.client("cloudwatch").describe_alarms()["MetricAlarms"]
