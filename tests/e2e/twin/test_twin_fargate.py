"""Simulated Fargate end to end on moto: rollouts, failed launches, the circuit breaker and every fault.

Here rather than in tests/unit because the fake control plane serves `/info` on a real loopback
socket, which tests/unit's autouse fixture blocks (the enable_socket marker does not override it).
The stack is built from template.yaml's own task definition, roles and deployment configuration.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from controlplane import revisions
from controlplane.rollout import CONTROL_PLANE_TASKS
from moto import mock_aws

from cpctl.twin.fargate import (
    CIRCUIT_BREAKER_REASON,
    DEFAULT_DEPLOYMENT_CONFIGURATION,
    SimulatedFargate,
)
from cpctl.twin.gatling import FakeGatlingCloud
from tests.conftest import load_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
NAME = "gatling-control-plane"
KEY = "control-plane.conf"
BUCKET = f"{NAME}-config-{ACCOUNT}-{REGION}"
LOG_GROUP = f"/ecs/{NAME}"
CP_TOKEN = "cpt_twin_test_token_do_not_log_0123456789"
API_TOKEN = "api_twin_test_token_0123456789"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def config(*ids: str, token: str = "${?CONTROL_PLANE_TOKEN}", extra: str = "") -> bytes:
    locations = ",\n".join(
        f'{{ id = "{location}", type = "aws", region = "eu-west-1", ami = {{ type = certified }}, '
        f'security-groups = ["sg-1"], subnets = ["subnet-1"], instance-type = "c7i.xlarge" }}'
        for location in ids
    )
    return f'control-plane {{\n  token = {token}\n  description = "twin"\n  locations = [{locations}]\n{extra}}}\n'.encode()


class StepClock:
    """A stand-in for the twin's simulated clock: listeners are called every simulated second."""

    def __init__(self, start: float = START) -> None:
        self._now = start
        self._listeners: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def add_listener(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    def advance(self, seconds: float) -> None:
        end = self._now + seconds
        while self._now < end:
            self._now = min(end, self._now + 1.0)
            for listener in self._listeners:
                listener(self._now)


def resolve_cfn(node: Any, refs: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """Enough of CloudFormation's intrinsics to read the template's roles and task definition."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return refs[node["Ref"]]
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return resolve_cfn(when_true if conditions[name] else when_false, refs, conditions)
        if set(node) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda match: str(refs[match.group(1)]), str(node["Fn::Sub"]))
        if set(node) == {"Fn::GetAtt"}:
            return refs[".".join(node["Fn::GetAtt"])]
        resolved = {key: resolve_cfn(value, refs, conditions) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}
    if isinstance(node, list):
        items = [resolve_cfn(item, refs, conditions) for item in node]
        return [item for item in items if item is not NO_VALUE]
    return node


NO_VALUE = object()
TEMPLATE = functools.cache(load_template)


def api_shape(node: Any, *, keep_keys: bool = False) -> Any:
    """CloudFormation's PascalCase properties as the ECS API's camelCase (log options stay as written)."""
    if isinstance(node, dict):
        return {
            (key if keep_keys else key[0].lower() + key[1:]): api_shape(value, keep_keys=key == "Options")
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [api_shape(item) for item in node]
    return node


class Stack:
    """The template's resources in moto, plus the simulated Fargate and the fake Gatling Cloud."""

    def __init__(self, workdir: Path) -> None:
        template = TEMPLATE()
        resources = template["Resources"]
        session = boto3.Session(region_name=REGION)
        self.ec2 = session.client("ec2")
        self.s3 = session.client("s3")
        self.iam = session.client("iam")
        self.logs = session.client("logs")
        self.ecs = session.client("ecs")
        self.secrets = session.client("secretsmanager")

        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = self.ec2.create_security_group(GroupName="cp", Description="cp", VpcId=vpc)["GroupId"]
        self.s3.create_bucket(Bucket=BUCKET)
        self.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.secret_arn = self.secrets.create_secret(Name=f"{NAME}/token", SecretString=CP_TOKEN)["ARN"]
        self.logs.create_log_group(logGroupName=LOG_GROUP)

        refs: dict[str, Any] = {
            "AWS::NoValue": NO_VALUE,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "ControlPlaneName": NAME,
            "ConfigBucket": BUCKET,
            "ConfigBucket.Arn": f"arn:aws:s3:::{BUCKET}",
            "ConfigObjectKey": KEY,
            "ControlPlaneLogGroup": LOG_GROUP,
            "ControlPlaneLogGroup.Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}:*",
            "ControlPlaneTokenSecretArn": self.secret_arn,
            "ConfigLoaderImage": "amazon/aws-cli:latest",
            "ControlPlaneImage": "gatlingcorp/control-plane:latest",
            "ServerPort": 8080,
            "TaskCpu": "256",
            "TaskMemory": "512",
            "CpuArchitecture": "X86_64",
        }
        conditions = {
            "HasTokenSecret": True,
            "HasElasticIps": False,
            "HasLoadGeneratorRole": False,
            "HasPrivatePackagesBucket": False,
            "HasSecretsKmsKey": False,
            "CreateSecurityGroup": True,
        }
        # No bucket policy: moto would apply the template's deny-non-TLS statement to every call
        # (it ignores conditions); tests/unit checks the simulation's own evaluation of it.
        for logical_id in ("TaskRole", "ExecutionRole"):
            properties = resolve_cfn(resources[logical_id]["Properties"], refs, conditions)
            arn = self.iam.create_role(
                RoleName=logical_id,
                AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"]),
            )["Role"]["Arn"]
            refs[f"{logical_id}.Arn"] = arn
            for policy in properties["Policies"]:
                self.iam.put_role_policy(
                    RoleName=logical_id,
                    PolicyName=policy["PolicyName"],
                    PolicyDocument=json.dumps(policy["PolicyDocument"]),
                )

        definition = resolve_cfn(resources["TaskDefinition"]["Properties"], refs, conditions)
        self.containers: list[dict[str, Any]] = api_shape(definition["ContainerDefinitions"])
        self.definition = {
            "family": definition["Family"],
            "requiresCompatibilities": definition["RequiresCompatibilities"],
            "networkMode": definition["NetworkMode"],
            "cpu": definition["Cpu"],
            "memory": definition["Memory"],
            "taskRoleArn": definition["TaskRoleArn"],
            "executionRoleArn": definition["ExecutionRoleArn"],
            "volumes": api_shape(definition["Volumes"]),
        }
        self.ecs.create_cluster(clusterName=NAME)
        service = resources["Service"]["Properties"]
        self.deployment_configuration = api_shape(service["DeploymentConfiguration"])

        self.clock = StepClock()
        self.gatling = FakeGatlingCloud(API_TOKEN, CP_TOKEN)
        self.gatling.start()
        self.fargate = SimulatedFargate(
            account_id=ACCOUNT, region=REGION, clock=self.clock, gatling=self.gatling, workdir=workdir
        )
        self.clock.add_listener(self.fargate.tick)
        self.security_group = group
        self.service_spec = service

    # ---------------------------------------------------------------- operations
    def upload(self, body: bytes) -> str:
        return str(self.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["VersionId"])

    def register(self, version_id: str | None = None) -> str:
        """A revision of the template's task definition whose side-car fetches `version_id`, or the
        latest object (the template's command without the version it names, `unpinned`)."""
        containers = json.loads(json.dumps(self.containers))
        loader = next(item for item in containers if item["name"] == "config-loader")
        command = loader["command"]
        at = command.index("--version-id")
        assert command[at + 1] == revisions.UNPINNED, command
        latest = [*command[:at], *command[at + 2 :]]
        loader["command"] = (
            latest if version_id is None else [*latest[:-1], "--version-id", version_id, latest[-1]]
        )
        return str(
            self.ecs.register_task_definition(containerDefinitions=containers, **self.definition)[
                "taskDefinition"
            ]["taskDefinitionArn"]
        )

    def create_service(self, task_definition: str) -> None:
        self.ecs.create_service(
            cluster=NAME,
            serviceName=NAME,
            taskDefinition=task_definition,
            # The stack creates it with none; the workflow's rollouts set one (CONTROL_PLANE_TASKS).
            desiredCount=CONTROL_PLANE_TASKS,
            launchType=self.service_spec["LaunchType"],
            propagateTags=self.service_spec["PropagateTags"],
            deploymentConfiguration=self.deployment_configuration,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [self.subnet],
                    "securityGroups": [self.security_group],
                    "assignPublicIp": "DISABLED",
                }
            },
        )

    def deploy(self, task_definition: str) -> str:
        """What the workflow does: force a new deployment of the revision, remember its id."""
        service = self.ecs.update_service(
            cluster=NAME,
            service=NAME,
            taskDefinition=task_definition,
            desiredCount=CONTROL_PLANE_TASKS,
            forceNewDeployment=True,
        )["service"]
        primary = service["deployments"][0]
        assert primary["status"] == "PRIMARY"
        return str(primary["id"])

    def service(self) -> dict[str, Any]:
        return dict(self.ecs.describe_services(cluster=NAME, services=[NAME])["services"][0])

    def deployment(self, deployment_id: str) -> dict[str, Any] | None:
        return next((item for item in self.service()["deployments"] if item["id"] == deployment_id), None)

    def tasks(self, desired_status: str = "RUNNING", **filters: str) -> list[dict[str, Any]]:
        # ECS refuses startedBy with another filter (ListTasks): that one is applied here.
        started_by = filters.pop("startedBy", None)
        arns = self.ecs.list_tasks(cluster=NAME, desiredStatus=desired_status, **filters)["taskArns"]  # type: ignore[arg-type]
        if not arns:
            return []
        tasks = list(self.ecs.describe_tasks(cluster=NAME, tasks=arns)["tasks"])
        return [task for task in tasks if started_by is None or task.get("startedBy") == started_by]

    def log_lines(self, prefix: str) -> list[str]:
        lines: list[str] = []
        streams = self.logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]
        for stream in [item for item in streams if item["logStreamName"].startswith(prefix)]:
            events = self.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"])[
                "events"
            ]
            lines += [event["message"] for event in events]
        return lines

    def info(self, task: dict[str, Any], port: int = 8080) -> int:
        """GET /info on the task's private IP, through the simulated network."""
        host, real_port = self.fargate.resolve(private_ip(task), port)
        try:
            with urllib.request.urlopen(f"http://{host}:{real_port}/info", timeout=5) as response:
                return int(response.status)
        except urllib.error.URLError:
            return 0

    def run_until(self, predicate: Callable[[], bool], limit: float, step: float = 1.0) -> float:
        """Advance simulated time until `predicate` holds; the simulated seconds it took."""
        started = self.clock.now()
        while not predicate():
            assert self.clock.now() - started < limit, f"not reached within {limit} simulated seconds"
            self.clock.advance(step)
        return self.clock.now() - started

    def close(self) -> None:
        self.fargate.stop()
        self.gatling.stop()


