"""`LocalTwin`: the whole pipeline on this machine, no AWS, no Docker.

One object starts, in this order: a simulated clock; moto (in-process, executing state machines,
on that clock); the fake Gatling Cloud on 127.0.0.1; the secrets, VPC and subnets the template's
parameters need; the in-process Lambda service and EventBridge delivery; the stack, provisioned from
template.yaml; the simulated Fargate, and the `ECS Task State Change` events ECS sends about its
tasks (cpctl/twin/ecs_events.py). Optionally it also serves the AWS API on 127.0.0.1 for the
`aws` CLI or boto3 (`cpctl local up`).

Everything is process-global while the twin runs (moto's mock, the clock installed in
`controlplane.clock`, the endpoint resolver, sys.stdout routing): run one twin per process at a time.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import ClientError
from moto.core.config import DefaultConfig

from cpctl.twin import faults, moto_time
from cpctl.twin.capture import Capture, Captured, CaptureLogHandler, StdStreams
from cpctl.twin.clock import DEFAULT_EPOCH, SimulatedClock
from cpctl.twin.cloudformation import ServedStack
from cpctl.twin.cloudformation import register as described_stack
from cpctl.twin.ecs_events import DeploymentStateEvents, TaskStateEvents
from cpctl.twin.eventbridge import EVENT_FAULTS, EventBridge
from cpctl.twin.iam_calls import CallAuthorizer, Where, role_policies, target_check
from cpctl.twin.lambdas import FunctionSpec, LambdaRouter, set_environment
from cpctl.twin.network import LambdaNetwork
from cpctl.twin.provision import Provisioner, ProvisionError, Stack, StackUpdate, translate

LOG = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
CONFIGS = Path(__file__).resolve().parent / "configs"
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
STACK_NAME = "control-plane-autopilot"
VPC_CIDR = "10.42.0.0/16"
# CloudFormation's own limit on waiting for a service to stabilize is undocumented (hours); the
# circuit breaker ends a failing first deployment well within this bound.
SERVICE_STABILIZATION_SECONDS = 3 * 3600.0
STABILIZATION_POLL_SECONDS = 15.0

# A load test run starts on a location of the running config just before the upload, and ends
# after RUN_IN_PROGRESS_SECONDS of simulated time, or never (faults run-in-progress, run-never-ends).
GATLING_RUN_FAULTS = ("run-in-progress", "run-never-ends")
RUN_IN_PROGRESS_SECONDS = 12 * 60.0

_MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "iam": {"load_aws_managed_policies": False},  # see provision.aws_managed_policy_document
    # The twin installs its own default session (see _shared_botocore_session).
    "core": {"mock_credentials": True, "reset_boto3_session": False},
}


class TwinError(RuntimeError):
    """The twin could not do what was asked (a wait ran out of wall time, a missing resource...)."""


def builtin_config(name: str) -> bytes:
    """`initial` or `changed`: the twin's built-in configs."""
    return (CONFIGS / f"{name}.conf").read_bytes()


@dataclass
class StateStep:
    """One state the execution entered, with its simulated offset from the execution's start."""

    name: str
    type: str
    entered: float
    exited: float | None = None
    retries: int = 0
    error: str | None = None


@dataclass
class ExecutionReport:
    arn: str
    name: str
    status: str
    error: str | None
    cause: str | None
    input: Any
    output: Any
    transitions: int
    simulated_seconds: float
    wall_seconds: float
    started: float = 0.0  # simulated epoch seconds
    states: list[StateStep] = field(default_factory=list)


@dataclass
class ServiceSnapshot:
    task_definition: str
    config_version_id: str | None
    config_sha256: str | None
    running_count: int
    deployments: list[dict[str, Any]]


@dataclass
class TwinOptions:
    template: Path = TEMPLATE_PATH
    workdir: Path | None = None
    parameters: dict[str, str] = field(default_factory=dict)  # overrides of template parameters
    serve_port: int | None = None  # also serve the AWS API on 127.0.0.1:PORT (0: any free port)
    api_token: str = field(default="", repr=False)  # secrets: never in a repr, so never in a log line
    control_plane_token: str = field(default="", repr=False)
    max_step: float = 1.0
    # How long DescribeServices may not show a new deployment, to the stack's functions (None: the
    # simulated Fargate's default, DESCRIBE_LAG_SECONDS; 0: never).
    describe_lag_seconds: float | None = None
    # Encrypt the two token secrets with a customer managed KMS key, passed as SecretsKmsKeyArn:
    # every reader then needs kms:Decrypt on it (iam_calls.secret_checks).
    secrets_kms_key: bool = False


