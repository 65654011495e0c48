"""Scenario 9: EventBridge delivers at least once and out of order.

The same event delivered twice deploys once; an older upload's event arriving after a newer
upload was deployed is stale and skipped.
"""

from __future__ import annotations

from typing import Any

from cpctl.twin.twin import LocalTwin, builtin_config

from .conftest import (
    WALL_TIMEOUT,
    changed_config,
    config_with_location,
    records_of_kind,
    states_entered,
    version_record,
)


def event_of(twin: LocalTwin, version_id: str, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    assert twin.eventbridge is not None
    for event in events if events is not None else twin.eventbridge.events:
        if event["source"] == "aws.s3" and event["detail"]["object"].get("version-id") == version_id:
            return event
    raise AssertionError(f"S3 sent no event for version {version_id}")


def executions_deploying(twin: LocalTwin, version_id: str) -> list[str]:
    """Executions that registered a revision for `version_id`."""
    return [
        r["tags"]["execution"] for r in twin.revisions() if r["tags"].get("config-version-id") == version_id
    ]


def test_the_same_event_delivered_twice_deploys_once(twin: LocalTwin) -> None:
    assert twin.eventbridge is not None
    version = twin.upload_config(changed_config())
    deliveries = twin.eventbridge.publish(event_of(twin, version))  # the duplicate, while the first runs

    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)

    assert len(deliveries) == 1 and deliveries[0].execution_arn
    ours = [r for r in reports if version in str(r.input)]
    assert len(ours) == 2, "the duplicate did not start a second execution"
    assert all(r.status == "SUCCEEDED" for r in ours), [(r.error, r.cause) for r in ours]
    assert sorted(states_entered(r)[-1] for r in ours) == ["Deployment succeeded", "Nothing to deploy"]
    assert len(executions_deploying(twin, version)) == 1
    assert twin.service().config_version_id == version
    deployments = [item for item in records_of_kind(twin, "deployment") if item.get("version_id") == version]
    assert len(deployments) == 1


def test_the_same_event_delivered_again_after_its_deployment_deploys_nothing(twin: LocalTwin) -> None:
    assert twin.eventbridge is not None
    version = twin.upload_config(changed_config())
    first = twin.wait_for_execution(twin.execution_for_version(version), wall_timeout=WALL_TIMEOUT)
    assert first.status == "SUCCEEDED"
    revisions = twin.revisions()

    [again] = twin.eventbridge.publish(event_of(twin, version))
    assert again.execution_arn is not None
    report = twin.wait_for_execution(again.execution_arn, wall_timeout=WALL_TIMEOUT)

    assert report.status == "SUCCEEDED"
    assert states_entered(report)[-1] == "Nothing to deploy"
    assert twin.revisions() == revisions
    assert executions_deploying(twin, version) == [first.name]
    assert twin.service().config_version_id == version


def test_an_older_event_after_a_newer_deploy_is_skipped(twin: LocalTwin) -> None:
    assert twin.eventbridge is not None
    with twin.eventbridge.hold() as late:
        older = twin.upload_config(config_with_location("prl_older"))
    newer = twin.upload_config(config_with_location("prl_newer"))
    first = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)
    assert first[-1].status == "SUCCEEDED" and twin.service().config_version_id == newer

    twin.eventbridge.publish(event_of(twin, older, late))  # the older upload's event arrives now
    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)

    stale = next(r for r in reports if older in str(r.input))
    assert stale.status == "SUCCEEDED"
    assert states_entered(stale)[-1] == "Nothing to deploy"
    assert "Register pinned revision" not in states_entered(stale)
    assert executions_deploying(twin, older) == []
    assert version_record(twin, older)["status"] == "stale"
    assert twin.service().config_version_id == newer
    assert "prl_older" not in twin.gatling.location_ids()


def test_a_reupload_of_the_running_content_is_recorded_and_restarts_nothing(twin: LocalTwin) -> None:
    running = twin.service()
    revisions = twin.revisions()
    calls_before = len(twin.authorizer.records)

    again = twin.upload_config(builtin_config("initial"))  # the bytes the control plane runs
    report = twin.wait_for_execution(twin.execution_for_version(again), wall_timeout=WALL_TIMEOUT)

    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    assert states_entered(report)[-1] == "Nothing to deploy"
    assert "Start rollout" not in states_entered(report)
    updates = [r for r in twin.authorizer.records[calls_before:] if r.operation == "ecs:UpdateService"]
    assert updates == [], "the control plane was restarted for the same content"
    assert twin.revisions() == revisions
    assert twin.service().task_definition == running.task_definition
    record = next(r for r in records_of_kind(twin, "deployment") if r.get("version_id") == again)
    assert record["outcome"] == "unchanged" and "not restarted" in record["cause"]
    assert version_record(twin, again)["status"] == "unchanged"

    # A manual redeploy of that version still restarts the control plane.
    manual = twin.start_manual({"version_id": again, "reason": "restart it anyway"})
    redeploy = twin.wait_for_execution(manual, wall_timeout=WALL_TIMEOUT)
    assert redeploy.status == "SUCCEEDED" and states_entered(redeploy)[-1] == "Deployment succeeded"
    assert twin.service().task_definition != running.task_definition


def test_a_late_older_event_never_deploys_over_a_newer_rejected_upload(twin: LocalTwin) -> None:
    assert twin.eventbridge is not None
    running = twin.service()
    with twin.eventbridge.hold() as late:
        older = twin.upload_config(config_with_location("prl_older"))
    newer = twin.upload_config(b"control-plane { locations = [ { id = BAD } ] }\n")  # invalid
    rejected = twin.wait_for_execution(twin.execution_for_version(newer), wall_timeout=WALL_TIMEOUT)
    assert rejected.status == "FAILED" and rejected.error == "ConfigRejected"

    twin.eventbridge.publish(event_of(twin, older, late))  # the older upload's event arrives now
    reports = twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)

    stale = next(r for r in reports if older in str(r.input))
    assert states_entered(stale)[-1] == "Nothing to deploy"
    assert executions_deploying(twin, older) == []
    assert twin.service().task_definition == running.task_definition
    record = version_record(twin, older)
    assert record["status"] == "stale" and newer in record["decision"], record
    assert "rejected" in version_record(twin, newer)["status"]
    assert version_record(twin, newer)["decision"]


def test_sequencers_vary_in_length_as_s3_sends_them(twin: LocalTwin) -> None:
    assert twin.eventbridge is not None
    first, second = twin.upload_config(changed_config()), twin.upload_config(changed_config() + b"\n")
    sequencers = [event_of(twin, v)["detail"]["object"]["sequencer"] for v in (first, second)]
    assert len({len(s) for s in sequencers}) == 2, sequencers
    twin.wait_until_idle(wall_timeout=WALL_TIMEOUT)
    assert twin.service().config_version_id == second
