"""Every payload that crosses a state boundary of the deployment workflow.

The workflow passes one `WorkflowState` from state to state: each handler receives the whole state,
adds what its step learned and returns the whole state (the ASL keeps the Lambda's `Payload`).
Each handler's input model is `WorkflowState` with the fields its step needs made required, so a
state that skipped a step fails to parse instead of failing halfway through the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, field

Outcome = Literal["succeeded", "rejected", "failed", "rolled_back", "rollback_failed", "unchanged"]
AdmissionDecision = Literal["admitted", "waiting", "duplicate", "stale", "superseded", "timed_out"]
WatchStatus = Literal["in_progress", "succeeded", "failed"]
RollbackStatus = Literal["in_progress", "succeeded", "failed", "not_needed"]
RollbackStarter = Literal["workflow", "ecs"]
LoadTestStatus = Literal["waiting", "clear", "not_needed", "expired", "gave_up"]
BakeStatus = Literal["baking", "passed", "failed", "off"]
CheckName = Literal["service", "revision", "info", "locations", "config"]
CheckStatus = Literal["pass", "fail", "skipped", "unknown"]
CHECKS: tuple[CheckName, ...] = ("service", "revision", "info", "locations", "config")
# Checks whose failure a redeployment of the last good version can repair (the self-heal counts these).
CONTROL_PLANE_CHECKS: tuple[CheckName, ...] = ("service", "revision", "info", "locations")

# Findings carried in the state, the record and the notification; the rest are counted.
MAX_FINDINGS = 200

_UPLOAD_FIELDS = ("bucket", "key", "version_id", "sequencer", "event_id", "event_time")
_EVENT_ONLY_FIELDS = ("bucket", "key", "etag", "size", "sequencer", "event_id", "event_time")


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One error or warning of the validator, with its 1-based position in the file (None: no position)."""

    line: int | None
    column: int | None
    path: str | None
    message: str


class Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A payload of the workflow: immutable, and refused with a field it does not know (subclasses
    inherit both; `kw_only`, which lets a required field follow an optional one, is per class).
    `codec.parse` validates one (types, constraints, `__post_init__`); `codec.dump` writes it as
    JSON-ready values, every field included."""


# ---------------------------------------------------------------- the trigger


class DeploymentRequest(Payload, frozen=True, kw_only=True):
    """What started the execution: the rule's clean S3 event (`source: upload`) or an operator's request.

    An operator sends `{"version_id": "...", "reason": "..."}` to deploy that exact config version (a
    rollback to an older config) or `{"reason": "..."}` to redeploy the latest version; `"force": true`
    deploys without waiting for the load test runs on the control plane's locations.
    """

    source: Literal["upload", "manual"] = "manual"
    version_id: Annotated[str, Meta(min_length=1, max_length=1024)] | None = None
    reason: Annotated[str, Meta(max_length=1000)] | None = None
    force: bool = False
    bucket: str | None = None
    key: str | None = None
    etag: str | None = None
    size: Annotated[int, Meta(ge=0)] | None = None
    sequencer: Annotated[str, Meta(pattern=r"^[0-9A-Fa-f]{1,64}\Z")] | None = None
    event_id: str | None = None
    event_time: datetime | None = None

    def __post_init__(self) -> None:
        # msgspec runs this after every construction and validation (a ValueError while validating
        # becomes its ValidationError): the two shapes the docstring describes, and nothing between.
        if self.source == "upload":
            missing = [name for name in _UPLOAD_FIELDS if getattr(self, name) is None]
            if missing:
                raise ValueError(f"an upload event needs {', '.join(missing)}")
            if self.force:
                raise ValueError("an upload event cannot force a deployment: start one by hand")
            return
        extra = [name for name in _EVENT_ONLY_FIELDS if getattr(self, name) is not None]
        if extra:
            raise ValueError(
                f"a manual request takes only version_id, reason and force, not {', '.join(extra)}"
            )
        if self.reason is None or not self.reason.strip():
            raise ValueError("a manual request needs a reason: it is recorded and notified")
        return


class ExecutionRef(Payload, frozen=True, kw_only=True):
    """The Step Functions execution, from the context object (`$$.Execution`)."""

    id: str
    name: str
    started_at: datetime


class ConfigObject(Payload, frozen=True, kw_only=True):
    """One exact version of the config object in S3."""

    bucket: str
    key: str
    version_id: str
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None


# ---------------------------------------------------------------- step results


class Admission(Payload, frozen=True, kw_only=True):
    """The admission decision; `waiting` loops back to admission until the deadline."""

    decision: AdmissionDecision
    detail: str
    target: ConfigObject
    invocations: int = 0
    wait_deadline: datetime
    admitted_at: datetime | None = None
    # The optional states this execution visits, as the stack's settings say (docs/workflow.md,
    # "Load test runs" and "Bake"): the Choice states skip a feature that is off, at no transition.
    wait_for_runs: bool = True
    bake: bool = True


class ValidationReport(Payload, frozen=True, kw_only=True):
    """The validator's verdict on the exact object version (findings beyond `MAX_FINDINGS` are counted)."""

    valid: bool
    errors: list[Finding]
    warnings: list[Finding]
    omitted_findings: int = 0
    validated_at: datetime
    # An upload whose sha256 is the running revision's: recorded, and the control plane not restarted.
    unchanged: bool = False
    running_task_definition_arn: str | None = None


