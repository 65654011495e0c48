"""The handlers as Lambda runs them: dict in, dict out, logs correlated by execution, metrics, no secret."""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from controlplane.aws_clients import reset_clients, secrets_provider
from controlplane.codec import parse
from controlplane.http_client import HttpResponse
from controlplane.liveness import Probe, probe_info
from controlplane.models import ProbeInfoResult, WorkflowState
from controlplane.settings import reset_settings
from controlplane.telemetry import logger
from moto import mock_aws

from tests.unit import workflow_fakes as fakes

TOKEN = "gatling-api-token-0123456789-SECRET"
SAMPLE = fakes.event("await_control_plane_up.json")


def handler(name: str) -> ModuleType:
    return importlib.import_module(f"{name}.app")


def probe_in_process(monkeypatch: pytest.MonkeyPatch, module: ModuleType, http_get: Any) -> None:
    """The handler's /info probe runs the probe function's logic here instead of invoking it."""

    def invoked_probe(function_arn: str, *, lambda_client: Any) -> Probe:
        assert function_arn == fakes.ENV["PROBE_INFO_FUNCTION_ARN"]
        return lambda private_ip, port: probe_info(private_ip, port, http_get=http_get, timeout=3)

    monkeypatch.setattr(module, "invoked_probe", invoked_probe)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The stack's names as the samples in events/ use them, in moto."""
    env = {
        **fakes.ENV,
        "CONFIG_BUCKET": SAMPLE["config"]["bucket"],
        "SERVICE_NAME": "gatling-control-plane",
        "CLUSTER_NAME": "gatling-control-plane",
        "TASK_FAMILY": "gatling-control-plane",
    }
    with mock_aws(), fakes.fake_clock():
        secrets = boto3.client("secretsmanager", region_name=fakes.REGION)
        secret = secrets.create_secret(Name="gatling-api-token", SecretString=TOKEN)["ARN"]
        sns = boto3.client("sns", region_name=fakes.REGION)
        topic = sns.create_topic(Name="deployments")["TopicArn"]
        dynamodb = boto3.client("dynamodb", region_name=fakes.REGION)
        fakes.create_records_table(dynamodb)
        env |= {"GATLING_API_TOKEN_SECRET_ARN": secret, "NOTIFICATION_TOPIC_ARN": topic}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        reset_clients()
        yield {"secret": secret, "topic": topic}
        reset_settings()
        reset_clients()


