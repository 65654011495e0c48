"""`cpctl logs [--follow] [--since 10m] [--task ID]`: the log lines of the control plane and its side-car.

The task is `--task ID`, else the newest task of the service that ECS still knows (running or
stopped in the last hour), else the task of the newest log stream. Its streams are the ones its
task definition's `awslogs` configuration names (`<prefix>/<container>/<task id>` in the
`awslogs-group`), so the same code reads a stack on AWS (`--stack-name`) and the local twin
(`--endpoint-url`), whose simulated Fargate writes the containers' lines to its CloudWatch Logs.

`--since` takes a duration (`30s`, `10m`, `2h`, `1d`) or an ISO 8601 time. A duration counts back
from now; on the twin, whose clock is simulated and stands still between runs, from its newest line.
`--follow` polls for new lines (and, without `--task`, moves on to a newer task when one starts)
until Ctrl-C. Lines are redacted like the workflow's diagnostics: token-shaped words and
`token = ...` values print as `***`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from botocore.exceptions import ClientError
from controlplane.diagnostics import redact
from controlplane.errors import error_code

from cpctl.aws_options import add_stack_arguments
from cpctl.status_cmd import Clients, StackRef, StatusError, service_revision, with_stack
from cpctl.terminal import wants_json

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskTypeDef

DEFAULT_POLL_SECONDS = 2.0
_DURATION = re.compile(r"^(?P<amount>\d+(?:\.\d+)?)(?P<unit>[smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "logs",
        help="the control plane's and side-car's log lines, newest task by default",
        description=(
            "Print the log lines of the control plane and its config-loader side-car, oldest first, from "
            "the log group their task definition names; the newest task unless --task is given."
        ),
    )
    parser.add_argument("--task", metavar="ID", help="the task id (as `cpctl status` prints it)")
    parser.add_argument(
        "--since", metavar="WHEN", help="a duration back from now (10m, 2h, 1d) or an ISO 8601 time"
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    parser.add_argument(
        "--container", action="append", default=[], metavar="NAME", help="only this container (repeatable)"
    )
    parser.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS, help=argparse.SUPPRESS)
    add_stack_arguments(parser)
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class Stream:
    container: str
    group: str
    name: str


@dataclass(frozen=True)
class TaskLogs:
    """Where one task's containers write."""

    task_id: str
    streams: tuple[Stream, ...]


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    container: str
    task_id: str
    message: str
    event_id: str

    def as_json(self) -> dict[str, Any]:
        return {
            "timestamp": _iso(self.timestamp_ms),
            "container": self.container,
            "task_id": self.task_id,
            "message": self.message,
        }

    def text(self, width: int) -> str:
        return f"{_iso(self.timestamp_ms, text=True)}  {self.container:<{width}}  {self.message}"


# ---------------------------------------------------------------------------------- which task, which streams
def task_logs(ref: StackRef, clients: Clients, *, task_id: str | None) -> TaskLogs:
    """The streams of `task_id`, or of the service's newest task."""
    if task_id is not None:
        described = _described(ref, clients, [task_id])
        definition = described[0]["taskDefinitionArn"] if described else _service_definition(ref, clients)
        return _streams(clients, definition, task_id)
    tasks = _described(ref, clients, _service_tasks(ref, clients))
    if tasks:
        newest = max(tasks, key=_started)
        return _streams(clients, newest["taskDefinitionArn"], str(newest["taskArn"]).rsplit("/", 1)[-1])
    # ECS forgets stopped tasks after about an hour; their streams stay in the log group.
    definition = _service_definition(ref, clients)
    candidates = _streams(clients, definition, "")
    newest_stream: tuple[int, str] | None = None
    for stream in candidates.streams:
        found = clients.logs.describe_log_streams(logGroupName=stream.group, logStreamNamePrefix=stream.name)
        for item in found.get("logStreams", []):
            stamp = int(item.get("lastEventTimestamp") or 0)
            if newest_stream is None or stamp > newest_stream[0]:
                newest_stream = (stamp, str(item["logStreamName"]).rsplit("/", 1)[-1])
    if newest_stream is None:
        raise StatusError(f"no task of service {ref.service} has written a log line yet")
    return _streams(clients, definition, newest_stream[1])


def _started(task: TaskTypeDef) -> datetime:
    """When a task started (created, for one that never started); botocore gives aware datetimes."""
    when = task.get("startedAt") or task.get("createdAt")
    return when if isinstance(when, datetime) else datetime.min.replace(tzinfo=UTC)


def _service_tasks(ref: StackRef, clients: Clients) -> list[str]:
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        arns += clients.ecs.list_tasks(
            cluster=ref.cluster, serviceName=ref.service, desiredStatus=status
        ).get("taskArns", [])
    return arns


def _described(ref: StackRef, clients: Clients, tasks: list[str]) -> list[TaskTypeDef]:
    if not tasks:
        return []
    return clients.ecs.describe_tasks(cluster=ref.cluster, tasks=tasks).get("tasks", [])


def _service_definition(ref: StackRef, clients: Clients) -> str:
    return service_revision(ref, clients)


def _streams(clients: Clients, task_definition: str, task_id: str) -> TaskLogs:
    """The awslogs streams of the containers of `task_definition` for task `task_id`."""
    definition = clients.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    streams = []
    for container in definition.get("containerDefinitions", []):
        configuration = container.get("logConfiguration")
        options = configuration.get("options", {}) if configuration else {}
        if not configuration or configuration["logDriver"] != "awslogs" or not options.get("awslogs-group"):
            continue
        prefix = options.get("awslogs-stream-prefix")
        name = f"{prefix}/{container['name']}/{task_id}" if prefix else f"{container['name']}/{task_id}"
        streams.append(Stream(container=container["name"], group=options["awslogs-group"], name=name))
    if not streams:
        raise StatusError(f"no container of {task_definition} logs to CloudWatch Logs (awslogs)")
    return TaskLogs(task_id=task_id, streams=tuple(streams))