class ConfigRef(Payload, frozen=True, kw_only=True):
    """A valid config version: what a revision pins and what the up-check expects."""

    bucket: str
    key: str
    version_id: str
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}\Z")]
    size: int
    sequencer: str | None = None
    description: str | None = None
    location_ids: list[str] = field(default_factory=list)


class RevisionRef(Payload, frozen=True, kw_only=True):
    """The registered pinned revision and the revision the service was on before."""

    task_definition_arn: str
    previous_task_definition_arn: str
    registered_at: datetime


class ContainerExit(Payload, frozen=True, kw_only=True):
    name: str
    exit_code: int | None = None
    reason: str | None = None


def describe_stopped_task(
    task_id: str,
    *,
    stop_code: str | None,
    stopped_reason: str | None,
    containers: list[ContainerExit],
    side_car_failed: bool,
) -> str:
    """One line a human can act on: `task abc stopped (EssentialContainerExited: ...); control-plane: exit code 1`."""
    parts = [f"task {task_id} stopped"]
    if stop_code or stopped_reason:
        parts.append(f"({stop_code or 'unknown stop code'}: {stopped_reason or 'no reason given'})")
    for container in containers:
        exit_text = "no exit code" if container.exit_code is None else f"exit code {container.exit_code}"
        reason = f", {container.reason}" if container.reason else ""
        parts.append(f"; {container.name}: {exit_text}{reason}")
    if side_car_failed:
        parts.append("; the config-loader side-car failed: the config download from S3 failed")
    return " ".join(parts).replace(" ;", ";")


class TaskFailure(Payload, frozen=True, kw_only=True):
    """Why one task of a deployment stopped, as ECS tells it (ECS forgets stopped tasks after ~1 hour)."""

    task_arn: str
    task_definition_arn: str | None = None
    stopped_reason: str | None = None
    stop_code: str | None = None
    containers: list[ContainerExit] = field(default_factory=list)
    side_car_failed: bool = False

    def describe(self) -> str:
        """One line a human can act on."""
        return describe_stopped_task(
            self.task_arn.rsplit("/", 1)[-1],
            stop_code=self.stop_code,
            stopped_reason=self.stopped_reason,
            containers=self.containers,
            side_car_failed=self.side_car_failed,
        )


class FailureReport(Payload, frozen=True, kw_only=True):
    """Why a deployment failed: one sentence, the stopped tasks and the control plane's error lines."""

    phase: Literal["rollout", "control_plane_up", "bake", "workflow"]
    reason: str
    tasks: list[TaskFailure] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    # Why the stopped tasks or log lines could not be read (an AWS error); the rollback goes on without them.
    diagnostics_unavailable: str | None = None

    def describe(self) -> str:
        lines = [self.reason, *(task.describe() for task in self.tasks)]
        if self.log_lines:
            lines.append("control plane errors:")
            lines.extend(f"  {line}" for line in self.log_lines)
        if self.diagnostics_unavailable:
            lines.append(f"diagnostics unavailable: {self.diagnostics_unavailable}")
        return "\n".join(lines)