def private_ip(task: dict[str, Any]) -> str:
    details = task["attachments"][0]["details"]
    return str(next(item["value"] for item in details if item["name"] == "privateIPv4Address"))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with mock_aws():
        built = Stack(tmp_path)
        try:
            yield built
        finally:
            built.close()


@pytest.fixture
def running(stack: Stack) -> Stack:
    """The stack after its first deployment, on a revision pinned to config v1 (prl_one)."""
    version = stack.upload(config("prl_one"))
    stack.create_service(stack.register(version))
    stack.run_until(lambda: stack.service()["deployments"][0]["rolloutState"] == "COMPLETED", 300)
    return stack


# ------------------------------------------------------------------------------------------ rollouts


def test_first_deployment_starts_a_task_that_registers_and_answers_info(stack: Stack) -> None:
    version = stack.upload(config("prl_one", "prl_two"))
    stack.create_service(stack.register(version))
    deployment_id = stack.service()["deployments"][0]["id"]

    took = stack.run_until(lambda: stack.deployment(deployment_id)["rolloutState"] == "COMPLETED", 300)  # type: ignore[index]

    assert 60 <= took <= 100
    service = stack.service()
    assert (service["runningCount"], service["pendingCount"], service["desiredCount"]) == (1, 0, 1)
    assert service["deploymentConfiguration"] == DEFAULT_DEPLOYMENT_CONFIGURATION
    [task] = stack.tasks()
    assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
    assert task["startedBy"] == deployment_id
    assert task["group"] == f"service:{NAME}"
    assert private_ip(task).startswith("10.0.1.")
    containers = {item["name"]: item for item in task["containers"]}
    assert (
        containers["config-loader"]["lastStatus"] == "STOPPED"
        and containers["config-loader"]["exitCode"] == 0
    )
    assert (
        containers["control-plane"]["lastStatus"] == "RUNNING"
        and "exitCode" not in containers["control-plane"]
    )
    assert stack.gatling.location_ids() == ["prl_one", "prl_two"]
    assert stack.info(task) == 200
    assert stack.info(task, port=9999) == 0, "only the configured server port answers"
    assert stack.fargate.resolve("10.9.9.9", 8080) != stack.fargate.resolve(private_ip(task), 8080)


