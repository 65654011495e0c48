"""Scenario 8: uploads close together never deploy at the same time; the newest one wins.

Two uploads a second apart, then five in a burst. Deployments of one service must never overlap
(two rollouts interleaving confuse every waiter), the newest config must end deployed, and every
version must be recorded with a final status.
"""

from __future__ import annotations

import itertools

from cpctl.twin.twin import ExecutionReport, LocalTwin

from .conftest import WALL_TIMEOUT, config_with_location, sha256, version_record

# Final statuses of a version: deployed, superseded (a newer one came), or failed in some way.
FINAL_STATUSES = {"succeeded", "superseded", "stale", "rejected", "failed", "rolled_back", "rollback_failed"}


def rollout_window(report: ExecutionReport) -> tuple[float, float] | None:
    """Simulated [start, end] of the execution's hold on the service: from its rollout to its record."""
    names = [step.name for step in report.states]
    if "Start rollout" not in names:
        return None
    start = next(step.entered for step in report.states if step.name == "Start rollout")
    end = next(step.entered for step in report.states if step.name == "Record outcome")
    return report.started + start, report.started + end


def assert_never_overlapping(reports: list[ExecutionReport]) -> None:
    windows = sorted(window for window in map(rollout_window, reports) if window is not None)
    assert windows, "nothing was deployed"
    for (_, end), (next_start, _) in itertools.pairwise(windows):
        assert next_start >= end, f"two deployments overlapped: {windows}"


def upload_all(twin: LocalTwin, configs: list[bytes], *, seconds_apart: float) -> list[str]:
    versions = []
    for index, data in enumerate(configs):
        if index and seconds_apart:
            twin.advance(seconds_apart)
        versions.append(twin.upload_config(data))
    return versions


def check_end_state(twin: LocalTwin, configs: list[bytes], versions: list[str]) -> None:
    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT * 2)
    ours = [report for report in reports if report.arn in {twin.execution_for_version(v) for v in versions}]
    assert len(ours) == len(versions)
    assert_never_overlapping(reports)
    service = twin.service()
    assert service.config_version_id == versions[-1], "the newest upload is not the one deployed"
    assert service.config_sha256 == sha256(configs[-1])
    statuses = {version: version_record(twin, version)["status"] for version in versions}
    assert statuses[versions[-1]] == "succeeded", statuses
    assert set(statuses.values()) <= FINAL_STATUSES, statuses


def test_two_uploads_a_second_apart(twin: LocalTwin) -> None:
    configs = [config_with_location("prl_first"), config_with_location("prl_second")]

    versions = upload_all(twin, configs, seconds_apart=1)

    check_end_state(twin, configs, versions)
    assert "prl_second" in twin.gatling.location_ids()


def test_five_uploads_in_a_burst(twin: LocalTwin) -> None:
    configs = [config_with_location(f"prl_burst_{index}") for index in range(5)]

    versions = upload_all(twin, configs, seconds_apart=0)

    check_end_state(twin, configs, versions)
    assert "prl_burst_4" in twin.gatling.location_ids()