class Watch(Payload, frozen=True, kw_only=True):
    """One ECS service deployment being waited for, under an absolute deadline."""

    deployment_id: str
    task_definition_arn: str
    started_at: datetime
    deadline: datetime
    # The deployment's createdAt as ECS answered it: how its service deployment is found later.
    created_at: datetime | None = None
    invocations: int = 0
    status: WatchStatus = "in_progress"
    finished_at: datetime | None = None
    task_arn: str | None = None
    private_ip: str | None = None
    # The digests the proving task's containers were pulled at (DescribeTasks containers[].imageDigest).
    image_digests: dict[str, str] = field(default_factory=dict)
    failure: FailureReport | None = None


class UpCheck(Payload, frozen=True, kw_only=True):
    """Waiting for the control plane to answer /info and to register its locations with Gatling."""

    started_at: datetime
    deadline: datetime
    invocations: int = 0
    status: Literal["checking", "up", "failed"] = "checking"
    info_ok: bool = False
    locations_checked: bool = False
    missing_locations: list[str] = field(default_factory=list)
    last_problem: str | None = None
    finished_at: datetime | None = None
    failure: FailureReport | None = None
    # The RUNNING task of our deployment the last poll probed (ECS may replace it during the check).
    task_arn: str | None = None
    private_ip: str | None = None
    # A problem of the check itself, not of the control plane (Gatling refused the API token): the
    # control plane answers /info, so it stays; the record and the notification say what to fix.
    monitoring_problem: str | None = None


class Rollback(Payload, frozen=True, kw_only=True):
    """Putting the service back on the last good revision after a failure past registration."""

    failure: FailureReport
    target_task_definition_arn: str | None = None
    status: RollbackStatus = "in_progress"
    invocations: int = 0
    watch: Watch | None = None
    problem: str | None = None
    # "ecs": the circuit breaker had already put the service back on the target; the workflow watched
    # that deployment instead of forcing another one (which would restart the task ECS just started).
    started_by: RollbackStarter = "workflow"
    # The last good revision whose software the target restores: the target is its copy with each
    # image pinned to the digest the last good deployment ran.
    restores_task_definition_arn: str | None = None


class LoadTestWait(Payload, frozen=True, kw_only=True):
    """Waiting until no load test run uses a location of the running config (before any restart)."""

    # waiting: a run uses a location (or Gatling cannot tell); clear: none does; not_needed: nothing to
    # wait for (off, forced, a heal of a control plane that is down, nothing deployed yet); expired:
    # RunWaitMinutes passed and RunWaitExpiry is deploy; gave_up: passed, and it is skip.
    status: LoadTestStatus
    detail: str
    started_at: datetime
    deadline: datetime
    invocations: int = 0
    location_ids: list[str] = field(default_factory=list)  # of the running config
    runs: list[str] = field(default_factory=list)  # the runs in the way, described
    waited_seconds: float = 0.0
    notified: bool = False  # the "waiting" notification went out
    finished_at: datetime | None = None


class Bake(Payload, frozen=True, kw_only=True):
    """Watching the new control plane for `BakeMinutes` after "up", before it becomes the last good."""

    status: BakeStatus
    started_at: datetime
    deadline: datetime
    invocations: int = 0
    checks: int = 0
    task_arn: str | None = None
    failing_checks: int = 0  # consecutive checks whose /info or locations check failed
    last_problem: str | None = None
    finished_at: datetime | None = None
    failure: FailureReport | None = None


class CaughtError(Payload, frozen=True, kw_only=True):
    """What a Step Functions `Catch` puts at its `ResultPath`."""

    Error: str
    Cause: str = ""


class OutcomeResult(Payload, frozen=True, kw_only=True):
    """The recorded outcome; the ASL ends the execution on it (`cause` becomes the Fail state's Cause)."""

    outcome: Outcome
    error: str | None
    cause: Annotated[str, Meta(min_length=1)]  # the Fail state's Cause: never empty
    record_key: str


