"""Shared pieces of the unit tests: a fake clock, the in-memory ECS (rolls out on cue, shows a service
and its tasks as a test sets them), settings, sample configs, states, and moto resources built from
template.yaml."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import ClientError
from controlplane import clock
from controlplane.revisions import pinned_command
from controlplane.settings import Settings, load_settings
from moto import mock_aws

from tests.conftest import REPO_ROOT, load_template

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = "cp"
FAMILY = "cp"
BUCKET = "cp-config"
KEY = "control-plane.conf"
TABLE = "cp-records"
LOG_GROUP = "/ecs/cp"
START = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
EVENTS = REPO_ROOT / "events"

VALID_CONFIG = b"""control-plane {
  token = ${?CONTROL_PLANE_TOKEN}
  description = "unit test control plane"
  locations = [
    {
      id = "prl_aws_one"
      type = "aws"
      region = "eu-west-1"
      ami = { type = "certified", java = "latest" }
      security-groups = ["sg-0123456789abcdef0"]
      subnets = ["subnet-0123456789abcdef0"]
      instance-type = "c7i.xlarge"
    }
  ]
}
"""
INVALID_CONFIG = b"""control-plane {
  token = ${?CONTROL_PLANE_TOKEN}
  locations = [
    { id = "BAD", type = "aws" }
  ]
}
"""

PROBE_FUNCTION = "cp-probe-info"
ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "CLUSTER_NAME": CLUSTER,
    "SERVICE_NAME": CLUSTER,
    "TASK_FAMILY": FAMILY,
    "CONFIG_BUCKET": BUCKET,
    "CONFIG_KEY": KEY,
    "RECORDS_TABLE": TABLE,
    "LOG_GROUP_NAME": LOG_GROUP,
    "POLL_INTERVAL_SECONDS": "5",
    "INVOCATION_BUDGET_SECONDS": "600",
    "DEPLOYMENT_DEADLINE_MINUTES": "15",
    "CONTROL_PLANE_UP_DEADLINE_MINUTES": "5",
    "QUEUE_WAIT_MINUTES": "30",
    "CONTEXT_TOKEN_INJECTED": "true",
    "KEEP_REVISIONS": "3",
    "PROBE_INFO_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:123456789012:function:{PROBE_FUNCTION}",
}


def settings(**overrides: str) -> Settings:
    return load_settings({**ENV, **overrides})


# ---------------------------------------------------------------- time


class FakeClock:
    """Simulated time: sleeping advances it at once; `on_sleep` lets a test change the world meanwhile."""

    def __init__(self, start: float) -> None:
        self.time = start
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] | None = None

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        if self.on_sleep is not None:
            self.on_sleep(self.time)


@contextmanager
def fake_clock(start: datetime = START) -> Iterator[FakeClock]:
    previous = clock.current()
    fake = FakeClock(start.timestamp())
    clock.install(fake)
    try:
        yield fake
    finally:
        clock.install(previous)


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


# ---------------------------------------------------------------- payloads


def event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def execution(name: str = "exec-1", started: datetime = START) -> dict[str, Any]:
    return {
        "id": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:cp-deploy:{name}",
        "name": name,
        "started_at": started.isoformat(),
    }


def upload_request(
    version_id: str = "v2", sequencer: str = "0062A1B2C3D4E5F600", **extra: Any
) -> dict[str, Any]:
    return {
        "source": "upload",
        "bucket": BUCKET,
        "key": KEY,
        "version_id": version_id,
        "etag": "0123456789abcdef0123456789abcdef",
        "size": len(VALID_CONFIG),
        "sequencer": sequencer,
        "event_id": f"event-{version_id}",
        "event_time": START.isoformat(),
        **extra,
    }


# ---------------------------------------------------------------- moto resources built from template.yaml


def create_records_table(dynamodb: Any, name: str = TABLE) -> None:
    """The records table exactly as template.yaml declares its keys and billing."""
    properties = load_template()["Resources"]["RecordsTable"]["Properties"]
    dynamodb.create_table(
        TableName=name,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties["BillingMode"],
    )


def create_config_bucket(s3: Any, versions: list[bytes]) -> list[str]:
    """A versioned bucket holding `versions` of the config, oldest first; their version ids."""
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return [s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["VersionId"] for body in versions]


@contextmanager
def records_and_config(monkeypatch: Any, configs: list[bytes]) -> Iterator[tuple[Any, Any, list[str]]]:
    """The stack's environment; in moto, the records table and the config bucket holding `configs`.
    Yields the DynamoDB and S3 clients and the config version ids, oldest first."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        create_records_table(dynamodb)
        yield dynamodb, s3, create_config_bucket(s3, configs)


