"""Benchmarks of the local twin: start-up, the happy path's cost and detection latency, scenario times.

Run by `make bench` (every benchmarks/bench_*.py). Prints tables; exits non-zero if a run fails.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from cpctl.twin.deployments import DeployResult, deploy_file, deploy_initial  # noqa: E402
from cpctl.twin.twin import LocalTwin, TwinOptions, builtin_config  # noqa: E402

# Targets of the workflow (README, "Deployment workflow"): billed state transitions.
HAPPY_PATH_TARGET = 20
# With the optional steps off (no bake, no run wait), what the deployment cost before they existed.
PLAIN_PATH_TARGET = 13
RUN_WAIT_TARGET = 30
RUN_WAIT_MINUTES = 30.0

_CLOCK = re.compile(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s+(.*)", re.DOTALL)


def fargate_times(twin: LocalTwin, pattern: str, *, first: int = 0) -> list[float]:
    """Simulated seconds (since the twin started) of the Fargate events from index `first` on that
    match `pattern`, oldest first."""
    times = []
    for line in twin.fargate.events[first:]:
        match = _CLOCK.match(str(line))
        if match and re.search(pattern, match.group(4)):
            hours, minutes, seconds, _ = match.groups()
            times.append(int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    return times


def fargate_time(twin: LocalTwin, pattern: str) -> float | None:
    """Simulated seconds (since the twin started) of the last Fargate event matching `pattern`."""
    times = fargate_times(twin, pattern)
    return times[-1] if times else None


def state_time(twin: LocalTwin, result: DeployResult, name: str) -> float:
    """Simulated seconds (since the twin started) when the execution first entered state `name`."""
    step = next(step for step in result.report.states if step.name == name)
    return result.report.started + step.entered - twin.clock.start


def bench_startup() -> list[tuple[str, str]]:
    rows = []
    for label in ("cold (first twin of the process)", "warm (next twin)"):
        started = time.monotonic()
        twin = LocalTwin()
        twin.start()
        elapsed = time.monotonic() - started
        twin.stop()
        rows.append((f"twin start-up, {label}", f"{elapsed:.2f} s"))
    return rows


def bench_happy_path() -> list[tuple[str, str]]:
    with LocalTwin() as twin:
        started = time.monotonic()
        deploy_initial(twin)
        initial = time.monotonic() - started
        result = deploy_file(twin, builtin_config("changed"))
        assert result.report.status == "SUCCEEDED", result.report.cause
        assert result.report.transitions <= HAPPY_PATH_TARGET, [step.name for step in result.report.states]
        revision = result.service.task_definition.rsplit("/", 1)[-1]
        completed = fargate_time(twin, rf"deployment \S+ COMPLETED \(revision {re.escape(revision)}\)")
        up = fargate_time(twin, r"control plane of task \S+ up on")
        seen_completed = state_time(twin, result, "Rollout done?")
        seen_up = state_time(twin, result, "Control plane up?")
    rows = [
        ("initial deployment (twin already up), wall", f"{initial:.2f} s"),
        (
            "happy path, default bake (5 min): state transitions",
            f"{result.report.transitions} (target <= {HAPPY_PATH_TARGET})",
        ),
        ("happy path: simulated duration", f"{result.report.simulated_seconds:.1f} s"),
        ("happy path: wall duration", f"{result.report.wall_seconds:.2f} s"),
    ]
    if completed is not None:
        rows.append(
            ("detection latency, rollout COMPLETED -> seen", f"{seen_completed - completed:.1f} s simulated")
        )
    if up is not None:
        rows.append(("control plane up -> workflow confirms it", f"{seen_up - up:.1f} s simulated"))
    return rows


def bench_transitions() -> tuple[list[tuple[str, str]], bool]:
    """State transitions of a happy path with the bake and the run wait off, and of a deployment that
    waits 30 minutes for a run."""
    with LocalTwin(TwinOptions(parameters={"BakeMinutes": "0", "RunWaitMinutes": "0"})) as twin:
        deploy_initial(twin)
        no_bake = deploy_file(twin, builtin_config("changed"))
    with LocalTwin() as twin:
        deploy_initial(twin)
        twin.gatling.start_run(twin.gatling.location_ids()[:1], duration=RUN_WAIT_MINUTES * 60)
        waited = deploy_file(twin, builtin_config("changed"))
    for result in (no_bake, waited):
        assert result.report.status == "SUCCEEDED", result.report.cause
    waits = [step.name for step in waited.report.states].count("Wait for load test runs")
    rows = [
        (
            "happy path, BakeMinutes 0 and RunWaitMinutes 0: state transitions",
            f"{no_bake.report.transitions} (target <= {PLAIN_PATH_TARGET})",
        ),
        (
            f"{RUN_WAIT_MINUTES:.0f}-minute run wait, then default bake: state transitions",
            f"{waited.report.transitions} (target <= {RUN_WAIT_TARGET}; {waits} waiting invocations)",
        ),
        (
            f"{RUN_WAIT_MINUTES:.0f}-minute run wait: simulated / wall",
            f"{waited.report.simulated_seconds:.0f} s / {waited.report.wall_seconds:.2f} s",
        ),
    ]
    return (
        rows,
        waited.report.transitions <= RUN_WAIT_TARGET and no_bake.report.transitions <= PLAIN_PATH_TARGET,
    )


def bench_failure_detection() -> list[tuple[str, str]]:
    """A control plane that exits as it starts (a restart loop ECS's circuit breaker does not count):
    how soon the workflow gives up on it, against the deployment deadline."""
    with LocalTwin() as twin:
        deploy_initial(twin)
        seen = len(twin.fargate.events)
        result = deploy_file(twin, builtin_config("changed"), faults=("task-fails-to-start",))
        crashes = fargate_times(twin, r"control plane of task \w+ exited", first=seen)
        started = state_time(twin, result, "Start rollout")
        seen_at = state_time(twin, result, "Roll back")
        assert twin.stack is not None
        deadline = float(twin.stack.parameters["DeploymentDeadlineMinutes"]) * 60
    assert result.report.status == "FAILED" and result.report.error == "DeploymentRolledBack"
    rows = [
        (
            "restart loop (task-fails-to-start): simulated / wall",
            f"{result.report.simulated_seconds:.0f} s / {result.report.wall_seconds:.2f} s",
        ),
        (
            f"restart loop: rollout start -> rollback (deadline {deadline:.0f} s)",
            f"{seen_at - started:.0f} s simulated, after {len([t for t in crashes if t <= seen_at])} crashed tasks",
        ),
    ]
    if len(crashes) >= 3:
        rows.append(("restart loop: 3rd crash -> rollback", f"{seen_at - crashes[2]:.1f} s simulated"))
    return rows


class _Durations:
    """pytest plugin: wall seconds of each test, setup and teardown included."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[report.nodeid] = report.outcome


def bench_scenarios() -> tuple[list[tuple[str, str]], bool]:
    import pytest

    recorder = _Durations()
    files = sorted(
        str(path.relative_to(REPO)) for path in (REPO / "tests" / "e2e").glob("test_[01][0-9]_*.py")
    )
    started = time.monotonic()
    code = pytest.main(
        ["-q", "-p", "no:cacheprovider", "-p", "no:warnings", "--no-header", *files], plugins=[recorder]
    )
    total = time.monotonic() - started
    rows = [
        (nodeid.split("/")[-1], f"{seconds:6.2f} s  {recorder.outcomes.get(nodeid, '?')}")
        for nodeid, seconds in recorder.seconds.items()
    ]
    rows.append(("all scenarios", f"{total:6.2f} s"))
    return rows, code == 0


def table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 24))
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def main() -> int:
    table("Local twin: start-up", bench_startup())
    happy = bench_happy_path()
    table("Local twin: happy path (built-in changed config)", happy)
    transitions, within = bench_transitions()
    table("Local twin: state transitions with the optional steps off, and under a load test", transitions)
    table("Local twin: a restart loop (the circuit breaker does not count it)", bench_failure_detection())
    rows, passed = bench_scenarios()
    table("Local twin: scenarios (tests/e2e/test_NN_*.py), wall time each", rows)
    return 0 if passed and within else 1


if __name__ == "__main__":
    sys.exit(main())
