"""What EventBridge sends a target: Input, InputPath, InputTransformer with its quoting rules."""

from __future__ import annotations

import json

import pytest

from cpctl.twin.eventbridge import DeliveryError, json_path, target_input

EVENT = {
    "id": "e-1",
    "time": "2026-01-01T00:00:00Z",
    "detail": {
        "bucket": {"name": "b"},
        "object": {"key": "control-plane.conf", "size": 42, "version-id": "v1", "sequencer": "0A"},
    },
}
RULE = {"rule_name": "rule", "rule_arn": "arn:aws:events:eu-west-1:123456789012:rule/rule"}


def test_unquoted_placeholders_insert_json_values() -> None:
    target = {
        "Arn": "arn:aws:states:eu-west-1:123456789012:stateMachine:m",
        "InputTransformer": {
            "InputPathsMap": {
                "key": "$.detail.object.key",
                "size": "$.detail.object.size",
                "v": "$.detail.object.version-id",
            },
            "InputTemplate": '{"key": <key>, "size": <size>, "version_id": <v>}',
        },
    }
    assert json.loads(target_input(target, EVENT, **RULE)) == {
        "key": "control-plane.conf",
        "size": 42,
        "version_id": "v1",
    }


def test_quoted_placeholders_insert_the_string_without_quotes() -> None:
    target = {
        "Arn": "arn",
        "InputTransformer": {
            "InputPathsMap": {"key": "$.detail.object.key"},
            "InputTemplate": '{"text": "uploaded <key> by <aws.events.rule-name>"}',
        },
    }
    assert json.loads(target_input(target, EVENT, **RULE)) == {"text": "uploaded control-plane.conf by rule"}


def test_a_missing_path_is_null_and_input_path_and_input_work() -> None:
    transformer = {"InputPathsMap": {"x": "$.detail.nothing"}, "InputTemplate": '{"x": <x>}'}
    assert json.loads(target_input({"Arn": "a", "InputTransformer": transformer}, EVENT, **RULE)) == {
        "x": None
    }
    assert json.loads(target_input({"Arn": "a", "InputPath": "$.detail.bucket"}, EVENT, **RULE)) == {
        "name": "b"
    }
    assert target_input({"Arn": "a", "Input": '{"fixed": 1}'}, EVENT, **RULE) == '{"fixed": 1}'
    assert json.loads(target_input({"Arn": "a"}, EVENT, **RULE)) == EVENT


def test_unsupported_json_paths_fail_loudly() -> None:
    assert json_path(EVENT, "$.detail['bucket'].name") == "b"
    with pytest.raises(DeliveryError, match="unsupported JSONPath"):
        json_path(EVENT, "$.detail.*")
