"""`cpctl deploy FILE`, `cpctl rollback [--to VERSION | --previous]`, `cpctl redeploy [--reason]`.

The same code on AWS (`--stack-name`, or samconfig.toml) and on the local twin (`--endpoint-url`):

- `deploy` validates FILE with the deployment context the workflow's own validator has (the
  `CONTEXT_*` variables of the stack's `<ControlPlaneName>-validate-config` function, read with
  GetFunctionConfiguration), refuses it on an error, uploads it to the config key (the S3 event
  starts the workflow), finds the execution whose input names the new version, and follows it.
- `rollback` and `redeploy` start the workflow by hand with its manual input, `{"version_id",
  "reason"}` or `{"reason"}` (events/manual_rollback.json, manual_redeploy.json), and follow it.
  `rollback` without a version lists the candidates: every version of the config object with its
  upload time, sha256 and outcome (the records table's `VERSION#` items).
- Following prints each state the execution enters (GetExecutionHistory) and what ECS says meanwhile
  (the service's events, its deployments' rollout states, the tasks' states), by their own
  timestamps, until the execution ends. Ctrl-C stops following, never the deployment. The exit code
  says how it ended (cpctl/exit_codes.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError
from controlplane.codec import dump
from controlplane.errors import SettingsError
from controlplane.records import RecordStore
from controlplane.settings import load_settings
from controlplane.validation import DeploymentContext, validate_config

from cpctl import exit_codes
from cpctl.aws_options import add_stack_arguments
from cpctl.status_cmd import Clients, StackRef, StatusError, service_of, with_stack
from cpctl.terminal import BOLD, GREEN, RED, YELLOW, paint, wants_json, write

DEFAULT_POLL_SECONDS = 2.0
# EventBridge delivers an S3 event to its target within seconds; a minute without an execution
# means the rule or its target is broken (or disabled), which the operator must hear about.
DEFAULT_START_TIMEOUT = 60.0


def register(subparsers: Any) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        help="validate FILE, upload it, follow the deployment",
        epilog="Exit codes: 0 up on the new version, 1 failed, 2 usage or stack error, 3 rejected, "
        "4 rolled back, 5 rollback failed, 6 timed out, 130 stopped following (Ctrl-C).",
    )
    deploy.add_argument("file", type=Path, metavar="FILE", help="the control-plane.conf to deploy")
    _follow_arguments(deploy)
    deploy.set_defaults(handler=run_deploy)

    rollback = subparsers.add_parser("rollback", help="deploy an older config version, or list them")
    target = rollback.add_mutually_exclusive_group()
    target.add_argument("--to", metavar="VERSION", help="the S3 version id to deploy")
    target.add_argument(
        "--previous", action="store_true", help="the version that succeeded before the running one"
    )
    rollback.add_argument("--reason", help="recorded and notified (default: says who rolled back to what)")
    rollback.add_argument("--limit", type=int, default=20, help="candidates listed (default 20)")
    _follow_arguments(rollback)
    rollback.set_defaults(handler=run_rollback)

    redeploy = subparsers.add_parser("redeploy", help="deploy the newest config version again, follow it")
    redeploy.add_argument("--reason", default="redeploy requested with cpctl", help="recorded and notified")
    _follow_arguments(redeploy)
    redeploy.set_defaults(handler=run_redeploy)


def _follow_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_arguments(parser)
    parser.add_argument("--no-wait", action="store_true", help="start the deployment and return")
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="stop following after this long (exit 6)"
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS, help="seconds between two looks"
    )


# ---------------------------------------------------------------------------------- the stack's side
@dataclass(frozen=True)
class Target:
    """What a deployment needs to know about the stack, read from the workflow's own settings."""

    bucket: str
    key: str
    state_machine_arn: str
    context: DeploymentContext


