"""`cpctl status` / `cpctl history`: finding the stack from its outputs, and what they print when the
records say a heal happened. (Against the twin end to end: tests/e2e/test_health_selfheal.py.)"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cpctl import cli
from cpctl.status_cmd import StackRef, StatusError, format_history, format_status, resolve_stack


class FakeCloudFormation:
    def __init__(self, outputs: dict[str, str] | None, **described: Any) -> None:
        self.outputs = outputs
        self.described = described

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.outputs is None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs, **self.described}]}


def clients(outputs: dict[str, str] | None, **described: Any) -> Any:
    return argparse.Namespace(cloudformation=FakeCloudFormation(outputs, **described))


OUTPUTS = {
    "ClusterName": "cp",
    "ServiceName": "cp",
    "RecordsTableName": "cp-records",
    "StateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:cp-deploy",
    "HealthAlarmName": "cp-unhealthy",
    "ConfigBucketName": "cp-config",
    "LogGroupName": "/ecs/cp",
}


def test_the_stack_outputs_name_every_resource() -> None:
    ref = resolve_stack(clients(OUTPUTS), stack_name="cp-stack", endpoint_url=None)
    assert ref == StackRef(
        cluster="cp",
        service="cp",
        table="cp-records",
        state_machine_arn=OUTPUTS["StateMachineArn"],
        alarm="cp-unhealthy",
        bucket="cp-config",
        source="stack cp-stack",
    )


@pytest.mark.parametrize(
    ("described", "line"),
    [
        (
            {"StackStatus": "CREATE_COMPLETE", "CreationTime": datetime(2026, 11, 2, 9, 0, tzinfo=UTC)},
            "  Stack            cp-stack CREATE_COMPLETE, created 2026-11-02 09:00:00, never updated",
        ),
        (
            {
                "StackStatus": "UPDATE_ROLLBACK_COMPLETE",
                "StackStatusReason": "Resource update cancelled",
                "CreationTime": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
                "LastUpdatedTime": datetime(2026, 11, 28, 17, 45, 3, tzinfo=UTC),
            },
            "  Stack            cp-stack UPDATE_ROLLBACK_COMPLETE, last updated 2026-11-28 17:45:03",
        ),
        (
            {
                "StackStatus": "UPDATE_FAILED",
                "StackStatusReason": "Service did not stabilize",
                "CreationTime": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
                "LastUpdatedTime": datetime(2026, 11, 28, 17, 45, 3, tzinfo=UTC),
            },
            "  Stack            cp-stack UPDATE_FAILED (Service did not stabilize), last updated 2026-11-28 17:45:03",
        ),
    ],
)
def test_status_shows_the_last_stack_update(described: dict[str, Any], line: str) -> None:
    ref = resolve_stack(clients(OUTPUTS, **described), stack_name="cp-stack", endpoint_url=None)
    assert ref.stack is not None and ref.stack.status == described["StackStatus"]
    status = {**status_after_a_heal(), "stack": dataclasses.asdict(ref.stack)}
    assert line in format_status(status).splitlines()


def test_a_stack_without_the_health_alarm_still_resolves() -> None:
    outputs = {k: v for k, v in OUTPUTS.items() if k != "HealthAlarmName"}
    assert resolve_stack(clients(outputs), stack_name="cp-stack", endpoint_url=None).alarm is None


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (None, "cannot read stack cp-stack: Stack with id cp-stack does not exist"),
        ({"ClusterName": "cp"}, "has no output(s) ServiceName, RecordsTableName"),
    ],
)
def test_a_wrong_stack_is_said_plainly(outputs: dict[str, str] | None, message: str) -> None:
    with pytest.raises(StatusError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_stack(clients(outputs), stack_name="cp-stack", endpoint_url=None)


def test_neither_a_stack_nor_an_endpoint_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no samconfig.toml here to take the stack name from
    assert cli.main(["status", "--region", "eu-west-1"]) == 2
    assert "pass --stack-name (AWS) or --endpoint-url (the local twin)" in capsys.readouterr().err


def status_after_a_heal() -> dict[str, Any]:
    checks = {
        name: {"status": "pass", "detail": f"{name} fine"}
        for name in ("service", "revision", "info", "locations", "config")
    }
    return {
        "source": "stack cp-stack",
        "cluster": "cp",
        "service": "cp",
        "ecs": {
            "status": "ACTIVE",
            "desired": 1,
            "running": 1,
            "task_definition": "arn:aws:ecs:eu-west-1:1:task-definition/cp:7",
            "config_version_id": "v3",
            "deployments": [],
            "tasks": [
                {
                    "task_id": "abc",
                    "last_status": "RUNNING",
                    "task_definition": "arn:aws:ecs:eu-west-1:1:task-definition/cp:7",
                    "config_version_id": "v3",
                    "started_at": "2026-11-29T03:20:00+00:00",
                }
            ],
        },
        "last_good": {
            "task_definition_arn": "arn:aws:ecs:eu-west-1:1:task-definition/cp:7",
            "version_id": "v3",
            "deployed_at": "2026-11-29T03:21:00+00:00",
            "execution_name": "self-heal-20261129T031900-1a2b3c4d",
        },
        "deploying": None,
        "last_deployment": {
            "execution": "self-heal-20261129T031900-1a2b3c4d",
            "outcome": "succeeded",
            "source": "manual",
            "reason": "self-heal",
            "version_id": "v3",
            "finished_at": "2026-11-29T03:21:00+00:00",
            "cause": "Version v3 is deployed",
        },
        "health": {
            "checked_at": "2026-11-29T03:25:00+00:00",
            "healthy": True,
            "consecutive_failures": 0,
            "checks": checks,
            "heal": {"decision": "not_needed", "detail": "the control plane checks pass"},
            "last_heal_execution": "self-heal-20261129T031900-1a2b3c4d",
            "last_heal_at": "2026-11-29T03:19:00+00:00",
        },
        "alarm": {"name": "cp-unhealthy", "state": "OK", "since": "2026-11-29T03:25:00+00:00"},
        "stopped_tasks": [
            {
                "stopped_at": "2026-11-29T03:02:10+00:00",
                "task_id": "old",
                "revision": "cp:7",
                "summary": "task old stopped (EssentialContainerExited: Essential container in task exited); "
                "control-plane: exit code 137, OutOfMemoryError",
            }
        ],
    }


def test_status_shows_revision_config_last_deployment_every_check_and_stopped_tasks() -> None:
    text = format_status(status_after_a_heal())
    for expected in (
        "Running          cp:7, config version v3",
        "Last deployment  succeeded: self-heal-20261129T031900-1a2b3c4d, manual (self-heal)",
        "Health           healthy at 2026-11-29 03:25:00, 0 failed run(s) in a row",
        "    info       pass     info fine",
        "    config     pass     config fine",
        "last heal self-heal-20261129T031900-1a2b3c4d at 2026-11-29 03:19:00",
        "Alarm            cp-unhealthy: OK",
        "2026-11-29 03:02:10  cp:7  task old stopped (EssentialContainerExited",
    ):
        assert expected in text, expected


def test_history_lists_deployments_and_heal_actions() -> None:
    text = format_history(
        [
            {
                "kind": "heal",
                "at": "2026-11-29T03:19:00+00:00",
                "action": "self-heal",
                "execution": "self-heal-1",
                "version_id": "v3",
                "outcome": "succeeded",
                "trigger": "3 consecutive failed runs: info",
            },
            {
                "kind": "deployment",
                "at": "2026-11-29T01:00:00+00:00",
                "execution": "upload-1",
                "outcome": "succeeded",
                "source": "upload",
                "version_id": "v3",
            },
        ]
    )
    lines = text.splitlines()
    assert (
        lines[1].startswith("2026-11-29 03:19:00  self-heal   succeeded")
        and "3 consecutive failed runs" in lines[1]
    )
    assert (
        lines[2].startswith("2026-11-29 01:00:00  deployment  succeeded") and "upload-1 (upload)" in lines[2]
    )
    assert format_history([]) == "No deployment or heal action recorded yet."


def test_status_shows_the_validator_warnings_of_a_failed_deployment() -> None:
    status = status_after_a_heal()
    status["last_deployment"] = {
        **status["last_deployment"],
        "outcome": "rolled_back",
        "cause": "Version v4 failed and the service is back on cp:7.",
        "validation_warnings": [
            "line 3, column 3: a literal token is set while the stack injects the secret"
        ],
    }
    text = format_status(status)
    assert "Version v4 failed and the service is back on cp:7." in text
    assert "validator warning: line 3, column 3: a literal token is set while the stack injects" in text


def test_a_stack_with_the_health_check_off_says_so_instead_of_not_checked_yet() -> None:
    described = {
        "StackStatus": "UPDATE_COMPLETE",
        "CreationTime": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        "Parameters": [{"ParameterKey": "HealthCheckEnabled", "ParameterValue": "false"}],
    }
    ref = resolve_stack(clients(OUTPUTS, **described), stack_name="cp-stack", endpoint_url=None)
    assert ref.stack is not None and ref.stack.health_check_enabled is False
    status = {**status_after_a_heal(), "health": None, "stack": dataclasses.asdict(ref.stack)}
    lines = format_status(status).splitlines()
    assert (
        "  Health           check off (HealthCheckEnabled=false): no schedule, no alarm, no self-heal"
        in lines
    )
    assert "  Health           not checked yet" not in lines
    on = dataclasses.replace(ref.stack, health_check_enabled=True)
    assert "  Health           not checked yet" in format_status({**status, "stack": dataclasses.asdict(on)})
