"""Scenario 18: ECS as eventually consistent as documented, and what the workflow makes of it.

Right after UpdateService, DescribeServices may not list the new deployment yet (the twin's
`describe_lag_seconds`). Within the workflow's grace window that is a rollout in progress; past it,
the service-deployments API (which the twin serves as the ECS API reference documents it) says what
became of the deployment. ListTasks refuses `startedBy` with another filter, as its reference says.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from cpctl.local_cmd import deploy_initial
from cpctl.twin.twin import LocalTwin, TwinOptions

from .conftest import WALL_TIMEOUT, changed_config, deploy
from .test_01_happy_path import MAX_TRANSITIONS


def _twin(lag: float) -> Iterator[LocalTwin]:
    with LocalTwin(TwinOptions(describe_lag_seconds=lag)) as local:
        deploy_initial(local, wall_timeout=WALL_TIMEOUT)
        yield local
        denied = [(r.function, r.operation) for r in local.authorizer.records if r.decision.value != "allow"]
        assert denied == [], f"calls denied by the functions' roles: {denied}"


@pytest.fixture
def short_lag() -> Iterator[LocalTwin]:
    yield from _twin(30.0)  # within the workflow's 60 s grace window


@pytest.fixture
def long_lag() -> Iterator[LocalTwin]:
    yield from _twin(120.0)  # beyond it: the workflow asks the service-deployments API


def test_a_deployment_not_listed_yet_is_waited_for_not_called_vanished(short_lag: LocalTwin) -> None:
    result = deploy(short_lag, changed_config())
    assert result.report.status == "SUCCEEDED", result.report.cause
    assert result.report.transitions <= MAX_TRANSITIONS  # the lag costs no extra state transition


def test_past_the_grace_window_the_service_deployments_api_says_it_is_in_progress(
    long_lag: LocalTwin,
) -> None:
    result = deploy(long_lag, changed_config())
    assert result.report.status == "SUCCEEDED", result.report.cause
    asked = {r.operation for r in long_lag.authorizer.records if r.function == "AwaitRolloutFunction"}
    assert {"ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments"} <= asked
    ecs = long_lag.client("ecs")
    history = ecs.list_service_deployments(cluster=long_lag.cluster, service=long_lag.service_name)
    assert [item["status"] for item in history["serviceDeployments"]][:1] == ["SUCCESSFUL"]


def test_listtasks_refuses_startedby_with_another_filter(short_lag: LocalTwin) -> None:
    ecs = short_lag.client("ecs")
    with pytest.raises(ClientError) as refused:
        ecs.list_tasks(cluster=short_lag.cluster, startedBy="ecs-svc/1", desiredStatus="STOPPED")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "taskArns" in ecs.list_tasks(cluster=short_lag.cluster, startedBy="ecs-svc/1")
