"""The five health checks, each on the evidence that makes it pass, fail, skip or give up, and all five
together; then the metrics they publish, which the alarm in template.yaml must match exactly."""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout
from datetime import timedelta
from typing import Any

import boto3
import msgspec
import pytest
from botocore.stub import Stubber
from controlplane.codec import parse
from controlplane.errors import ApiTokenUnreadable
from controlplane.health import (
    LOST_UPLOAD_GRACE_SECONDS,
    check_config,
    check_info,
    check_locations,
    check_revision,
    check_service,
    emit_metrics,
    newest_config_version,
    run_checks,
    service_and_tasks,
)
from controlplane.http_client import HttpResponse, HttpUnreachable
from controlplane.models import HealthReport
from controlplane.records import Ticket
from controlplane.telemetry import METRICS_NAMESPACE, metrics

from tests.conftest import load_template
from tests.unit import health_fakes as hf
from tests.unit import workflow_fakes as fakes

NOW = fakes.START.timestamp()
DEADLINE = 15 * 60.0


# ---------------------------------------------------------------- 1. service


def describe(ecs: fakes.FakeEcs) -> tuple[Any, list[Any]]:
    return service_and_tasks(ecs=ecs, settings=hf.settings())  # type: ignore[arg-type]


def test_service_passes_when_active_with_one_task_desired_and_running() -> None:
    ecs = hf.ecs()
    task = ecs.run_task()
    result = check_service(*describe(ecs), now=NOW, deadline_seconds=DEADLINE)
    assert result.status == "pass"
    assert "1/1 task running" in result.detail and task.rsplit("/", 1)[-1] in result.detail


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"service_status": "MISSING"}, "the service is missing"),
        ({"service_status": "DRAINING"}, "the service is DRAINING"),
        ({"desired": 0}, "0 task(s) desired, not 1"),
    ],
)
def test_service_fails_when_missing_inactive_or_scaled_down(change: dict[str, Any], expected: str) -> None:
    missing = change.get("service_status") == "MISSING"
    ecs = hf.ecs(**({} if missing else change))
    ecs.run_task()
    if missing:
        ecs.service = None
    result = check_service(*describe(ecs), now=NOW, deadline_seconds=DEADLINE)
    assert result.status == "fail" and expected in result.detail


def test_service_fails_without_a_running_task_and_says_why_the_last_one_stopped() -> None:
    ecs = hf.ecs()
    ecs.run_task(status="PENDING")
    result = check_service(
        *describe(ecs), now=NOW, deadline_seconds=DEADLINE, last_stopped="task abc stopped (OutOfMemory)"
    )
    assert result.status == "fail"
    assert "0 task(s) running, not 1" in result.detail and "OutOfMemory" in result.detail


def test_service_fails_with_two_control_planes_running() -> None:
    ecs = hf.ecs()
    ecs.run_task()
    ecs.run_task(ip="10.0.1.24")
    result = check_service(*describe(ecs), now=NOW, deadline_seconds=DEADLINE)
    assert result.status == "fail" and "2 task(s) running" in result.detail


def test_a_deployment_in_progress_fails_only_past_the_workflow_deadline() -> None:
    ecs = hf.ecs()
    ecs.run_task()
    ecs.service["deployments"].insert(
        0,
        {
            "id": "ecs-svc/2",
            "status": "PRIMARY",
            "taskDefinition": hf.revision_arn(3),
            "rolloutState": "IN_PROGRESS",
            "createdAt": fakes.START - timedelta(minutes=10),
        },
    )
    assert check_service(*describe(ecs), now=NOW, deadline_seconds=DEADLINE).status == "pass"
    ecs.service["deployments"][0]["createdAt"] = fakes.START - timedelta(minutes=16)
    result = check_service(*describe(ecs), now=NOW, deadline_seconds=DEADLINE)
    assert result.status == "fail"
    assert "ecs-svc/2" in result.detail and "in progress for 16 min (deadline 15 min)" in result.detail


# ---------------------------------------------------------------- 2. revision


def last_good(version: str = "v1", revision: int = 2) -> Any:
    from controlplane.records import LastGood

    return LastGood(
        version, "a" * 64, hf.revision_arn(revision), "ecs-svc/1", "2026-11-29T11:00:00+00:00", "e", None
    )


def test_revision_is_skipped_before_any_deployment_was_recorded() -> None:
    ecs = hf.ecs()
    ecs.run_task()
    service, tasks = describe(ecs)
    assert check_revision(service, tasks, None, ecs=ecs).status == "skipped"  # type: ignore[arg-type]