# ---------------------------------------------------------------- an ECS that rolls out on cue


def task_definition(revision: int, *, command: list[str] | None = None) -> dict[str, Any]:
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{FAMILY}:{revision}"
    return {
        "taskDefinitionArn": arn,
        "family": FAMILY,
        "revision": revision,
        "status": "ACTIVE",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"],
        "cpu": "256",
        "memory": "512",
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/task",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/execution",
        "registeredAt": START,
        "registeredBy": f"arn:aws:iam::{ACCOUNT}:role/deployer",
        "requiresAttributes": [{"name": "ecs.capability.task-eni"}],
        "volumes": [{"name": "control-plane-conf"}],
        "containerDefinitions": [
            {
                "name": "config-loader",
                "image": "amazon/aws-cli:latest",
                "essential": False,
                "command": command
                or ["s3api", "get-object", "--bucket", BUCKET, "--key", KEY, "/app/conf/control-plane.conf"],
            },
            {
                "name": "control-plane",
                "image": "gatlingcorp/control-plane:latest",
                "essential": True,
                "dependsOn": [{"containerName": "config-loader", "condition": "SUCCESS"}],
            },
        ],
    }


@dataclass
class FakeEcs:
    """In-memory ECS for one service, the one ECS of the unit tests. While a rollout is in progress,
    each DescribeServices call runs the next `script` step first, so a test says what the world looks
    like at each poll. `service = None` is a service ECS does not know."""

    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: list[Callable[[FakeEcs], None]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    deregistered: list[str] = field(default_factory=list)
    refuse_started_by_with_filters: bool = False
    # ListServiceDeployments' history: every UpdateService adds one (ServiceDeploymentBrief shape).
    service_deployments: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.meta = SimpleNamespace(service_model=botocore.session.get_session().get_service_model("ecs"))
        self._ids = itertools.count(1)
        first = task_definition(1)
        self.task_definitions[first["taskDefinitionArn"]] = first
        self.service: dict[str, Any] | None = {
            "serviceName": CLUSTER,
            "status": "ACTIVE",
            "desiredCount": 1,
            "taskDefinition": first["taskDefinitionArn"],
            "deployments": [
                {
                    "id": "ecs-svc/0000000000000000000",
                    "status": "PRIMARY",
                    "taskDefinition": first["taskDefinitionArn"],
                    "rolloutState": "COMPLETED",
                    "desiredCount": 1,
                    "runningCount": 1,
                    "failedTasks": 0,
                }
            ],
        }

    # ------------------------------------------------ the API used by the workflow
    def describe_services(self, cluster: str, services: list[str]) -> dict[str, Any]:
        self.calls.append("describe_services")
        if self.service is None:
            # An unknown service is a failure of the call, not an error (ECS API Reference, DescribeServices).
            arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{services[0]}"
            return {"services": [], "failures": [{"arn": arn, "reason": "MISSING"}]}
        if self.script and self.primary["rolloutState"] == "IN_PROGRESS":
            self.script.pop(0)(self)
        service = copy.deepcopy(self.service)
        service["runningCount"] = sum(1 for task in self.tasks.values() if task["lastStatus"] == "RUNNING")
        return {"services": [service], "failures": []}

    def update_service(
        self,
        cluster: str,
        service: str,
        taskDefinition: str,
        forceNewDeployment: bool,
        desiredCount: int | None = None,
    ) -> dict[str, Any]:
        self.calls.append("update_service")
        assert forceNewDeployment is True
        if desiredCount is not None:
            self.service["desiredCount"] = desiredCount
        for deployment in self.service["deployments"]:
            deployment["status"] = "ACTIVE"
        deployment_id = f"ecs-svc/{next(self._ids):019d}"
        created = clock.utcnow()
        self.service["deployments"].insert(
            0,
            {
                "id": deployment_id,
                "status": "PRIMARY",
                "taskDefinition": taskDefinition,
                "rolloutState": "IN_PROGRESS",
                "desiredCount": 1,
                "runningCount": 0,
                "failedTasks": 0,
                "createdAt": created,
            },
        )
        self.service["taskDefinition"] = taskDefinition
        self.service_deployments.append(
            {
                "serviceDeploymentArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/{CLUSTER}/"
                f"sd{len(self.service_deployments) + 1:04d}",
                "createdAt": created,
                "status": "IN_PROGRESS",
                "statusReason": "",
            }
        )
        return {"service": copy.deepcopy(self.service)}

    def list_service_deployments(
        self, cluster: str, service: str, createdAt: dict[str, datetime]
    ) -> dict[str, Any]:
        self.calls.append("list_service_deployments")
        after, before = createdAt.get("after"), createdAt.get("before")
        return {
            "serviceDeployments": [
                copy.deepcopy(item)
                for item in self.service_deployments
                if (after is None or item["createdAt"] > after)
                and (before is None or item["createdAt"] < before)
            ]
        }

    def describe_service_deployments(self, serviceDeploymentArns: list[str]) -> dict[str, Any]:
        found = [
            copy.deepcopy(i)
            for i in self.service_deployments
            if i["serviceDeploymentArn"] in serviceDeploymentArns
        ]
        return {"serviceDeployments": found, "failures": []}

    def list_tasks(
        self,
        cluster: str,
        startedBy: str | None = None,
        desiredStatus: str | None = None,
        serviceName: str | None = None,
    ) -> dict[str, Any]:
        self.calls.append("list_tasks")
        if startedBy and desiredStatus and self.refuse_started_by_with_filters:
            # "When you specify startedBy as the filter, it must be the only filter" (ECS API reference).
            raise ClientError(
                {
                    "Error": {
                        "Code": "InvalidParameterException",
                        "Message": "startedBy must be the only filter",
                    }
                },
                "ListTasks",
            )
        arns = [
            arn
            for arn, t in self.tasks.items()
            if (startedBy is None or t["startedBy"] == startedBy)
            and t["desiredStatus"] == (desiredStatus or "RUNNING")
        ]
        return {"taskArns": arns}

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return {"tasks": [copy.deepcopy(self.tasks[arn]) for arn in tasks if arn in self.tasks]}

    def describe_task_definition(
        self, taskDefinition: str, include: list[str] | None = None
    ) -> dict[str, Any]:
        self.calls.append("describe_task_definition")
        if ":" in taskDefinition and taskDefinition not in self.task_definitions:
            raise ClientError(
                {"Error": {"Code": "ClientException", "Message": "Unable to describe task definition."}},
                "DescribeTaskDefinition",
            )
        if taskDefinition not in self.task_definitions:  # a family alone: its latest ACTIVE revision
            taskDefinition = max(
                (td for td in self.task_definitions.values() if td["family"] == taskDefinition),
                key=lambda td: td["revision"] if td["status"] == "ACTIVE" else -1,
            )["taskDefinitionArn"]
        answer: dict[str, Any] = {"taskDefinition": copy.deepcopy(self.task_definitions[taskDefinition])}
        if include:
            answer["tags"] = copy.deepcopy(self.tags.get(taskDefinition, []))
        return answer

    def register_task_definition(self, **spec: Any) -> dict[str, Any]:
        self.calls.append("register_task_definition")
        tags = spec.pop("tags", [])
        accepted = set(self.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members)
        assert set(spec) <= accepted, f"RegisterTaskDefinition does not take {set(spec) - accepted}"
        revision = max(td["revision"] for td in self.task_definitions.values()) + 1
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{spec['family']}:{revision}"
        self.task_definitions[arn] = {
            **copy.deepcopy(spec),
            "taskDefinitionArn": arn,
            "revision": revision,
            "status": "ACTIVE",
        }
        self.tags[arn] = tags
        return {"taskDefinition": copy.deepcopy(self.task_definitions[arn])}

    def list_tags_for_resource(self, resourceArn: str) -> dict[str, Any]:
        return {"tags": copy.deepcopy(self.tags.get(resourceArn, []))}

    def get_paginator(self, name: str) -> Any:
        assert name == "list_task_definitions"
        fake = self

        class Paginator:
            def paginate(self, familyPrefix: str, status: str, sort: str) -> Iterator[dict[str, Any]]:
                arns = [
                    a
                    for a, td in fake.task_definitions.items()
                    if td["family"].startswith(familyPrefix) and td["status"] == status
                ]
                yield {
                    "taskDefinitionArns": sorted(
                        arns, key=lambda a: int(a.rsplit(":", 1)[1]), reverse=sort == "DESC"
                    )
                }

        return Paginator()

    def deregister_task_definition(self, taskDefinition: str) -> dict[str, Any]:
        self.task_definitions[taskDefinition]["status"] = "INACTIVE"
        self.deregistered.append(taskDefinition)
        return {"taskDefinition": self.task_definitions[taskDefinition]}

    # ------------------------------------------------ what a test sets up
    def add_revision(
        self,
        number: int,
        version: str | None = None,
        *,
        registered_by: str | None = None,
        execution: str | None = None,
        registered_at: datetime = START,
    ) -> str:
        """Revision `number` of the family, its config pinned to `version` (None: not pinned), tagged
        with the workflow execution that registered it; its ARN."""
        command = pinned_command(BUCKET, KEY, version) if version else None
        definition = task_definition(number, command=command)
        definition["registeredAt"] = registered_at
        if registered_by:
            definition["registeredBy"] = registered_by
        arn = str(definition["taskDefinitionArn"])
        self.task_definitions[arn] = definition
        self.tags[arn] = [{"key": "execution", "value": execution}] if execution else []
        return arn

    def run_task(
        self,
        task_definition_arn: str | None = None,
        *,
        ip: str = "10.0.1.23",
        status: str = "RUNNING",
        started_at: datetime = START - timedelta(minutes=30),
    ) -> str:
        """A task of the PRIMARY deployment that ECS wants running, in `status`; its ARN."""
        arn = self.add_task(self.primary["id"], running=True, ip=ip, task_definition_arn=task_definition_arn)
        self.tasks[arn].update(lastStatus=status, startedAt=started_at)
        return arn

    # ------------------------------------------------ what ECS does by itself, on cue
    @property
    def primary(self) -> dict[str, Any]:
        assert self.service is not None, "the service is missing"
        return next(d for d in self.service["deployments"] if d["status"] == "PRIMARY")

    def add_task(
        self,
        deployment_id: str,
        *,
        running: bool,
        side_car_exit: int | None = 0,
        ip: str = "10.0.1.23",
        stopped_reason: str | None = None,
        stop_code: str | None = None,
        control_plane_exit: int | None = None,
        task_definition_arn: str | None = None,
    ) -> str:
        number = next(self._ids)
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/task{number:04d}"
        deployment = next(d for d in self.service["deployments"] if d["id"] == deployment_id)
        self.tasks[arn] = {
            "taskArn": arn,
            "taskDefinitionArn": task_definition_arn or deployment["taskDefinition"],
            "startedBy": deployment_id,
            "lastStatus": "RUNNING" if running else "STOPPED",
            "desiredStatus": "RUNNING" if running else "STOPPED",
            "stoppedReason": stopped_reason,
            "stopCode": stop_code,
            "stoppedAt": None if running else f"2026-11-29T12:00:{number:02d}Z",
            "attachments": [
                {
                    "type": "ElasticNetworkInterface",
                    "details": [
                        {"name": "subnetId", "value": "subnet-1"},
                        {"name": "privateIPv4Address", "value": ip},
                    ],
                }
            ],
            "containers": [
                {"name": "config-loader", "exitCode": side_car_exit, "reason": None},
                {"name": "control-plane", "exitCode": control_plane_exit, "reason": None},
            ],
        }
        return arn

    def complete(self, *, ip: str = "10.0.1.23") -> None:
        """The PRIMARY deployment reaches COMPLETED with one RUNNING task whose side-car exited 0."""
        primary = self.primary
        primary.update(rolloutState="COMPLETED", runningCount=1)
        self.add_task(primary["id"], running=True, ip=ip)

    def fail_with_side_car(self) -> None:
        """Three task launches whose side-car could not download the config, then the circuit breaker rolls back."""
        primary = self.primary
        for _ in range(3):
            self.add_task(
                primary["id"],
                running=False,
                side_car_exit=1,
                stopped_reason="Essential container in task exited",
                stop_code="EssentialContainerExited",
            )
        primary.update(
            rolloutState="FAILED",
            rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
            failedTasks=3,
        )

    def roll_back_by_itself(self, task_definition_arn: str) -> str:
        """The circuit breaker's rollback: the FAILED deployment stays listed (ACTIVE) while a new PRIMARY
        deployment of `task_definition_arn` starts and the service points at it; its id."""
        failed = self.primary
        failed["status"] = "ACTIVE"
        deployment_id = f"ecs-svc/{next(self._ids):019d}"
        self.service["deployments"].insert(
            0,
            {
                "id": deployment_id,
                "status": "PRIMARY",
                "taskDefinition": task_definition_arn,
                "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": f"ECS deployment circuit breaker: rolling back to deploymentId {failed['id']}.",
                "desiredCount": 1,
                "runningCount": 0,
                "failedTasks": 0,
            },
        )
        self.service["taskDefinition"] = task_definition_arn
        return deployment_id
