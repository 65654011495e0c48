"""Scenario 7: the rollback fails too: "manual action needed", and nothing else changes afterwards."""

from __future__ import annotations

from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy, deployment_record


def test_a_failed_rollback_asks_for_manual_action_and_stops(twin: LocalTwin, baseline: Baseline) -> None:
    result = deploy(twin, changed_config(), "rollback-fails")

    report = result.report
    assert report.status == "FAILED"
    assert report.error == "RollbackFailed"
    cause = report.cause or ""
    assert "Manual action needed" in cause, cause
    assert "rollback" in cause.lower() and "failed" in cause, cause
    assert deployment_record(twin, report.name)["outcome"] == "rollback_failed"
    # Afterwards the workflow changes nothing more: no revision, no execution, no record, no
    # deployment of its own, however long one waits. (ECS keeps launching tasks that fail, and the
    # stopped-task recorder keeps recording them, as on AWS: that is not the workflow.)
    assert twin.lambdas is not None
    recorder = next(
        spec.function_name
        for spec in twin.functions().values()
        if spec.logical_id == "RecordStoppedTaskFunction"
    )

    def workflow_records() -> list[dict[str, object]]:
        return [item for item in twin.records() if item.get("kind") != "stopped_task"]

    def workflow_invocations() -> int:
        return sum(1 for item in twin.lambdas.invocations if item.function_name != recorder)  # type: ignore[union-attr]

    revisions = twin.revisions()
    records = workflow_records()
    executions = twin.executions()
    notifications = twin.notifications()
    service = twin.service()
    invocations = workflow_invocations()
    # Longer than any deadline of the workflow. ECS restarts tasks that ran and exited at once
    # (its throttle applies to tasks that never reach RUNNING), so every simulated minute costs wall time.
    twin.advance(20 * 60)
    assert twin.revisions() == revisions
    assert twin.executions() == executions
    assert workflow_records() == records
    assert twin.service().task_definition == service.task_definition
    assert twin.notifications() == notifications
    assert workflow_invocations() == invocations, "a Lambda of the workflow ran after the execution ended"