def target_of(ref: StackRef, clients: Clients) -> Target:
    """The config object and the validator's context: the environment of the stack's validate-config
    function (the template names it `<ControlPlaneName>-validate-config`), parsed by the settings
    model the function itself uses, so the CLI validates exactly as the workflow will."""
    name = f"{ref.service}-validate-config"
    try:
        configuration = clients.lambda_.get_function_configuration(FunctionName=name)
    except ClientError as error:
        raise StatusError(
            f"cannot read function {name}: {error.response['Error'].get('Message', error)}"
        ) from None
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    try:
        settings = load_settings(variables)
    except SettingsError as error:
        raise StatusError(f"function {name} has no usable settings: {error}") from None
    if not ref.state_machine_arn:
        raise StatusError(f"no deployment workflow {ref.service}-deploy found: pass --stack-name")
    return Target(
        bucket=settings.config_bucket,
        key=settings.config_key,
        state_machine_arn=ref.state_machine_arn,
        context=settings.deployment_context(),
    )


# ---------------------------------------------------------------------------------- following
@dataclass
class Followed:
    """How an execution ended, as `cpctl deploy` reports it."""

    execution_arn: str
    execution: str
    version_id: str | None
    status: str
    error: str | None = None
    cause: str | None = None
    states: list[str] = field(default_factory=list)
    task_definition: str | None = None
    running_version_id: str | None = None
    exit_code: int = exit_codes.FAILED

    def as_json(self) -> dict[str, Any]:
        return {
            "execution": self.execution,
            "execution_arn": self.execution_arn,
            "version_id": self.version_id,
            "status": self.status,
            "outcome": OUTCOMES[self.exit_code],
            "error": self.error,
            "cause": self.cause,
            "states": self.states,
            "task_definition": self.task_definition,
            "running_version_id": self.running_version_id,
            "exit_code": self.exit_code,
        }


OUTCOMES = {
    exit_codes.SUCCEEDED: "succeeded",
    exit_codes.FAILED: "failed",
    exit_codes.REJECTED: "rejected",
    exit_codes.ROLLED_BACK: "rolled_back",
    exit_codes.ROLLBACK_FAILED: "rollback_failed",
    exit_codes.TIMED_OUT: "timed_out",
    exit_codes.INTERRUPTED: "following_stopped",
}


