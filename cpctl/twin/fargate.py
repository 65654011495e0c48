"""Simulated Fargate: what ECS does with a service's deployments, acted out on moto's static ECS.

moto 5.2.5 never starts a task: a deployment stays IN_PROGRESS with nothing running, and
`forceNewDeployment` only renames the deployment. `SimulatedFargate` watches moto's ECS backend
in-process and plays the part of the ECS scheduler and the Fargate agent, in simulated time:

- a new PRIMARY deployment (created, renamed by `forceNewDeployment`, or implied by a new task
  definition) starts a rolling update bounded by `minimumHealthyPercent`/`maximumPercent`: with the
  stack's 0/100 the old task is stopped first (SIGTERM, the control plane drains), then one task of
  the deployment's revision is launched;
- a task goes PROVISIONING -> PENDING (secrets and log group checked, images pulled) -> the
  `config-loader` side-car really runs its `aws s3api get-object` against moto's S3, subject to the
  task role's IAM policies and the bucket policy -> `control-plane` starts (DependsOn SUCCESS) ->
  RUNNING -> the fake control plane reads the file, refuses or comes up;
- a deployment COMPLETES once its tasks have been RUNNING for a short steady-state window and no
  older task is left; a task that stops before that is a failed launch, and after max(3, half the
  desired count) failed launches the circuit breaker marks the deployment FAILED and, with rollback
  on, ECS starts a new deployment of the last COMPLETED revision: the case naive waiters report
  as success.

Tasks are moto `Task` objects in `backend.tasks`, so `list_tasks`/`describe_tasks` return them with
the fields real ones have. The caller registers `tick` as a listener of the simulated clock.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import math
import posixpath
import shlex
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from heapq import heappop, heappush
from pathlib import Path
from typing import Any, Final

from controlplane.clock import Clock
from moto.ec2.exceptions import InvalidSubnetIdError
from moto.ec2.models import ec2_backends
from moto.ecs.exceptions import EcsClientException, InvalidParameterException, TaskDefinitionNotFoundException
from moto.ecs.models import Container, EC2ContainerServiceBackend, Service, Task, TaskDefinition, ecs_backends
from moto.iam.exceptions import NotFoundException as IamNotFound
from moto.iam.models import Role, iam_backends
from moto.moto_api._internal.managed_state_model import ManagedState
from moto.s3.exceptions import MissingBucket
from moto.s3.models import FakeDeleteMarker, FakeKey, s3_backends
from moto.secretsmanager.exceptions import SecretsManagerClientError
from moto.secretsmanager.models import secretsmanager_backends
from moto.utilities.utils import get_partition

from cpctl.twin import faults, service_deployments
from cpctl.twin.control_plane import CONFIG_PATH, ContainerLog, FakeControlPlane
from cpctl.twin.gatling import FakeGatlingCloud
from cpctl.twin.iam_calls import Where, role_policies, secret_checks
from cpctl.twin.iam_eval import Decision, Request, decide
from cpctl.twin.service_deployments import ServiceDeploymentRecord

# ------------------------------------------------------------------------------------------ timings
# Simulated seconds, chosen so a forced redeployment of the stack takes about 90 s and the control
# plane is up about 15 s after its task is RUNNING (the workflow's benchmark):
#   0 s SIGTERM to the old task -> 15 s drained -> 20 s STOPPED and the new task launched
#   -> 30 s PENDING -> 52 s images pulled, side-car runs -> 57 s side-car exits 0
#   -> 60 s control plane started, task RUNNING -> 66 s config read -> 75 s control plane up
#   -> 90 s deployment COMPLETED.
DRAIN_SECONDS: Final = 15.0  # SIGTERM until the control plane has finished in-flight work
DEPROVISION_SECONDS: Final = 5.0  # containers exited until the task is STOPPED (ENI detached)
PROVISION_SECONDS: Final = 10.0  # PROVISIONING (ENI attached) until PENDING
IMAGE_PULL_SECONDS: Final = 22.0  # PENDING: both images pulled
CONFIG_LOADER_SECONDS: Final = 5.0  # the side-car's aws s3api get-object
CONTAINER_START_SECONDS: Final = 3.0  # side-car exited until the control plane container runs
CONTROL_PLANE_BOOT_SECONDS: Final = 6.0  # RUNNING until the JVM has read its config (refusals happen here)
CONTROL_PLANE_UP_SECONDS: Final = 15.0  # RUNNING until locations are registered and /info answers
STEADY_STATE_SECONDS: Final = 30.0  # RUNNING this long (and nothing old left) -> deployment COMPLETED
RELAUNCH_SECONDS: Final = 10.0  # a failed task STOPPED until the scheduler launches its replacement
THROTTLED_RELAUNCH_SECONDS: Final = 300.0  # a launch that cannot even be attempted (the revision is missing)
SLOW_ROLLOUT_SECONDS: Final = 20 * 60.0  # slow-rollout: launch until RUNNING, beyond the 15-min deadline
CRASH_AFTER_UP_SECONDS: Final = 120.0  # crash-after-up: the control plane exits 1 this long after "up"
STOPPED_TASK_RETENTION_SECONDS: Final = 3600.0  # ECS forgets stopped tasks after about an hour
# ECS is eventually consistent: right after a deployment starts, DescribeServices may not show it yet
# (ECS API reference, "Request eventual consistency"). Its length is undocumented; the twin's default.
DESCRIBE_LAG_SECONDS: Final = 5.0

# The deploy faults the simulated Fargate acts out (declared in cpctl/twin/faults.py), and the fake
# Gatling's, which it can arm too.
FAULTS: Final = faults.names("deploy", armed_by=("fargate", "gatling"))
DENY_POLICY_NAME: Final = "twin-fault-config-download-denied"

# moto drops `deploymentConfiguration` on CreateService; this is the stack's (template.yaml) and is
# what the simulation assumes unless UpdateService set one (a test keeps the two in step).
DEFAULT_DEPLOYMENT_CONFIGURATION: Final[Mapping[str, Any]] = {
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    "maximumPercent": 100,
    "minimumHealthyPercent": 0,
}

# The aws CLI's exit codes: 252 command line error, 253 no credentials, 254 service error.
AWS_CLI_USAGE_ERROR: Final = 252
AWS_CLI_NO_CREDENTIALS: Final = 253
AWS_CLI_SERVICE_ERROR: Final = 254
AWS_CLI_OTHER_ERROR: Final = 255

ESSENTIAL_EXITED: Final = "Essential container in task exited"
CIRCUIT_BREAKER_REASON: Final = "ECS deployment circuit breaker: tasks failed to start."

_LIVE_STATUSES: Final = ("PROVISIONING", "PENDING", "ACTIVATING")


# ------------------------------------------------------------------------------- moto objects


class SimulatedContainer(Container):
    """A container of a simulated task, serialised by moto like a real one."""

    def __init__(
        self, task_definition: TaskDefinition, definition: Mapping[str, Any], task: SimulatedTask
    ) -> None:
        super().__init__(task_definition)
        # moto's Container describes the first container definition with exitCode 0; describe ours.
        del self.exitCode
        self.container_arn = (
            f"arn:{get_partition(task.region_name)}:ecs:{task.region_name}:{task.account_id}"
            f":container/{task.cluster_name}/{task.id}/{uuid.uuid4()}"
        )
        self.task_arn = task.task_arn
        self.name = definition["name"]
        self.image = definition.get("image")
        self.cpu = str(definition.get("cpu", 0))
        self.memory = definition.get("memory")
        self.environment = definition.get("environment")
        self.command = definition.get("command")
        self.last_status = "PENDING"
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.health_status = "UNKNOWN"
        self.image_digest: str | None = None  # set when the image is pulled
        self.network_interfaces = [
            {"attachmentId": task.attachment_id, "privateIpv4Address": task.private_ip}
        ]


class SimulatedTask(Task):
    """A moto `Task` built by the simulation (moto's own constructor cannot attach an ENI in 5.2.5)."""

    def __init__(
        self,
        *,
        backend: EC2ContainerServiceBackend,
        cluster_name: str,
        task_definition: TaskDefinition,
        group: str,
        started_by: str,
        tags: list[dict[str, str]],
        network: Mapping[str, Any],
        private_ip: str,
        availability_zone: str | None,
        created_at: datetime,
    ) -> None:
        ManagedState.__init__(self, model_name="ecs::task", transitions=[("RUNNING", "STOPPED")])
        cluster = backend.clusters[cluster_name]
        self.id = uuid.uuid4().hex
        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.container_instance_arn = None
        self.desired_status = "RUNNING"
        self.task_definition_arn = task_definition.arn
        self.overrides: dict[str, Any] = {}
        self.started_by = started_by
        self.tags = tags
        self.launch_type = "FARGATE"
        self.capacity_provider_name = None
        self.platform_version = "1.4.0"
        self.platform_family = "Linux"
        self.stopped_reason = None  # type: ignore[assignment]  # moto types it str; real tasks omit it until they stop
        self.stop_code: str | None = None
        self.resource_requirements = None
        self.region_name = cluster.region_name
        self._account_id = backend.account_id
        self._backend = backend
        self.group = group
        self.network_configuration = dict(network)
        self.availability_zone = availability_zone
        self.cpu = task_definition.cpu
        self.memory = task_definition.memory
        self.health_status = "UNKNOWN"
        self.enable_execute_command = False
        self.ephemeral_storage = {"sizeInGiB": 20}
        self.connectivity: str | None = None
        self.created_at = created_at
        self.connectivity_at: datetime | None = None
        self.pull_started_at: datetime | None = None
        self.pull_stopped_at: datetime | None = None
        self.started_at: datetime | None = None
        self.stopping_at: datetime | None = None
        self.execution_stopped_at: datetime | None = None
        self.stopped_at: datetime | None = None
        self.version = 1
        self.private_ip = private_ip
        self.attachment_id = str(uuid.uuid4())
        subnets = self.network_configuration.get("awsvpcConfiguration", {}).get("subnets") or [
            "subnet-unknown"
        ]
        dashed = private_ip.replace(".", "-")
        self.attachments = [
            {
                "id": self.attachment_id,
                "type": "ElasticNetworkInterface",
                "status": "PRECREATED",
                "details": [
                    {"name": "subnetId", "value": subnets[0]},
                    {"name": "networkInterfaceId", "value": f"eni-{uuid.uuid4().hex[:17]}"},
                    {
                        "name": "macAddress",
                        "value": "0e:" + ":".join(uuid.uuid4().hex[i : i + 2] for i in range(0, 10, 2)),
                    },
                    {"name": "privateDnsName", "value": f"ip-{dashed}.{self.region_name}.compute.internal"},
                    {"name": "privateIPv4Address", "value": private_ip},
                ],
            }
        ]
        self._simulated_status = "PROVISIONING"
        self.stop_requested = False
        self.containers = [
            SimulatedContainer(task_definition, definition, self)  # type: ignore[abstract]  # moto's CloudFormationModel stubs, never called here
            for definition in task_definition.container_definitions
        ]

    @property
    def account_id(self) -> str:
        return self._account_id

    @property
    def last_status(self) -> str:
        return self._simulated_status

    @last_status.setter
    def last_status(self, value: str) -> None:
        # Only moto's StopTask writes here ("STOPPED" at once): a real task drains first, so the
        # request is noted and the simulation stops the task on its next tick.
        self.stop_requested = True

    def container(self, name: str) -> SimulatedContainer:
        for container in self.containers:
            if isinstance(container, SimulatedContainer) and container.name == name:
                return container
        raise KeyError(name)

    def set_status(self, status: str) -> None:
        self._simulated_status = status
        self.version += 1


# ----------------------------------------------------------------------------- simulation state


@dataclass(eq=False)
class _Deployment:
    id: str
    task_definition_arn: str
    created_at: float
    updated_at: float
    base: dict[str, Any]
    status: str = "PRIMARY"
    rollout_state: str = "IN_PROGRESS"
    rollout_state_reason: str = ""
    failed_tasks: int = 0
    rollback: bool = False
    # image reference -> digest, established by the deployment's first task and used by every other
    # ("Container image resolution", ECS developer guide, Deploy Amazon ECS services by replacing tasks).
    image_digests: dict[str, str] = field(default_factory=dict)
    rolled_back_by: _Deployment | None = (
        None  # ECS's rollback deployment, when the circuit breaker rolled back
    )
    replaced_by: _Deployment | None = (
        None  # the deployment that became PRIMARY while this one was in progress
    )
    service_deployment_id: str = field(default_factory=lambda: uuid.uuid4().hex[:20])


@dataclass(eq=False)
class _Run:
    """One launched task and what the simulation knows about it."""

    task: SimulatedTask
    deployment_id: str
    definition: TaskDefinition
    folder: Path
    config_version: str | None
    faults: frozenset[str]
    loader: str | None  # name of the side-car the essential container waits for
    main: str  # name of the essential container (the control plane)
    dependency: str | None  # the main container's DependsOn condition on the side-car
    # holds the injected secrets (CONTROL_PLANE_TOKEN): never in a repr, so never in a log line
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    control_plane: FakeControlPlane | None = None
    running_since: float | None = None
    stopping: bool = False
    stopped_at: float | None = None
    failed: bool = False  # stopped on its own before its deployment completed: a failed launch

    @property
    def live(self) -> bool:
        return self.stopped_at is None

    @property
    def running(self) -> bool:
        return self.task.last_status == "RUNNING" and not self.stopping


@dataclass(eq=False)
class _ServiceState:
    key: str
    cluster: str
    name: str
    deployments: list[_Deployment] = field(default_factory=list)  # shown by DescribeServices, PRIMARY first
    history: list[_Deployment] = field(default_factory=list)  # every deployment ever seen
    runs: list[_Run] = field(default_factory=list)
    launch_not_before: float = 0.0
    wakeups: set[float] = field(default_factory=set)

    @property
    def primary(self) -> _Deployment | None:
        return self.deployments[0] if self.deployments and self.deployments[0].status == "PRIMARY" else None


@dataclass(frozen=True, slots=True)
class _Fetch:
    exit_code: int
    output: list[str]
    summary: str


class SimulatedFargate:
    """ECS scheduler + Fargate agent for the services in moto's ECS backend, in simulated time."""

    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        clock: Clock,
        gatling: FakeGatlingCloud,
        workdir: Path,
        describe_lag_seconds: float = DESCRIBE_LAG_SECONDS,
        lagged: Callable[[], bool] = lambda: False,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self._clock = clock
        self._gatling = gatling
        self._workdir = Path(workdir)
        self._lock = threading.RLock()
        self._services: dict[str, _ServiceState] = {}
        self._queue: list[tuple[float, int, str, Callable[[float], None]]] = []
        self._sequence = 0
        self._last_tick: float | None = None
        self._faults: dict[str, set[str]] = {}
        self._rollback_fails_active = False
        # The registry: tags moved to another digest since the twin started, and digests of broken builds.
        self._moved_tags: dict[str, str] = {}
        self._broken_digests: set[str] = set()
        self._ip_counters: dict[str, int] = {}
        self._ignored: set[str] = set()
        self._closed_socket: socket.socket | None = None
        self._shut_down = False
        self.events: list[str] = []
        self._backend = ecs_backends[account_id][region]
        self._describe_lag = describe_lag_seconds
        # Whether this call sees the lag (the twin passes "a function of the stack is calling"; its own
        # stand-ins for AWS, and direct users of the simulation, see the truth).
        self._lagged = lagged
        self._original_update_service = self._backend.update_service
        self._original_list_tasks = self._backend.list_tasks
        self._original_describe_services = self._backend.describe_services
        # Instance attributes shadow the backend's methods for this backend only (see _update_service).
        vars(self._backend)["update_service"] = self._update_service
        vars(self._backend)["list_tasks"] = self._list_tasks
        vars(self._backend)["describe_services"] = self._describe_services
        service_deployments.install(account_id, region, self.service_deployments)

    # =============================================================== public surface
    def tick(self, now: float) -> None:
        """Advance the simulation to `now` (called by the simulated clock; cheap when nothing is due)."""
        with self._lock:
            if self._shut_down:
                return
            since = self._last_tick if self._last_tick is not None else now
            if now < since:
                return
            for service in list(self._backend.services.values()):
                self._sync(service, since)
            self._run_due(now)
            self._forget_old_tasks(now)
            self._last_tick = now

    def resolve(self, ip: str, port: int) -> tuple[str, int]:
        """Where a connection to a task's private `ip`:`port` really goes; a refused port if nowhere."""
        with self._lock:
            for state in self._services.values():
                for run in state.runs:
                    control_plane = run.control_plane
                    if run.task.private_ip != ip or not run.live or control_plane is None:
                        continue
                    if control_plane.reachable and control_plane.port and port == control_plane.server_port:
                        return "127.0.0.1", control_plane.port
            return "127.0.0.1", self._refused_port()

    def arm(self, fault: str, target_version_id: str) -> None:
        """Make launches of the revision that pins config version `target_version_id` misbehave."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        at = self._clock.now()
        with self._lock:
            self._faults.setdefault(fault, set()).add(target_version_id)
            if fault == "gatling-api-flaky":
                self._gatling.flaky = True
            if fault == "config-download-denied":
                for role_arn in {arn for arn in map(_task_role_arn, self._task_definitions()) if arn}:
                    self._deny_download(role_arn)
            if fault == "image-tag-moved":
                self._move_control_plane_tags(at)
            self._event(at, f"fault armed: {fault} (config version {target_version_id})")

    def resolve_image(self, image: str) -> str:
        """The digest the registry answers for `image` now: the one it names (`repo@sha256:...`), a
        moved tag's new one, else a digest made from the reference."""
        return self._moved_tags.get(image) or image_digest(image)

    def _move_control_plane_tags(self, at: float) -> None:
        """Point every control plane image tag in use at a new, broken build (the registry moved it)."""
        for definition in self._task_definitions():
            main = _container_roles(definition)[1]
            image = str(_container_definition(definition, main).get("image", ""))
            if not image or "@" in image or image in self._moved_tags:
                continue
            moved = "sha256:" + hashlib.sha256(f"{image} moved at {at}".encode()).hexdigest()
            self._moved_tags[image] = moved
            self._broken_digests.add(moved)
            self._event(at, f"registry: tag {image} now names {moved[:19]}..., a build that fails at start")

    def stop(self) -> None:
        """Stop every fake control plane server and give moto's backend its own methods back."""
        with self._lock:
            self._shut_down = True
            for state in self._services.values():
                for run in state.runs:
                    if run.control_plane is not None:
                        run.control_plane.close()
            for name in ("update_service", "list_tasks", "describe_services"):
                vars(self._backend).pop(name, None)
            service_deployments.uninstall(self.account_id, self.region)
            if self._closed_socket is not None:
                self._closed_socket.close()
                self._closed_socket = None

    # =============================================================== moto hooks
    def _update_service(self, service_properties: dict[str, Any]) -> Service:
        """moto's UpdateService, then what ECS does at once: the new deployment shows in the response.

        moto only renames deployments[0] on forceNewDeployment and ignores a new task definition.
        """
        at = self._clock.now()  # read before the lock: the clock calls tick() holding its own
        requested = service_properties.get("task_definition")
        if requested:
            definition_arn = self._definition_arn(str(requested))
            definition = next((d for d in self._task_definitions() if d.arn == definition_arn), None)
            if definition is not None and definition.status == "INACTIVE":
                # ECS refuses a deregistered revision for a service (UpdateService, ClientException).
                raise EcsClientException(f"TaskDefinition is inactive: {definition_arn}")
        service = self._original_update_service(service_properties)
        with self._lock:
            self._sync(service, at)
        return service

    def _describe_services(
        self, cluster_str: str, service_names_or_arns: list[str]
    ) -> tuple[list[Service], list[dict[str, str]]]:
        """moto's DescribeServices, as eventual consistency lets a caller see it: a deployment created
        less than the lag ago is not listed yet, and the service still looks as it did before it."""
        services, failures = self._original_describe_services(cluster_str, service_names_or_arns)
        if self._describe_lag <= 0 or not self._lagged():
            return services, failures
        now = self._clock.now()
        return [self._as_seen(service, now) for service in services], failures

    def _as_seen(self, service: Service, now: float) -> Service:
        with self._lock:
            state = self._services.get(f"{service.cluster_name}:{service.name}")
            if state is None:
                return service
            fresh = {d.id for d in state.deployments if now - d.created_at < self._describe_lag}
            if not fresh:
                return service
            shown = [dict(d) for d in service.deployments if d["id"] not in fresh]
            seen = copy.copy(service)
            if shown:
                shown[0]["status"] = "PRIMARY"
                seen.task_definition = str(shown[0]["taskDefinition"])
            seen.deployments = shown
            return seen

    def service_deployments(self, cluster: str, service: str) -> list[ServiceDeploymentRecord] | None:
        """Every deployment of the service as the service-deployments API describes it, oldest first;
        None when there is no such service."""
        with self._lock:
            moto_service = self._backend.services.get(f"{cluster}:{service}")
            state = self._services.get(f"{cluster}:{service}")
            if moto_service is None:
                return None
            if state is None:
                return []
            return [
                self._service_deployment(state, moto_service, deployment)
                for deployment in state.history
                if not deployment.rollback  # ECS creates no service deployment for its own rollback
            ]

    def _service_deployment(
        self, state: _ServiceState, service: Service, deployment: _Deployment
    ) -> ServiceDeploymentRecord:
        prefix = f"arn:{get_partition(self.region)}:ecs:{self.region}:{self.account_id}"
        status, reason = "IN_PROGRESS", deployment.rollout_state_reason
        finished = stopped = None
        rollback: dict[str, Any] | None = None
        updated = deployment.updated_at
        if deployment.rollout_state == "COMPLETED":
            status, finished = "SUCCESSFUL", _datetime(deployment.updated_at)
        elif deployment.rollout_state == "FAILED" and deployment.rolled_back_by is not None:
            back = deployment.rolled_back_by
            rollback = {
                "reason": CIRCUIT_BREAKER_REASON,
                "startedAt": _datetime(back.created_at),
                "serviceRevisionArn": _revision_arn(prefix, state, back),
            }
            status = {"COMPLETED": "ROLLBACK_SUCCESSFUL", "FAILED": "ROLLBACK_FAILED"}.get(
                back.rollout_state, "ROLLBACK_IN_PROGRESS"
            )
            reason = f"{CIRCUIT_BREAKER_REASON} {back.rollout_state_reason}"
            updated = max(updated, back.updated_at)
            if back.rollout_state != "IN_PROGRESS":
                finished = _datetime(back.updated_at)
        elif deployment.rollout_state == "FAILED":
            status, stopped = "STOPPED", _datetime(deployment.updated_at)
        elif deployment.replaced_by is not None:
            status, stopped = "STOPPED", _datetime(deployment.replaced_by.created_at)
            reason = f"replaced by a newer deployment ({deployment.replaced_by.id}) before it finished"
        return ServiceDeploymentRecord(
            arn=f"{prefix}:service-deployment/{state.cluster}/{state.name}/{deployment.service_deployment_id}",
            service_arn=str(service.arn),
            cluster_arn=f"{prefix}:cluster/{state.cluster}",
            created_at=_datetime(deployment.created_at),
            updated_at=_datetime(updated),
            status=status,
            status_reason=reason,
            target_revision_arn=_revision_arn(prefix, state, deployment),
            finished_at=finished,
            stopped_at=stopped,
            rollback=rollback,
            failure_count=deployment.failed_tasks,
        )

    def _list_tasks(
        self,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desiredStatus: str | None = None,
    ) -> list[Task]:
        """moto's ListTasks plus two filters it skips: serviceName, and desiredStatus RUNNING by default.

        ECS refuses `startedBy` with another filter: "When you specify startedBy as the filter, it must
        be the only filter that you use" (ECS API reference, ListTasks); so does the twin.
        """
        others = {
            "containerInstance": container_instance,
            "family": family,
            "serviceName": service_name,
            "desiredStatus": desiredStatus,
        }
        combined = sorted(name for name, value in others.items() if value)
        if started_by and combined:
            raise InvalidParameterException(
                f"startedBy must be the only filter of ListTasks, not combined with {', '.join(combined)}"
            )
        tasks = self._original_list_tasks(
            cluster_str, container_instance, family, started_by, None, desiredStatus or "RUNNING"
        )
        if service_name:
            tasks = [task for task in tasks if task.group == f"service:{service_name.split('/')[-1]}"]
        return tasks

    # =============================================================== deployments
    def _sync(self, service: Service, at: float) -> None:
        """Notice what changed in `service` since the last look: a new deployment, a new desired count."""
        key = f"{service.cluster_name}:{service.name}"
        if service.launch_type != "FARGATE":
            if key not in self._ignored:
                self._ignored.add(key)
                self._event(
                    at,
                    f"{service.name}: launch type {service.launch_type}, not a Fargate service: not simulated",
                )
            return
        state = self._services.get(key)
        if state is None:
            state = self._services[key] = _ServiceState(key, service.cluster_name, service.name)
        definition_arn = self._definition_arn(service.task_definition)
        if definition_arn is not None and service.task_definition != definition_arn:
            service.task_definition = definition_arn  # ECS answers with the ARN, moto echoes the input
        known = {deployment.id for deployment in state.history}
        newest = service.deployments[0] if service.deployments else None
        primary = state.primary
        if newest is not None and newest["id"] not in known and definition_arn is not None:
            self._start_deployment(state, service, str(newest["id"]), definition_arn, at, base=newest)
        elif (
            primary is not None
            and definition_arn is not None
            and primary.task_definition_arn != definition_arn
        ):
            # UpdateService with a new task definition and no forceNewDeployment: ECS deploys it too.
            self._start_deployment(state, service, _deployment_id(), definition_arn, at, base=newest or {})
        if any(run.task.stop_requested and not run.stopping for run in state.runs):
            for run in state.runs:
                if run.task.stop_requested and not run.stopping and run.live:
                    self._begin_stop(
                        state,
                        run,
                        at,
                        reason=run.task.stopped_reason or "Task stopped by user",
                        code="UserInitiated",
                    )
        self._reconcile(state, at)
        self._render(state)

    def _start_deployment(
        self,
        state: _ServiceState,
        service: Service,
        deployment_id: str,
        definition_arn: str,
        at: float,
        *,
        base: Mapping[str, Any],
        rollback_of: _Deployment | None = None,
    ) -> _Deployment:
        replaced = [deployment for deployment in state.deployments if deployment.status == "PRIMARY"]
        for deployment in replaced:
            deployment.status = "ACTIVE"
            deployment.updated_at = at
        kept = {
            name: base[name]
            for name in ("launchType", "platformVersion", "platformFamily", "networkConfiguration")
            if name in base
        }
        kept.setdefault("launchType", "FARGATE")
        kept.setdefault("platformFamily", "FARGATE")
        if "networkConfiguration" not in kept and service.network_configuration:
            kept["networkConfiguration"] = service.network_configuration
        deployment = _Deployment(
            id=deployment_id,
            task_definition_arn=definition_arn,
            created_at=at,
            updated_at=at,
            base=kept,
            rollout_state_reason=(
                f"ECS deployment circuit breaker: rolling back to deploymentId {rollback_of.id}."
                if rollback_of is not None
                else f"ECS deployment {deployment_id} in progress."
            ),
            rollback=rollback_of is not None,
        )
        state.deployments.insert(0, deployment)
        state.history.append(deployment)
        for older in replaced:
            if older.rollout_state == "IN_PROGRESS" and rollback_of is None:
                older.replaced_by = deployment
        state.launch_not_before = at
        self._event(
            at, f"{state.name}: deployment {deployment_id} started (revision {_revision(definition_arn)})"
        )
        return deployment

    def _reconcile(self, state: _ServiceState, at: float) -> None:
        """The ECS service scheduler: stop old tasks, launch new ones, complete the deployment."""
        service = self._backend.services.get(state.key)
        primary = state.primary
        if service is None or primary is None:
            return
        desired = service.desired_count if service.status == "ACTIVE" else 0
        configuration = _deployment_configuration(service)
        max_tasks = max(desired, math.floor(desired * int(configuration.get("maximumPercent", 200)) / 100))
        min_healthy = math.ceil(desired * int(configuration.get("minimumHealthyPercent", 100)) / 100)

        live = [run for run in state.runs if run.live and not run.stopping]
        healthy = sum(1 for run in live if run.running)
        old = [run for run in live if run.deployment_id != primary.id]
        for run in sorted(old, key=lambda candidate: candidate.running):
            if run.running:
                if healthy - 1 < min_healthy:
                    break
                healthy -= 1
            self._begin_stop(
                state, run, at, reason=f"Scaling activity initiated by (deployment {primary.id})"
            )
        current = [run for run in live if run.deployment_id == primary.id]
        for run in current[desired:]:
            self._begin_stop(
                state, run, at, reason=f"Scaling activity initiated by (deployment {primary.id})"
            )
        current = current[:desired]

        occupying = sum(1 for run in state.runs if run.live)
        while len(current) < desired and occupying < max_tasks and primary.rollout_state != "FAILED":
            if at < state.launch_not_before:
                self._wake(state, state.launch_not_before)
                break
            launched = self._launch(state, primary, at)
            if launched is None:
                break
            current.append(launched)
            occupying += 1

        if primary.rollout_state == "IN_PROGRESS":
            running = [run for run in current if run.running]
            leftovers = any(run.live and run.deployment_id != primary.id for run in state.runs)
            if len(running) >= desired and not leftovers:
                ready = max((run.running_since or at for run in running), default=at) + STEADY_STATE_SECONDS
                if desired == 0 or at >= ready:
                    self._complete(state, primary, at)
                else:
                    self._wake(state, ready)
        # Replaced deployments stay listed (ACTIVE) until the PRIMARY has settled and they have no task left.
        if primary.rollout_state != "IN_PROGRESS":
            for deployment in state.deployments[1:]:
                if not any(run.live and run.deployment_id == deployment.id for run in state.runs):
                    deployment.status = "INACTIVE"
                    deployment.updated_at = at
            state.deployments = [
                deployment for deployment in state.deployments if deployment.status != "INACTIVE"
            ]

    def _complete(self, state: _ServiceState, deployment: _Deployment, at: float) -> None:
        deployment.rollout_state = "COMPLETED"
        deployment.rollout_state_reason = f"ECS deployment {deployment.id} completed."
        deployment.updated_at = at
        self._service_event(
            state, at, f"({_service_ref(state)}) ({_deployment_ref(deployment)}) deployment completed."
        )
        self._service_event(state, at, f"({_service_ref(state)}) has reached a steady state.")
        self._event(
            at,
            f"{state.name}: deployment {deployment.id} COMPLETED (revision {_revision(deployment.task_definition_arn)})",
        )

    def _launch_failed(self, state: _ServiceState, run: _Run, at: float) -> None:
        """A task of the PRIMARY deployment stopped before the deployment completed: count it."""
        deployment = state.primary
        state.launch_not_before = at + RELAUNCH_SECONDS
        if (
            deployment is None
            or deployment.id != run.deployment_id
            or deployment.rollout_state != "IN_PROGRESS"
        ):
            return
        if run.running_since is not None:
            # Not a failure to the circuit breaker: "A task is considered a failure if the service
            # scheduler can't launch the task, the task doesn't transition to a RUNNING state, or if
            # it fails any of its defined health checks" (ECS API reference, Deployment.failedTasks).
            # A task that ran and then exited is just replaced.
            return
        deployment.failed_tasks += 1
        deployment.updated_at = at
        service = self._backend.services.get(state.key)
        configuration = (
            _deployment_configuration(service) if service is not None else DEFAULT_DEPLOYMENT_CONFIGURATION
        )
        breaker = configuration.get("deploymentCircuitBreaker") or {}
        threshold = max(3, math.ceil(0.5 * (service.desired_count if service is not None else 1)))
        if not breaker.get("enable") or deployment.failed_tasks < threshold or service is None:
            return
        deployment.rollout_state = "FAILED"
        deployment.rollout_state_reason = CIRCUIT_BREAKER_REASON
        self._service_event(
            state,
            at,
            f"({_service_ref(state)}) ({_deployment_ref(deployment)}) deployment failed: tasks failed to start.",
        )
        self._event(
            at,
            f"{state.name}: circuit breaker tripped, deployment {deployment.id} FAILED after {deployment.failed_tasks} failed launches",
        )
        last_good = next(
            (
                item
                for item in reversed(state.history)
                if item.rollout_state == "COMPLETED" and item is not deployment
            ),
            None,
        )
        if breaker.get("rollback") and not deployment.rollback and last_good is not None:
            service.task_definition = last_good.task_definition_arn
            rollback = self._start_deployment(
                state,
                service,
                _deployment_id(),
                last_good.task_definition_arn,
                at,
                base=deployment.base,
                rollback_of=last_good,
            )
            # "Amazon ECS doesn't create a new service revision for a rollback operation. Amazon ECS
            # uses the last successful service revision" (ECS developer guide, service revisions):
            # its image digests included.
            rollback.image_digests = dict(last_good.image_digests)
            deployment.rolled_back_by = rollback
            self._service_event(
                state, at, f"({_service_ref(state)}) rolling back to {_deployment_ref(last_good)}."
            )
            self._event(
                at,
                f"{state.name}: ECS rolled back to revision {_revision(last_good.task_definition_arn)} (deployment {rollback.id})",
            )
            return
        self._service_event(
            state,
            at,
            f"({_service_ref(state)}) is unable to consistently start tasks successfully. For more information, "
            "see the Troubleshooting section of the Amazon ECS Developer Guide.",
        )
        why = (
            "the rollback itself failed" if deployment.rollback else "no completed deployment to roll back to"
        )
        # "A service deployment will transition to a failed state and stop launching new tasks"
        # (ECS API reference, DeploymentCircuitBreaker).
        self._event(at, f"{state.name}: {why}; the FAILED deployment launches no more tasks")

    # =============================================================== one task's life
    def _launch(self, state: _ServiceState, deployment: _Deployment, at: float) -> _Run | None:
        try:
            definition = self._backend.describe_task_definition(deployment.task_definition_arn)
        except TaskDefinitionNotFoundException:
            self._event(
                at,
                f"{state.name}: cannot launch, task definition {deployment.task_definition_arn} does not exist",
            )
            state.launch_not_before = at + THROTTLED_RELAUNCH_SECONDS
            return None
        service = self._backend.services[state.key]
        network = deployment.base.get("networkConfiguration") or service.network_configuration or {}
        subnets = (network.get("awsvpcConfiguration") or {}).get("subnets") or []
        ip, zone = self._allocate_ip(state, subnets[0] if subnets else None)
        tags = list(definition.tags) if service.propagate_tags == "TASK_DEFINITION" else []
        if service.propagate_tags == "SERVICE":
            tags = list(service.tags)
        task = SimulatedTask(
            backend=self._backend,
            cluster_name=state.cluster,
            task_definition=definition,
            group=f"service:{state.name}",
            started_by=deployment.id,
            tags=tags,
            network=network,
            private_ip=ip,
            availability_zone=zone,
            created_at=_datetime(at),
        )
        loader, main, dependency = _container_roles(definition)
        version = self._config_version(definition, loader)
        faults = self._faults_for(version)
        if "config-download-denied" in self._faults:
            role_arn = _task_role_arn(definition)
            if role_arn:
                self._deny_download(role_arn)
        folder = self._workdir / task.id
        folder.mkdir(parents=True, exist_ok=True)
        run = _Run(task, deployment.id, definition, folder, version, faults, loader, main, dependency)
        self._backend.tasks.setdefault(state.cluster, {})[task.task_arn] = task
        state.runs.append(run)
        self._service_event(state, at, f"({_service_ref(state)}) has started 1 tasks: (task {task.id}).")
        self._event(
            at,
            f"{state.name}: task {task.id} launched at {ip} (revision {_revision(definition.arn)}, "
            f"config version {version or 'latest'}{', faults ' + ', '.join(sorted(faults)) if faults else ''})",
        )
        self._schedule(state, at + PROVISION_SECONDS, lambda when: self._provisioned(state, run, when))
        return run

    def _provisioned(self, state: _ServiceState, run: _Run, at: float) -> None:
        if run.stopping:
            return
        task = run.task
        task.set_status("PENDING")
        task.connectivity = "CONNECTED"
        task.connectivity_at = _datetime(at)
        problem = self._initialize_resources(run)
        if problem is not None:
            self._fail_to_start(state, run, at, problem)
            return
        task.pull_started_at = _datetime(at)
        pull = IMAGE_PULL_SECONDS
        if "slow-rollout" in run.faults:
            pull = SLOW_ROLLOUT_SECONDS - PROVISION_SECONDS - CONFIG_LOADER_SECONDS - CONTAINER_START_SECONDS
        self._schedule(state, at + pull, lambda when: self._pulled(state, run, when))

    def _pulled(self, state: _ServiceState, run: _Run, at: float) -> None:
        if run.stopping:
            return
        run.task.pull_stopped_at = _datetime(at)
        run.task.version += 1
        deployment = next((item for item in state.history if item.id == run.deployment_id), None)
        for container in run.task.containers:
            if isinstance(container, SimulatedContainer):
                # DescribeTasks reports the digest each container's image was pulled at (containers[].imageDigest);
                # ECS pulls by the digest the deployment established, whatever the tag names by now.
                image = str(container.image)
                digest = deployment.image_digests.get(image) if deployment is not None else None
                container.image_digest = digest or self.resolve_image(image)
                if deployment is not None:
                    deployment.image_digests.setdefault(image, container.image_digest)
        if run.loader is None:
            self._schedule(
                state, at + CONTAINER_START_SECONDS, lambda when: self._main_started(state, run, when)
            )
            return
        run.task.container(run.loader).last_status = "RUNNING"
        if run.dependency not in ("SUCCESS", "COMPLETE"):
            self._schedule(
                state, at + CONTAINER_START_SECONDS, lambda when: self._main_started(state, run, when)
            )
        self._schedule(state, at + CONFIG_LOADER_SECONDS, lambda when: self._loader_exited(state, run, when))

    def _loader_exited(self, state: _ServiceState, run: _Run, at: float) -> None:
        if run.stopping or run.loader is None:
            return
        fetch = self._run_config_loader(run)
        loader = run.task.container(run.loader)
        loader.last_status = "STOPPED"
        loader.exit_code = fetch.exit_code
        run.task.version += 1
        definition = _container_definition(run.definition, run.loader)
        log = ContainerLog.for_container(
            definition, task_id=run.task.id, account_id=self.account_id, region=self.region
        )
        for line in fetch.output:
            if log is not None:
                log.write(at, line)
        self._event(at, f"{state.name}: side-car of task {run.task.id} {fetch.summary}")
        if run.dependency == "SUCCESS" and fetch.exit_code != 0:
            main = run.task.container(run.main)
            main.last_status = "STOPPED"
            main.exit_code = 143  # the agent stops a container whose dependency can never resolve
            main.reason = (
                "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency "
                f"[{run.loader}({loader.image}) (STOPPED->RUNNING) - Exit: {fetch.exit_code}] for target "
                f"[{run.main}({main.image}) (NONE->RUNNING)] as dependency did not exit successfully."
            )
            self._stop_failed(state, run, at, ESSENTIAL_EXITED, "EssentialContainerExited")
            return
        if run.dependency in ("SUCCESS", "COMPLETE"):
            self._schedule(
                state, at + CONTAINER_START_SECONDS, lambda when: self._main_started(state, run, when)
            )

    def _main_started(self, state: _ServiceState, run: _Run, at: float) -> None:
        if run.stopping:
            return
        task = run.task
        for container in task.containers:
            if isinstance(container, SimulatedContainer) and container.name != run.loader:
                container.last_status = "RUNNING"
        task.set_status("RUNNING")
        task.started_at = _datetime(at)
        for attachment in task.attachments:
            attachment["status"] = "ATTACHED"
        run.running_since = at
        primary = state.primary
        if primary is not None and primary.id == run.deployment_id and primary.rollout_state == "IN_PROGRESS":
            primary.failed_tasks = 0  # failedTasks counts consecutive failures: a task that runs resets it
        self._event(at, f"{state.name}: task {task.id} RUNNING")
        self._schedule(
            state, at + CONTROL_PLANE_BOOT_SECONDS, lambda when: self._control_plane_boot(state, run, when)
        )
        self._reconcile(state, at)

    def _control_plane_boot(self, state: _ServiceState, run: _Run, at: float) -> None:
        if run.stopping:
            return
        definition = _container_definition(run.definition, run.main)
        files = self._container_files(run, definition)
        config_host_path = files.get(CONFIG_PATH)
        control_plane = FakeControlPlane(
            name=state.name,
            config=config_host_path.read_bytes() if config_host_path is not None else None,
            environment=run.environment,
            gatling=self._gatling,
            log=ContainerLog.for_container(
                definition, task_id=run.task.id, account_id=self.account_id, region=self.region
            ),
            container_files=files.keys(),
        )
        run.control_plane = control_plane
        if not control_plane.boot(at):
            self._event(
                at,
                f"{state.name}: control plane of task {run.task.id} refused to start (exit 1, see its log)",
            )
            self._main_exited(state, run, at, 1)
            return
        digest = run.task.container(run.main).image_digest
        if digest in self._broken_digests:
            control_plane.crash(
                at,
                f"Control plane '{state.name}' failed to start: java.lang.NoClassDefFoundError in image "
                f"{digest} (twin fault image-tag-moved: the tag names a broken build)",
            )
            self._event(
                at, f"{state.name}: control plane of task {run.task.id} exited 1 at start (broken image)"
            )
            self._main_exited(state, run, at, 1)
            return
        if "fails-to-start" in run.faults:
            control_plane.crash(
                at,
                f"Control plane '{state.name}' failed to start: java.lang.IllegalStateException: "
                "simulated start failure (twin fault)",
            )
            self._event(at, f"{state.name}: control plane of task {run.task.id} exited 1 at start (fault)")
            self._main_exited(state, run, at, 1)
            return
        if "never-up" in run.faults:
            self._event(
                at,
                f"{state.name}: control plane of task {run.task.id} hangs before registering (fault never-up)",
            )
            return
        up_at = (run.running_since or at) + CONTROL_PLANE_UP_SECONDS
        self._schedule(state, up_at, lambda when: self._control_plane_up(state, run, when))

    def _control_plane_up(self, state: _ServiceState, run: _Run, at: float) -> None:
        control_plane = run.control_plane
        if run.stopping or control_plane is None:
            return
        if not control_plane.serve(at):
            self._event(
                at, f"{state.name}: control plane of task {run.task.id} was rejected by Gatling (exit 1)"
            )
            self._main_exited(state, run, at, 1)
            return
        where = f"{run.task.private_ip}:{control_plane.server_port}"
        self._event(
            at,
            f"{state.name}: control plane of task {run.task.id} up on {where} with locations {control_plane.registered}",
        )
        if "crash-after-up" in run.faults:
            self._schedule(state, at + CRASH_AFTER_UP_SECONDS, lambda when: self._crash(state, run, when))

    def _crash(self, state: _ServiceState, run: _Run, at: float) -> None:
        control_plane = run.control_plane
        if run.stopping or control_plane is None:
            return
        control_plane.crash(
            at,
            f"Control plane '{state.name}' crashed: java.lang.OutOfMemoryError: Java heap space (twin fault)",
        )
        self._event(
            at, f"{state.name}: control plane of task {run.task.id} crashed, exit 1 (fault crash-after-up)"
        )
        self._main_exited(state, run, at, 1)

    def _main_exited(self, state: _ServiceState, run: _Run, at: float, code: int) -> None:
        main = run.task.container(run.main)
        main.last_status = "STOPPED"
        main.exit_code = code
        self._stop_failed(state, run, at, ESSENTIAL_EXITED, "EssentialContainerExited")

    def _fail_to_start(self, state: _ServiceState, run: _Run, at: float, reason: str) -> None:
        for container in run.task.containers:
            if isinstance(container, SimulatedContainer):
                container.last_status = "STOPPED"
        self._event(at, f"{state.name}: task {run.task.id} failed to start: {reason}")
        self._stop_failed(state, run, at, reason, "TaskFailedToStart")

    def _stop_failed(self, state: _ServiceState, run: _Run, at: float, reason: str, code: str) -> None:
        """The task stops on its own (no drain: its essential container is already gone)."""
        task = run.task
        run.stopping = True
        run.failed = True
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        task.stop_code = code
        task.stopping_at = task.execution_stopped_at = _datetime(at)
        if run.control_plane is not None:
            run.control_plane.close()
        for container in task.containers:
            if isinstance(container, SimulatedContainer) and container.last_status != "STOPPED":
                container.last_status = "STOPPED"
                if task.last_status == "RUNNING":
                    container.exit_code = 143
        task.set_status("DEPROVISIONING")
        self._schedule(state, at + DEPROVISION_SECONDS, lambda when: self._stopped(state, run, when))

    def _begin_stop(
        self,
        state: _ServiceState,
        run: _Run,
        at: float,
        *,
        reason: str,
        code: str = "ServiceSchedulerInitiated",
    ) -> None:
        """The scheduler (or a user) stops a task: SIGTERM, drain, deprovision."""
        task = run.task
        run.stopping = True
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        task.stop_code = code
        task.stopping_at = _datetime(at)
        was_running = task.last_status == "RUNNING"
        task.set_status("DEACTIVATING" if was_running else "DEPROVISIONING")
        if was_running:
            if run.control_plane is not None:
                run.control_plane.stop(at)
            self._schedule(state, at + DRAIN_SECONDS, lambda when: self._drained(state, run, when))
        else:
            for container in task.containers:
                if isinstance(container, SimulatedContainer):
                    container.last_status = "STOPPED"
            self._schedule(state, at + DEPROVISION_SECONDS, lambda when: self._stopped(state, run, when))
        self._event(at, f"{state.name}: stopping task {task.id}: {reason}")

    def _drained(self, state: _ServiceState, run: _Run, at: float) -> None:
        task = run.task
        for container in task.containers:
            if isinstance(container, SimulatedContainer) and container.last_status != "STOPPED":
                container.last_status = "STOPPED"
                container.exit_code = 143  # the JVM's exit status after SIGTERM
        task.execution_stopped_at = _datetime(at)
        task.set_status("DEPROVISIONING")
        self._schedule(state, at + DEPROVISION_SECONDS, lambda when: self._stopped(state, run, when))

    def _stopped(self, state: _ServiceState, run: _Run, at: float) -> None:
        task = run.task
        task.set_status("STOPPED")
        task.stopped_at = _datetime(at)
        run.stopped_at = at
        for attachment in task.attachments:
            attachment["status"] = "DELETED"
        self._event(at, f"{state.name}: task {task.id} STOPPED ({task.stop_code}: {task.stopped_reason})")
        if run.failed:
            self._launch_failed(state, run, at)
        self._reconcile(state, at)

    # =============================================================== inside the task
    def _initialize_resources(self, run: _Run) -> str | None:
        """What the Fargate agent does in PENDING before pulling: log streams and secrets."""
        for definition in run.definition.container_definitions:
            log = ContainerLog.for_container(
                definition, task_id=run.task.id, account_id=self.account_id, region=self.region
            )
            if log is None:
                continue
            if not log.group_exists():
                return (
                    "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
                    "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. "
                    ": exit status 1"
                )
            denied = self._log_stream_denied(run, log)
            if denied is not None:
                return (
                    "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
                    f"failed to create Cloudwatch log stream: {denied} : exit status 1"
                )
        main = _container_definition(run.definition, run.main)
        environment = _fargate_environment(run, self.region)
        environment.update({item["name"]: item["value"] for item in main.get("environment") or []})
        for secret in main.get("secrets") or []:
            value, problem = self._secret_value(run, str(secret.get("valueFrom", "")))
            if problem is not None:
                return (
                    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
                    f"retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): {problem}"
                )
            environment[secret["name"]] = value or ""
        run.environment = environment
        return None

    def _log_stream_denied(self, run: _Run, log: ContainerLog) -> str | None:
        """The awslogs driver creates its stream and writes to it as the execution role (ECS developer
        guide, "Amazon ECS task execution IAM role"); the AccessDeniedException it meets, if any."""
        execution_role: str | None = getattr(run.definition, "execution_role_arn", None)
        stream_arn = f"arn:{get_partition(log.region)}:logs:{log.region}:{self.account_id}:log-group:{log.group}:log-stream:{log.stream}"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            allowed = (
                execution_role is not None
                and self._decide(execution_role, action, stream_arn, {}) is Decision.ALLOW
            )
            if not allowed:
                principal = (
                    _session_arn(execution_role, run.task.id) if execution_role else "(no execution role)"
                )
                return (
                    f"AccessDeniedException: User: {principal} is not authorized to perform: {action} "
                    f"on resource: {stream_arn} because no identity-based policy allows the {action} action"
                )
        return None

    def _secret_value(self, run: _Run, value_from: str) -> tuple[str | None, str | None]:
        parts = value_from.split(":")
        if len(parts) < 7 or parts[2] != "secretsmanager":
            return None, f"the twin only simulates Secrets Manager secrets, not {value_from}"
        secret_arn = ":".join(parts[:7])
        json_key, stage, version = ([*parts[7:], "", "", ""])[:3]
        backend = secretsmanager_backends[parts[4] or self.account_id][parts[3] or self.region]
        try:
            found = backend.get_secret_value(secret_arn, version or None, stage or None)  # type: ignore[arg-type]  # moto types these str, None means "not given"
        except SecretsManagerClientError:
            return None, (
                f"failed to fetch secret {value_from} from secrets manager: ResourceNotFoundException: "
                "Secrets Manager can't find the specified secret."
            )
        execution_role = getattr(run.definition, "execution_role_arn", None)
        where = Where(partition="aws", region=parts[3] or self.region, account=parts[4] or self.account_id)
        for action, resource, context in secret_checks(str(found["ARN"]), where):
            decision = (
                self._decide(execution_role, action, resource, context)
                if execution_role
                else Decision.IMPLICIT_DENY
            )
            if decision is not Decision.ALLOW:
                principal = (
                    _session_arn(execution_role, run.task.id) if execution_role else "(no execution role)"
                )
                return None, (
                    f"AccessDeniedException: User: {principal} is not authorized to perform: {action} "
                    f"on resource: {resource} because no identity-based policy allows the {action} action"
                )
        text = str(found.get("SecretString", ""))
        if json_key:
            document = json.loads(text)
            if not isinstance(document, dict) or json_key not in document:
                return None, f"failed to fetch secret {value_from}: json key {json_key} not found"
            text = str(document[json_key])
        return text, None

    def _run_config_loader(self, run: _Run) -> _Fetch:
        """Run the side-car's `aws s3api get-object ...` as the aws CLI v2 would, with the task role."""
        assert run.loader is not None
        definition = _container_definition(run.definition, run.loader)
        entry_point = definition.get("entryPoint") or ["aws"]
        if list(entry_point) not in (["aws"], ["/usr/local/bin/aws"]):
            return _Fetch(
                127,
                [f"twin: cannot run entryPoint {shlex.join(entry_point)}"],
                f"failed: unsupported entryPoint {entry_point}",
            )
        parsed = parse_get_object(list(definition.get("command") or []))
        if isinstance(parsed, str):
            return _Fetch(AWS_CLI_USAGE_ERROR, [parsed], f"failed (exit {AWS_CLI_USAGE_ERROR}): {parsed}")
        bucket, key, version_id, if_match, expected_owner, outfile = parsed
        role_arn = _task_role_arn(run.definition)
        if not role_arn:
            message = (
                'Unable to locate credentials. You can configure credentials by running "aws configure".'
            )
            return _Fetch(
                AWS_CLI_NO_CREDENTIALS, [message], f"failed (exit {AWS_CLI_NO_CREDENTIALS}): {message}"
            )
        where = f"s3://{bucket}/{key}" + (f" version {version_id}" if version_id else "")
        obtained = self._get_object(run, role_arn, bucket, key, version_id, if_match, expected_owner)
        if isinstance(obtained, str):
            message = f"An error occurred ({obtained}) when calling the GetObject operation: {_S3_MESSAGES[obtained]}"
            return _Fetch(
                AWS_CLI_SERVICE_ERROR,
                ["", message],
                f"failed to fetch {where} (exit {AWS_CLI_SERVICE_ERROR}): {message}",
            )
        container_path = posixpath.normpath(
            posixpath.join(definition.get("workingDirectory") or "/", outfile)
        )
        target = self._host_path(run, definition, container_path)
        if isinstance(target, str):
            return _Fetch(AWS_CLI_OTHER_ERROR, [target], f"failed to write {container_path}: {target}")
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(obtained.value)
        output = {
            "AcceptRanges": "bytes",
            "LastModified": obtained.last_modified.isoformat(),
            "ContentLength": obtained.size,
            "ETag": obtained.etag,
            "VersionId": obtained.version_id,
            "ContentType": obtained.metadata.get("Content-Type", "binary/octet-stream"),
            "ServerSideEncryption": obtained.encryption or "AES256",
            "Metadata": {},
        }
        fetched = f"{obtained.size} bytes" + (
            "" if version_id else f", current version {obtained.version_id}"
        )
        summary = f"fetched {where} ({fetched}) into {container_path}"
        if target is None:
            summary += " (outside the shared volume: the control plane will not see it)"
        return _Fetch(0, json.dumps(output, indent=4).splitlines(), summary)

    def _get_object(
        self,
        run: _Run,
        role_arn: str,
        bucket_name: str,
        key: str,
        version_id: str | None,
        if_match: str | None,
        expected_owner: str | None,
    ) -> FakeKey | str:
        """The object S3 returns to the task role, or the S3 error code it answers with."""
        backend = s3_backends[self.account_id][get_partition(self.region)]
        try:
            bucket = backend.get_bucket(bucket_name)
        except MissingBucket:
            return "NoSuchBucket"
        if expected_owner and expected_owner != self.account_id:
            return "AccessDenied"
        context = {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": role_arn,
            "aws:PrincipalAccount": self.account_id,
        }
        if version_id:
            context["s3:VersionId"] = version_id
        action = "s3:GetObjectVersion" if version_id else "s3:GetObject"
        policy = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
        resource = f"arn:{get_partition(self.region)}:s3:::{bucket_name}/{key}"
        if self._decide(role_arn, action, resource, context, resource_policy=policy) is not Decision.ALLOW:
            return "AccessDenied"
        found = backend.get_object(bucket_name, key, version_id, return_delete_marker=True)
        if isinstance(found, FakeDeleteMarker):
            return "MethodNotAllowed" if version_id else self._missing_key(role_arn, bucket_name, policy)
        if found is None:
            return (
                "NoSuchVersion"
                if version_id and key in bucket.keys
                else self._missing_key(role_arn, bucket_name, policy)
            )
        if if_match is not None and if_match.strip('"') != found.etag.strip('"'):
            return "PreconditionFailed"
        return found

    def _missing_key(self, role_arn: str, bucket_name: str, policy: str | None) -> str:
        # S3 says NoSuchKey only to callers allowed to list the bucket; others get AccessDenied.
        bucket_arn = f"arn:{get_partition(self.region)}:s3:::{bucket_name}"
        allowed = self._decide(
            role_arn, "s3:ListBucket", bucket_arn, {"aws:SecureTransport": "true"}, resource_policy=policy
        )
        return "NoSuchKey" if allowed is Decision.ALLOW else "AccessDenied"

    def _decide(
        self,
        role_arn: str,
        action: str,
        resource: str,
        context: Mapping[str, str],
        *,
        resource_policy: Any = None,
    ) -> Decision:
        role = self._role(role_arn)
        if role is None:
            return Decision.IMPLICIT_DENY
        iam = iam_backends[self.account_id][get_partition(self.region)]
        identity = role_policies(self.account_id, self.region, role_arn)
        boundary = None
        if role.permissions_boundary_arn:
            try:
                boundary_policy = iam.get_policy(role.permissions_boundary_arn)
            except IamNotFound:
                boundary_policy = None  # IAM refuses to attach a missing boundary; moto does not check
            if boundary_policy is not None:
                boundary = next(
                    version.document for version in boundary_policy.versions if version.is_default
                )
        request = Request(
            action, resource, principal_arn=role_arn, account_id=self.account_id, context=context
        )
        return decide(identity, request, resource_policy=resource_policy, permissions_boundary=boundary)

    def _role(self, role_arn: str) -> Role | None:
        try:
            return iam_backends[self.account_id][get_partition(self.region)].get_role_by_arn(role_arn)
        except IamNotFound:
            return None

    def _host_path(self, run: _Run, definition: Mapping[str, Any], container_path: str) -> Path | str | None:
        """Where `container_path` of a container lands on the task's shared volume; None if not on one."""
        mounts = sorted(
            definition.get("mountPoints") or [],
            key=lambda mount: len(mount.get("containerPath", "")),
            reverse=True,
        )
        for mount in mounts:
            root = posixpath.normpath(mount.get("containerPath", "/"))
            if container_path == root or container_path.startswith(root.rstrip("/") + "/"):
                if mount.get("readOnly"):
                    return f"[Errno 30] Read-only file system: '{container_path}'"
                relative = posixpath.relpath(container_path, root)
                return self._volume_dir(run, str(mount.get("sourceVolume"))) / relative
        return None

    def _container_files(self, run: _Run, definition: Mapping[str, Any]) -> dict[str, Path]:
        """Files a container sees on its mounted volumes: container path -> host path."""
        files: dict[str, Path] = {}
        for mount in definition.get("mountPoints") or []:
            root = posixpath.normpath(mount.get("containerPath", "/"))
            volume = self._volume_dir(run, str(mount.get("sourceVolume")))
            if volume.is_dir():
                for path in volume.rglob("*"):
                    if path.is_file():
                        files[posixpath.join(root, path.relative_to(volume).as_posix())] = path
        return files

    def _volume_dir(self, run: _Run, volume: str) -> Path:
        # The stack has one volume: it is the task's folder itself, where control-plane.conf lands.
        volumes = run.definition.volumes or []
        return run.folder if len(volumes) <= 1 else run.folder / volume

    # =============================================================== faults
    def _config_version(self, definition: TaskDefinition, loader: str | None) -> str | None:
        """The S3 version a revision's side-car fetches: the pinned one, else the key's current one."""
        if loader is None:
            return None
        parsed = parse_get_object(list(_container_definition(definition, loader).get("command") or []))
        if isinstance(parsed, str):
            return None
        bucket, key, version_id, *_ = parsed
        if version_id:
            return version_id
        try:
            current = s3_backends[self.account_id][get_partition(self.region)].get_object(bucket, key)
        except MissingBucket:
            return None
        return str(current.version_id) if current is not None else None

    def _faults_for(self, version: str | None) -> frozenset[str]:
        def armed(fault: str) -> bool:
            return version is not None and version in self._faults.get(fault, set())

        faults = {fault for fault in ("never-up", "slow-rollout", "crash-after-up") if armed(fault)}
        if armed("task-fails-to-start") or armed("rollback-fails") or self._rollback_fails_active:
            faults.add("fails-to-start")
        if armed("rollback-fails"):
            self._rollback_fails_active = True  # from now on every launch fails, whatever its revision
        return frozenset(faults)

    def _deny_download(self, role_arn: str) -> None:
        """Deny the task role the armed config versions (only those: rollbacks to others still work)."""
        role = self._role(role_arn)
        if role is None:
            return
        versions = sorted(self._faults.get("config-download-denied", set()))
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TwinFaultConfigDownloadDenied",
                    "Effect": "Deny",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"s3:VersionId": versions}},
                }
            ],
        }
        iam_backends[self.account_id][get_partition(self.region)].put_role_policy(
            role.name, DENY_POLICY_NAME, json.dumps(document)
        )

    # =============================================================== plumbing
    def _task_definitions(self) -> Iterable[TaskDefinition]:
        for revisions in self._backend.task_definitions.values():
            yield from revisions.values()

    def _definition_arn(self, reference: str | None) -> str | None:
        if not reference:
            return None
        try:
            return self._backend.describe_task_definition(reference).arn
        except TaskDefinitionNotFoundException:
            return None

    def _allocate_ip(self, state: _ServiceState, subnet_id: str | None) -> tuple[str, str | None]:
        network = ipaddress.ip_network("10.0.1.0/24")
        zone = None
        if subnet_id:
            try:
                subnet = ec2_backends[self.account_id][self.region].get_subnet(subnet_id)
            except InvalidSubnetIdError:
                subnet = None  # a service moto accepted without EC2 knowing the subnet: use 10.0.1.0/24
            if subnet is not None:
                network = ipaddress.ip_network(str(subnet.cidr_block), strict=False)
                zone = subnet.availability_zone
        used = {
            run.task.private_ip for service in self._services.values() for run in service.runs if run.live
        }
        counter = self._ip_counters.get(str(network), 0)
        hosts = max(network.num_addresses - 15, 1)
        for _ in range(hosts):
            candidate = str(network.network_address + 10 + counter % hosts)
            counter += 1
            if candidate not in used:
                self._ip_counters[str(network)] = counter
                return candidate, zone
        raise RuntimeError(f"subnet {network} has no free address left for a task")

    def _refused_port(self) -> int:
        """A loopback port that refuses connections: bound and never listening, held until stop()."""
        if self._closed_socket is None:
            self._closed_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._closed_socket.bind(("127.0.0.1", 0))
        port: int = self._closed_socket.getsockname()[1]
        return port

    def _schedule(self, state: _ServiceState, at: float, action: Callable[[float], None]) -> None:
        self._sequence += 1
        heappush(self._queue, (at, self._sequence, state.key, action))

    def _wake(self, state: _ServiceState, at: float) -> None:
        if at in state.wakeups:
            return
        state.wakeups.add(at)

        def wake(when: float) -> None:
            state.wakeups.discard(at)
            self._reconcile(state, when)

        self._schedule(state, at, wake)

    def _run_due(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            at, _, key, action = heappop(self._queue)
            action(at)
            state = self._services.get(key)
            if state is not None:
                self._render(state)

    def _forget_old_tasks(self, now: float) -> None:
        for state in self._services.values():
            expired = [
                run
                for run in state.runs
                if run.stopped_at is not None and now - run.stopped_at > STOPPED_TASK_RETENTION_SECONDS
            ]
            for run in expired:
                state.runs.remove(run)
                self._backend.tasks.get(state.cluster, {}).pop(run.task.task_arn, None)

    def _render(self, state: _ServiceState) -> None:
        """Write the simulation's view into moto's Service, so DescribeServices returns it."""
        service = self._backend.services.get(state.key)
        if service is None:
            return
        desired = service.desired_count if service.status == "ACTIVE" else 0
        rendered = []
        for deployment in state.deployments:
            runs = [
                run
                for run in state.runs
                if run.deployment_id == deployment.id and not run.stopping and run.live
            ]
            rendered.append(
                {
                    "id": deployment.id,
                    "status": deployment.status,
                    "taskDefinition": deployment.task_definition_arn,
                    "desiredCount": desired if deployment.status == "PRIMARY" else 0,
                    "pendingCount": sum(1 for run in runs if run.task.last_status in _LIVE_STATUSES),
                    "runningCount": sum(1 for run in runs if run.task.last_status == "RUNNING"),
                    "failedTasks": deployment.failed_tasks,
                    "createdAt": _datetime(deployment.created_at),
                    "updatedAt": _datetime(deployment.updated_at),
                    **deployment.base,
                    "rolloutState": deployment.rollout_state,
                    "rolloutStateReason": deployment.rollout_state_reason,
                }
            )
        service.deployments = rendered
        service.running_count = sum(1 for run in state.runs if run.live and run.task.last_status == "RUNNING")
        service.pending_count = sum(
            1 for run in state.runs if run.live and run.task.last_status in _LIVE_STATUSES
        )
        vars(service)["deployment_configuration"] = dict(_deployment_configuration(service))
        cluster = self._backend.clusters.get(state.cluster)
        if cluster is not None:
            runs = [
                run
                for item in self._services.values()
                if item.cluster == state.cluster
                for run in item.runs
                if run.live
            ]
            cluster.running_tasks_count = sum(1 for run in runs if run.task.last_status == "RUNNING")
            cluster.pending_tasks_count = sum(1 for run in runs if run.task.last_status in _LIVE_STATUSES)

    def _service_event(self, state: _ServiceState, at: float, message: str) -> None:
        service = self._backend.services.get(state.key)
        if service is not None:
            service.events = [
                {"id": str(uuid.uuid4()), "createdAt": _datetime(at), "message": message},
                *service.events,
            ][:100]

    def _event(self, at: float, message: str) -> None:
        self.events.append(f"{_datetime(at):%H:%M:%S} {message}")


# ------------------------------------------------------------------------------------- helpers

_S3_MESSAGES: Final = {
    "AccessDenied": "Access Denied",
    "NoSuchKey": "The specified key does not exist.",
    "NoSuchVersion": "The specified version does not exist.",
    "NoSuchBucket": "The specified bucket does not exist",
    "MethodNotAllowed": "The specified method is not allowed against this resource.",
    "PreconditionFailed": "At least one of the pre-conditions you specified did not hold",
}

# aws s3api get-object options the twin understands: option -> takes a value.
_GET_OBJECT_OPTIONS: Final = {
    "--bucket": True,
    "--key": True,
    "--version-id": True,
    "--if-match": True,
    "--expected-bucket-owner": True,
    "--checksum-mode": True,
    "--region": True,
    "--output": True,
    "--cli-read-timeout": True,
    "--cli-connect-timeout": True,
    "--no-cli-pager": False,
    "--debug": False,
    "--no-paginate": False,
}


def parse_get_object(arguments: list[str]) -> tuple[str, str, str | None, str | None, str | None, str] | str:
    """(bucket, key, version id, if-match, expected owner, outfile) of the command, or the CLI's error."""
    if arguments[:2] != ["s3api", "get-object"]:
        return f"twin: the side-car only simulates `aws s3api get-object`, not `aws {shlex.join(arguments)}`"
    values: dict[str, str] = {}
    positional: list[str] = []
    unknown: list[str] = []
    index = 2
    while index < len(arguments):
        argument = arguments[index]
        name, equals, inline = argument.partition("=")
        if argument.startswith("--") and name in _GET_OBJECT_OPTIONS:
            if not _GET_OBJECT_OPTIONS[name]:
                index += 1
                continue
            if equals:
                values[name] = inline
            elif index + 1 < len(arguments):
                values[name] = arguments[index + 1]
                index += 1
            else:
                return f"aws: error: argument {name}: expected one argument"
        elif argument.startswith("--"):
            unknown.append(argument)
        else:
            positional.append(argument)
        index += 1
    if unknown:
        return f"aws: error: Unknown options: {', '.join(unknown)}"
    missing = [name for name in ("--bucket", "--key") if name not in values]
    if missing or len(positional) != 1:
        required = [*missing, *(["outfile"] if len(positional) != 1 else [])]
        return f"aws: error: the following arguments are required: {', '.join(required)}"
    return (
        values["--bucket"],
        values["--key"],
        values.get("--version-id"),
        values.get("--if-match"),
        values.get("--expected-bucket-owner"),
        positional[0],
    )


def _container_roles(definition: TaskDefinition) -> tuple[str | None, str, str | None]:
    """(side-car the essential container waits for, essential container, the DependsOn condition)."""
    containers: list[dict[str, Any]] = definition.container_definitions
    main = next((item for item in containers if item.get("essential", True)), containers[0])
    for dependency in main.get("dependsOn") or []:
        return str(dependency["containerName"]), str(main["name"]), str(dependency.get("condition", "START"))
    side_cars = [item for item in containers if item is not main]
    return (str(side_cars[0]["name"]) if side_cars else None), str(main["name"]), None


def _container_definition(definition: TaskDefinition, name: str) -> Mapping[str, Any]:
    return next(item for item in definition.container_definitions if item.get("name") == name)


def _task_role_arn(definition: TaskDefinition) -> str | None:
    role: str | None = getattr(definition, "task_role_arn", None)
    return role


def _session_arn(role_arn: str, session: str) -> str:
    account = role_arn.split(":")[4]
    return f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{session}"


def image_digest(image: str) -> str:
    """The digest a registry answers for `image` before any tag moved: the one it names
    (`repo@sha256:...`), else a digest made from the reference."""
    if "@sha256:" in image:
        return image.split("@", 1)[1]
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _fargate_environment(run: _Run, region: str) -> dict[str, str]:
    """Variables Fargate (and the image) put in every container's environment."""
    task_id = run.task.id
    environment = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": f"ip-{run.task.private_ip.replace('.', '-')}.{region}.compute.internal",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        "ECS_AGENT_URI": f"http://169.254.170.2/api/{task_id}",
        "ECS_CONTAINER_METADATA_URI": f"http://169.254.170.2/v3/{task_id}",
        "ECS_CONTAINER_METADATA_URI_V4": f"http://169.254.170.2/v4/{task_id}",
    }
    if _task_role_arn(run.definition):
        environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = f"/v2/credentials/{uuid.uuid4()}"
    return environment


def _deployment_configuration(service: Service) -> Mapping[str, Any]:
    configured = vars(service).get("deployment_configuration")
    return configured if isinstance(configured, Mapping) and configured else DEFAULT_DEPLOYMENT_CONFIGURATION


def _revision_arn(prefix: str, state: _ServiceState, deployment: _Deployment) -> str:
    # A service revision per deployment the twin saw; its id is the digits of the deployment id.
    return f"{prefix}:service-revision/{state.cluster}/{state.name}/{deployment.id.rsplit('/', 1)[-1]}"


def _deployment_id() -> str:
    return f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"


def _revision(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1]


def _service_ref(state: _ServiceState) -> str:
    return f"service {state.name}"


def _deployment_ref(deployment: _Deployment) -> str:
    return f"deployment {deployment.id}"


def _datetime(at: float) -> datetime:
    return datetime.fromtimestamp(at, tz=UTC)