def test_revision_passes_on_the_last_good_revision() -> None:
    ecs = hf.ecs()
    ecs.run_task()
    service, tasks = describe(ecs)
    result = check_revision(service, tasks, last_good(), ecs=ecs)  # type: ignore[arg-type]
    assert result.status == "pass" and "cp:2" in result.detail and "v1" in result.detail


def test_drift_names_the_revision_that_runs_its_config_who_registered_it_and_the_deployment() -> None:
    ecs = hf.ecs(task_definition=hf.revision_arn(1))
    ecs.add_revision(1, None, registered_by="arn:aws:iam::123456789012:user/alice")
    ecs.service["deployments"][0]["id"] = "ecs-svc/9"
    ecs.run_task(hf.revision_arn(1))
    service, tasks = describe(ecs)
    result = check_revision(service, tasks, last_good(), ecs=ecs)  # type: ignore[arg-type]
    assert result.status == "fail"
    assert "runs cp:1, not the last good revision cp:2" in result.detail
    assert "config not pinned" in result.detail
    assert "registered by arn:aws:iam::123456789012:user/alice" in result.detail
    assert "ECS deployment ecs-svc/9" in result.detail


def test_drift_names_the_workflow_execution_that_registered_a_pinned_revision() -> None:
    ecs = hf.ecs(task_definition=hf.revision_arn(3))
    ecs.add_revision(3, "v2", execution="exec-7")
    ecs.run_task(hf.revision_arn(3))
    service, tasks = describe(ecs)
    result = check_revision(service, tasks, last_good(), ecs=ecs)  # type: ignore[arg-type]
    assert result.status == "fail"
    assert "config version v2" in result.detail and "workflow execution exec-7" in result.detail


def test_the_revision_the_running_deployment_registered_is_not_drift_while_it_bakes() -> None:
    ecs = hf.ecs(task_definition=hf.revision_arn(3))
    ecs.add_revision(3, "v2", execution="exec-7")
    ecs.run_task(hf.revision_arn(3))
    service, tasks = describe(ecs)
    baking = check_revision(service, tasks, last_good(), ecs=ecs, deploying="exec-7")  # type: ignore[arg-type]
    assert baking.status == "pass" and "which execution exec-7 is deploying" in baking.detail
    other = check_revision(service, tasks, last_good(), ecs=ecs, deploying="exec-8")  # type: ignore[arg-type]
    assert other.status == "fail", "another execution's revision is still drift"


def test_a_service_set_to_another_revision_is_drift_before_its_task_runs() -> None:
    ecs = hf.ecs(task_definition=hf.revision_arn(1))
    ecs.run_task(hf.revision_arn(2))
    service, tasks = describe(ecs)
    result = check_revision(service, tasks, last_good(), ecs=ecs)  # type: ignore[arg-type]
    assert result.status == "fail" and "is set to cp:1" in result.detail


# ---------------------------------------------------------------- 3. /info


def test_info_probes_the_running_task_like_the_up_checker() -> None:
    ecs = hf.ecs()
    ecs.run_task(ip="10.0.1.23")
    http = hf.FakeHttp({"10.0.1.23:8080/info": hf.info_ok()})
    result = check_info(describe(ecs)[1], settings=hf.settings(), probe=hf.probe(http))
    assert result.status == "pass" and "10.0.1.23:8080" in result.detail
    assert http.requests[0][0] == "http://10.0.1.23:8080/info"


def test_info_reports_what_the_probe_function_says() -> None:
    ecs = hf.ecs()
    ecs.run_task(ip="10.0.1.23")
    asked: list[tuple[str, int]] = []

    def probe(private_ip: str, port: int) -> str | None:
        asked.append((private_ip, port))
        return f"GET /info on {private_ip}:{port}: the probe function failed (Sandbox.Timedout: timed out)"

    result = check_info(describe(ecs)[1], settings=hf.settings(SERVER_PORT="9090"), probe=probe)
    assert result.status == "fail" and "Sandbox.Timedout" in result.detail
    assert asked == [("10.0.1.23", 9090)]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (HttpUnreachable("ConnectionRefusedError: refused"), "got no answer"),
        (HttpResponse(503, b""), "answered HTTP 503"),
    ],
)
def test_info_fails_when_the_control_plane_does_not_answer_200(answer: Any, expected: str) -> None:
    ecs = hf.ecs()
    ecs.run_task()
    result = check_info(
        describe(ecs)[1], settings=hf.settings(), probe=hf.probe(hf.FakeHttp({"/info": answer}))
    )
    assert result.status == "fail" and expected in result.detail