class Follower:
    """One look at a time at an execution and at the service it deploys. What ECS already said when
    the follower was made is the baseline; `poll` returns only what is new since, in time order."""

    def __init__(self, clients: Clients, ref: StackRef) -> None:
        self.clients = clients
        self.ref = ref
        self.execution_arn: str | None = None
        self.states: list[str] = []
        self._history_seen = 0
        self._service_events: set[str] = set()
        self._rollouts: dict[str, str] = {}
        self._tasks: dict[str, str] = {}
        self._latest: datetime | None = None
        self._ecs()  # the baseline

    def poll(self) -> tuple[list[tuple[datetime, str]], dict[str, Any] | None]:
        """New (time, line) pairs, and the execution's description once it ended (else None)."""
        assert self.execution_arn is not None
        described = self.clients.stepfunctions.describe_execution(executionArn=self.execution_arn)
        lines = sorted(self._states() + self._ecs(), key=lambda item: item[0])
        if lines:
            # A time ECS does not give (a task stopping) is never shown before what was shown already.
            floor = self._latest or lines[0][0]
            lines = [(max(at, floor), text) for at, text in lines]
            self._latest = lines[-1][0]
        return lines, (described if described["status"] != "RUNNING" else None)

    def _states(self) -> list[tuple[datetime, str]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self.execution_arn, "maxResults": 1000}
        while True:
            page = self.clients.stepfunctions.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        found = []
        for event in events[self._history_seen :]:
            if event["type"].endswith("StateEntered"):
                name = event["stateEnteredEventDetails"]["name"]
                self.states.append(name)
                found.append((event["timestamp"], f"▸ {name}"))
            elif event["type"] in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut"):
                details: dict[str, Any] = next(
                    (v for k, v in event.items() if k.endswith("EventDetails")), {}
                )
                found.append(
                    (event["timestamp"], f"    ! {details.get('error')}: {_first_line(details.get('cause'))}")
                )
        self._history_seen = len(events)
        return found

    def _ecs(self) -> list[tuple[datetime, str]]:
        ecs, ref = self.clients.ecs, self.ref
        found: list[tuple[datetime, str]] = []
        service = service_of(ref, self.clients)
        if service is None:
            return found
        for event in service.get("events", []):
            if event["id"] not in self._service_events:
                self._service_events.add(event["id"])
                found.append((event["createdAt"], f"    · {event['message']}"))
        for deployment in service.get("deployments", []):
            state = str(deployment.get("rolloutState") or "")
            if self._rollouts.get(deployment["id"]) == state:
                continue
            self._rollouts[deployment["id"]] = state
            reason = f": {deployment['rolloutStateReason']}" if deployment.get("rolloutStateReason") else ""
            found.append(
                (
                    deployment.get("updatedAt") or deployment["createdAt"],
                    f"    · deployment {deployment['id']} {state} ({_short(deployment.get('taskDefinition'))}){reason}",
                )
            )
        arns: list[str] = []
        for status in ("RUNNING", "STOPPED"):
            arns += ecs.list_tasks(cluster=ref.cluster, serviceName=ref.service, desiredStatus=status).get(
                "taskArns", []
            )
        tasks = ecs.describe_tasks(cluster=ref.cluster, tasks=arns[:100]).get("tasks", []) if arns else []
        for task in tasks:
            task_id, status = str(task["taskArn"]).rsplit("/", 1)[-1], str(task.get("lastStatus"))
            if self._tasks.get(task_id) == status:
                continue
            self._tasks[task_id] = status
            why = (
                f" ({task.get('stoppedReason')})" if status == "STOPPED" and task.get("stoppedReason") else ""
            )
            found.append(
                (
                    _task_time(task, status),
                    f"    · task {task_id} {status} ({_short(task.get('taskDefinitionArn'))}){why}",
                )
            )
        return found


def _task_time(task: Mapping[str, object], status: str) -> datetime:
    """When a task reached `status`, from the timestamps DescribeTasks gives."""
    fields = {
        "STOPPED": ("stoppedAt", "stoppingAt"),
        "RUNNING": ("startedAt", "pullStoppedAt"),
        "DEACTIVATING": ("stoppingAt", "executionStoppedAt"),
        "STOPPING": ("stoppingAt", "executionStoppedAt"),
        "DEPROVISIONING": ("executionStoppedAt", "stoppingAt"),
    }.get(status, ("createdAt",))
    for name in (*fields, "createdAt"):
        value = task.get(name)
        if isinstance(value, datetime):
            return value
    return datetime.min.replace(tzinfo=UTC)


def follow(
    follower: Follower,
    execution_arn: str,
    *,
    version_id: str | None,
    emit: Callable[[str], None],
    poll_seconds: float,
    timeout: float | None,
    stopping: threading.Event,
) -> Followed:
    """Follow `execution_arn` until it ends, `timeout` runs out or `stopping` is set (Ctrl-C)."""
    follower.execution_arn = execution_arn
    deadline = time.monotonic() + timeout if timeout is not None else None
    name = execution_arn.rsplit(":", 1)[-1]
    while True:
        lines, ended = follower.poll()
        for at, text in lines:
            emit(f"  {_clock(at)}  {text}")
        if ended is not None:
            return _ended(follower.clients, follower.ref, ended, follower.states, version_id)
        if stopping.is_set() or (deadline is not None and time.monotonic() >= deadline):
            return Followed(
                execution_arn=execution_arn,
                execution=name,
                version_id=version_id,
                status="RUNNING",
                states=follower.states,
                exit_code=exit_codes.INTERRUPTED if stopping.is_set() else exit_codes.TIMED_OUT,
            )
        stopping.wait(poll_seconds)


