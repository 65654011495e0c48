"""Scenario 6: a flaky Gatling API and transient Lambda service errors are retried; it succeeds."""

from __future__ import annotations

from cpctl.twin.twin import LocalTwin

from .conftest import changed_config, deploy


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
