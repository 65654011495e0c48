"""Faults for the health checks: what goes wrong with a control plane after its deployment succeeded.

Each fault of scope `health` (and `test`) is declared in cpctl/twin/faults.py with what it does and the AWS behaviour it stands for. Why
`task-stopped` keeps the replacement away: real ECS starts one at once, and a 90-second restart would
be over before a scheduled check could see it; a new deployment (the self-heal's forceNewDeployment)
places the task at once.

Only `task-stopped` reaches inside the simulated Fargate (its per-service launch gate); everything
else goes through the AWS API, `SimulatedFargate.arm` and the endpoint resolver.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cpctl.twin import faults
from cpctl.twin.twin import TwinError, builtin_config

if TYPE_CHECKING:
    from cpctl.twin.twin import LocalTwin

# How long the replacement of a stopped task cannot be placed (unless a new deployment starts).
TASK_STOPPED_OUTAGE_SECONDS = 3600.0


@dataclass
class InjectedFault:
    """What a fault did, for the scenario's report."""

    name: str
    detail: str
    at: float
    version_id: str | None = None


@dataclass
class HealthFaults:
    """Injects the health faults into a running twin; `close()` undoes what outlives the twin's own undo."""

    twin: LocalTwin
    injected: list[InjectedFault] = field(default_factory=list)
    _hung_ips: set[str] = field(default_factory=set)
    _refused: socket.socket | None = None
    _listeners: list[Callable[[float], None]] = field(default_factory=list)
    _resolver_installed: bool = False

    def handlers(self) -> dict[str, Callable[[], InjectedFault]]:
        """The fault of each name declared for the health checks (scopes `health` and `test`)."""
        return {
            "task-stopped": self._task_stopped,
            "never-up": self._never_up,
            "revision-drift": self._revision_drift,
            "lost-upload": self._lost_upload,
            "transient": self._transient,
        }

    def inject(self, fault: str) -> InjectedFault:
        handlers = self.handlers()
        if faults.find(fault, "health", "test") is None or fault not in handlers:
            raise TwinError(faults.unknown(fault, "health", "test"))
        with self.twin.clock.worker():  # nothing moves while the fault is being set up
            injected = handlers[fault]()
        self.injected.append(injected)
        return injected

    def close(self) -> None:
        for listener in self._listeners:
            self.twin.clock.remove_listener(listener)
        self._listeners.clear()
        if self._resolver_installed and self.twin.fargate is not None and self.twin.network is not None:
            self.twin.network.task_resolver = self.twin.fargate.resolve
            self._resolver_installed = False
        if self._refused is not None:
            self._refused.close()
            self._refused = None

    # ---------------------------------------------------------------- the running task
    def running_task(self) -> dict[str, Any]:
        ecs = self.twin.client("ecs")
        arns = ecs.list_tasks(
            cluster=self.twin.cluster, serviceName=self.twin.service_name, desiredStatus="RUNNING"
        )["taskArns"]
        tasks = [
            task
            for task in (ecs.describe_tasks(cluster=self.twin.cluster, tasks=arns)["tasks"] if arns else [])
            if task.get("lastStatus") == "RUNNING"
        ]
        if len(tasks) != 1:
            raise TwinError(f"expected one RUNNING control plane task to break, found {len(tasks)}")
        return dict(tasks[0])

    def _primary_deployment(self) -> str:
        service = self.twin.client("ecs").describe_services(
            cluster=self.twin.cluster, services=[self.twin.service_name]
        )["services"][0]
        return str(next(d["id"] for d in service["deployments"] if d["status"] == "PRIMARY"))

    # ---------------------------------------------------------------- faults
    def _task_stopped(self) -> InjectedFault:
        task = self.running_task()
        deployment = self._primary_deployment()
        now = self.twin.clock.now()
        until = now + TASK_STOPPED_OUTAGE_SECONDS
        state = self._service_state()

        def hold_back_replacement(at: float) -> None:
            # While the deployment that lost its task is still PRIMARY, its replacement waits.
            primary = state.primary
            if at < until and primary is not None and primary.id == deployment:
                state.launch_not_before = max(state.launch_not_before, until)

        hold_back_replacement(now)
        self.twin.clock.add_listener(hold_back_replacement)
        self._listeners.append(hold_back_replacement)
        self.twin.client("ecs").stop_task(
            cluster=self.twin.cluster,
            task=task["taskArn"],
            reason="twin fault task-stopped: the control plane's task was stopped",
        )
        task_id = str(task["taskArn"]).rsplit("/", 1)[-1]
        return InjectedFault(
            "task-stopped",
            f"stopped task {task_id}; no replacement until a new deployment (or {TASK_STOPPED_OUTAGE_SECONDS / 60:.0f} min)",
            now,
        )

    def _transient(self) -> InjectedFault:
        task = self.running_task()
        self.twin.client("ecs").stop_task(
            cluster=self.twin.cluster, task=task["taskArn"], reason="twin fault transient: task stopped once"
        )
        task_id = str(task["taskArn"]).rsplit("/", 1)[-1]
        return InjectedFault("transient", f"stopped task {task_id}; ECS replaces it", self.twin.clock.now())

    def _never_up(self) -> InjectedFault:
        task = self.running_task()
        version = self.twin.service().config_version_id
        if version is None:
            raise TwinError("the running revision pins no config version: deploy with the workflow first")
        self.twin.fargate.arm("never-up", version)
        address = _private_ip(task)
        self._hung_ips.add(address)
        self._install_resolver()
        return InjectedFault(
            "never-up",
            f"the control plane at {address} stopped answering; every task of config version {version} hangs",
            self.twin.clock.now(),
            version,
        )

    def _revision_drift(self) -> InjectedFault:
        stack = self.twin.stack
        if stack is None:
            raise TwinError("the twin is not started")
        original = str(stack.first_of_type("AWS::ECS::TaskDefinition").ref)
        if original == self.twin.service().task_definition:
            raise TwinError("the service already runs the stack's original revision: nothing to drift to")
        self.twin.client("ecs").update_service(
            cluster=self.twin.cluster, service=self.twin.service_name, taskDefinition=original
        )
        return InjectedFault(
            "revision-drift",
            f"service pointed at {original.rsplit('/', 1)[-1]} by hand (as a stack update would)",
            self.twin.clock.now(),
        )

    def _lost_upload(self) -> InjectedFault:
        events = self.twin.client("events")
        rules = [
            rule["Name"]
            for rule in events.list_rules()["Rules"]
            if '"aws.s3"' in str(rule.get("EventPattern", "")) and rule.get("State") == "ENABLED"
        ]
        if not rules:
            raise TwinError("the template has no enabled rule for the config bucket's S3 events")
        for name in rules:
            events.disable_rule(Name=name)
        try:
            response = self.twin.client("s3").put_object(
                Bucket=self.twin.bucket, Key=self.twin.config_key, Body=builtin_config("changed")
            )
        finally:
            for name in rules:
                events.enable_rule(Name=name)
        version = str(response.get("VersionId"))
        return InjectedFault(
            "lost-upload",
            f"uploaded config version {version} (the built-in changed config); its event never reached the workflow",
            self.twin.clock.now(),
            version,
        )

    # ---------------------------------------------------------------- plumbing
    def _install_resolver(self) -> None:
        if self._resolver_installed or self.twin.network is None:
            return
        fargate_resolve = self.twin.fargate.resolve
        hung = self._hung_ips

        def resolve(ip: str, port: int) -> tuple[str, int]:
            if ip in hung:
                return "127.0.0.1", self._refused_port()
            host, resolved = fargate_resolve(ip, port)
            return str(host), int(resolved)

        self.twin.network.task_resolver = resolve  # behind the twin's network: a hung task is still private
        self._resolver_installed = True

    def _refused_port(self) -> int:
        """A loopback port that refuses connections (bound, never listening)."""
        if self._refused is None:
            self._refused = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._refused.bind(("127.0.0.1", 0))
        port: int = self._refused.getsockname()[1]
        return port

    def _service_state(self) -> Any:
        """The simulated Fargate's state of the stack's service (its launch gate: `launch_not_before`)."""
        fargate = self.twin.fargate
        key = f"{self.twin.cluster}:{self.twin.service_name}"
        services = getattr(fargate, "_services", None)
        state = services.get(key) if isinstance(services, dict) else None
        if state is None or not hasattr(state, "launch_not_before") or not hasattr(state, "primary"):
            raise TwinError(
                "the simulated Fargate no longer exposes its service state (_services[...].launch_not_before): "
                "update cpctl/twin/health_faults.py"
            )
        return state


def _private_ip(task: dict[str, Any]) -> str:
    for attachment in task.get("attachments", []):
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                return str(detail["value"])
    raise TwinError(f"task {task.get('taskArn')} has no private IP address")
