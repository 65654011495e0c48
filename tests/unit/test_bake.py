"""The bake: the new control plane watched for BakeMinutes after "up", failing with its evidence."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
import pytest
from controlplane.bake import begin, watch
from controlplane.codec import dump, parse
from controlplane.errors import ApiTokenUnreadable
from controlplane.http_client import HttpResponse
from controlplane.models import Bake, BakeInput, WorkflowState
from controlplane.outcomes import decide
from controlplane.rollback import failure_of

from tests.unit import workflow_fakes as fakes

TASK = "arn:aws:ecs:eu-west-1:123456789012:task/gatling-control-plane/0f3c1a9e2b7d4c5e8f6a7b8c9d0e1f2a"
LOCATIONS = json.dumps({"data": [{"_type": "private_location", "_id": "prl_one"}]}).encode()


@pytest.fixture
def clock() -> Iterator[fakes.FakeClock]:
    with fakes.fake_clock() as fake:
        yield fake


def running(**changes: Any) -> dict[str, Any]:
    return {"taskArn": TASK, "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "containers": [], **changes}


def bake(
    clock: fakes.FakeClock,
    *,
    task_at: Any = None,
    probe_at: Any = None,
    listed: list[bytes] | None = None,
    token: str | None = None,
    previous: Bake | None = None,
    read_token: Any = None,
    **env: str,
) -> Bake:
    """One invocation; `task_at(t)` / `probe_at(t)` say what ECS and /info answer t seconds in."""
    settings = fakes.settings(**env)
    start = clock.now()
    answers = list(listed or [LOCATIONS])

    def http(url: str, headers: Mapping[str, str], timeout: float) -> HttpResponse:
        return HttpResponse(200, answers.pop(0) if len(answers) > 1 else answers[0])

    return watch(
        previous or begin(settings, TASK),
        private_ip="10.0.1.23",
        location_ids=["prl_one"],
        settings=settings,
        describe_task=lambda arn: (task_at or (lambda t: running()))(clock.now() - start),
        error_lines=lambda task: ["[control-plane] ERROR java.lang.OutOfMemoryError: Java heap space"],
        probe=lambda ip, port: (probe_at or (lambda t: None))(clock.now() - start),
        http_get=http,
        read_token=read_token or (lambda: token),
    )


def test_a_healthy_control_plane_passes_after_bake_minutes_checked_every_30_s(clock: fakes.FakeClock) -> None:
    passed = bake(clock, token="api-token")
    assert passed.status == "passed" and passed.invocations == 1
    assert passed.checks == 11 and clock.sleeps == [30.0] * 10
    assert passed.finished_at is not None and (passed.finished_at - passed.started_at).total_seconds() == 300


def test_a_task_that_stops_fails_the_bake_at_once_with_its_evidence(clock: fakes.FakeClock) -> None:
    def task_at(t: float) -> dict[str, Any]:
        if t < 120:
            return running()
        return running(
            lastStatus="DEPROVISIONING",
            desiredStatus="STOPPED",
            stopCode="EssentialContainerExited",
            stoppedReason="Essential container in task exited",
            containers=[{"name": "control-plane", "exitCode": 1}],
        )

    failed = bake(clock, task_at=task_at)

    assert failed.status == "failed" and failed.failure is not None and failed.failure.phase == "bake"
    text = failed.failure.describe()
    assert "120 s into the 300 s bake" in text and "DEPROVISIONING" in text
    assert "control-plane: exit code 1" in text and "EssentialContainerExited" in text
    assert "OutOfMemoryError" in text


def test_one_lost_probe_is_tolerated_two_in_a_row_fail(clock: fakes.FakeClock) -> None:
    once = bake(clock, probe_at=lambda t: "GET /info got no answer" if t == 60 else None)
    assert once.status == "passed"
    twice = bake(clock, probe_at=lambda t: "GET /info got no answer" if t >= 60 else None)
    assert twice.status == "failed" and twice.failure is not None
    assert "GET /info got no answer 90 s into the 300 s bake (2 checks in a row" in twice.failure.reason


def test_with_a_token_the_locations_must_stay_listed(clock: fakes.FakeClock) -> None:
    gone = json.dumps({"data": []}).encode()
    failed = bake(clock, token="api-token", listed=[LOCATIONS, gone, gone])
    assert failed.status == "failed" and failed.failure is not None
    assert "Gatling no longer lists location(s) prl_one" in failed.failure.reason
    # Without a token the same answers are never asked for.
    assert bake(clock, token=None, listed=[LOCATIONS, gone, gone]).status == "passed"


def test_bake_minutes_zero_turns_it_off_and_a_long_bake_resumes(clock: fakes.FakeClock) -> None:
    off = bake(clock, BAKE_MINUTES="0")
    assert off.status == "off" and off.checks == 0 and clock.sleeps == []
    first = bake(clock, BAKE_MINUTES="25")
    assert (first.status, first.invocations) == ("baking", 1)
    second = bake(clock, previous=first, BAKE_MINUTES="25")
    assert (second.status, second.invocations, second.started_at) == ("baking", 2, first.started_at)


def test_a_failed_bake_is_the_rollbacks_failure_and_success_needs_a_passed_bake(
    clock: fakes.FakeClock,
) -> None:
    state = parse(BakeInput, fakes.event("bake_control_plane.json"))
    stopped = bake(clock, task_at=lambda t: None)
    failed = msgspec.structs.replace(state, bake=stopped)
    assert failure_of(failed).phase == "bake" and "unknown to ECS" in failure_of(failed).reason
    baking = parse(WorkflowState, dump(msgspec.structs.replace(state, bake=bake(clock, BAKE_MINUTES="25"))))
    with pytest.raises(Exception, match="no outcome"):
        decide(baking)
    passed = msgspec.structs.replace(state, bake=bake(clock))
    result, _ = decide(passed)
    assert result.outcome == "succeeded" and "stayed up through a 300 s bake" in result.cause


def test_a_token_that_cannot_be_read_leaves_the_locations_unchecked_and_the_bake_passes(
    clock: fakes.FakeClock,
) -> None:
    def unreadable() -> str | None:
        raise ApiTokenUnreadable("the Gatling API token secret could not be read: AccessDeniedException")

    passed = bake(clock, read_token=unreadable)
    assert passed.status == "passed" and passed.failing_checks == 0 and passed.last_problem is None