class LocalTwin:
    """The stack of template.yaml on moto, with simulated Fargate and a fake Gatling Cloud."""

    def __init__(self, options: TwinOptions | None = None) -> None:
        self.options = options or TwinOptions()
        # Fresh random tokens per twin: the secrets scenario searches every capture for them.
        self.api_token = self.options.api_token or f"gat_twin_{secrets.token_hex(16)}"
        self.control_plane_token = self.options.control_plane_token or f"cpt_twin_{secrets.token_hex(16)}"
        self.clock = SimulatedClock(DEFAULT_EPOCH, max_step=self.options.max_step)
        self.capture = Capture()
        self.streams = StdStreams()
        self.account_id = ACCOUNT_ID
        self.region = REGION
        self.stack: Stack | None = None
        self.described: ServedStack | None = None  # the stack as DescribeStacks answers it
        self.provisioner: Provisioner | None = None
        self.parameters: dict[str, str] = {}  # the values the stack was last deployed with
        self.startup_seconds = 0.0
        self.endpoint_url: str | None = None
        self._stack_undo: contextlib.ExitStack = contextlib.ExitStack()
        self._own_workdir = self.options.workdir is None
        self.workdir = self.options.workdir or Path(tempfile.mkdtemp(prefix="cpctl-twin-"))
        self._wall_starts: dict[str, float] = {}
        self._started = False
        self.gatling: Any = None
        self.fargate: Any = None
        self.lambdas: LambdaRouter | None = None
        self.network: LambdaNetwork | None = None
        self.eventbridge: EventBridge | None = None
        self.ecs_events: TaskStateEvents | None = None
        self.deployment_events: DeploymentStateEvents | None = None
        self.session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}

    # ================================================================ lifecycle
    def __enter__(self) -> LocalTwin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalTwin:
        started = time.monotonic()
        undo = self._stack_undo
        try:
            self._start(undo)
        except BaseException:
            self.stop()
            raise
        self._started = True
        self.startup_seconds = time.monotonic() - started
        return self

    def _start(self, undo: contextlib.ExitStack) -> None:
        from moto import mock_aws

        self.workdir.mkdir(parents=True, exist_ok=True)
        functions_dir = str(REPO_ROOT / "functions")
        if functions_dir not in sys.path:
            sys.path.insert(0, functions_dir)
        from controlplane import clock as domain_clock
        from controlplane import endpoints

        # Process environment: a region, and nothing that could send a call to real AWS.
        undo.enter_context(
            _environ(
                {
                    "AWS_DEFAULT_REGION": self.region,
                    "AWS_REGION": self.region,
                    "AWS_ENDPOINT_URL": None,
                    "AWS_PROFILE": None,
                    "AWS_CONFIG_FILE": os.devnull,
                    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                }
            )
        )
        self.streams.install()
        undo.callback(self.streams.uninstall)
        handler = CaptureLogHandler(self.capture)
        logging.getLogger().addHandler(handler)
        undo.callback(logging.getLogger().removeHandler, handler)

        domain_clock.install(self.clock)
        undo.callback(domain_clock.install, domain_clock.SystemClock())
        undo.callback(self.clock.close)

        mock = mock_aws(config=_MOTO_CONFIG)
        mock.start()
        undo.callback(mock.stop)
        undo.enter_context(_generated_execution_names())
        moto_time.install(self.clock)
        undo.callback(moto_time.uninstall)
        self.session = _shared_session(self.region)
        self._internal_session = _shared_session(self.region, "twin")
        self.lambdas = LambdaRouter(
            clock=self.clock,
            capture=self.capture,
            streams=self.streams,
            region=self.region,
            write_log=self._write_lambda_log,
        )
        # Before any client exists: a client copies the session's event hooks when it is created.
        self.network = LambdaNetwork(
            router=self.lambdas, vpc_cidrs=[VPC_CIDR], task_resolver=_unreachable_until_fargate
        )
        self.network.install(self.session)
        undo.callback(self.network.uninstall, self.session)
        previous_default = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = self.session  # what the handlers' boto3.client(...) calls use
        undo.callback(setattr, boto3, "DEFAULT_SESSION", previous_default)

        from cpctl.twin.gatling import FakeGatlingCloud

        self.gatling = FakeGatlingCloud(
            api_token=self.api_token, control_plane_token=self.control_plane_token
        )
        self.gatling.now = self.clock.now  # runs start and end on simulated time
        self.gatling.start()
        undo.callback(self.gatling.stop)
        # Every https client of the twin's process (the handlers' urllib) trusts the fake's CA.
        undo.enter_context(_environ({"SSL_CERT_FILE": str(self.gatling.ca_path)}))

        secretsmanager = self.client("secretsmanager")
        secrets_key = (
            # The default key policy lets IAM policies grant the key's use (KMS Developer Guide, "Default key policy").
            self.client("kms").create_key(Description="control-plane-autopilot token secrets")["KeyMetadata"][
                "Arn"
            ]
            if self.options.secrets_kms_key
            else None
        )
        encrypted = {"KmsKeyId": secrets_key} if secrets_key else {}
        api_secret = secretsmanager.create_secret(
            Name="control-plane-autopilot/gatling-api-token", SecretString=self.api_token, **encrypted
        )["ARN"]
        token_secret = secretsmanager.create_secret(
            Name="control-plane-autopilot/control-plane-token",
            SecretString=self.control_plane_token,
            **encrypted,
        )["ARN"]
        ec2 = self.client("ec2")
        # No NAT gateway and no VPC endpoints: the functions in it reach only it (network.py).
        vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.42.{index}.0/24", AvailabilityZone=f"{self.region}{zone}"
            )["Subnet"]["SubnetId"]
            for index, zone in ((1, "a"), (2, "b"))
        ]

        self.lambdas.before_invoke.extend(_domain_resets())
        self.lambdas.install()
        undo.callback(self.lambdas.uninstall)
        # IAM on every call a function makes, under its own role (iam_calls.py).
        self.authorizer = CallAuthorizer(
            where=Where(partition="aws", region=self.region, account=self.account_id),
            policies_of=lambda role: role_policies(self.account_id, self.region, role),
            resource_policy_of=self._resource_policy,
            current=self._running_function,
            acting_service=self._step_functions_caller,
        )
        self.authorizer.install(self.session.events)
        undo.callback(self.authorizer.uninstall, self.session.events)
        self.eventbridge = EventBridge(
            account_id=self.account_id,
            region=self.region,
            clock=self.clock,
            capture=self.capture,
            lambdas=self.lambdas,
            start_execution=self._start_execution_for_rule,
            authorize=lambda rule_arn, target: target_check(
                rule_arn,
                target,
                where=self.authorizer.where,
                policies_of=self.authorizer.policies_of,
                resource_policy_of=self._resource_policy,
            ),
        )
        self.eventbridge.install()
        undo.callback(self.eventbridge.uninstall)

        translated = translate(self.options.template, region=self.region)
        declared = translated.template.get("Parameters", {})
        candidates = {
            "VpcId": vpc,
            "SubnetIds": ",".join(subnets),
            "GatlingApiUrl": self.gatling.url,
            "GatlingApiTokenSecretArn": api_secret,
            "ControlPlaneTokenSecretArn": token_secret,
            **({"SecretsKmsKeyArn": secrets_key} if secrets_key else {}),
        }
        parameters = {name: value for name, value in candidates.items() if name in declared}
        parameters.update(self.options.parameters)
        provisioner = Provisioner(
            self.session,
            account_id=self.account_id,
            region=self.region,
            stack_name=STACK_NAME,
            translated=translated,
        )
        self.provisioner = provisioner
        self.parameters = dict(parameters)
        self.stack = provisioner.provision(parameters)
        self.described = described_stack(
            self.stack,
            translated.template,
            account_id=self.account_id,
            region=self.region,
            now=self.clock.now(),
        )
        for spec in self.stack.functions.values():
            self.lambdas.register(spec)

        from cpctl.twin.fargate import SimulatedFargate

        self.fargate = SimulatedFargate(
            account_id=self.account_id,
            region=self.region,
            clock=self.clock,
            gatling=self.gatling,
            workdir=self.workdir,
            # The stack's functions meet ECS's eventual consistency; the twin's stand-ins for AWS
            # itself (CloudFormation's wait on the service) do not.
            lagged=lambda: self._running_function() is not None,
            **(
                {"describe_lag_seconds": self.options.describe_lag_seconds}
                if self.options.describe_lag_seconds is not None
                else {}
            ),
        )
        undo.callback(self.fargate.stop)
        self.clock.add_listener(self.fargate.tick)
        undo.callback(self.clock.remove_listener, self.fargate.tick)
        # After Fargate's tick, so a task it stopped in this tick is news in the same tick.
        self.ecs_events = TaskStateEvents(
            account_id=self.account_id,
            region=self.region,
            eventbridge=self.eventbridge,
            ecs=self.client("ecs"),
        )
        self.clock.add_listener(self.ecs_events.tick)
        undo.callback(self.clock.remove_listener, self.ecs_events.tick)
        self.deployment_events = DeploymentStateEvents(
            account_id=self.account_id,
            region=self.region,
            eventbridge=self.eventbridge,
            ecs=self.client("ecs"),
        )
        self.clock.add_listener(self.deployment_events.tick)
        undo.callback(self.clock.remove_listener, self.deployment_events.tick)
        self.network.task_resolver = self.fargate.resolve
        endpoints.install_resolver(self.network.resolve)
        undo.callback(endpoints.install_resolver, None)

        # CloudFormation's create of an AWS::ECS::Service ends only when the service is stable, and a
        # deployment the circuit breaker fails fails the stack (see await_services_stable).
        self.await_services_stable("CREATE")
        if self.described is not None:
            self.described.status = "CREATE_COMPLETE"

        if self.options.serve_port is not None:
            self._serve(undo, self.options.serve_port)

    def await_services_stable(self, operation: str) -> None:
        """Wait as CloudFormation waits on each `AWS::ECS::Service` after a create or an update: until
        its PRIMARY deployment is COMPLETED with the desired count running; a FAILED deployment (the
        circuit breaker) fails the stack operation ("CloudFormation waits for an AWS::ECS::Service to
        stabilize", AWS::ECS::Service in the CloudFormation User Guide)."""
        ecs = self.client("ecs")
        stack = self._stack()
        for resource in stack.of_type("AWS::ECS::Service"):
            cluster = str(resource.properties.get("Cluster"))
            waited = 0.0
            while True:
                (service,) = ecs.describe_services(cluster=cluster, services=[resource.ref])["services"]
                primary = next(
                    (d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None
                )
                state = primary.get("rolloutState") if primary else None
                if state == "FAILED":
                    raise TwinError(
                        f"stack {stack.name} {operation}_FAILED: {resource.logical_id} (AWS::ECS::Service): "
                        f"{primary.get('rolloutStateReason') if primary else ''} "
                        f"({self._last_stopped_reason(cluster, resource.ref)})"
                    )
                if state == "COMPLETED" and service.get("runningCount") == service.get("desiredCount"):
                    break
                if waited >= SERVICE_STABILIZATION_SECONDS:
                    raise TwinError(
                        f"stack {stack.name} {operation}_FAILED: {resource.logical_id} (AWS::ECS::Service) "
                        f"did not stabilize within {SERVICE_STABILIZATION_SECONDS:.0f} s"
                    )
                self.advance(STABILIZATION_POLL_SECONDS)
                waited += STABILIZATION_POLL_SECONDS

    def update_stack(self, parameters: Mapping[str, str]) -> StackUpdate:
        """`sam deploy` with changed parameters: CloudFormation's update of the stack, as far as the
        twin models it (provision.Provisioner.update), then its wait on the services, then its
        clean-up of replaced resources (old task definition revisions are deregistered only after
        the update succeeded). A failed update raises `TwinError` (the rollback is not modelled)."""
        if self.provisioner is None or self.lambdas is None:
            raise TwinError("the twin is not started")
        merged = {**self.parameters, **parameters}
        described = self.described
        assert described is not None
        described.status, described.stack_status_reason = "UPDATE_IN_PROGRESS", "User Initiated"
        described.last_updated_time = datetime.fromtimestamp(self.clock.now(), UTC)
        try:
            try:
                update = self.provisioner.update(merged)
            except ProvisionError as error:
                raise TwinError(f"stack {self._stack().name} UPDATE_FAILED: {error}") from error
            assert update.stack is not None
            self.parameters = merged
            self.stack = update.stack
            described.describe(update.stack, self.provisioner.template)
            for spec in update.stack.functions.values():
                self.lambdas.register(spec)
            self.await_services_stable("UPDATE")
        except TwinError as error:
            described.status, described.stack_status_reason = "UPDATE_FAILED", str(error)
            raise
        described.status, described.stack_status_reason = "UPDATE_COMPLETE", None
        ecs = self.client("ecs")
        for old in update.replaced.values():
            if old.type == "AWS::ECS::TaskDefinition":
                ecs.deregister_task_definition(taskDefinition=old.ref)
        return update

    def _running_function(self) -> tuple[str, str] | None:
        spec = self.lambdas.current() if self.lambdas is not None else None
        return (spec.logical_id, spec.role_arn) if spec is not None else None

    def _step_functions_caller(self) -> tuple[str, str] | None:
        """(logical id, role ARN) of the state machine when moto's Step Functions interpreter makes
        this call (its Task states invoke the Lambdas with a client of their own); else None."""
        frame = sys._getframe(1)
        while frame is not None:
            if str(frame.f_globals.get("__name__", "")).startswith("moto.stepfunctions"):
                return self._state_machine_principal()
            frame = frame.f_back  # type: ignore[assignment]
        return None

    def _state_machine_principal(self) -> tuple[str, str]:
        machines = [
            (logical_id, str(resource.properties.get("RoleArn", "")))
            for logical_id, resource in self._stack().resources.items()
            if resource.type == "AWS::StepFunctions::StateMachine"
        ]
        if len(machines) != 1:
            raise TwinError(f"the twin authorizes one state machine; the stack has {len(machines)}")
        return machines[0]

    def _resource_policy(self, resource: str) -> Any:
        """The resource policy of an S3 bucket or object, a Lambda function or an SQS queue; None for
        other resources or when it has none."""
        from moto.s3.exceptions import MissingBucket
        from moto.s3.models import s3_backends

        service = resource.split(":")[2] if resource.count(":") >= 5 else ""
        if service == "lambda":
            try:
                return self.client("lambda").get_policy(FunctionName=resource)["Policy"]
            except ClientError:
                return None
        if service == "sqs":
            sqs = self.client("sqs")
            url = sqs.get_queue_url(QueueName=resource.split(":")[5])["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
            return attributes.get("Attributes", {}).get("Policy")
        if not resource.startswith("arn:aws:s3:::"):
            return None
        bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        try:
            policy = s3_backends[self.account_id]["aws"].get_bucket(bucket).policy
        except MissingBucket:
            return None
        return policy.decode() if isinstance(policy, bytes) else policy

    def _last_stopped_reason(self, cluster: str, service: str) -> str:
        ecs = self.client("ecs")
        arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED").get(
            "taskArns", []
        )
        if not arns:
            return "no task stopped"
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", [])
        newest = max(tasks, key=lambda task: str(task.get("stoppedAt") or ""))
        return f"last stopped task: {newest.get('stoppedReason')}"

    def _serve(self, undo: contextlib.ExitStack, port: int) -> None:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port or _free_port(), verbose=False)
        server.start()
        undo.callback(server.stop)
        host, bound = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{bound}"

    def stop(self) -> None:
        """Stop everything the twin started (executions still waiting end with it)."""
        # Close the clock first: every execution still waiting ends at once, and must be gone before
        # the embedded AWS stops, or a call it makes would go to the real one.
        self.clock.close()
        deadline = time.monotonic() + 5.0
        for done in list(moto_time.EXECUTION_DONE.values()):
            done.wait(timeout=max(0.0, deadline - time.monotonic()))
        if self.lambdas is not None:
            # An asynchronous invocation (an EventBridge target) still running must end before the
            # embedded AWS does, or it would write into the next twin's.
            stuck = self.lambdas.join_async(max(0.5, deadline - time.monotonic()))
            if stuck:
                LOG.warning("asynchronous invocations still running at stop: %s", ", ".join(stuck))
        self._stack_undo.close()
        self._stack_undo = contextlib.ExitStack()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._started = False

    # ================================================================ the stack
    def client(self, service: str) -> Any:
        if self.session is None:
            raise TwinError("the twin is not started")
        if service not in self._clients:
            # The twin's own calls go through a session of their own: they are no principal of the stack.
            self._clients[service] = self._internal_session.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    def _stack(self) -> Stack:
        if self.stack is None:
            raise TwinError("the twin is not started")
        return self.stack

    @property
    def bucket(self) -> str:
        return str(self._stack().first_of_type("AWS::S3::Bucket").ref)

    @property
    def config_key(self) -> str:
        return str(self._stack().parameters.get("ConfigObjectKey", "control-plane.conf"))

    @property
    def state_machine_arn(self) -> str:
        machines = self._stack().state_machines
        if not machines:
            raise TwinError("the template defines no state machine")
        return next(iter(machines.values()))

    @property
    def cluster(self) -> str:
        return str(self._stack().first_of_type("AWS::ECS::Cluster").ref)

    @property
    def service_name(self) -> str:
        return str(self._stack().first_of_type("AWS::ECS::Service").attributes["Name"])

    def functions(self) -> dict[str, FunctionSpec]:
        return dict(self._stack().functions)

    # ================================================================ driving it
    def upload_config(self, data: bytes, *, faults: tuple[str, ...] = ()) -> str:
        """Put `data` as the config object (S3 sends its event at once); the new version id.

        Faults are armed for that version before simulated time can move, so the rollout it starts
        already meets them; those that act on the upload's own event (EventBridge's) before the write.
        """
        before_write = [f for f in faults if f in GATLING_RUN_FAULTS or f in EVENT_FAULTS]
        with self.clock.worker():
            for fault in before_write:
                self.arm(fault, "")
            response = self.client("s3").put_object(Bucket=self.bucket, Key=self.config_key, Body=data)
            version_id = str(response.get("VersionId") or "null")
            for fault in faults:
                if fault not in before_write:
                    self.arm(fault, version_id)
        return version_id

    def arm_every_upload(self, names: tuple[str, ...]) -> None:
        """Arm the `deploy` faults `names` for every config version put from now on, by anyone (the
        `aws` CLI or `cpctl deploy` against `cpctl local up`), before the workflow hears of it."""
        for name in names:
            if faults.find(name, "deploy") is None:
                raise TwinError(faults.unknown(name, "deploy"))
        if not names:
            return
        assert self.eventbridge is not None

        def arm_for(event: dict[str, Any]) -> None:
            detail = event.get("detail") or {}
            version_id = (detail.get("object") or {}).get("version-id")
            if (
                event.get("detail-type") != "Object Created"
                or (detail.get("bucket") or {}).get("name") != self.bucket
                or (detail.get("object") or {}).get("key") != self.config_key
                or not version_id
            ):
                return
            with self.clock.worker():
                for name in names:
                    self.arm(name, str(version_id))

        self.eventbridge.on_s3_event.append(arm_for)

    def start_run(self, *, never_ends: bool = False) -> str:
        """A load test run on the first location the running control plane registered; its id."""
        locations = self.gatling.location_ids()
        if not locations:
            raise TwinError("no location is registered with Gatling: no run can start")
        duration = None if never_ends else RUN_IN_PROGRESS_SECONDS
        return str(self.gatling.start_run(locations[:1], duration=duration))

    def arm(self, fault: str, version_id: str) -> None:
        """Arm a fault of `cpctl local deploy` (cpctl/twin/faults.py) for the upload of `version_id`."""
        declared = faults.find(fault, "deploy")
        if declared is None:
            raise TwinError(faults.unknown(fault, "deploy"))
        if fault == "gatling-api-flaky":
            self.gatling.flaky = True
        elif fault == "token-rejected":
            self.gatling.file_tokens_rejected = True
        elif declared.armed_by == "lambdas":
            assert self.lambdas is not None
            if fault == "lambda-result-lost":
                self.lambdas.arm_lost_results()
            else:
                self.lambdas.arm_transient_failures()
        elif declared.armed_by == "fargate":
            self.fargate.arm(fault, version_id)
        elif declared.armed_by == "eventbridge":
            assert self.eventbridge is not None
            self.eventbridge.arm(fault)
        elif fault in GATLING_RUN_FAULTS:
            self.start_run(never_ends=fault == "run-never-ends")
        else:
            raise TwinError(
                f"fault {fault!r} is armed by {declared.armed_by}, which the twin does not dispatch"
            )

    def advance(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass (executions run meanwhile)."""
        self.clock.advance(seconds)

    def start_manual(self, request: dict[str, Any], *, name: str | None = None) -> str:
        """Start the workflow by hand (an operator's request); the execution ARN."""
        name = name or f"manual-{uuid.uuid4().hex[:12]}"
        return self._start_execution(self.state_machine_arn, name, json.dumps(request))

    def _start_execution_for_rule(self, state_machine_arn: str, name: str, payload: str) -> str:
        return self._start_execution(state_machine_arn, name, payload)

    def _start_execution(self, state_machine_arn: str, name: str, payload: str) -> str:
        started = time.monotonic()
        arn = str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=state_machine_arn, name=name, input=payload
            )["executionArn"]
        )
        self._wall_starts[arn] = started
        return arn

    def execution_for_version(self, version_id: str) -> str:
        """The execution the upload of `version_id` started."""
        assert self.eventbridge is not None
        for attempt in range(2):
            for delivery in self.eventbridge.deliveries:
                if delivery.execution_arn and version_id in delivery.input:
                    return delivery.execution_arn
            if attempt == 0 and not self.eventbridge.release_late():
                break  # no late event (fault event-late) that a later upload would have overtaken
        raise TwinError(f"no execution was started for config version {version_id}")

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of the state machine, oldest first."""
        sfn = self.client("stepfunctions")
        found: list[dict[str, Any]] = []
        for arn in self._stack().state_machines.values():
            found += sfn.list_executions(stateMachineArn=arn)["executions"]
        return sorted(found, key=lambda item: item["startDate"])

    def wait_for_execution(self, arn: str, *, wall_timeout: float = 60.0) -> ExecutionReport:
        """Wait until `arn` ends; `TwinError` naming its last state if it takes over `wall_timeout` s."""
        done = moto_time.EXECUTION_DONE.setdefault(arn, threading.Event())
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + wall_timeout
        while True:
            finished = done.wait(timeout=0.5)
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return self.report(arn)
            if finished:  # the thread ended without an outcome: the twin is stopping
                raise TwinError(f"execution {described['name']} stopped with the twin")
            if time.monotonic() > deadline:
                report = self.report(arn)
                last = report.states[-1].name if report.states else "(no state yet)"
                raise TwinError(
                    f"execution {described['name']} still RUNNING after {wall_timeout:.0f} s of wall time "
                    f"({report.simulated_seconds:.0f} simulated s), in state {last!r}"
                )

    def wait_until_idle(self, *, wall_timeout: float = 60.0) -> list[ExecutionReport]:
        """Wait until no execution runs and EventBridge has nothing left to deliver (a redelivery, or
        a late event no later one overtook: delivered now); the reports of all executions, oldest first."""
        assert self.eventbridge is not None
        deadline = time.monotonic() + wall_timeout
        while True:
            running = [item for item in self.executions() if item["status"] == "RUNNING"]
            pending = self.eventbridge.pending()
            if not running and not pending:
                return [self.report(item["executionArn"]) for item in self.executions()]
            if time.monotonic() > deadline:
                raise TwinError(
                    f"executions still running after {wall_timeout:.0f} s of wall time: "
                    f"{[i['name'] for i in running]} ({pending} event deliveries still to come)"
                )
            if running:
                done = moto_time.EXECUTION_DONE.setdefault(running[0]["executionArn"], threading.Event())
                done.wait(timeout=0.5)
            elif not self.eventbridge.release_late():
                time.sleep(0.02)  # a redelivery waits on the clock, which moves on to it at once

    # ================================================================ what happened
    def history(self, arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
            if token:
                kwargs["nextToken"] = token
            page = sfn.get_execution_history(**kwargs)
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                return events

    def report(self, arn: str) -> ExecutionReport:
        described = self.client("stepfunctions").describe_execution(executionArn=arn)
        events = self.history(arn)
        states = steps_of(events, described["startDate"])
        stop = described.get("stopDate") or (events[-1]["timestamp"] if events else described["startDate"])
        wall_start, wall_end = moto_time.EXECUTION_WALL_TIMES.get(
            arn, (self._wall_starts.get(arn, 0.0), None)
        )
        wall = (wall_end or time.monotonic()) - wall_start if wall_start else 0.0
        return ExecutionReport(
            arn=arn,
            name=described["name"],
            status=described["status"],
            error=described.get("error"),
            cause=described.get("cause"),
            input=_json_or_text(described.get("input")),
            output=_json_or_text(described.get("output")),
            transitions=transitions_of(events),
            simulated_seconds=(stop - described["startDate"]).total_seconds(),
            wall_seconds=wall,
            started=described["startDate"].timestamp(),
            states=states,
        )

    def service(self) -> ServiceSnapshot:
        """Which revision the service runs, and the config version and sha256 that revision pins."""
        ecs = self.client("ecs")
        service = ecs.describe_services(cluster=self.cluster, services=[self.service_name])["services"][0]
        task_definition = service["taskDefinition"]
        tags = {
            tag["key"]: tag["value"]
            for tag in ecs.list_tags_for_resource(resourceArn=task_definition).get("tags", [])
        }
        return ServiceSnapshot(
            task_definition=task_definition,
            config_version_id=tags.get("config-version-id"),
            config_sha256=tags.get("config-sha256"),
            running_count=int(service.get("runningCount", 0)),
            deployments=list(service.get("deployments", [])),
        )

    def revisions(self) -> list[dict[str, Any]]:
        """Every task definition revision of the stack's family, with its tags, oldest first."""
        ecs = self.client("ecs")
        family = str(self._stack().first_of_type("AWS::ECS::TaskDefinition").properties.get("Family"))
        arns: list[str] = []
        for status in ("ACTIVE", "INACTIVE"):
            arns += ecs.list_task_definitions(familyPrefix=family, status=status)["taskDefinitionArns"]
        revisions = []
        for arn in sorted(set(arns), key=lambda item: int(item.rsplit(":", 1)[1])):
            tags = {
                tag["key"]: tag["value"]
                for tag in ecs.list_tags_for_resource(resourceArn=arn).get("tags", [])
            }
            revisions.append({"arn": arn, "tags": tags})
        return revisions

    def records(self) -> list[dict[str, Any]]:
        """Every item of the stack's DynamoDB tables, as plain JSON values."""
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        items: list[dict[str, Any]] = []
        for table in self._stack().of_type("AWS::DynamoDB::Table"):
            paginator = self.client("dynamodb").get_paginator("scan")
            for page in paginator.paginate(TableName=table.ref):
                for item in page["Items"]:
                    items.append(
                        _plain({key: deserializer.deserialize(value) for key, value in item.items()})
                    )
        return items

    def notifications(self) -> list[dict[str, Any]]:
        """Every message published to the stack's SNS topics (subject and message)."""
        from moto.sns.models import sns_backends

        backend = sns_backends[self.account_id][self.region]
        sent: list[dict[str, Any]] = []
        for topic in self._stack().of_type("AWS::SNS::Topic"):
            for notification in backend.topics[topic.ref].sent_notifications:
                message_id, message, subject = notification[0], notification[1], notification[2]
                sent.append({"topic": topic.ref, "id": message_id, "subject": subject, "message": message})
        return sent

    def log_events(self) -> dict[str, list[str]]:
        """Every CloudWatch Logs event of the twin, by log group.

        Every page: DescribeLogStreams returns 50 streams by default (CloudWatch Logs API reference,
        DescribeLogStreams), and GetLogEvents pages forward from the head until it hands back the
        token it was given (API reference, GetLogEvents: "the same token you passed in")."""
        logs = self.client("logs")
        found: dict[str, list[str]] = {}
        for page in logs.get_paginator("describe_log_groups").paginate():
            for group in page["logGroups"]:
                name = group["logGroupName"]
                messages: list[str] = []
                for streams in logs.get_paginator("describe_log_streams").paginate(logGroupName=name):
                    for stream in streams["logStreams"]:
                        messages += self._stream_messages(name, stream["logStreamName"])
                found[name] = messages
        return found

    def _stream_messages(self, group: str, stream: str) -> list[str]:
        logs = self.client("logs")
        messages: list[str] = []
        token: str | None = None
        while True:
            page = logs.get_log_events(
                logGroupName=group,
                logStreamName=stream,
                startFromHead=True,
                **({"nextToken": token} if token else {}),
            )
            messages += [event["message"] for event in page["events"]]
            if not page["events"] or page.get("nextForwardToken") in (None, token):
                return messages
            token = page["nextForwardToken"]

    def captured(self) -> list[Captured]:
        """Everything the twin saw: logs, payloads, histories, records, notifications, events."""
        items = list(self.capture.items())
        for execution in self.executions():
            items.append(
                Captured(
                    f"execution-history:{execution['name']}",
                    json.dumps(self.history(execution["executionArn"]), default=str),
                )
            )
            described = self.client("stepfunctions").describe_execution(
                executionArn=execution["executionArn"]
            )
            items.append(Captured(f"execution:{execution['name']}", json.dumps(described, default=str)))
        items.append(Captured("records", json.dumps(self.records(), default=str)))
        items.append(Captured("notifications", json.dumps(self.notifications(), default=str)))
        for group, messages in self.log_events().items():
            items.append(Captured(f"log-group:{group}", "\n".join(messages)))
        if self.fargate is not None:
            items.append(Captured("fargate-events", "\n".join(str(line) for line in self.fargate.events)))
        if self.gatling is not None:
            items.append(
                Captured("gatling-requests", json.dumps([repr(item) for item in self.gatling.requests]))
            )
        return items

    def _write_lambda_log(self, spec: FunctionSpec, request_id: str, lines: list[str]) -> None:
        logs = self.client("logs")
        stream = f"{datetime.fromtimestamp(self.clock.now()):%Y/%m/%d}/{spec.function_name}[$LATEST]{request_id.replace('-', '')}"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=spec.log_group_name)
        logs.create_log_stream(logGroupName=spec.log_group_name, logStreamName=stream)
        timestamp = int(self.clock.now() * 1000)
        events = [{"timestamp": timestamp, "message": line} for line in lines if line]
        if events:
            logs.put_log_events(logGroupName=spec.log_group_name, logStreamName=stream, logEvents=events)

    # ================================================================ live view
    def watch(
        self, arn: str, emit: Callable[[str], None], *, poll_seconds: float = 0.05
    ) -> Callable[[], None]:
        """Emit a line per state `arn` enters, and Fargate's events, as they happen; returns `stop`."""
        stopped = threading.Event()
        wall_start = time.monotonic()

        def loop() -> None:
            seen_events = 0
            seen_fargate = len(self.fargate.events) if self.fargate is not None else 0
            while True:
                done = stopped.is_set()
                batch: list[tuple[float, str]] = []
                events = self.history(arn)
                for event in events[seen_events:]:
                    if event["type"].endswith("StateEntered"):
                        at = event["timestamp"].timestamp() - self.clock.start
                        batch.append(
                            (
                                at,
                                f"{_clock_text(at)}  {{wall}}  ▸ {event['stateEnteredEventDetails']['name']}",
                            )
                        )
                seen_events = len(events)
                if self.fargate is not None:
                    lines = [str(line) for line in self.fargate.events]
                    for line in lines[seen_fargate:]:
                        at, text = _split_clock(line)
                        batch.append((at, f"{_clock_text(at)}  {{wall}}    · {text}"))
                    seen_fargate = len(lines)
                wall = f"{time.monotonic() - wall_start:6.2f}s"
                for _, line in sorted(batch, key=lambda item: item[0]):
                    emit("  " + line.replace("{wall}", wall, 1))
                if done:
                    return
                stopped.wait(poll_seconds)

        thread = threading.Thread(target=loop, daemon=True, name="twin-watch")
        thread.start()

        def stop() -> None:
            stopped.set()
            thread.join(timeout=5)

        return stop