def test_forced_redeployment_stops_the_old_task_first_and_completes_in_about_90_seconds(
    running: Stack,
) -> None:
    stack = running
    [old_task] = stack.tasks()
    version = stack.upload(config("prl_one", "prl_new"))
    revision = stack.register(version)
    started = stack.clock.now()

    deployment_id = stack.deploy(revision)

    deployments = stack.service()["deployments"]
    assert [(item["status"], item["rolloutState"]) for item in deployments] == [
        ("PRIMARY", "IN_PROGRESS"),
        ("ACTIVE", "COMPLETED"),
    ]
    assert deployments[0]["taskDefinition"] == revision and stack.service()["taskDefinition"] == revision
    milestones: dict[str, float] = {}

    def observe() -> bool:
        stopped = stack.tasks("STOPPED")
        if stopped and "old stopped" not in milestones and stopped[0]["lastStatus"] == "STOPPED":
            milestones["old stopped"] = stack.clock.now() - started
        new = stack.tasks(startedBy=deployment_id)
        if new and new[0]["lastStatus"] == "RUNNING" and "running" not in milestones:
            milestones["running"] = stack.clock.now() - started
        if "prl_new" in stack.gatling.location_ids() and "up" not in milestones:
            milestones["up"] = stack.clock.now() - started
        return stack.deployment(deployment_id)["rolloutState"] == "COMPLETED"  # type: ignore[index]

    completed = stack.run_until(observe, 300)

    assert 80 <= completed <= 100, milestones
    assert milestones["old stopped"] < milestones["running"] < milestones["up"] < completed
    assert 10 <= milestones["up"] - milestones["running"] <= 20
    [stopped] = stack.tasks("STOPPED")
    assert stopped["taskArn"] == old_task["taskArn"]
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    assert stopped["stoppedReason"] == f"Scaling activity initiated by (deployment {deployment_id})"
    assert {item["exitCode"] for item in stopped["containers"]} == {0, 143}
    service = stack.service()
    assert [item["id"] for item in service["deployments"]] == [deployment_id], "the old deployment is gone"
    assert service["runningCount"] == 1
    [task] = stack.tasks()
    assert private_ip(task) != private_ip(old_task)
    assert stack.info(task) == 200 and stack.info(old_task) == 0
    assert any("has reached a steady state" in event["message"] for event in service["events"])


