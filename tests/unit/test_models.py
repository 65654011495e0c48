"""The payloads: both trigger shapes, the rule's clean input, and every sample in events/."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import pytest
from controlplane import models
from controlplane.codec import dump, parse

from tests.conftest import load_template
from tests.unit import workflow_fakes as fakes

HANDLER_INPUTS: dict[str, type[msgspec.Struct]] = {
    "admit_deployment.json": models.AdmitDeploymentInput,
    "validate_config.json": models.ValidateConfigInput,
    "register_revision.json": models.RegisterRevisionInput,
    "start_rollout.json": models.StartRolloutInput,
    "await_rollout.json": models.AwaitRolloutInput,
    "await_control_plane_up.json": models.AwaitControlPlaneUpInput,
    "await_load_tests.json": models.AwaitLoadTestsInput,
    "bake_control_plane.json": models.BakeInput,
    "roll_back.json": models.RollBackInput,
    "record_outcome.json": models.RecordOutcomeInput,
    "probe_info.json": models.ProbeInfoInput,
}


def rule_target() -> dict[str, Any]:
    events = load_template()["Resources"]["DeployStateMachine"]["Properties"]["Events"]
    return dict(events["ConfigUploaded"]["Properties"])


def transform(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge's InputTransformer: each unquoted <placeholder> becomes the JSON value at its path."""
    transformer = rule_target()["InputTransformer"]
    values = {}
    for name, path in transformer["InputPathsMap"].items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values[name] = value
    text = re.sub(r"<(\w+)>", lambda m: json.dumps(values[m.group(1)]), transformer["InputTemplate"])
    return dict(json.loads(text))


def test_the_upload_rule_turns_the_s3_event_into_a_clean_upload_request() -> None:
    raw = fakes.event("s3_object_created.json")
    request = parse(models.DeploymentRequest, transform(raw))
    assert request.source == "upload"
    assert request.version_id == raw["detail"]["object"]["version-id"]
    assert request.sequencer == raw["detail"]["object"]["sequencer"]
    assert request.size == raw["detail"]["object"]["size"]
    assert request.event_id == raw["id"]
    assert set(transform(raw)) == {
        "source",
        "bucket",
        "key",
        "version_id",
        "etag",
        "size",
        "sequencer",
        "event_id",
        "event_time",
    }


def test_the_upload_rule_matches_only_the_config_object_of_this_stack() -> None:
    pattern = rule_target()["Pattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "ConfigBucket"}]
    assert pattern["detail"]["object"]["key"] == [{"Ref": "ConfigObjectKey"}]


@pytest.mark.parametrize("name", ["manual_redeploy.json", "manual_rollback.json"])
def test_manual_samples_are_manual_requests(name: str) -> None:
    request = parse(models.DeploymentRequest, fakes.event(name))
    assert request.source == "manual"
    assert request.reason
    assert (request.version_id is not None) == (name == "manual_rollback.json")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"reason": "  "},
        {"version_id": "abc"},
        {"versionId": "abc", "reason": "typo must not redeploy the latest"},
        {"reason": "x", "sequencer": "00AB"},
        {"source": "upload", "bucket": "b", "key": "k"},
        {"source": "other", "reason": "x"},
    ],
)
def test_malformed_requests_are_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        parse(models.DeploymentRequest, payload)


@pytest.mark.parametrize(("name", "model"), sorted(HANDLER_INPUTS.items()))
def test_every_handler_sample_parses_into_its_input_model(name: str, model: type[msgspec.Struct]) -> None:
    parse(model, fakes.event(name))


def test_every_handler_has_a_sample() -> None:
    names = {path.name for path in fakes.EVENTS.glob("*.json")}
    assert (
        set(HANDLER_INPUTS) | {"s3_object_created.json", "manual_redeploy.json", "manual_rollback.json"}
        == names
    )


def test_a_step_refuses_a_state_that_skipped_the_step_before() -> None:
    state = fakes.event("validate_config.json")  # admitted, not validated
    with pytest.raises(msgspec.ValidationError, match="config"):
        parse(models.RegisterRevisionInput, state)


def test_the_state_survives_a_round_trip_through_json() -> None:
    state = parse(models.RollBackInput, fakes.event("roll_back.json"))
    again = parse(models.RollBackInput, json.loads(json.dumps(dump(state))))
    assert again == state


def test_a_task_failure_says_when_the_config_download_failed() -> None:
    state = parse(models.RollBackInput, fakes.event("roll_back.json"))
    assert state.rollout.failure is not None
    text = state.rollout.failure.describe()
    assert "config-loader: exit code 254" in text
    assert "the config download from S3 failed" in text
    assert "EssentialContainerExited" in text
