"""Scenario 19: the twin itself delivers events at least once and out of order.

With `events-duplicated` every event a rule delivers reaches its target a second time a simulated
minute later; with `event-late` an upload's event arrives a simulated minute after the next upload's
(cpctl/twin/faults.py). Whatever arrives in whatever order, one upload deploys once, an older upload
never replaces a newer one (deployed or rejected), and every upload ends in a record a person reads.
"""

from __future__ import annotations

import io
from typing import Any

from cpctl.local_cmd import print_summary
from cpctl.twin.eventbridge import REDELIVERY_SECONDS
from cpctl.twin.twin import ExecutionReport, LocalTwin

from .conftest import (
    WALL_TIMEOUT,
    Baseline,
    changed_config,
    config_with_location,
    deploy,
    records_of_kind,
    states_entered,
    version_record,
)

INVALID = b"control-plane { locations = [ { id = BAD } ] }\n"


def executions_of(reports: list[ExecutionReport], version_id: str) -> list[ExecutionReport]:
    """The executions an upload event of `version_id` started, in the order they started."""
    ours = [r for r in reports if isinstance(r.input, dict) and r.input.get("version_id") == version_id]
    return sorted(ours, key=lambda report: report.started)


def admission(report: ExecutionReport) -> dict[str, Any]:
    assert isinstance(report.output, dict), report.output
    decided: dict[str, Any] = report.output["admission"]
    return decided


def revisions_for(twin: LocalTwin, version_id: str) -> list[str]:
    return [r["arn"] for r in twin.revisions() if r["tags"].get("config-version-id") == version_id]


def assert_every_upload_decided(twin: LocalTwin, *version_ids: str) -> None:
    """No upload dropped silently: each has its record, with a status and a decision in words."""
    for version_id in version_ids:
        record = version_record(twin, version_id)
        assert record.get("status") not in (None, "", "queued"), record
        assert str(record.get("decision") or "").strip(), record


def test_a_duplicated_upload_event_deploys_once_and_the_duplicate_says_why(twin: LocalTwin) -> None:
    assert twin.eventbridge is not None
    version = twin.upload_config(changed_config(), faults=("events-duplicated",))

    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)

    first, duplicate = executions_of(reports, version)
    assert duplicate.started - first.started == REDELIVERY_SECONDS
    assert duplicate.input["event_id"] == first.input["event_id"], "a redelivery is the same event"
    assert first.status == "SUCCEEDED" and states_entered(first)[-1] == "Deployment succeeded"
    assert duplicate.status == "SUCCEEDED" and states_entered(duplicate)[-1] == "Nothing to deploy"
    assert "Start rollout" not in states_entered(duplicate)
    decided = admission(duplicate)
    assert decided["decision"] == "duplicate" and first.name in decided["detail"], decided
    assert revisions_for(twin, version) != [] and len(revisions_for(twin, version)) == 1
    assert twin.service().config_version_id == version
    deployments = [item for item in records_of_kind(twin, "deployment") if item.get("version_id") == version]
    assert [item["execution_name"] for item in deployments] == [first.name]
    assert_every_upload_decided(twin, version)
    assert version_record(twin, version)["status"] == "succeeded"
    # ECS's events were duplicated too: the stopped-task recorder wrote each stopped task once.
    stopped = records_of_kind(twin, "stopped_task")
    assert stopped and len({item["task_arn"] for item in stopped}) == len(stopped)


def test_local_deploy_reports_what_the_duplicate_delivery_decided(twin: LocalTwin) -> None:
    """`cpctl local deploy --fault events-duplicated` waits for the redelivery's execution too and
    prints how it ended, so the person sees the duplicate deployed nothing."""
    result = deploy(twin, changed_config(), "events-duplicated")

    assert result.report.status == "SUCCEEDED"
    (other,) = result.also_started
    assert other.arn != result.report.arn and other.input["event_id"] == result.report.input["event_id"]
    assert result.as_json()["also_started"][0]["outcome"].startswith("duplicate: ")
    out = io.StringIO()
    print_summary(out, result, total_wall=None)
    (line,) = [row for row in out.getvalue().splitlines() if row.startswith("Also started")]
    assert other.name in line and f"duplicate: version {result.version_id}" in line, line
    assert result.report.name in line, "the duplicate names the execution that handled the upload"


