"""Failure reasons: stopped tasks as ECS tells them, error lines as the containers wrote them, no secrets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from controlplane.diagnostics import (
    MAX_LOG_BYTES,
    MAX_LOG_LINES,
    error_lines,
    redact,
    stopped_tasks,
    task_failure,
)
from controlplane.validation import validate_config
from moto import mock_aws

from cpctl.diff_cmd import redact_text
from tests.unit import workflow_fakes as fakes

TASK = f"arn:aws:ecs:{fakes.REGION}:{fakes.ACCOUNT}:task/{fakes.CLUSTER}/abc123"


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in fakes.ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("logs", region_name=fakes.REGION)
        client.create_log_group(logGroupName=fakes.LOG_GROUP)
        yield client


def write(logs: Any, container: str, lines: list[str]) -> None:
    stream = f"{container}/{container}/abc123"
    logs.create_log_stream(logGroupName=fakes.LOG_GROUP, logStreamName=stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
    logs.put_log_events(logGroupName=fakes.LOG_GROUP, logStreamName=stream, logEvents=events)


def test_control_plane_error_lines_are_picked_and_redacted(logs: Any) -> None:
    write(
        logs,
        "control-plane",
        [
            "INFO starting control plane",
            "ERROR Control plane 'cp' failed to deploy private location 'prl_aws_one': subnet not found",
            "INFO token = cpt_live_SECRET123 loaded",
            "ERROR rejected token cpt_live_SECRET123 by server",
            "java.lang.IllegalStateException: Authorization: abcdef0123",
        ],
    )
    lines = error_lines(TASK, "control-plane", log_group=fakes.LOG_GROUP, logs=logs, secrets=["abcdef0123"])
    assert lines == [
        "[control-plane] ERROR Control plane 'cp' failed to deploy private location 'prl_aws_one': subnet not found",
        "[control-plane] ERROR rejected token cpt_*** by server",
        "[control-plane] java.lang.IllegalStateException: Authorization: ***",
    ]
    assert not any("SECRET" in line for line in lines)


def test_error_lines_are_capped(logs: Any) -> None:
    write(logs, "control-plane", [f"ERROR line {i} " + "x" * 150 for i in range(100)])
    lines = error_lines(TASK, "control-plane", log_group=fakes.LOG_GROUP, logs=logs)
    assert 0 < len(lines) <= MAX_LOG_LINES
    assert sum(len(line.encode()) + 1 for line in lines) <= MAX_LOG_BYTES
    assert lines[-1].startswith("[control-plane] ERROR line 99"), "the last lines are kept"


def test_a_missing_stream_has_no_lines(logs: Any) -> None:
    assert error_lines(TASK, "control-plane", log_group=fakes.LOG_GROUP, logs=logs) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('token = "cpt_abc.DEF-123"', 'token = "***"'),
        ("password: hunter2", "password: ***"),
        ("the configured secret s3cr3tvalue leaked", "the configured secret *** leaked"),
        ("nothing to hide", "nothing to hide"),
    ],
)
def test_redaction(text: str, expected: str) -> None:
    assert redact(text, ["s3cr3tvalue"]) == expected


def test_a_task_failure_names_the_side_car_when_it_failed() -> None:
    task = {
        "taskArn": TASK,
        "stoppedReason": "Essential container in task exited",
        "stopCode": "EssentialContainerExited",
        "containers": [{"name": "config-loader", "exitCode": 254}, {"name": "control-plane"}],
    }
    failure = task_failure(task)
    assert failure.side_car_failed
    assert not task_failure(
        {**task, "containers": [{"name": "config-loader", "exitCode": 0}]}
    ).side_car_failed


def test_the_newest_stopped_tasks_of_the_deployment_are_described() -> None:
    ecs = fakes.FakeEcs()
    ecs.update_service(
        cluster=fakes.CLUSTER,
        service=fakes.CLUSTER,
        taskDefinition=ecs.service["taskDefinition"],
        forceNewDeployment=True,
    )
    deployment = ecs.primary["id"]
    for code in (1, 2, 3, 4):
        ecs.add_task(deployment, running=False, control_plane_exit=code, stopped_reason=f"reason {code}")
    ecs.add_task("ecs-svc/0000000000000000000", running=False, stopped_reason="an older deployment")
    tasks = stopped_tasks(deployment, cluster=fakes.CLUSTER, ecs=ecs)  # type: ignore[arg-type]
    assert [t.stopped_reason for t in tasks] == ["reason 4", "reason 3", "reason 2"]


def test_a_denied_log_read_leaves_the_failure_explained_without_lines(logs: Any) -> None:
    from botocore.stub import Stubber
    from controlplane.rollout import explain_failure
    from controlplane.settings import get_settings, reset_settings

    reset_settings()
    ecs = boto3.client("ecs", region_name=fakes.REGION)
    denied = Stubber(ecs)
    denied.add_client_error(
        "list_tasks", service_error_code="AccessDeniedException", service_message="not authorized"
    )
    with denied:
        report = explain_failure(
            "ecs-svc/1", "ECS marked it FAILED", ecs=ecs, logs=logs, settings=get_settings()
        )
    assert report.tasks == [] and report.log_lines == []
    assert report.diagnostics_unavailable == "AccessDeniedException calling ListTasks: not authorized"
    assert report.describe().endswith(
        "diagnostics unavailable: AccessDeniedException calling ListTasks: not authorized"
    )


def test_the_workflow_the_validator_and_cpctl_diff_hide_the_same_token_shape() -> None:
    """One shape of a token for every redactor: every character a token may hold, hidden alike."""
    token = "cpt_Az09._~+/=-tail"
    line = f"saw {token} there"
    assert redact(line) == "saw cpt_*** there"
    assert redact_text(line) == "saw cpt_*** there"
    config = f'control-plane {{ token = ${{?CONTROL_PLANE_TOKEN}}, locations = [ {{ id = "x {token}" }} ] }}'
    result = validate_config(config.encode())
    messages = [finding.message for finding in [*result.errors, *result.warnings]]
    assert any("cpt_***" in message for message in messages), messages
    assert not any("Az09" in message or "tail" in message for message in messages), messages