# ==================================================================== helpers
def steps_of(events: list[dict[str, Any]], start: datetime) -> list[StateStep]:
    """The states of an execution history, in order, with simulated offsets and retry counts."""
    steps: list[StateStep] = []
    current: StateStep | None = None
    for event in events:
        kind = event["type"]
        offset = (event["timestamp"] - start).total_seconds()
        if kind.endswith("StateEntered"):
            current = StateStep(
                event["stateEnteredEventDetails"]["name"], kind[: -len("StateEntered")], offset
            )
            steps.append(current)
        elif kind.endswith("StateExited") and current is not None:
            current.exited = offset
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled") and current is not None:
            current.retries += 1
        elif (
            kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut")
            and current is not None
        ):
            details: dict[str, Any] = next(
                (value for key, value in event.items() if key.endswith("EventDetails")), {}
            )
            current.error = details.get("error")
    for step in steps:
        step.retries = max(0, step.retries - 1)
    return steps


def transitions_of(events: list[dict[str, Any]]) -> int:
    """State transitions as Step Functions bills them: every state entered, plus every retry."""
    entered = sum(1 for event in events if event["type"].endswith("StateEntered"))
    scheduled: dict[int, int] = {}
    state_id = 0
    for event in events:
        if event["type"].endswith("StateEntered"):
            state_id = event["id"]
        elif event["type"] in ("TaskScheduled", "LambdaFunctionScheduled"):
            scheduled[state_id] = scheduled.get(state_id, 0) + 1
    return entered + sum(count - 1 for count in scheduled.values() if count > 1)