def test_info_fails_without_a_running_task() -> None:
    result = check_info([], settings=hf.settings(), probe=hf.probe(hf.FakeHttp()))
    assert result.status == "fail" and result.detail == "no running task to probe"


# ---------------------------------------------------------------- 4. locations


def run_locations(
    answer: Any, *, token_configured: bool = True, wanted: tuple[str, ...] = ("prl_a", "prl_b")
) -> Any:
    overrides = {"GATLING_API_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:t"}
    settings = hf.settings(**(overrides if token_configured else {}))
    http = hf.FakeHttp({"/v2/locations": answer})
    result = check_locations(
        "v1",
        location_ids=lambda version: list(wanted),
        settings=settings,
        http_get=http,
        read_token=lambda: hf.API_TOKEN,
    )
    return result, http


def test_an_api_token_whose_secret_cannot_be_read_makes_locations_unknown_not_failed() -> None:
    def unreadable() -> str | None:
        raise ApiTokenUnreadable("the Gatling API token secret could not be read: AccessDeniedException")

    settings = hf.settings(
        GATLING_API_TOKEN_SECRET_ARN="arn:aws:secretsmanager:eu-west-1:123456789012:secret:t"
    )
    http = hf.FakeHttp({"/v2/locations": hf.locations("prl_a")})
    result = check_locations(
        "v1", location_ids=lambda version: ["prl_a"], settings=settings, http_get=http, read_token=unreadable
    )
    assert result.status == "unknown" and "could not be read" in result.detail and not http.requests


def test_locations_are_skipped_without_an_api_token() -> None:
    result, http = run_locations(hf.locations("prl_a"), token_configured=False)
    assert result.status == "skipped" and not http.requests


def test_locations_pass_when_gatling_lists_every_location_of_the_deployed_config() -> None:
    result, http = run_locations(hf.locations("prl_a", "prl_b", "prl_other"))
    assert result.status == "pass" and "prl_a, prl_b" in result.detail
    url, headers = http.requests[0]
    assert (
        url == f"{hf.API_URL}/v2/locations?type=private_location" and headers["Authorization"] == hf.API_TOKEN
    )


def test_locations_fail_when_one_is_not_listed() -> None:
    result, _ = run_locations(hf.locations("prl_a"))
    assert result.status == "fail" and "prl_b" in result.detail


@pytest.mark.parametrize(
    "answer", [HttpResponse(503, b""), HttpResponse(401, b""), HttpUnreachable("timeout")]
)
def test_locations_are_unknown_when_gatling_cannot_tell_and_never_show_the_token(answer: Any) -> None:
    result, _ = run_locations(answer)
    assert result.status == "unknown"
    assert hf.API_TOKEN not in result.detail


# ---------------------------------------------------------------- 5. config


def test_config_passes_when_the_newest_version_is_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    with hf.aws(monkeypatch) as aws:
        store = aws.store()
        newest = (aws.versions[-1], hf.when(-90))
        result, pending, lost = check_config(
            newest, aws.set_last_good(aws.versions[-1]), store, is_running=lambda a: True, now=NOW
        )
    assert result.status == "pass" and not pending and lost is None


def test_config_is_pending_while_a_deployment_of_the_newest_version_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with hf.aws(monkeypatch) as aws:
        store = aws.store()
        good = aws.set_last_good("v0")
        ticket = Ticket("exec-9", "arn:exec-9", aws.versions[-1], "upload", None, 1)
        store.acquire_lock(ticket, now=NOW, lease_seconds=3600, acquired_at_iso="t", replacing=None)
        newest = (aws.versions[-1], hf.when(-90))
        result, pending, lost = check_config(
            newest, good, store, is_running=lambda arn: arn == "arn:exec-9", now=NOW
        )
        assert result.status == "pass" and pending and lost is None and "exec-9" in result.detail
        # The same lock held by an execution that ended is no deployment: the upload is lost.
        result, pending, lost = check_config(newest, good, store, is_running=lambda arn: False, now=NOW)
        assert result.status == "fail" and lost is not None


