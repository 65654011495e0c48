"""The end-to-end scenarios: the whole pipeline on the local twin, one fresh twin per scenario.

Every scenario starts from a stack provisioned from template.yaml that has deployed the built-in
initial config, then does what a user would do and asserts the end state the user cares about.
Every wait is bounded in wall time (`WALL_TIMEOUT`) and fails with the state the execution is in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cpctl.twin.deployments import DeployResult, deploy_file, deploy_initial
from cpctl.twin.twin import ExecutionReport, LocalTwin, TwinOptions, builtin_config

WALL_TIMEOUT = 90.0  # wall seconds any one execution may take before the scenario fails


@dataclass
class Baseline:
    """What the initial deployment left: the last good state every failure must return to."""

    task_definition: str
    version_id: str
    sha256: str
    locations: list[str]
    revision_count: int


@pytest.fixture
def twin() -> Iterator[LocalTwin]:
    with LocalTwin() as local:
        deploy_initial(local, wall_timeout=WALL_TIMEOUT)
        yield local
        # The twin itself stayed sound: the simulated Fargate never failed a tick, and simulated
        # time never had to be pushed by the watchdog (a worker the clock could not see).
        assert local.clock.listener_errors == []
        assert local.clock.stats.watchdog_advances == 0
        # Every AWS call of every function was allowed by that function's own role (iam_calls.py).
        denied = [(r.function, r.operation) for r in local.authorizer.records if r.decision.value != "allow"]
        assert denied == [], f"calls denied by the functions' roles: {denied}"
        # Step Functions invoked every Lambda under the state machine's role, and EventBridge reached
        # every target under the target's role or resource policy.
        assert any(
            r.operation == "lambda:Invoke" and r.function == "DeployStateMachine"
            for r in local.authorizer.records
        )
        assert local.eventbridge is not None
        refused = [
            (c.rule_arn, c.target_arn) for c in local.eventbridge.target_checks if c.decision.value != "allow"
        ]
        assert refused == [], f"EventBridge deliveries refused: {refused}"
        assert local.eventbridge.redelivery_errors == [], "a redelivered or late event failed"


@pytest.fixture
def baseline(twin: LocalTwin) -> Baseline:
    service = twin.service()
    assert service.config_version_id is not None and service.config_sha256 is not None
    return Baseline(
        task_definition=service.task_definition,
        version_id=service.config_version_id,
        sha256=service.config_sha256,
        locations=sorted(twin.gatling.location_ids()),
        revision_count=len(twin.revisions()),
    )


def deploy(twin: LocalTwin, data: bytes, *faults: str) -> DeployResult:
    """Upload `data` (with faults armed for it) and wait for the execution it starts."""
    return deploy_file(twin, data, faults=faults, wall_timeout=WALL_TIMEOUT)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def changed_config() -> bytes:
    return builtin_config("changed")


def config_with_location(location_id: str, region: str = "us-east-1") -> bytes:
    """The initial config plus one more location `location_id` (a distinct, valid config)."""
    initial = builtin_config("initial").decode()
    extra = f"""
    {{
      id = "{location_id}"
      type = "aws"
      region = "{region}"
      ami {{ type = "certified" }}
      security-groups = ["sg-0123456789abcdef0"]
      instance-type = "c7i.xlarge"
      subnets = ["subnet-0123456789abcdef0"]
    }}
  ]
}}
"""
    head, _, _ = initial.rpartition("  ]\n}")
    return (head + extra).encode()


def restored_revision(twin: LocalTwin, task_definition: str) -> str:
    """`family:revision` of the revision whose software and config `task_definition` runs: the one it
    is an image-pinned copy of (tag `restores-revision`, made by a rollback), else itself."""
    tags = twin.client("ecs").list_tags_for_resource(resourceArn=task_definition)["tags"]
    return next(
        (t["value"] for t in tags if t["key"] == "restores-revision"), task_definition.rsplit("/", 1)[-1]
    )


def records_of_kind(twin: LocalTwin, kind: str) -> list[dict[str, Any]]:
    return [item for item in twin.records() if item.get("kind") == kind]


def deployment_record(twin: LocalTwin, execution_name: str) -> dict[str, Any]:
    for item in records_of_kind(twin, "deployment"):
        if item.get("execution_name") == execution_name:
            return item
    raise AssertionError(f"no deployment record for execution {execution_name}")


def version_record(twin: LocalTwin, version_id: str) -> dict[str, Any]:
    for item in records_of_kind(twin, "version"):
        if item.get("version_id") == version_id:
            return item
    raise AssertionError(f"no record of config version {version_id}")


def notifications_about(twin: LocalTwin, version_id: str) -> list[dict[str, Any]]:
    return [item for item in twin.notifications() if version_id in (item["subject"] or "") + item["message"]]


def states_entered(report: ExecutionReport) -> list[str]:
    return [step.name for step in report.states]


@pytest.fixture
def served() -> Iterator[LocalTwin]:
    """A twin served on 127.0.0.1 (as `cpctl local up` serves it), the initial config deployed."""
    with LocalTwin(TwinOptions(serve_port=0)) as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        yield twin
