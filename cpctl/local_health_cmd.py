"""`cpctl local health-check [--fault NAME] [--json]`: the health checks and self-heal on a fresh twin.

The twin deploys the built-in config, runs one healthy check, injects the fault, then runs the
check on its schedule (simulated time) until the heal has completed or `--max-runs` runs are done.
It prints the first run after the fault (`healthy`, `checks`), every heal action with its outcome,
and the state at the end (`after`); the exit status is 0 when the control plane ends healthy.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from cpctl.terminal import add_output_argument, wants_json
from cpctl.twin import faults
from cpctl.twin.health_scenario import DEFAULT_MAX_RUNS, ScenarioResult, run_scenario
from cpctl.twin.twin import TwinError


def register_local(local_subparsers: Any) -> None:
    parser = local_subparsers.add_parser(
        "health-check",
        help="run the scheduled health checks (and self-heal) on a fresh twin, with a fault if asked",
    )
    parser.add_argument(
        "--fault", choices=faults.names("health"), metavar="NAME", help=faults.help_text("health")
    )
    add_output_argument(parser)
    parser.add_argument(
        "--max-runs",
        type=int,
        default=DEFAULT_MAX_RUNS,
        help=f"scheduled runs after the fault at most (default {DEFAULT_MAX_RUNS})",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="wall seconds for the whole scenario")
    parser.set_defaults(handler=run_health_check)


def run_health_check(args: argparse.Namespace) -> int:
    out = sys.stdout
    progress = None if wants_json(args) else (lambda text: _line(out, text))
    try:
        result = run_scenario(
            args.fault, max_runs=args.max_runs, wall_timeout=args.timeout, progress=progress
        )
    except TwinError as error:
        print(f"cpctl local health-check: {error}", file=sys.stderr)
        return 1
    data = result.as_json()
    if wants_json(args):
        out.write(json.dumps(data, indent=2) + "\n")
    else:
        _summary(out, result, data)
    return 0 if data["after"]["healthy"] else 1


def _line(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _summary(out: TextIO, result: ScenarioResult, data: dict[str, Any]) -> None:
    _line(out, "")
    verdict = "healthy" if data["healthy"] else "UNHEALTHY"
    _line(out, f"First run after the fault: {verdict}")
    for name, check in data["checks"].items():
        _line(out, f"  {name:<10} {check['status']:<8} {check['detail']}")
    _line(out, "Actions:" if data["actions"] else "Actions: none")
    for action in data["actions"]:
        _line(
            out, f"  {action['at']}  {action['action']} -> {action['outcome']}  ({action['execution_name']})"
        )
    alarms = ", ".join(f"{item['state']} at +{item['minute']} min" for item in data["alarm"]) or "no change"
    _line(out, f"Alarm: {alarms}; {data['pages']} ALARM notification(s)")
    for failure in data["failed_alarm_actions"]:
        _line(out, f"  not delivered: {failure}")
    after = data["after"]
    _line(
        out,
        f"After {after['minutes_after_fault']} simulated min: {'healthy' if after['healthy'] else 'UNHEALTHY'} "
        f"({result.wall_seconds:.1f} s wall)",
    )