def ecs_runs_the_sample_task(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    """ECS answers the up-checker's task lookup with the sample rollout's task, RUNNING."""
    task = {
        "taskArn": SAMPLE["rollout"]["task_arn"],
        "lastStatus": "RUNNING",
        "attachments": [
            {
                "type": "ElasticNetworkInterface",
                "details": [{"name": "privateIPv4Address", "value": SAMPLE["rollout"]["private_ip"]}],
            }
        ],
    }
    monkeypatch.setattr(module, "running_task", lambda *args, **kwargs: task)


def test_the_up_checker_reads_the_token_from_secrets_manager_and_never_shows_it(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[dict[str, str]] = []

    def http_get(url: str, headers: Any, timeout: float) -> HttpResponse:
        seen.append(dict(headers))
        if url.endswith("/info"):
            return HttpResponse(200, b"{}")
        return HttpResponse(200, json.dumps({"data": [{"_id": "prl_aws_eu_west_1"}]}).encode())

    module = handler("await_control_plane_up")
    monkeypatch.setattr(module, "http_get", http_get)
    probe_in_process(monkeypatch, module, http_get)
    ecs_runs_the_sample_task(monkeypatch, module)
    stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    output = module.lambda_handler(SAMPLE, fakes.FakeLambdaContext())
    state = parse(WorkflowState, output)
    assert state.up is not None and state.up.status == "up" and state.up.locations_checked
    assert seen[-1]["Authorization"] == TOKEN
    printed = capsys.readouterr()
    assert TOKEN not in json.dumps(output) and TOKEN not in printed.out + printed.err + stream.getvalue()
    correlated = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert correlated and all(line["correlation_id"] == SAMPLE["execution"]["id"] for line in correlated)
    assert all(line["execution"] == SAMPLE["execution"]["name"] for line in correlated)


def test_the_token_is_cached_between_invocations(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = handler("await_control_plane_up")
    ecs_runs_the_sample_task(monkeypatch, module)
    calls = {"n": 0}
    provider = secrets_provider()
    original = provider._get

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(provider, "_get", counting)

    def http_get(url: str, headers: Any, timeout: float) -> HttpResponse:
        return HttpResponse(200, b'{"data": [{"_id": "prl_aws_eu_west_1"}]}')

    monkeypatch.setattr(module, "http_get", http_get)
    probe_in_process(monkeypatch, module, http_get)
    for _ in range(3):
        module.lambda_handler(SAMPLE, fakes.FakeLambdaContext())
    assert calls["n"] == 1


def test_the_probe_answers_whether_info_answered_and_makes_no_aws_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = handler("probe_info")
    asked: list[str] = []

    def http_get(url: str, headers: Any, timeout: float) -> HttpResponse:
        asked.append(url)
        return HttpResponse(200 if len(asked) == 1 else 503, b"{}")

    monkeypatch.setattr(module, "http_get", http_get)
    monkeypatch.setattr(boto3, "client", None)  # no AWS client may be made
    with fakes.fake_clock():
        for name, value in fakes.ENV.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        sample = fakes.event("probe_info.json")
        first = parse(ProbeInfoResult, module.lambda_handler(sample, fakes.FakeLambdaContext()))
        second = parse(ProbeInfoResult, module.lambda_handler(sample, fakes.FakeLambdaContext()))
        reset_settings()
    assert first == ProbeInfoResult(answered=True)
    assert not second.answered and second.problem == "GET /info on 10.0.1.23:8080 answered HTTP 503"
    assert asked == ["http://10.0.1.23:8080/info"] * 2


def test_record_outcome_emits_the_deployment_and_phase_metrics(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = handler("record_outcome")
    monkeypatch.setattr(module, "ecs_client", lambda: fakes.FakeEcs())
    output = module.lambda_handler(fakes.event("record_outcome.json"), fakes.FakeLambdaContext())
    assert output["result"]["outcome"] == "succeeded"
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    deployments = [b for b in blobs if "Deployments" in b]
    assert [b["outcome"] for b in deployments] == ["succeeded"]
    phases = {b["phase"]: b["PhaseSeconds"] for b in blobs if "PhaseSeconds" in b}
    assert phases["rollout"] == [90.0] and phases["control_plane_up"] == [15.0] and "total" in phases


def test_admission_counts_quiet_endings(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    module = handler("admit_deployment")
    sample = fakes.event("admit_deployment.json")
    boto3.client("s3", region_name=fakes.REGION).create_bucket(  # admission lists the key's versions
        Bucket=sample["request"]["bucket"],
        CreateBucketConfiguration={"LocationConstraint": fakes.REGION},  # type: ignore[typeddict-item]
    )
    first = module.lambda_handler(sample, fakes.FakeLambdaContext())
    assert first["admission"]["decision"] == "admitted"
    again = {**sample, "execution": fakes.execution("redelivered")}
    assert module.lambda_handler(again, fakes.FakeLambdaContext())["admission"]["decision"] == "duplicate"
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"Deployments"' in line]
    assert [b["outcome"] for b in blobs] == ["duplicate"]


@pytest.mark.parametrize(
    ("name", "sample"),
    [
        ("register_revision", "register_revision.json"),
        ("start_rollout", "start_rollout.json"),
        ("await_rollout", "await_rollout.json"),
        ("roll_back", "roll_back.json"),
    ],
)
def test_a_handler_given_the_wrong_state_fails_before_calling_aws(
    name: str, sample: str, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = handler(name)
    ecs = fakes.FakeEcs()
    monkeypatch.setattr(module, "ecs_client", lambda: ecs)
    payload = fakes.event(sample)
    del payload["config"]
    with pytest.raises(ValueError, match="config"):
        module.lambda_handler(payload, fakes.FakeLambdaContext())
    assert ecs.calls == []
