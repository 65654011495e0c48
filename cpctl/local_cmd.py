"""`cpctl local demo|up|deploy`: the whole pipeline on the local twin (no AWS, no Docker).

- `demo` (what `make local` runs): a fresh twin deploys the built-in initial config, then a changed
  one (a new location), showing each state of the workflow as it runs, then a summary.
- `up`: the twin as a server on 127.0.0.1 for the `aws` CLI or boto3 (`--endpoint-url`), until Ctrl-C;
  the health check runs on its schedule, one run every `--schedule-every` wall seconds.
- `deploy FILE`: on a fresh twin, deploy the initial config, then FILE (with faults if asked); the
  result of FILE's execution, as text or `--json`.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cpctl import exit_codes
from cpctl.local_health_cmd import register_local
from cpctl.terminal import add_output_argument, wants_json
from cpctl.twin import faults
from cpctl.twin.deployments import DEFAULT_WALL_TIMEOUT, DeployResult, deploy_file, deploy_initial, outcome_of
from cpctl.twin.twin import (
    LocalTwin,
    TwinError,
    TwinOptions,
    builtin_config,
)

if TYPE_CHECKING:  # imported when `local up` runs a schedule: every other command stays lighter
    from cpctl.twin.health_scenario import HealthWatch

# `cpctl local up`: wall seconds between two scheduled runs (each one schedule period of simulated time).
DEFAULT_SCHEDULE_EVERY = 30.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "local", help="run the pipeline on the local twin (embedded AWS, simulated Fargate, fake Gatling)"
    )
    commands = parser.add_subparsers(dest="local_command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", help="deploy the initial config, then a changed one, live (make local)"
    )
    demo.add_argument(
        "--timeout", type=float, default=DEFAULT_WALL_TIMEOUT, help="wall seconds per deployment"
    )
    demo.set_defaults(handler=run_demo)

    up = commands.add_parser("up", help="serve the twin on 127.0.0.1 for the aws CLI or boto3, until Ctrl-C")
    up.add_argument("--port", type=int, default=5000, help="port of the AWS endpoint (0: any free port)")
    up.add_argument(
        "--no-initial", action="store_true", help="do not deploy the built-in initial config first"
    )
    up.add_argument(
        "--schedule-every",
        type=float,
        default=DEFAULT_SCHEDULE_EVERY,
        metavar="SECONDS",
        help="wall seconds between scheduled runs of the health check; each moves simulated time on "
        f"by the schedule's rate (default {DEFAULT_SCHEDULE_EVERY:.0f}; 0: never)",
    )
    _add_deploy_faults(up, " (each config version uploaded while the twin is up meets every fault given)")
    up.set_defaults(handler=run_up)

    deploy = commands.add_parser("deploy", help="on a fresh twin, deploy the initial config, then FILE")
    deploy.add_argument("file", type=Path, metavar="FILE", help="the control-plane.conf to deploy")
    _add_deploy_faults(deploy)
    add_output_argument(deploy)
    deploy.add_argument(
        "--timeout", type=float, default=DEFAULT_WALL_TIMEOUT, help="wall seconds per deployment"
    )
    deploy.set_defaults(handler=run_deploy)

    register_local(commands)  # `cpctl local health-check` (cpctl/local_health_cmd.py)


def _add_deploy_faults(parser: argparse.ArgumentParser, applies: str = "") -> None:
    """`--fault NAME` (repeatable), its choices and help read from cpctl/twin/faults.py."""
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=faults.names("deploy"),
        metavar="NAME",
        help=faults.help_text("deploy", repeatable=True) + applies,
    )


# ---------------------------------------------------------------------------------- commands
def run_demo(args: argparse.Namespace) -> int:
    out = sys.stdout
    wall_start = time.monotonic()
    _line(out, "Starting the local twin (embedded AWS, simulated Fargate, fake Gatling Cloud) ...")
    with LocalTwin() as twin:
        _line(
            out,
            f"  ready in {twin.startup_seconds:.1f} s: stack {twin.stack.name if twin.stack else ''}, "
            f"{len(twin.functions())} Lambdas from template.yaml",
        )
        _line(out, f"  bucket         s3://{twin.bucket}/{twin.config_key}")
        _line(out, f"  state machine  {twin.state_machine_arn}")
        _line(out, "")
        _line(out, "1. Deploying the initial config (cpctl/twin/configs/initial.conf) ...")
        initial = deploy_initial(twin, wall_timeout=args.timeout)
        _line(
            out,
            f"   {initial.report.status} in {initial.report.simulated_seconds:.0f} simulated s "
            f"({initial.report.wall_seconds:.1f} s wall): {_short(initial.service.task_definition)}, "
            f"locations {', '.join(initial.registered_locations)}",
        )
        _line(out, "")
        _line(out, "2. Uploading a changed config (a new location): the workflow, live")
        _line(out, f"  {'simulated':<10}  {'wall':>7}   (simulated: time since the twin started)")
        result = deploy_file(
            twin,
            builtin_config("changed"),
            wall_timeout=args.timeout,
            on_start=lambda arn: twin.watch(arn, lambda text: _line(out, text)),
        )
        _line(out, "")
        print_summary(out, result, total_wall=time.monotonic() - wall_start)
    return 0 if result.report.status == "SUCCEEDED" else 1


def run_deploy(args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as error:
        print(f"cpctl local deploy: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    out = sys.stdout
    try:
        with LocalTwin() as twin:
            if not wants_json(args):
                _line(out, f"Twin ready in {twin.startup_seconds:.1f} s; deploying the initial config ...")
            deploy_initial(twin, wall_timeout=args.timeout)
            if not wants_json(args):
                faults = f" with fault(s) {', '.join(args.fault)}" if args.fault else ""
                _line(out, f"Deploying {args.file}{faults} ...")
            result = deploy_file(twin, data, faults=tuple(args.fault), wall_timeout=args.timeout)
    except TwinError as error:
        print(f"cpctl local deploy: {error}", file=sys.stderr)
        return exit_codes.TIMED_OUT if "still RUNNING after" in str(error) else exit_codes.FAILED
    if wants_json(args):
        out.write(json.dumps(result.as_json(), indent=2) + "\n")
    else:
        print_summary(out, result, total_wall=None)
    # The codes of `cpctl deploy`: 0 only when FILE's version is the one up.
    report = result.report
    return exit_codes.of_execution(
        report.status, report.error, report.states[-1].name if report.states else None
    )


def run_up(args: argparse.Namespace) -> int:
    if args.schedule_every < 0:
        print("cpctl local up: --schedule-every must be 0 or more seconds", file=sys.stderr)
        return 2
    problem = port_problem(args.port)
    if problem:
        print(f"cpctl local up: {problem}", file=sys.stderr)
        return 2
    out = sys.stdout
    stopping = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    try:
        # Ctrl-C while the twin starts raises KeyboardInterrupt: the twin stops, cpctl exits 130.
        with LocalTwin(TwinOptions(serve_port=args.port)) as twin:
            if not args.no_initial:
                deploy_initial(twin)
            twin.arm_every_upload(tuple(args.fault))
            # Serving, Ctrl-C only asks to stop: a health run in progress ends first, then the twin.
            signal.signal(signal.SIGINT, lambda *_: stopping.set())
            endpoint = twin.endpoint_url
            _line(out, f"Local twin up in {twin.startup_seconds:.1f} s (Ctrl-C stops it)")
            _line(out, f"  endpoint       {endpoint}   (region {twin.region}, any access key)")
            _line(out, f"  bucket         s3://{twin.bucket}/{twin.config_key}")
            _line(out, f"  state machine  {twin.state_machine_arn}")
            _line(out, f"  fake Gatling   {twin.gatling.url}")
            if args.fault:
                _line(
                    out, f"  faults         {', '.join(args.fault)} (armed for every config version uploaded)"
                )
            _line(out, "")
            _line(out, "Deploy a config by hand:")
            _line(
                out,
                f"  AWS_ACCESS_KEY_ID=twin AWS_SECRET_ACCESS_KEY=twin aws --endpoint-url {endpoint} "
                f"--region {twin.region} s3 cp control-plane.conf s3://{twin.bucket}/{twin.config_key}",
            )
            _line(
                out,
                f"  aws --endpoint-url {endpoint} stepfunctions list-executions --state-machine-arn {twin.state_machine_arn}",
            )
            _line(out, f"  cpctl status --endpoint-url {endpoint} --region {twin.region}")
            _line(out, "")
            serve(twin, out, stopping, schedule_every=args.schedule_every)
            _line(out, "Stopping the local twin ...")
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def port_problem(port: int) -> str | None:
    """Why `cpctl local up` cannot serve on 127.0.0.1:`port`, found before the twin starts; None if it can."""
    if port == 0:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will (http.server)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return f"cannot listen on 127.0.0.1:{port} ({error.strerror}): pass another --port, or --port 0 for any free one"
    return None


def serve(twin: LocalTwin, out: TextIO, stopping: threading.Event, *, schedule_every: float) -> None:
    """`cpctl local up` once the twin is up: run the schedules and show every execution, until
    `stopping` is set (a run in progress finishes first)."""
    schedule = Schedule.attach(twin, out, every=schedule_every) if schedule_every > 0 else None
    try:
        _follow_executions(twin, out, stopping, schedule)
    finally:
        if schedule is not None:
            schedule.close()


class Schedule:
    """The template's scheduled rule (the health check) while `cpctl local up` is idle.

    Simulated time only moves while something waits on it, so an idle twin would never reach the
    next run. Instead, every `every` wall seconds with no execution running, simulated time moves to
    the schedule's next run (`HealthCheckRate`, 5 minutes by default) and the run happens: the
    rule's event to the health check Lambda, then CloudWatch's part (metrics, the alarm). The first
    run is at once. While an execution runs the schedule waits: the execution moves time itself.
    """

    def __init__(self, watch: HealthWatch, out: TextIO, *, every: float) -> None:
        self.watch = watch
        self.out = out
        self.every = every
        self.runs = 0
        self._due = time.monotonic()

    @classmethod
    def attach(cls, twin: LocalTwin, out: TextIO, *, every: float) -> Schedule | None:
        from cpctl.twin.health_scenario import HealthWatch

        watch = HealthWatch.attach(twin)
        if not watch.enabled:
            watch.close()
            _line(out, "The health check's schedule is disabled (HealthCheckEnabled=false).")
            return None
        _line(
            out,
            f"Health check {watch.rule['ScheduleExpression']}: one run every {every:g} s of wall time, "
            "simulated time moving on to it",
        )
        return cls(watch, out, every=every)

    def close(self) -> None:
        self.watch.close()

    def fire_if_due(self, *, idle: bool) -> bool:
        """One run when it is due and no execution runs; whether it ran."""
        if not idle or time.monotonic() < self._due:
            return False
        if self.runs:
            self.watch.advance_to_next_run()
        seen = len(self.watch.alarms.transitions)
        run = self.watch.run_check()
        self.runs += 1
        self._due = time.monotonic() + self.every
        at = datetime.fromtimestamp(run.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        verdict = "healthy" if run.healthy else f"UNHEALTHY ({', '.join(run.failed) or run.error})"
        heal = (run.result.get("heal") or {}).get("decision")
        _line(self.out, f"Health check at {at} (simulated): {verdict}" + (f"; heal {heal}" if heal else ""))
        for change in self.watch.alarms.transitions[seen:]:
            notified = f"; notified {', '.join(change.notified)}" if change.notified else ""
            _line(self.out, f"Alarm {change.alarm}: {change.old} -> {change.new}{notified}")
            for refused in change.failed:
                _line(self.out, f"  not delivered: {refused.history}")
        return True


def _follow_executions(
    twin: LocalTwin, out: TextIO, stopping: threading.Event, schedule: Schedule | None = None
) -> None:
    """Show every execution started while the twin is up, live, and run `schedule` when it is due
    and no execution runs, until `stopping` is set."""
    # One still running at the first look started as the twin came up: it is shown too.
    seen = {item["executionArn"] for item in twin.executions() if item["status"] != "RUNNING"}
    watches: dict[str, Callable[[], None]] = {}
    while not stopping.wait(0.2):
        running = False
        for item in twin.executions():
            arn = item["executionArn"]
            running = running or item["status"] == "RUNNING"
            if arn not in seen:
                seen.add(arn)
                _line(out, f"Execution {item['name']} started")
                watches[arn] = twin.watch(arn, lambda text: _line(out, text))
            if arn in watches and item["status"] != "RUNNING":
                watches.pop(arn)()
                report = twin.report(arn)
                _line(
                    out,
                    f"Execution {report.name} {report.status}"
                    + (f": {report.error}: {report.cause}" if report.error else ""),
                )
        if schedule is not None and not stopping.is_set():
            schedule.fire_if_due(idle=not running)
    for stop in watches.values():
        stop()


# ---------------------------------------------------------------------------------- output
_lock = threading.Lock()


def _line(out: TextIO, text: str) -> None:
    with _lock:
        out.write(text + "\n")
        out.flush()


def _short(task_definition: str) -> str:
    return task_definition.rsplit("/", 1)[-1]


def print_summary(out: TextIO, result: DeployResult, *, total_wall: float | None) -> None:
    report, service = result.report, result.service
    outcome = report.status + (f" ({report.error})" if report.error else "")
    rows = [
        ("Outcome", outcome),
        ("Rolled back", "yes" if result.rolled_back else "no"),
        ("Revision", _short(service.task_definition)),
        ("Config version", f"{service.config_version_id} (sha256 {str(service.config_sha256)[:12]}...)"),
        ("Locations", ", ".join(result.registered_locations) or "(none)"),
        ("State transitions", str(report.transitions)),
        ("Time", f"{report.simulated_seconds:.1f} s simulated, {report.wall_seconds:.2f} s wall"),
    ]
    if report.cause:
        rows.insert(1, ("Cause", report.cause))
    for other in result.also_started:
        # The same upload's event delivered again: what that execution decided (docs/workflow.md, "Admission").
        ended = outcome_of(other) or other.status
        cause = f": {other.cause}" if other.cause else ""
        rows.append(("Also started", f"{other.name}, {ended}{cause}"))
    if total_wall is not None:
        rows.append(("Whole demo", f"{total_wall:.1f} s wall"))
    for label, value in rows:
        _line(out, f"{label:<18} {value}")
