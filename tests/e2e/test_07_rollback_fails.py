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
    # deployment of its own, however long one waits.
    revisions = twin.revisions()
    records = twin.records()
    executions = twin.executions()
    notifications = twin.notifications()
    service = twin.service()
    assert twin.lambdas is not None
    invocations = len(twin.lambdas.invocations)
    twin.advance(3600)
    assert twin.revisions() == revisions
    assert twin.executions() == executions
    assert twin.records() == records
    assert twin.service().task_definition == service.task_definition
    assert twin.notifications() == notifications
    assert len(twin.lambdas.invocations) == invocations, "a Lambda ran after the execution ended"