def _clock_text(seconds: float) -> str:
    """Simulated seconds since the twin started, as HH:MM:SS.s (Fargate's events use HH:MM:SS)."""
    hours, rest = divmod(max(seconds, 0.0), 3600)
    minutes, rest = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{rest:04.1f}"


def _split_clock(line: str) -> tuple[float, str]:
    """(simulated seconds, rest) of a Fargate event line `HH:MM:SS text`."""
    match = re.match(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s+(.*)", line, re.DOTALL)
    if match is None:
        return 0.0, line
    hours, minutes, seconds, text = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds), text


def _json_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _domain_resets() -> list[Callable[[], None]]:
    """`reset_settings` and `reset_clients` of the domain package: every function has its own env."""
    resets: list[Callable[[], None]] = []
    for module, name in (
        ("controlplane.settings", "reset_settings"),
        ("controlplane.aws_clients", "reset_clients"),
    ):
        try:
            imported = __import__(module, fromlist=[name])
        except ImportError:
            continue
        resets.append(getattr(imported, name))
    return resets


@contextlib.contextmanager
def _environ(values: dict[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    set_environment(values)
    try:
        yield
    finally:
        set_environment(saved)


@contextlib.contextmanager
def _generated_execution_names() -> Iterator[None]:
    """StartExecution without a name gets a UUID as its name, as in AWS ("If you don't provide a name
    for the execution, Step Functions automatically generates a universally unique identifier (UUID)
    as the execution name", StartExecution in the Step Functions API Reference); moto's executing
    backend would keep the name None, and its list_executions would then omit it."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    try:
        yield
    finally:
        StepFunctionsParserBackend.start_execution = original  # type: ignore[method-assign]


@functools.cache
def _shared_session(region: str, purpose: str = "stack") -> boto3.Session:
    """One session per purpose for every twin of the process: a new session parses the service
    models again (about a second), and the fake credentials are the same for every twin. The
    handlers' session ("stack") carries the IAM hook; the twin's own ("twin") does not."""
    return boto3.Session(botocore_session=botocore.session.get_session(), region_name=region)


def _unreachable_until_fargate(ip: str, port: int) -> tuple[str, int]:
    raise ConnectionRefusedError(f"no task has the private address {ip} yet")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
