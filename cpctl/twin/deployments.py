"""Deploying a config on a running `LocalTwin` and what that deployment did: the scenario helpers the
CLI's `local` commands, the health scenarios, the tests and the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cpctl.twin.twin import ExecutionReport, LocalTwin, ServiceSnapshot, TwinError, builtin_config

DEFAULT_WALL_TIMEOUT = 120.0


@dataclass
class DeployResult:
    """What `cpctl local deploy` reports, all of it about the execution FILE started."""

    report: ExecutionReport
    service: ServiceSnapshot
    version_id: str
    registered_locations: list[str]
    revisions_registered: int
    rolled_back: bool
    # Executions the same upload started too (a redelivered or late event): how each one ended.
    also_started: list[ExecutionReport] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.report.status,
            "error": self.report.error,
            "cause": self.report.cause,
            "rolled_back": self.rolled_back,
            "transitions": self.report.transitions,
            "simulated_seconds": round(self.report.simulated_seconds, 3),
            "wall_seconds": round(self.report.wall_seconds, 3),
            "execution_arn": self.report.arn,
            "service": {
                "task_definition": self.service.task_definition,
                "config_version_id": self.service.config_version_id,
                "config_sha256": self.service.config_sha256,
            },
            "registered_locations": self.registered_locations,
            "revisions_registered": self.revisions_registered,
            "also_started": [
                {"execution_arn": other.arn, "status": other.status, "outcome": outcome_of(other)}
                for other in self.also_started
            ],
        }


def outcome_of(report: ExecutionReport) -> str | None:
    """How the execution ended in the workflow's words: Record outcome's outcome (`succeeded`,
    `rolled_back`...), or an admission that deployed nothing (`duplicate: ...`, `stale: ...`)."""
    output = report.output if isinstance(report.output, dict) else {}
    result, admission = output.get("result"), output.get("admission")
    if isinstance(result, dict) and "outcome" in result:
        return str(result["outcome"])
    if isinstance(admission, dict) and admission.get("decision") not in (None, "admitted"):
        return f"{admission['decision']}: {admission.get('detail', '')}".rstrip(": ")
    return None


def deploy_file(
    twin: LocalTwin,
    data: bytes,
    *,
    faults: tuple[str, ...] = (),
    wall_timeout: float = DEFAULT_WALL_TIMEOUT,
    on_start: Callable[[str], Callable[[], None]] | None = None,
) -> DeployResult:
    """Upload `data` as the config, wait for the execution it starts; the result of that execution.

    When the upload's event reaches the workflow more than once (fault `events-duplicated`, a late
    event), the executions it also started are waited for too, and reported in `also_started`."""
    deadline = time.monotonic() + wall_timeout  # one wall-time budget for all the waits below
    before = {item["executionArn"] for item in twin.executions()}
    version_id = twin.upload_config(data, faults=faults)
    arn = twin.execution_for_version(version_id)
    stop_watch = on_start(arn) if on_start is not None else None
    try:
        report = twin.wait_for_execution(arn, wall_timeout=wall_timeout)
    finally:
        if stop_watch is not None:
            stop_watch()
    assert twin.eventbridge is not None
    if twin.eventbridge.pending() or any(item["status"] == "RUNNING" for item in twin.executions()):
        twin.wait_until_idle(wall_timeout=max(deadline - time.monotonic(), 1.0))
    others = [
        item["executionArn"] for item in twin.executions() if item["executionArn"] not in {*before, arn}
    ]
    # The same event again: a redelivery (or a late copy) has the upload's event id.
    event_id = report.input.get("event_id") if isinstance(report.input, dict) else None
    also_started = [
        other
        for other in map(twin.report, others)
        if event_id and isinstance(other.input, dict) and other.input.get("event_id") == event_id
    ]
    revisions = [item for item in twin.revisions() if item["tags"].get("execution") == report.name]
    service = twin.service()
    # The execution's own revision; a rollback's image-pinned copy of the last good one is not it.
    ours = {item["arn"] for item in revisions if "restores-revision" not in item["tags"]}
    return DeployResult(
        report=report,
        service=service,
        version_id=version_id,
        registered_locations=sorted(twin.gatling.location_ids()),
        revisions_registered=len(revisions),
        rolled_back=bool(ours) and service.task_definition not in ours,
        also_started=also_started,
    )


def deploy_initial(twin: LocalTwin, *, wall_timeout: float = DEFAULT_WALL_TIMEOUT) -> DeployResult:
    """Deploy the built-in initial config; `TwinError` unless it succeeds."""
    result = deploy_file(twin, builtin_config("initial"), wall_timeout=wall_timeout)
    if result.report.status != "SUCCEEDED":
        raise TwinError(
            f"the initial deployment ended {result.report.status}: {result.report.error}: {result.report.cause}"
        )
    return result