def test_a_new_task_definition_without_force_also_starts_a_deployment(running: Stack) -> None:
    stack = running
    revision = stack.register(stack.upload(config("prl_one")))

    stack.ecs.update_service(cluster=NAME, service=NAME, taskDefinition=revision)

    [primary, active] = stack.service()["deployments"]
    assert primary["taskDefinition"] == revision and primary["rolloutState"] == "IN_PROGRESS"
    assert active["status"] == "ACTIVE"
    stack.run_until(lambda: stack.deployment(primary["id"])["rolloutState"] == "COMPLETED", 300)  # type: ignore[index]


def test_list_tasks_filters_like_ecs(running: Stack) -> None:
    stack = running
    stack.deploy(stack.service()["taskDefinition"])
    stack.clock.advance(120)

    assert len(stack.ecs.list_tasks(cluster=NAME)["taskArns"]) == 1, "desiredStatus defaults to RUNNING"
    assert len(stack.ecs.list_tasks(cluster=NAME, desiredStatus="STOPPED")["taskArns"]) == 1
    assert len(stack.ecs.list_tasks(cluster=NAME, serviceName=NAME)["taskArns"]) == 1
    assert stack.ecs.list_tasks(cluster=NAME, serviceName="another-service")["taskArns"] == []


# ------------------------------------------------------------------------------- failures and faults


def deploy_and_wait_for_rollback(stack: Stack, revision: str) -> tuple[str, dict[str, Any]]:
    """Deploy `revision`; return its deployment id and the service once ECS has settled again."""
    deployment_id = stack.deploy(revision)
    stack.run_until(
        lambda: (
            (stack.deployment(deployment_id) or {}).get("rolloutState") != "IN_PROGRESS"
            and stack.service()["deployments"][0]["rolloutState"] != "IN_PROGRESS"
        ),
        900,
        step=5,
    )
    return deployment_id, stack.service()


