"""Stopped-task reasons outlive ECS's hour: every STOPPED event of the service becomes one record."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import pytest
from controlplane import settings as settings_module
from controlplane.codec import parse
from controlplane.records import STOPPED_PREFIX, STOPPED_TTL_DAYS, RecordStore
from controlplane.stopped_tasks import EcsTaskStateChange, record_stopped_task

from tests.unit import health_fakes as hf
from tests.unit import workflow_fakes as fakes

SAMPLE = fakes.EVENTS / "health" / "record_stopped_task.json"


def sample(**detail: Any) -> dict[str, Any]:
    event = json.loads(SAMPLE.read_text())
    event["detail"].update(detail)
    return dict(event)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordStore]:
    with hf.aws(monkeypatch) as aws:
        yield RecordStore(dynamodb=aws.dynamodb, table=fakes.TABLE, service=hf.CLUSTER)


def record(store: RecordStore, event: dict[str, Any]) -> Any:
    with fakes.fake_clock():
        return record_stopped_task(parse(EcsTaskStateChange, event), store=store, settings=hf.settings())


def test_a_stopped_task_is_recorded_with_its_reasons_for_thirty_days(store: RecordStore) -> None:
    result = record(store, sample())

    assert result.status == "recorded"
    assert (
        result.record_key
        == f"{STOPPED_PREFIX}2026-11-29T03:02:10.875000+00:00#8f0e1d2c3b4a59687766554433221100"
    )
    [item] = store._query_prefix(STOPPED_PREFIX)
    assert item["kind"] == "stopped_task"
    assert item["stop_code"] == "EssentialContainerExited"
    assert item["stopped_reason"] == "Essential container in task exited"
    assert item["task_definition_arn"].endswith("task-definition/cp:3")
    assert item["started_by"] == "ecs-svc/1234567890123456789"
    control_plane = next(c for c in item["containers"] if c["name"] == "control-plane")
    assert control_plane == {
        "name": "control-plane",
        "exit_code": 137,
        "reason": "OutOfMemoryError: Container killed due to memory usage",
    }
    assert item["side_car_failed"] is False
    assert item["expires_at"] == int(fakes.START.timestamp()) + STOPPED_TTL_DAYS * 86_400
    assert "control-plane: exit code 137, OutOfMemoryError" in result.detail


def test_a_redelivered_event_writes_the_same_record(store: RecordStore) -> None:
    record(store, sample())
    record(store, sample())
    assert len(store._query_prefix(STOPPED_PREFIX)) == 1


def test_a_failed_side_car_is_named(store: RecordStore) -> None:
    event = sample()
    event["detail"]["containers"][0]["exitCode"] = 254
    result = record(store, event)
    assert result.task is not None and result.task.side_car_failed
    assert "config download from S3 failed" in result.detail


@pytest.mark.parametrize(
    ("detail", "why"),
    [
        ({"lastStatus": "RUNNING"}, "not STOPPED"),
        ({"group": "service:other"}, "not of service:cp"),
        ({"group": "family:cp"}, "not of service:cp"),
        ({"clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/other"}, "not of service:cp in cp"),
    ],
)
def test_events_of_other_tasks_are_ignored(store: RecordStore, detail: dict[str, Any], why: str) -> None:
    result = record(store, sample(**detail))
    assert result.status == "ignored" and why in result.detail
    assert not store._query_prefix(STOPPED_PREFIX)


def test_nothing_resembling_a_token_is_stored(store: RecordStore) -> None:
    event = sample(stoppedReason="CannotStartContainerError: token = cpt_live_0123456789abcdef leaked")
    event["detail"]["containers"][1]["reason"] = "Authorization: cpt_live_0123456789abcdef"
    record(store, event)
    [item] = store._query_prefix(STOPPED_PREFIX)
    assert "cpt_live_0123456789abcdef" not in json.dumps(item)


def test_the_newest_stopped_tasks_come_first(store: RecordStore) -> None:
    for index, stopped in enumerate(("2026-11-29T01:00:00Z", "2026-11-29T03:00:00Z", "2026-11-29T02:00:00Z")):
        event = copy.deepcopy(sample(stoppedAt=stopped))
        event["detail"]["taskArn"] = event["detail"]["taskArn"][:-1] + str(index)
        record(store, event)
    assert [task.stopped_at.hour for task in store.stopped_tasks(limit=2)] == [3, 2]


def test_the_handler_records_the_sample_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from record_stopped_task.app import lambda_handler

    with hf.aws(monkeypatch) as aws:
        for name, value in hf.HEALTH_ENV.items():
            monkeypatch.setenv(name, value)
        settings_module.reset_settings()
        from controlplane.aws_clients import reset_clients

        reset_clients()
        output = io.StringIO()
        with redirect_stdout(output):
            result = lambda_handler(json.loads(SAMPLE.read_text()), fakes.FakeLambdaContext())
        settings_module.reset_settings()
        reset_clients()
        items = RecordStore(dynamodb=aws.dynamodb, table=fakes.TABLE, service=hf.CLUSTER).stopped_tasks()
    assert result["status"] == "recorded" and len(items) == 1
    emf = [json.loads(line) for line in output.getvalue().splitlines() if '"_aws"' in line]
    assert any("StoppedTasks" in doc and doc["stop_code"] == "EssentialContainerExited" for doc in emf)


def test_the_health_check_sample_parses_into_its_trigger() -> None:
    from check_health.app import HealthCheckTrigger

    trigger = parse(
        HealthCheckTrigger, json.loads((fakes.EVENTS / "health" / "check_health.json").read_text())
    )
    assert trigger.detail_type == "Scheduled Event"
    assert parse(HealthCheckTrigger, {}).id is None, "a hand-made {} works too"