# ---------------------------------------------------------------- the state and each step's input


class WorkflowState(Payload, frozen=True, kw_only=True):
    """The whole state of one execution, as the ASL passes it from step to step."""

    request: DeploymentRequest
    execution: ExecutionRef
    admission: Admission | None = None
    validation: ValidationReport | None = None
    config: ConfigRef | None = None
    load_tests: LoadTestWait | None = None
    revision: RevisionRef | None = None
    rollout: Watch | None = None
    up: UpCheck | None = None
    bake: Bake | None = None
    rollback: Rollback | None = None
    error: CaughtError | None = None
    rollback_error: CaughtError | None = None
    result: OutcomeResult | None = None


class AdmitDeploymentInput(WorkflowState, frozen=True, kw_only=True):
    pass


class ValidateConfigInput(WorkflowState, frozen=True, kw_only=True):
    admission: Admission


class AwaitLoadTestsInput(WorkflowState, frozen=True, kw_only=True):
    admission: Admission
    config: ConfigRef


class RegisterRevisionInput(WorkflowState, frozen=True, kw_only=True):
    admission: Admission
    config: ConfigRef


class StartRolloutInput(RegisterRevisionInput, frozen=True, kw_only=True):
    revision: RevisionRef


class AwaitRolloutInput(StartRolloutInput, frozen=True, kw_only=True):
    rollout: Watch


class AwaitControlPlaneUpInput(AwaitRolloutInput, frozen=True, kw_only=True):
    pass


class BakeInput(AwaitRolloutInput, frozen=True, kw_only=True):
    up: UpCheck


class RollBackInput(StartRolloutInput, frozen=True, kw_only=True):
    pass


class RecordOutcomeInput(WorkflowState, frozen=True, kw_only=True):
    pass


# ---------------------------------------------------------------- the /info probe (ProbeInfoFunction)


class ProbeInfoInput(Payload, frozen=True, kw_only=True):
    """Where the probe in the VPC sends `GET /info`: a task's private IPv4 address and the server port."""

    private_ip: Annotated[str, Meta(pattern=r"^\d{1,3}(\.\d{1,3}){3}\Z")]
    port: Annotated[int, Meta(ge=1, le=65535)]


class ProbeInfoResult(Payload, frozen=True, kw_only=True):
    """Whether `/info` answered 200, and what went wrong when it did not."""

    answered: bool
    problem: str | None = None

    def __post_init__(self) -> None:
        if self.answered == (self.problem is not None):
            raise ValueError("a probe that answered has no problem; one that did not says what went wrong")


# ---------------------------------------------------------------- the health check's report


class CheckResult(Payload, frozen=True, kw_only=True):
    """One check's verdict and why."""

    status: CheckStatus
    detail: str


class LostUpload(Payload, frozen=True, kw_only=True):
    """A config version in the bucket that the workflow never saw."""

    version_id: str
    uploaded_at: datetime


class HealthReport(Payload, frozen=True, kw_only=True):
    """Everything one run of the checks found (no secret, no token: it is logged, stored and returned)."""

    checked_at: datetime
    healthy: bool
    checks: dict[str, CheckResult]
    running_tasks: int
    running_task_definition_arn: str | None = None
    service_task_definition_arn: str | None = None  # what the service is set to run
    running_config_version_id: str | None = None
    last_good_task_definition_arn: str | None = None
    last_good_version_id: str | None = None
    newest_config_version_id: str | None = None
    revision_drift: bool = False
    pending_config: bool = False
    deployment_running: str | None = None  # what runs, in words, or None
    lost_upload: LostUpload | None = None

    def failed(self, names: Sequence[str] = CHECKS) -> list[str]:
        """The names of the checks among `names` that failed."""
        return [name for name in names if name in self.checks and self.checks[name].status == "fail"]

    def summary(self) -> str:
        """`healthy` or `unhealthy: info (GET /info ... got no answer); ...`."""
        failed = self.failed()
        if not failed:
            return "healthy"
        return "unhealthy: " + "; ".join(f"{name} ({self.checks[name].detail})" for name in failed)