def restart_loop(stack: Stack, revision: str, seconds: float = 8 * 60) -> str:
    """Deploy `revision`, whose control plane exits as it starts, and let ECS restart it for `seconds`."""
    deployment_id = stack.deploy(revision)
    stack.clock.advance(seconds)
    return deployment_id


def test_a_task_that_exits_after_running_is_restarted_not_counted_by_the_circuit_breaker(
    running: Stack,
) -> None:
    # "A task is considered a failure if the service scheduler can't launch the task, the task
    # doesn't transition to a RUNNING state, or if it fails any of its defined health checks"
    # (ECS API reference, Deployment.failedTasks): a control plane that exits after its task ran is not.
    stack = running
    version = stack.upload(config("prl_one", "prl_bad"))
    stack.fargate.arm("task-fails-to-start", version)

    deployment_id = restart_loop(stack, stack.register(version))

    deployment = stack.deployment(deployment_id)
    assert deployment is not None
    assert deployment["rolloutState"] == "IN_PROGRESS" and deployment["failedTasks"] == 0
    failures = stack.tasks("STOPPED", startedBy=deployment_id)
    assert len(failures) >= 3, "ECS keeps replacing the task"
    for task in failures:
        assert task["stopCode"] == "EssentialContainerExited"
        assert task.get("startedAt") is not None, "each of them ran"
        containers = {item["name"]: item for item in task["containers"]}
        assert containers["control-plane"]["exitCode"] == 1
    assert "prl_bad" not in stack.gatling.location_ids()
    assert any(line.startswith("ERROR") for line in stack.log_lines("control-plane/control-plane/"))
    assert not any("circuit breaker tripped" in line for line in stack.fargate.events)


def test_a_failed_deployment_stays_failed_in_describe_services_while_it_lasts(running: Stack) -> None:
    stack = running
    version = stack.upload(config("prl_one"))
    stack.fargate.arm("config-download-denied", version)  # its tasks never reach RUNNING
    deployment_id = stack.deploy(stack.register(version))

    stack.run_until(
        lambda: (stack.deployment(deployment_id) or {}).get("rolloutState") == "FAILED", 600, step=1
    )

    failed = stack.deployment(deployment_id)
    assert failed is not None
    assert failed["rolloutStateReason"] == CIRCUIT_BREAKER_REASON and failed["failedTasks"] == 3
    assert stack.service()["deployments"][0]["rolloutStateReason"].startswith(
        "ECS deployment circuit breaker: rolling back to deploymentId "
    )


def test_config_download_denied_fails_the_side_car_and_the_rollback_still_fetches_its_version(
    running: Stack,
) -> None:
    stack = running
    version = stack.upload(config("prl_one", "prl_denied"))
    stack.fargate.arm("config-download-denied", version)

    deployment_id, service = deploy_and_wait_for_rollback(stack, stack.register(version))

    assert service["deployments"][0]["rolloutState"] == "COMPLETED" and service["runningCount"] == 1
    failures = stack.tasks("STOPPED", startedBy=deployment_id)
    assert len(failures) == 3
    for task in failures:
        containers = {item["name"]: item for item in task["containers"]}
        assert containers["config-loader"]["exitCode"] == 254
        assert containers["control-plane"]["reason"].startswith("CannotStartContainerError: dependency graph")
        assert task["stopCode"] == "EssentialContainerExited"
    loader_lines = stack.log_lines("config-loader/config-loader/")
    assert (
        "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied" in loader_lines
    )
    assert "prl_denied" not in stack.gatling.location_ids()


def test_missing_version_fails_like_the_aws_cli(running: Stack) -> None:
    stack = running
    deployment_id, _ = deploy_and_wait_for_rollback(stack, stack.register("not-a-real-version"))

    assert len(stack.tasks("STOPPED", startedBy=deployment_id)) == 3
    assert (
        "An error occurred (NoSuchVersion) when calling the GetObject operation: The specified version does not exist."
        in stack.log_lines("config-loader/config-loader/")
    )