@pytest.mark.parametrize("status", ["rejected", "rolled_back", "stale", "superseded", "succeeded"])
def test_config_passes_when_the_workflow_decided_about_the_newest_version(
    monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    with hf.aws(monkeypatch) as aws:
        store = aws.store()
        store.mark_version(aws.versions[-1], status=status, execution_name="exec-3")
        newest = (aws.versions[-1], hf.when(-90))
        result, pending, lost = check_config(
            newest, aws.set_last_good("v0"), store, is_running=lambda a: False, now=NOW
        )
    assert result.status == "pass" and not pending and lost is None
    assert status in result.detail and "stays on v0" in result.detail


def test_an_unseen_upload_is_lost_only_after_its_event_had_time_to_arrive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with hf.aws(monkeypatch) as aws:
        store = aws.store()
        good = aws.set_last_good("v0")
        uploaded = fakes.START - timedelta(seconds=LOST_UPLOAD_GRACE_SECONDS - 10)
        newest = (aws.versions[-1], uploaded)
        result, pending, lost = check_config(newest, good, store, is_running=lambda a: False, now=NOW)
        assert result.status == "pass" and pending and lost is None
        later = NOW + 20
        result, pending, lost = check_config(newest, good, store, is_running=lambda a: False, now=later)
    assert result.status == "fail" and pending
    assert lost is not None and lost.version_id == aws.versions[-1]
    assert "its upload was lost" in result.detail


def test_config_is_skipped_when_the_bucket_holds_no_config() -> None:
    result, pending, lost = check_config(None, None, None, is_running=lambda a: False, now=NOW)  # type: ignore[arg-type]
    assert result.status == "skipped" and not pending and lost is None


# ---------------------------------------------------------------- all five


def run_all(
    monkeypatch: pytest.MonkeyPatch, ecs: fakes.FakeEcs, http: hf.FakeHttp, *, deployed: bool = True
) -> HealthReport:
    with hf.aws(monkeypatch) as aws:
        if deployed:
            aws.set_last_good(aws.versions[-1])
            ecs.add_revision(2, aws.versions[-1])
        # moto stamps objects with the wall clock: check an hour later, past the lost-upload grace.
        with fakes.fake_clock() as clock:
            clock.time = time.time() + 3600
            return run_checks(
                settings=hf.settings(
                    GATLING_API_TOKEN_SECRET_ARN="arn:aws:secretsmanager:eu-west-1:1:secret:t"
                ),
                ecs=ecs,  # type: ignore[arg-type]
                s3=aws.s3,
                store=aws.store(),
                probe=hf.probe(http),
                http_get=http,
                read_token=lambda: hf.API_TOKEN,
                is_running=lambda arn: False,
            )


def test_a_healthy_control_plane_passes_all_five(monkeypatch: pytest.MonkeyPatch) -> None:
    ecs = hf.ecs()
    ecs.run_task()
    http = hf.FakeHttp({"/info": hf.info_ok(), "/v2/locations": hf.locations("prl_aws_one")})
    report = run_all(monkeypatch, ecs, http)
    assert report.healthy, report.summary()
    assert {name: check.status for name, check in report.checks.items()} == dict.fromkeys(
        ("service", "revision", "info", "locations", "config"), "pass"
    )
    assert report.running_tasks == 1 and not report.revision_drift and not report.pending_config
    assert report.running_config_version_id == report.last_good_version_id == report.newest_config_version_id
    assert hf.API_TOKEN not in msgspec.json.encode(report).decode()


def test_a_control_plane_that_does_not_answer_is_unhealthy_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ecs = hf.ecs()
    ecs.run_task()
    http = hf.FakeHttp({"/v2/locations": hf.locations("prl_aws_one")})
    report = run_all(monkeypatch, ecs, http)
    assert not report.healthy and report.failed() == ["info"]
    assert report.summary().startswith("unhealthy: info (GET /info on 10.0.1.23:8080 got no answer")


def test_a_lost_first_upload_is_found_before_anything_was_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    ecs = hf.ecs()
    ecs.run_task()
    report = run_all(monkeypatch, ecs, hf.FakeHttp({"/info": hf.info_ok()}), deployed=False)
    assert report.checks["revision"].status == "skipped"
    assert report.checks["config"].status == "fail" and report.lost_upload is not None


def run_with_s3_without_list_bucket(monkeypatch: pytest.MonkeyPatch, *, deployed: bool) -> HealthReport:
    """One run where S3 answers HEAD of the config key as it does for a missing key to a role without
    s3:ListBucket: 403, no body."""
    ecs = hf.ecs()
    ecs.run_task()
    with hf.aws(monkeypatch, configs=[]) as aws, fakes.fake_clock():
        s3 = boto3.client("s3", region_name=fakes.REGION)
        stubber = Stubber(s3)
        stubber.add_client_error(
            "head_object", service_error_code="403", service_message="Forbidden", http_status_code=403
        )
        stubber.activate()
        if deployed:
            aws.set_last_good("v1")
        report = run_checks(
            settings=hf.settings(),
            ecs=ecs,  # type: ignore[arg-type]
            s3=s3,
            store=aws.store(),
            probe=hf.probe(hf.FakeHttp({"/info": hf.info_ok()})),
            http_get=hf.FakeHttp(),
            read_token=lambda: None,
            is_running=lambda arn: False,
        )
    stubber.assert_no_pending_responses()
    return report


def test_before_the_first_upload_a_403_means_no_config_uploaded_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_with_s3_without_list_bucket(monkeypatch, deployed=False)
    assert report.checks["config"].status == "skipped"
    assert report.checks["config"].detail == f"no config uploaded yet to s3://{fakes.BUCKET}/{fakes.KEY}"
    assert report.newest_config_version_id is None and report.lost_upload is None


def test_a_403_once_versions_are_known_is_unknown_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_with_s3_without_list_bucket(monkeypatch, deployed=True)
    config = report.checks["config"]
    assert config.status == "unknown", config
    assert config.detail.startswith(
        f"cannot read s3://{fakes.BUCKET}/{fakes.KEY} (403): without s3:ListBucket"
    )


def test_before_the_first_upload_a_404_means_no_config_uploaded_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    with hf.aws(monkeypatch, configs=[]) as aws:
        assert newest_config_version(s3=aws.s3, settings=hf.settings(), knows_a_version=lambda: True) is None


# ---------------------------------------------------------------- metrics


def emf_lines(report: HealthReport) -> list[dict[str, Any]]:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        emit_metrics(report, control_plane="cp")
        metrics.flush_metrics()
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def value(emitted: Any) -> float:
    """An EMF value: Powertools writes a single value or a list of them."""
    return float(emitted[0] if isinstance(emitted, list) else emitted)


def sample_report(healthy: bool) -> HealthReport:
    checks = {
        "service": {"status": "pass", "detail": "ok"},
        "revision": {"status": "fail" if not healthy else "pass", "detail": "drift"},
        "info": {"status": "pass", "detail": "ok"},
        "locations": {"status": "skipped", "detail": "no token"},
        "config": {"status": "pass", "detail": "ok"},
    }
    return parse(
        HealthReport,
        {
            "checked_at": fakes.START,
            "healthy": healthy,
            "checks": checks,
            "running_tasks": 1,
            "revision_drift": not healthy,
        },
    )


def test_the_one_metric_carries_exactly_the_namespace_and_dimensions_the_alarm_watches() -> None:
    alarm = load_template()["Resources"]["HealthAlarm"]["Properties"]
    documents = emf_lines(sample_report(healthy=False))
    assert len(documents) == 1
    main = documents[0]
    directive = main["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == alarm["Namespace"] == METRICS_NAMESPACE
    # Custom metrics are billed each; the alarm's input is the only one.
    assert [metric["Name"] for metric in directive["Metrics"]] == [alarm["MetricName"]] == ["Healthy"]
    alarm_dimensions = {item["Name"] for item in alarm["Dimensions"]}
    assert [sorted(dimensions) for dimensions in directive["Dimensions"]] == [sorted(alarm_dimensions)]
    fixed = {item["Name"]: item["Value"] for item in alarm["Dimensions"] if isinstance(item["Value"], str)}
    assert all(main[name] == value for name, value in fixed.items())
    assert main["control_plane"] == "cp"
    assert value(main["Healthy"]) == 0


def test_the_rest_of_the_report_rides_along_as_properties() -> None:
    unhealthy = emf_lines(sample_report(healthy=False))[0]
    assert (unhealthy["running_tasks"], unhealthy["revision_drift"], unhealthy["pending_config"]) == (
        1,
        True,
        False,
    )
    healthy = emf_lines(sample_report(healthy=True))[0]
    assert healthy["checks"] == {
        "service": "pass",
        "revision": "pass",
        "info": "pass",
        "locations": "skipped",
        "config": "pass",
    }
    assert unhealthy["checks"]["revision"] == "fail"
