"""Shared pieces of the health checks' unit tests: the unit tests' ECS as a deployed service, a Step
Functions that starts and ends executions on cue, an HTTP GET that answers per URL, moto resources."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from controlplane.http_client import HttpResponse, HttpUnreachable
from controlplane.liveness import Probe, probe_info
from controlplane.records import LastGood, RecordStore
from controlplane.settings import Settings

from tests.unit import workflow_fakes as fakes

REGION = fakes.REGION
ACCOUNT = fakes.ACCOUNT
CLUSTER = fakes.CLUSTER
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:cp-deploy"
API_URL = "https://gatling.example/api/public"
API_TOKEN = "gat_unit_secret_token_0123456789"
HEALTH_ENV = {
    "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
    "SELF_HEAL_AFTER_FAILURES": "3",
    "SELF_HEAL_MIN_INTERVAL_MINUTES": "60",
    "SERVER_PORT": "8080",
    "HTTP_TIMEOUT_SECONDS": "1",
    "GATLING_API_URL": API_URL,
}


def settings(**overrides: str) -> Settings:
    return fakes.settings(**{**HEALTH_ENV, **overrides})


def revision_arn(number: int) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{fakes.FAMILY}:{number}"


def when(minute: float) -> datetime:
    return datetime.fromtimestamp(fakes.START.timestamp() + minute * 60, UTC)


def ecs(
    *, service_status: str = "ACTIVE", desired: int = 1, task_definition: str = revision_arn(2)
) -> fakes.FakeEcs:
    """The ECS of a service deployed an hour ago: set to `task_definition` (deployment `ecs-svc/1`),
    revisions 1 (config not pinned), 2 (version v1) and 3 (v2), no task yet."""
    found = fakes.FakeEcs()
    for number, version in ((1, None), (2, "v1"), (3, "v2")):
        found.add_revision(number, version, registered_at=when(-120))
    assert found.service is not None
    found.service.update(status=service_status, desiredCount=desired, taskDefinition=task_definition)
    found.service["deployments"] = [
        {
            "id": "ecs-svc/1",
            "status": "PRIMARY",
            "taskDefinition": task_definition,
            "rolloutState": "COMPLETED",
            "createdAt": when(-60),
        }
    ]
    return found


class FakeSfn:
    """StartExecution and DescribeExecution; `finish(name, status, error)` ends an execution."""

    class exceptions:
        class ExecutionDoesNotExist(Exception):
            pass

    def __init__(self, *, fail_start: str | None = None) -> None:
        self.started: list[dict[str, Any]] = []
        self.statuses: dict[str, dict[str, Any]] = {}
        self.fail_start = fail_start

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if self.fail_start:
            raise ClientError({"Error": {"Code": self.fail_start, "Message": "refused"}}, "StartExecution")
        arn = stateMachineArn.replace(":stateMachine:", ":execution:") + ":" + name
        self.started.append(
            {"stateMachineArn": stateMachineArn, "name": name, "input": json.loads(input), "arn": arn}
        )
        self.statuses[arn] = {"status": "RUNNING"}
        return {"executionArn": arn, "startDate": when(0)}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if executionArn not in self.statuses:
            raise self.exceptions.ExecutionDoesNotExist(executionArn)
        return dict(self.statuses[executionArn])

    def finish(self, arn: str, status: str = "SUCCEEDED", error: str | None = None) -> None:
        self.statuses[arn] = {"status": status, "stopDate": when(99), **({"error": error} if error else {})}

    def is_running(self, arn: str) -> bool:
        return self.statuses.get(arn, {}).get("status") == "RUNNING"


def probe(http: FakeHttp) -> Probe:
    """The probe function's logic run in-process, on the fake transport."""
    return lambda private_ip, port: probe_info(private_ip, port, http_get=http, timeout=3)


class FakeHttp:
    """`http_get` answering by URL substring: an HttpResponse, or an exception to raise."""

    def __init__(self, answers: Mapping[str, HttpResponse | Exception] | None = None) -> None:
        self.answers = dict(answers or {})
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, headers: Mapping[str, str], timeout: float) -> HttpResponse:
        self.requests.append((url, dict(headers)))
        for part, answer in self.answers.items():
            if part in url:
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise HttpUnreachable(f"ConnectionRefusedError: nothing listens for {url}")


def info_ok() -> HttpResponse:
    return HttpResponse(200, b'{"status":"UP"}')


def locations(*ids: str) -> HttpResponse:
    return HttpResponse(
        200, json.dumps({"data": [{"_type": "private_location", "_id": i} for i in ids]}).encode()
    )


@dataclass
class Aws:
    """moto's DynamoDB (the records table from template.yaml) and S3 (the versioned config bucket)."""

    dynamodb: Any
    s3: Any
    versions: list[str]

    def store(self) -> RecordStore:
        return RecordStore(dynamodb=self.dynamodb, table=fakes.TABLE, service=CLUSTER)

    def set_last_good(self, version_id: str, task_definition: str = revision_arn(2)) -> LastGood:
        last_good = LastGood(
            version_id=version_id,
            sha256="a" * 64,
            task_definition_arn=task_definition,
            deployment_id="ecs-svc/1",
            deployed_at=when(-60).isoformat(),
            execution_name="exec-1",
            newest_sequencer=None,
        )
        self.store().set_last_good(last_good)
        return last_good

    def upload(self, body: bytes = fakes.VALID_CONFIG) -> str:
        version = str(self.s3.put_object(Bucket=fakes.BUCKET, Key=fakes.KEY, Body=body)["VersionId"])
        self.versions.append(version)
        return version


@contextmanager
def aws(monkeypatch: Any, *, configs: list[bytes] | None = None) -> Iterator[Aws]:
    configs = configs if configs is not None else [fakes.VALID_CONFIG]
    with fakes.records_and_config(monkeypatch, configs) as (dynamodb, s3, versions):
        yield Aws(dynamodb=dynamodb, s3=s3, versions=versions)