# ---------------------------------------------------------------------------------- reading
def read_lines(clients: Clients, logs: TaskLogs, *, since_ms: int | None) -> list[LogLine]:
    """The task's lines at or after `since_ms`, oldest first, redacted."""
    lines: list[LogLine] = []
    for stream in logs.streams:
        for event in _events(clients, stream, since_ms):
            lines.append(
                LogLine(
                    timestamp_ms=int(event["timestamp"]),
                    container=stream.container,
                    task_id=logs.task_id,
                    message=redact(str(event.get("message", "")).rstrip("\n")),
                    event_id=str(event.get("eventId") or f"{stream.name}:{event['timestamp']}:{len(lines)}"),
                )
            )
    lines.sort(key=lambda line: line.timestamp_ms)  # stable: a stream's own order is kept
    return lines


def _events(clients: Clients, stream: Stream, since_ms: int | None) -> Iterator[dict[str, Any]]:
    arguments: dict[str, Any] = {"logGroupName": stream.group, "logStreamNames": [stream.name]}
    if since_ms is not None:
        arguments["startTime"] = since_ms
    while True:
        try:
            page = clients.logs.filter_log_events(**arguments)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return  # the container has not written yet (its stream is created with its first line)
            raise
        yield from page.get("events", [])
        token = page.get("nextToken")
        if not token or not page.get("events"):
            return
        arguments["nextToken"] = token


def since_ms(value: str | None, clients: Clients, logs: TaskLogs, *, twin: bool) -> int | None:
    """`--since` as epoch milliseconds; None for the whole log."""
    if value is None:
        return None
    match = _DURATION.match(value.strip())
    if match is None:
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise StatusError(
                f"--since {value}: expected a duration (30s, 10m, 2h, 1d) or an ISO 8601 time"
            ) from None
        return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() * 1000)
    back_ms = int(float(match["amount"]) * _UNIT_SECONDS[match["unit"]] * 1000)
    return _now_ms(clients, logs, twin=twin) - back_ms


def _now_ms(clients: Clients, logs: TaskLogs, *, twin: bool) -> int:
    if not twin:
        return int(datetime.now(UTC).timestamp() * 1000)
    newest = [line.timestamp_ms for line in read_lines(clients, logs, since_ms=None)]
    return max(newest, default=0)


# ---------------------------------------------------------------------------------- command
def run(args: argparse.Namespace, out: TextIO | None = None, stopping: threading.Event | None = None) -> int:
    stream = out or sys.stdout
    stop = stopping or threading.Event()

    def show(ref: StackRef, clients: Clients) -> int:
        logs = _only(task_logs(ref, clients, task_id=args.task), args.container)
        start = since_ms(args.since, clients, logs, twin=bool(args.endpoint_url))
        printer = Printer(stream, as_json=wants_json(args), follow=args.follow)
        printer.task(logs)
        printer.lines(read_lines(clients, logs, since_ms=start))
        while args.follow and not stop.wait(args.poll_seconds):
            if args.task is None:
                newer = _only(task_logs(ref, clients, task_id=None), args.container)
                if newer.task_id != logs.task_id:
                    logs, start = newer, None
                    printer.task(logs)
            printer.lines(read_lines(clients, logs, since_ms=printer.resume_from(start)))
        return 0

    try:
        return with_stack(args, "logs", show)
    except KeyboardInterrupt:  # Ctrl-C ends --follow; nothing is left half-done
        return 0


def _only(logs: TaskLogs, containers: list[str]) -> TaskLogs:
    if not containers:
        return logs
    streams = tuple(stream for stream in logs.streams if stream.container in containers)
    if not streams:
        known = ", ".join(stream.container for stream in logs.streams)
        raise StatusError(f"no container {', '.join(containers)} in the task (its containers: {known})")
    return TaskLogs(task_id=logs.task_id, streams=streams)


class Printer:
    """Prints each line once, as text or JSON lines, and says which task they come from."""

    def __init__(self, out: TextIO, *, as_json: bool, follow: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.follow = follow
        self.seen: set[str] = set()
        self.newest_ms: int | None = None
        self.width = 0

    def task(self, logs: TaskLogs) -> None:
        self.seen.clear()
        self.newest_ms = None
        self.width = max(len(stream.container) for stream in logs.streams)
        if not self.as_json:
            names = ", ".join(stream.container for stream in logs.streams)
            self._write(f"task {logs.task_id} ({names}; {logs.streams[0].group})")

    def lines(self, lines: list[LogLine]) -> None:
        for line in lines:
            if line.event_id in self.seen:
                continue
            self.seen.add(line.event_id)
            self.newest_ms = max(self.newest_ms or line.timestamp_ms, line.timestamp_ms)
            self._write(json.dumps(line.as_json()) if self.as_json else line.text(self.width))

    def resume_from(self, since: int | None) -> int | None:
        # Lines with the newest timestamp are read again (a second may hold more); `seen` drops them.
        return self.newest_ms if self.newest_ms is not None else since

    def _write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _iso(timestamp_ms: int, *, text: bool = False) -> str:
    when = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S") if text else when.isoformat(timespec="milliseconds")