def test_never_up_completes_the_deployment_but_the_control_plane_never_registers(running: Stack) -> None:
    stack = running
    version = stack.upload(config("prl_one", "prl_silent"))
    stack.fargate.arm("never-up", version)
    deployment_id = stack.deploy(stack.register(version))

    stack.run_until(lambda: stack.deployment(deployment_id)["rolloutState"] == "COMPLETED", 300)  # type: ignore[index]
    stack.clock.advance(120)

    [task] = stack.tasks()
    assert task["lastStatus"] == "RUNNING"
    assert "prl_silent" not in stack.gatling.location_ids()
    assert stack.info(task) == 0


def test_rollback_fails_makes_every_revision_exit_after_it_starts(running: Stack) -> None:
    stack = running
    good_revision = stack.service()["taskDefinition"]
    version = stack.upload(config("prl_one"))
    stack.fargate.arm("rollback-fails", version)

    restart_loop(stack, stack.register(version), 4 * 60)
    rollback = restart_loop(stack, good_revision, 4 * 60)  # what the workflow's rollback does

    tasks = stack.tasks("STOPPED", startedBy=rollback)
    assert tasks and all(
        {c["name"]: c for c in task["containers"]}["control-plane"]["exitCode"] == 1 for task in tasks
    )
    assert not [task for task in stack.tasks() if task["lastStatus"] == "RUNNING" and stack.info(task) == 200]


def test_slow_rollout_reaches_running_after_twenty_minutes(running: Stack) -> None:
    stack = running
    version = stack.upload(config("prl_one", "prl_slow"))
    stack.fargate.arm("slow-rollout", version)
    deployment_id = stack.deploy(stack.register(version))

    stack.clock.advance(15 * 60)
    [pending] = stack.tasks(startedBy=deployment_id)
    assert pending["lastStatus"] == "PENDING"
    assert stack.deployment(deployment_id)["rolloutState"] == "IN_PROGRESS"  # type: ignore[index]

    took = (
        stack.run_until(lambda: stack.tasks(startedBy=deployment_id)[0]["lastStatus"] == "RUNNING", 10 * 60)
        + 15 * 60
    )
    assert 20 * 60 <= took <= 21 * 60


def test_control_plane_without_token_refuses_to_start(running: Stack) -> None:
    stack = running
    version = stack.upload(config("prl_one", token="${?NO_SUCH_VARIABLE}"))

    deployment_id = restart_loop(stack, stack.register(version), 3 * 60)

    assert stack.tasks("STOPPED", startedBy=deployment_id)
    assert (stack.deployment(deployment_id) or {}).get("rolloutState") != "COMPLETED"
    assert any(
        "No configuration setting found for key 'control-plane.token'" in line
        for line in stack.log_lines("control-plane/control-plane/")
    )


def test_an_unpinned_revision_with_the_object_deleted_is_denied_without_list_bucket(running: Stack) -> None:
    stack = running
    stack.s3.delete_object(Bucket=BUCKET, Key=KEY)  # a delete marker: the key has no current version

    deployment_id, _ = deploy_and_wait_for_rollback(stack, stack.register())

    assert len(stack.tasks("STOPPED", startedBy=deployment_id)) == 3
    # The task role may not s3:ListBucket, so S3 hides NoSuchKey behind AccessDenied.
    assert (
        "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied"
        in stack.log_lines("config-loader/")
    )


def test_gatling_api_flaky_fault_makes_every_other_request_fail(running: Stack) -> None:
    stack = running
    stack.fargate.arm("gatling-api-flaky", "any")

    statuses = []
    for _ in range(4):
        request = urllib.request.Request(
            f"{stack.gatling.url}/v2/locations?type=private_location", headers={"Authorization": API_TOKEN}
        )
        try:
            with urllib.request.urlopen(
                request, timeout=5, context=stack.gatling.client_context()
            ) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
    assert statuses == [503, 200, 503, 200]


def test_no_token_ever_reaches_events_or_logs(running: Stack) -> None:
    stack = running
    version = stack.upload(config("prl_one", token=f'"{CP_TOKEN}"'))
    stack.fargate.arm("task-fails-to-start", version)
    restart_loop(stack, stack.register(version), 3 * 60)

    everything = "\n".join([*stack.fargate.events, *stack.log_lines("")])
    assert CP_TOKEN not in everything and API_TOKEN not in everything
    assert "cpt_" not in everything
