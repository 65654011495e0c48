"""Scenario 6: a flaky Gatling API and transient Lambda service errors are retried; it succeeds."""

from __future__ import annotations

from cpctl.twin.twin import LocalTwin

from .conftest import changed_config, deploy, records_of_kind


def test_a_flaky_gatling_api_is_retried(twin: LocalTwin) -> None:
    result = deploy(twin, changed_config(), "gatling-api-flaky")

    assert result.report.status == "SUCCEEDED", f"{result.report.error}: {result.report.cause}"
    assert result.service.config_version_id == result.version_id
    assert "prl_twin_eu_central_1" in result.registered_locations
    answers = [request.status for request in twin.gatling.requests if "/v2/locations" in request.path]
    assert 503 in answers and 200 in answers, answers  # the fault was met, and got past


def test_transient_lambda_errors_are_retried(twin: LocalTwin) -> None:
    result = deploy(twin, changed_config(), "lambda-transient")

    report = result.report
    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    assert result.service.config_version_id == result.version_id
    assert twin.lambdas is not None
    failed = twin.lambdas.transient_failures
    assert len(failed) >= 5, failed  # every function of the run failed once
    retried = {step.name: step.error for step in report.states if step.retries}
    assert retried, "no state was retried"
    assert set(retried.values()) == {"Lambda.ServiceException", "Lambda.TooManyRequestsException"}


def test_a_retried_call_whose_first_attempt_ran_deploys_once(twin: LocalTwin) -> None:
    """Every handler ran, its answer was lost, and Step Functions ran it again: one claim, one
    revision, one restart of the control plane, one record, one notification."""
    notified_before = len(twin.notifications())
    calls_before = len(twin.authorizer.records)

    result = deploy(twin, changed_config(), "lambda-result-lost")

    report = result.report
    assert report.status == "SUCCEEDED", f"{report.error}: {report.cause}"
    # The admission recognised its own claim: the execution deployed instead of ending as a duplicate.
    assert report.states[-1].name == "Deployment succeeded", [step.name for step in report.states]
    assert twin.lambdas is not None
    lost = set(twin.lambdas.lost_results)
    for step in ("admit-deployment", "register-revision", "start-rollout", "record-outcome"):
        assert any(name.endswith(f"-{step}") for name in lost), lost
    retried = {step.name for step in report.states if step.retries}
    assert {"Admit deployment", "Register pinned revision", "Start rollout", "Record outcome"} <= retried
    assert result.service.config_version_id == result.version_id
    pinned = [r for r in twin.revisions() if r["tags"].get("config-version-id") == result.version_id]
    assert len(pinned) == 1, f"the retry registered another revision: {pinned}"
    updates = [r for r in twin.authorizer.records[calls_before:] if r.operation == "ecs:UpdateService"]
    assert len(updates) == 1, f"the retry restarted the control plane again: {updates}"
    records = [r for r in records_of_kind(twin, "deployment") if r.get("version_id") == result.version_id]
    assert len(records) == 1
    assert len(twin.notifications()) == notified_before + 1