def test_a_late_event_of_an_older_upload_never_replaces_the_newer_one(twin: LocalTwin) -> None:
    older = twin.upload_config(config_with_location("prl_older"), faults=("event-late",))
    newer = twin.upload_config(config_with_location("prl_newer"))

    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)

    (late,) = executions_of(reports, older)
    (deployed,) = executions_of(reports, newer)
    assert late.started - deployed.started == REDELIVERY_SECONDS, "the older event did not arrive late"
    assert deployed.status == "SUCCEEDED" and states_entered(deployed)[-1] == "Deployment succeeded"
    assert late.status == "SUCCEEDED" and states_entered(late)[-1] == "Nothing to deploy"
    assert admission(late)["decision"] == "stale"
    assert revisions_for(twin, older) == []
    assert twin.service().config_version_id == newer
    assert "prl_older" not in twin.gatling.location_ids()
    assert_every_upload_decided(twin, older, newer)
    record = version_record(twin, older)
    assert record["status"] == "stale" and newer in record["decision"], record


def test_a_late_event_never_deploys_over_a_newer_rejected_upload(twin: LocalTwin, baseline: Baseline) -> None:
    older = twin.upload_config(config_with_location("prl_older"), faults=("event-late",))
    newer = twin.upload_config(INVALID)

    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)

    (rejected,) = executions_of(reports, newer)
    (late,) = executions_of(reports, older)
    assert rejected.status == "FAILED" and rejected.error == "ConfigRejected"
    assert late.started - rejected.started == REDELIVERY_SECONDS, "the older event did not arrive late"
    assert states_entered(late)[-1] == "Nothing to deploy" and admission(late)["decision"] == "stale"
    assert revisions_for(twin, older) == []
    assert twin.service().task_definition == baseline.task_definition
    assert "prl_older" not in twin.gatling.location_ids()
    assert_every_upload_decided(twin, older, newer)
    assert "rejected" in version_record(twin, newer)["status"]
    assert newer in version_record(twin, older)["decision"]


def test_late_and_duplicated_events_of_three_uploads_deploy_the_newest_once(twin: LocalTwin) -> None:
    first = twin.upload_config(config_with_location("prl_first"), faults=("event-late", "events-duplicated"))
    second = twin.upload_config(config_with_location("prl_second"), faults=("event-late",))
    third = twin.upload_config(config_with_location("prl_third"))

    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)

    for version in (first, second, third):
        assert len(executions_of(reports, version)) == 2, "every event was delivered twice"
    assert all(report.status == "SUCCEEDED" for report in reports), [(r.error, r.cause) for r in reports]
    deployed = [r for r in reports if states_entered(r)[-1] == "Deployment succeeded"]
    assert [r.input["version_id"] for r in deployed[1:]] == [third]  # the first is the initial config
    assert revisions_for(twin, first) == [] and revisions_for(twin, second) == []
    assert twin.service().config_version_id == third
    assert_every_upload_decided(twin, first, second, third)
    assert version_record(twin, first)["status"] == "stale"
    assert version_record(twin, second)["status"] == "stale"


def test_a_late_event_that_nothing_overtakes_still_arrives(twin: LocalTwin) -> None:
    assert twin.eventbridge is not None
    version = twin.upload_config(changed_config(), faults=("event-late",))
    assert twin.eventbridge.pending() == 1 and twin.executions()[-1]["status"] != "RUNNING"

    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)

    (report,) = executions_of(reports, version)
    assert report.status == "SUCCEEDED" and states_entered(report)[-1] == "Deployment succeeded"
    assert twin.service().config_version_id == version
    assert twin.eventbridge.pending() == 0
    assert_every_upload_decided(twin, version)