def _ended(
    clients: Clients, ref: StackRef, described: dict[str, Any], states: list[str], version_id: str | None
) -> Followed:
    code = exit_codes.of_execution(
        described["status"], described.get("error"), states[-1] if states else None
    )
    last_good = RecordStore(dynamodb=clients.dynamodb, table=ref.table, service=ref.service).last_good()
    if (
        code == exit_codes.SUCCEEDED
        and version_id
        and (last_good is None or last_good.version_id != version_id)
    ):
        code = exit_codes.FAILED  # never 0 unless the records say the asked version is the running one
    service = service_of(ref, clients)
    return Followed(
        execution_arn=described["executionArn"],
        execution=described["name"],
        version_id=version_id,
        status=described["status"],
        error=described.get("error"),
        cause=described.get("cause"),
        states=states,
        task_definition=service.get("taskDefinition") if service else None,
        running_version_id=last_good.version_id if last_good else None,
        exit_code=code,
    )


def find_execution(
    clients: Clients, state_machine_arn: str, version_id: str, *, timeout: float, poll_seconds: float
) -> str:
    """The execution the upload of `version_id` started: the newest whose input names it."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while True:
        listed = clients.stepfunctions.list_executions(stateMachineArn=state_machine_arn, maxResults=25)
        for item in sorted(listed.get("executions", []), key=lambda e: e["startDate"], reverse=True):
            if item["executionArn"] in seen:
                continue
            seen.add(item["executionArn"])
            described = clients.stepfunctions.describe_execution(executionArn=item["executionArn"])
            try:
                request = json.loads(described.get("input") or "{}")
            except json.JSONDecodeError:
                continue
            if isinstance(request, dict) and request.get("version_id") == version_id:
                return str(item["executionArn"])
        if time.monotonic() >= deadline:
            raise StatusError(
                f"no execution started for version {version_id} within {timeout:.0f} s: "
                "is the stack's EventBridge rule enabled? (cpctl status)"
            )
        time.sleep(poll_seconds)


# ---------------------------------------------------------------------------------- commands
def run_deploy(
    args: argparse.Namespace, out: TextIO | None = None, stopping: threading.Event | None = None
) -> int:
    stream = out or sys.stdout
    try:
        data = args.file.read_bytes()
    except OSError as error:
        print(f"cpctl deploy: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return exit_codes.USAGE

    def body(ref: StackRef, clients: Clients) -> int:
        target = target_of(ref, clients)
        result = validate_config(data, context=target.context, filename=str(args.file))
        if not result.valid:
            if wants_json(args):
                stream.write(
                    json.dumps(
                        {
                            "outcome": "rejected",
                            "exit_code": exit_codes.REJECTED,
                            "validation": dump(result),
                        },
                        indent=2,
                    )
                    + "\n"
                )
            else:
                for line in result.format_lines():
                    write(stream, line)
                write(stream, f"{paint(stream, 'Rejected', RED)}: {result.verdict()}; nothing was uploaded")
            return exit_codes.REJECTED
        text = not wants_json(args)
        if text:
            for line in result.format_lines():  # warnings: the workflow records them too
                write(stream, line)
        follower = Follower(clients, ref) if not args.no_wait else None
        uploaded = clients.s3.put_object(Bucket=target.bucket, Key=target.key, Body=data)
        version_id = str(uploaded.get("VersionId") or "")
        if text:
            write(stream, f"Uploaded {args.file} to s3://{target.bucket}/{target.key}, version {version_id}")
        if follower is None:
            if not text:
                stream.write(
                    json.dumps({"version_id": version_id, "outcome": "uploaded", "exit_code": 0}) + "\n"
                )
            return exit_codes.SUCCEEDED
        arn = find_execution(
            clients,
            target.state_machine_arn,
            version_id,
            timeout=DEFAULT_START_TIMEOUT,
            poll_seconds=min(args.poll_seconds, 1.0),
        )
        return _follow_and_report(args, stream, follower, arn, version_id, stopping)

    return with_stack(args, "deploy", body)


def run_rollback(
    args: argparse.Namespace, out: TextIO | None = None, stopping: threading.Event | None = None
) -> int:
    stream = out or sys.stdout

    def body(ref: StackRef, clients: Clients) -> int:
        target = target_of(ref, clients)
        store = RecordStore(dynamodb=clients.dynamodb, table=ref.table, service=ref.service)
        if args.previous:
            version_id = previous_version(store)
        elif args.to:
            version_id = args.to
            try:
                clients.s3.head_object(Bucket=target.bucket, Key=target.key, VersionId=version_id)
            except ClientError:
                raise StatusError(
                    f"s3://{target.bucket}/{target.key} has no version {version_id} (cpctl rollback lists them)"
                ) from None
        else:
            found = candidates(clients, store, target, limit=args.limit)
            if wants_json(args):
                stream.write(json.dumps({"candidates": found}, indent=2) + "\n")
            else:
                write(stream, format_candidates(found, target))
            print("cpctl rollback: pass --to VERSION or --previous", file=sys.stderr)
            return exit_codes.USAGE
        reason = args.reason or f"roll back to config version {version_id} with cpctl"
        return _start_and_follow(
            args,
            stream,
            clients,
            ref,
            target,
            {"version_id": version_id, "reason": reason},
            "rollback",
            stopping,
        )

    return with_stack(args, "rollback", body)


def run_redeploy(
    args: argparse.Namespace, out: TextIO | None = None, stopping: threading.Event | None = None
) -> int:
    stream = out or sys.stdout

    def body(ref: StackRef, clients: Clients) -> int:
        target = target_of(ref, clients)
        return _start_and_follow(
            args, stream, clients, ref, target, {"reason": args.reason}, "redeploy", stopping
        )

    return with_stack(args, "redeploy", body)


def _start_and_follow(
    args: argparse.Namespace,
    stream: TextIO,
    clients: Clients,
    ref: StackRef,
    target: Target,
    request: dict[str, str],
    verb: str,
    stopping: threading.Event | None,
) -> int:
    follower = Follower(clients, ref)
    # Execution names: up to 80 of letters, digits, - and _ (StartExecution, Step Functions API Reference).
    name = f"cpctl-{verb}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    arn = str(
        clients.stepfunctions.start_execution(
            stateMachineArn=target.state_machine_arn, name=name, input=json.dumps(request)
        )["executionArn"]
    )
    if not wants_json(args):
        write(stream, f"Started {name} ({json.dumps(request)})")
    if args.no_wait:
        if wants_json(args):
            stream.write(json.dumps({"execution_arn": arn, "outcome": "started", "exit_code": 0}) + "\n")
        return exit_codes.SUCCEEDED
    return _follow_and_report(args, stream, follower, arn, request.get("version_id"), stopping)


def _follow_and_report(
    args: argparse.Namespace,
    stream: TextIO,
    follower: Follower,
    arn: str,
    version_id: str | None,
    stopping: threading.Event | None,
) -> int:
    text = not wants_json(args)
    stop = stopping or threading.Event()
    if text:
        write(stream, f"Following {arn.rsplit(':', 1)[-1]} (Ctrl-C stops following, not the deployment)")
    try:
        followed = follow(
            follower,
            arn,
            version_id=version_id,
            emit=(lambda line: write(stream, _painted(stream, line))) if text else (lambda _line: None),
            poll_seconds=args.poll_seconds,
            timeout=args.timeout,
            stopping=stop,
        )
    except KeyboardInterrupt:
        followed = Followed(
            execution_arn=arn,
            execution=arn.rsplit(":", 1)[-1],
            version_id=version_id,
            status="RUNNING",
            exit_code=exit_codes.INTERRUPTED,
        )
    if text:
        write(stream, format_followed(stream, followed))
    else:
        stream.write(json.dumps(followed.as_json(), indent=2) + "\n")
    return followed.exit_code


# ---------------------------------------------------------------------------------- rollback targets
def previous_version(store: RecordStore) -> str:
    """The newest version that succeeded and is not the one running now."""
    last_good = store.last_good()
    running = last_good.version_id if last_good else None
    for record in store.deployments(limit=50):
        if record.outcome == "succeeded" and record.version_id and record.version_id != running:
            return record.version_id
    raise StatusError("no earlier version succeeded: pass --to VERSION (cpctl rollback lists them)")


def candidates(clients: Clients, store: RecordStore, target: Target, *, limit: int) -> list[dict[str, Any]]:
    """The config object's versions, newest first, with their sha256 and outcome where recorded."""
    last_good = store.last_good()
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Bucket": target.bucket, "Prefix": target.key}
    while len(found) < limit:
        page = clients.s3.list_object_versions(**kwargs)
        for version in page.get("Versions", []):
            if version["Key"] != target.key or len(found) >= limit:
                continue
            record = store.version(version["VersionId"]) or {}
            found.append(
                {
                    "version_id": version["VersionId"],
                    "uploaded_at": version["LastModified"].astimezone(UTC).isoformat(timespec="seconds"),
                    "size": version.get("Size"),
                    "sha256": record.get("sha256"),
                    "outcome": record.get("status"),
                    "running": bool(last_good and last_good.version_id == version["VersionId"]),
                    "newest": bool(version.get("IsLatest")),
                }
            )
        if not page.get("IsTruncated"):
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    return found


