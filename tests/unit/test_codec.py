"""The payloads' validation and JSON form: what parses, what is refused, what a handler returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from controlplane import models
from controlplane.codec import describe, dump, parse
from controlplane.handler import parse_event

from tests.unit import workflow_fakes as fakes


def test_a_state_is_written_with_every_field_and_utc_as_z() -> None:
    state = parse(models.RollBackInput, fakes.event("roll_back.json"))
    written = dump(state)
    # Every field, None included: the ASL's Choice states read paths that may be null.
    assert set(written) == set(models.WorkflowState.__struct_fields__)
    assert written["result"] is None
    assert set(written["rollout"]) == set(models.Watch.__struct_fields__)
    started = datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    again = msgspec.structs.replace(state.execution, started_at=started)
    assert dump(again)["started_at"] == "2026-01-02T03:04:05.123000Z"
    offset = started.astimezone(timezone(timedelta(hours=2)))
    assert dump(msgspec.structs.replace(again, started_at=offset))["started_at"] == (
        "2026-01-02T05:04:05.123000+02:00"
    )
    assert json.loads(json.dumps(written)) == written


@pytest.mark.parametrize(
    "started_at",
    [
        "2026-01-02T03:04:05.123Z",  # $$.Execution.StartTime
        "2026-01-02T03:04:05Z",  # an S3 event's time as EventBridge delivers it
        "2026-01-02T03:04:05.123000+00:00",  # datetime.isoformat(), as records store it
        "2026-01-02 03:04:05+00:00",
        1767323045,  # epoch seconds, which the models have always taken
    ],
)
def test_the_forms_of_a_time_that_parse(started_at: Any) -> None:
    execution = parse(models.ExecutionRef, {"id": "arn", "name": "n", "started_at": started_at})
    assert execution.started_at.replace(microsecond=0) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_numbers_given_as_text_parse_as_they_did() -> None:
    request = parse(models.DeploymentRequest, {**transformed_upload(), "size": "12"})
    assert request.size == 12


@pytest.mark.parametrize(
    ("given", "forced"), [(True, True), ("true", True), (1, True), (False, False), ("false", False)]
)
def test_a_manual_request_forces_only_with_a_boolean_or_its_json_text(given: object, forced: bool) -> None:
    assert parse(models.DeploymentRequest, {"reason": "r", "force": given}).force is forced


@pytest.mark.parametrize("given", ["yes", "on", "y", "force", 2])
def test_a_manual_request_refuses_other_words_for_force(given: object) -> None:
    with pytest.raises(msgspec.ValidationError) as refused:
        parse(models.DeploymentRequest, {"reason": "r", "force": given})
    assert describe(refused.value).startswith("force: ")


def transformed_upload() -> dict[str, Any]:
    return {
        "source": "upload",
        "bucket": "b",
        "key": "control-plane.conf",
        "version_id": "v1",
        "etag": "e",
        "size": 10,
        "sequencer": "00AB",
        "event_id": "id",
        "event_time": "2026-01-02T03:04:05Z",
    }


@pytest.mark.parametrize(
    ("model", "payload", "named"),
    [
        (models.DeploymentRequest, {**transformed_upload(), "size": -1}, "size"),
        (models.DeploymentRequest, {**transformed_upload(), "sequencer": "00AB\n"}, "sequencer"),
        (models.DeploymentRequest, {**transformed_upload(), "size": True}, "size"),
        (models.DeploymentRequest, {"reason": "r", "extra": 1}, "extra"),
        (models.ProbeInfoInput, {"private_ip": "10.0.0.1", "port": 0}, "port"),
        (models.ProbeInfoInput, {"private_ip": "10.0.0.1\n", "port": 80}, "private_ip"),
        (models.OutcomeResult, {"outcome": "failed", "error": None, "cause": "", "record_key": "k"}, "cause"),
        (models.ProbeInfoResult, {"answered": True, "problem": "no answer"}, "problem"),
        (models.ExecutionRef, {"id": "arn", "name": "n", "started_at": "yesterday"}, "started_at"),
    ],
)
def test_what_does_not_fit_is_refused_naming_the_field(
    model: type[msgspec.Struct], payload: dict[str, Any], named: str
) -> None:
    with pytest.raises(msgspec.ValidationError) as refused:
        parse(model, payload)
    assert named in describe(refused.value)


def test_the_field_comes_first_in_a_described_error() -> None:
    state = fakes.event("admit_deployment.json")
    state["request"]["reason"] = 5
    with pytest.raises(msgspec.ValidationError) as refused:
        parse(models.AdmitDeploymentInput, state)
    assert describe(refused.value) == "request.reason: Expected `str | null`, got `int`"


def test_the_two_model_rules_hold_for_a_constructed_payload_too() -> None:
    with pytest.raises(ValueError, match="says what went wrong"):
        models.ProbeInfoResult(answered=False)
    with pytest.raises(ValueError, match="needs a reason"):
        models.DeploymentRequest(reason=" ")


def test_a_handler_given_a_bad_event_fails_with_the_error_step_functions_names() -> None:
    @parse_event(models.ProbeInfoInput)
    def handler(event: models.ProbeInfoInput, context: Any) -> int:
        return event.port

    assert handler({"private_ip": "10.0.0.1", "port": 8080}, None) == 8080
    assert handler('{"private_ip": "10.0.0.1", "port": 8080}', None) == 8080
    with pytest.raises(msgspec.ValidationError) as refused:
        handler({"private_ip": "10.0.0.1"}, None)
    # Lambda reports the exception's class name as errorType; the ASL catches States.ALL.
    assert type(refused.value).__name__ == "ValidationError"
    assert "port" in str(refused.value)