def format_candidates(found: list[dict[str, Any]], target: Target) -> str:
    if not found:
        return f"s3://{target.bucket}/{target.key} has no version yet."
    lines = [
        f"Versions of s3://{target.bucket}/{target.key}, newest first:",
        f"{'UPLOADED (UTC)':<20} {'VERSION':<38} {'SHA256':<13} OUTCOME",
    ]
    for item in found:
        marks = [mark for mark, on in (("running", item["running"]), ("newest", item["newest"])) if on]
        outcome = (item["outcome"] or "-") + (f" ({', '.join(marks)})" if marks else "")
        sha = (item["sha256"] or "-")[:12]
        lines.append(
            f"{item['uploaded_at'][:19].replace('T', ' '):<20} {item['version_id']:<38} {sha:<13} {outcome}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- text
def format_followed(stream: TextIO, followed: Followed) -> str:
    code = followed.exit_code
    if code == exit_codes.SUCCEEDED:
        head = (
            paint(stream, "Succeeded", GREEN)
            + f": up on {_short(followed.task_definition)}, config version {followed.running_version_id}"
        )
    elif code == exit_codes.INTERRUPTED:
        head = f"Stopped following; {followed.execution} goes on (cpctl status shows it)"
    elif code == exit_codes.TIMED_OUT and followed.status == "RUNNING":
        head = (
            paint(stream, "Timed out", YELLOW)
            + f" following; {followed.execution} still runs (cpctl status shows it)"
        )
    else:
        what = OUTCOMES[code].replace("_", " ")
        head = (
            paint(stream, what[0].upper() + what[1:], RED) + f": {followed.execution} ended {followed.status}"
        )
        if followed.error:
            head += f" ({followed.error})"
    rows = [head]
    if followed.cause and code != exit_codes.SUCCEEDED:
        rows.append(f"  Cause            {_first_line(followed.cause)}")
    if code not in (exit_codes.SUCCEEDED, exit_codes.INTERRUPTED) and followed.status != "RUNNING":
        rows.append(
            f"  Running now      {_short(followed.task_definition)}, config version {followed.running_version_id}"
        )
    return "\n".join(rows)


def _painted(stream: TextIO, line: str) -> str:
    if "▸ " in line:
        before, state = line.split("▸ ", 1)
        return f"{before}▸ {paint(stream, state, BOLD)}"
    return line


def _clock(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M:%S")


def _short(arn: str | None) -> str:
    return str(arn).rsplit("/", 1)[-1] if arn else "(none)"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""
