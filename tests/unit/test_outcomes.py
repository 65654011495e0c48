"""The end of every execution: its outcome, record, last-good pointer, pruning, notification and unlock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import msgspec
import pytest
from controlplane.codec import dump, parse
from controlplane.errors import InconsistentState
from controlplane.models import (
    CaughtError,
    FailureReport,
    RecordOutcomeInput,
    Rollback,
    TaskFailure,
    ValidationReport,
    WorkflowState,
)
from controlplane.outcomes import decide, finish
from controlplane.records import LastGood, RecordStore, Ticket
from controlplane.validation import Finding
from moto import mock_aws
from moto.sns.models import sns_backends

from tests.unit import workflow_fakes as fakes

SUCCESS = parse(RecordOutcomeInput, fakes.event("record_outcome.json"))
FAILURE = FailureReport(
    phase="rollout",
    reason="ECS marked deployment FAILED: circuit breaker",
    tasks=[
        TaskFailure(
            task_arn="arn:aws:ecs:x:1:task/cp/t1", stop_code="EssentialContainerExited", side_car_failed=True
        )
    ],
    log_lines=["[config-loader] An error occurred (AccessDenied)"],
)
LAMBDA_CAUSE = json.dumps(
    {"errorMessage": "boom at register", "errorType": "TaskDefinitionUnsupported", "stackTrace": []}
)


def rejected() -> WorkflowState:
    errors = [
        Finding(line=4, column=19, path="control-plane.locations[0].id", message='id "BAD" is not an id')
    ]
    report = ValidationReport(valid=False, errors=errors, warnings=[], validated_at=fakes.START)
    return msgspec.structs.replace(
        SUCCESS, validation=report, config=None, revision=None, rollout=None, up=None
    )


def rolled_back(status: str = "succeeded") -> WorkflowState:
    rollback = Rollback(
        failure=FAILURE,
        target_task_definition_arn="arn:aws:ecs:x:1:task-definition/cp:7",
        status=status,
        problem="it failed too" if status == "failed" else None,
    )  # type: ignore[arg-type]
    return msgspec.structs.replace(SUCCESS, up=None, rollback=rollback)


# ---------------------------------------------------------------- deciding


def test_success() -> None:
    result, _ = decide(SUCCESS)
    assert (result.outcome, result.error) == ("succeeded", None)


def test_a_rejected_config_lists_every_error_with_its_line() -> None:
    result, _ = decide(rejected())
    assert (result.outcome, result.error) == ("rejected", "ConfigRejected")
    assert 'line 4, column 19: id "BAD" is not an id [control-plane.locations[0].id]' in result.cause
    assert "not touched" in result.cause


def test_a_rollback_names_the_reasons() -> None:
    result, _ = decide(rolled_back())
    assert (result.outcome, result.error) == ("rolled_back", "DeploymentRolledBack")
    assert "back on arn:aws:ecs:x:1:task-definition/cp:7" in result.cause
    assert "config download from S3 failed" in result.cause and "AccessDenied" in result.cause


def test_a_rollback_ecs_made_by_itself_says_so() -> None:
    state = rolled_back()
    state = msgspec.structs.replace(state, rollback=msgspec.structs.replace(state.rollback, started_by="ecs"))  # type: ignore[union-attr]
    result, _ = decide(state)
    assert (result.outcome, result.error) == ("rolled_back", "DeploymentRolledBack")
    assert "ECS rolled the service back to arn:aws:ecs:x:1:task-definition/cp:7 by itself" in result.cause


@pytest.mark.parametrize(
    "state",
    [
        rolled_back("failed"),
        rolled_back("in_progress"),
        msgspec.structs.replace(
            SUCCESS, up=None, rollback_error=CaughtError(Error="States.Timeout", Cause="")
        ),
    ],
)
def test_a_failed_rollback_asks_for_manual_action(state: WorkflowState) -> None:
    result, _ = decide(state)
    assert (result.outcome, result.error) == ("rollback_failed", "RollbackFailed")
    assert result.cause.startswith("Manual action needed")


def test_failures_before_the_service_changed() -> None:
    early = msgspec.structs.replace(
        SUCCESS,
        up=None,
        rollout=None,
        revision=None,
        error=CaughtError(Error="TaskDefinitionUnsupported", Cause=LAMBDA_CAUSE),
    )
    result, _ = decide(early)
    assert (result.outcome, result.error) == ("failed", "DeploymentFailed")
    assert "TaskDefinitionUnsupported: boom at register" in result.cause and "not changed" in result.cause
    not_needed = rolled_back("not_needed")
    assert decide(not_needed)[0].outcome == "failed"
    assert SUCCESS.admission is not None
    queue = msgspec.structs.replace(
        SUCCESS,
        up=None,
        admission=msgspec.structs.replace(
            SUCCESS.admission, decision="timed_out", detail="gave up after 30 minutes"
        ),
    )
    assert "gave up after 30 minutes" in decide(queue)[0].cause


def test_a_state_without_an_outcome_is_an_error() -> None:
    with pytest.raises(InconsistentState):
        decide(msgspec.structs.replace(SUCCESS, up=None))


# ---------------------------------------------------------------- finishing


@dataclass
class World:
    store: RecordStore
    ecs: fakes.FakeEcs
    sns: Any
    topic: str
    s3: Any

    def finish(self, state: WorkflowState) -> WorkflowState:
        settings = fakes.settings(NOTIFICATION_TOPIC_ARN=self.topic)
        return finish(
            parse(RecordOutcomeInput, dump(state)),
            store=self.store,
            ecs=self.ecs,  # type: ignore[arg-type]
            sns=self.sns,
            s3=self.s3,
            settings=settings,
        )

    def notifications(self) -> list[tuple[str, str | None]]:
        topic = sns_backends[fakes.ACCOUNT][fakes.REGION].topics[self.topic]
        return [(message, subject) for _, message, subject, _, _ in topic.sent_notifications]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in fakes.ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws(), fakes.fake_clock():
        dynamodb = boto3.client("dynamodb", region_name=fakes.REGION)
        fakes.create_records_table(dynamodb)
        sns = boto3.client("sns", region_name=fakes.REGION)
        topic = sns.create_topic(Name="deployments")["TopicArn"]
        store = RecordStore(dynamodb=dynamodb, table=fakes.TABLE, service=fakes.CLUSTER)
        store.acquire_lock(
            Ticket(SUCCESS.execution.name, SUCCESS.execution.id, "v", "upload", None, 0),
            now=0,
            lease_seconds=10**10,
            acquired_at_iso="t",
            replacing=None,
        )
        s3 = boto3.client("s3", region_name=fakes.REGION)
        yield World(store, fakes.FakeEcs(), sns, topic, s3)


def test_a_success_is_recorded_becomes_last_good_prunes_notifies_and_unlocks(world: World) -> None:
    assert SUCCESS.revision is not None and SUCCESS.config is not None and SUCCESS.rollout is not None
    arns = []
    for revision in range(2, 9):
        definition = fakes.task_definition(revision)
        world.ecs.task_definitions[definition["taskDefinitionArn"]] = definition
        arns.append(definition["taskDefinitionArn"])
    world.store.set_last_good(LastGood("v0", "0" * 64, arns[0], "d0", "t", "e0", "0" * 64))
    state = world.finish(SUCCESS)
    assert state.result is not None and state.result.outcome == "succeeded"
    (record,) = world.store.deployments()
    assert record.outcome == "succeeded" and record.version_id == SUCCESS.config.version_id
    assert record.sha256 == SUCCESS.config.sha256 and record.deployment_id == SUCCESS.rollout.deployment_id
    assert record.task_definition_arn == SUCCESS.revision.task_definition_arn and record.source == "upload"
    assert record.phase_seconds == {
        "queue": 1.0,
        "validation": 1.0,
        "registration": 1.0,
        "rollout": 90.0,
        "control_plane_up": 15.0,
        "total": record.phase_seconds["total"],
    }
    assert world.store.deployment(state.result.record_key) == record
    good = world.store.last_good()
    assert good is not None and good.task_definition_arn == SUCCESS.revision.task_definition_arn
    assert good.newest_sequencer == SUCCESS.config.sequencer, "the newest upload deployed moves forward"
    assert arns[0] not in world.ecs.deregistered, "the previous last good one is kept"
    assert world.ecs.service["taskDefinition"] not in world.ecs.deregistered, "the one in use is kept"
    assert sorted(world.ecs.deregistered) == sorted(arns[1:4])
    assert world.store.lock() is None
    ((message, subject),) = world.notifications()
    assert subject is not None and "deployed" in subject and len(subject) < 100
    assert SUCCESS.config.version_id in message and SUCCESS.revision.task_definition_arn in message
    version = world.store.version(SUCCESS.config.version_id)
    assert version is not None and version["status"] == "succeeded"


def test_a_rejection_is_recorded_and_notified_with_its_errors_and_moves_nothing(world: World) -> None:
    state = world.finish(rejected())
    assert state.result is not None and state.result.outcome == "rejected"
    (record,) = world.store.deployments()
    assert record.validation_errors == [
        'line 4, column 19: id "BAD" is not an id [control-plane.locations[0].id]'
    ]
    assert world.store.last_good() is None and world.ecs.deregistered == []
    ((message, subject),) = world.notifications()
    assert "rejected" in (subject or "") and 'line 4, column 19: id "BAD"' in message
    assert world.store.lock() is None


def test_a_rollback_is_recorded_with_its_reasons_and_moves_nothing(world: World) -> None:
    world.finish(rolled_back())
    (record,) = world.store.deployments()
    assert record.outcome == "rolled_back"
    assert record.failure.tasks[0].stop_code == "EssentialContainerExited"
    assert record.failure.log_lines == ["[config-loader] An error occurred (AccessDenied)"]
    assert record.rollback.target_task_definition_arn == "arn:aws:ecs:x:1:task-definition/cp:7"
    assert record.rollback.started_by == "workflow"
    assert world.store.last_good() is None and world.ecs.deregistered == []
    assert world.store.lock() is None


def test_a_rollback_onto_an_image_pinned_copy_makes_the_copy_the_last_good_revision(world: World) -> None:
    good = LastGood(
        "v0", "0" * 64, "arn:aws:ecs:x:1:task-definition/cp:5", "d0", "t", "e0", None, {"cp": "sha256:1"}
    )
    world.store.set_last_good(good)
    state = rolled_back()
    assert state.rollback is not None
    state = msgspec.structs.replace(
        state,
        rollback=msgspec.structs.replace(
            state.rollback, restores_task_definition_arn=good.task_definition_arn
        ),
    )
    world.finish(state)
    (record,) = world.store.deployments()
    assert record.rollback.restores_task_definition_arn == good.task_definition_arn
    moved = world.store.last_good()
    assert moved is not None and moved.task_definition_arn == "arn:aws:ecs:x:1:task-definition/cp:7"
    assert (moved.version_id, moved.sha256, moved.image_digests) == (
        good.version_id,
        good.sha256,
        good.image_digests,
    )
    assert world.ecs.deregistered == []


def test_a_failed_rollback_says_manual_action_needed_and_changes_nothing_more(world: World) -> None:
    calls = list(world.ecs.calls)
    state = world.finish(rolled_back("failed"))
    assert state.result is not None and state.result.error == "RollbackFailed"
    ((message, subject),) = world.notifications()
    assert "manual action needed" in (subject or "") and "Manual action needed" in message
    assert world.ecs.calls == calls, "no ECS call at all"
    assert world.store.last_good() is None


def test_recording_twice_does_not_duplicate_the_history(world: World) -> None:
    world.finish(rejected())
    world.finish(rejected())
    assert len(world.store.deployments()) == 1


def test_a_retried_recording_whose_first_attempt_ran_notifies_once(world: World) -> None:
    world.finish(SUCCESS)
    world.finish(SUCCESS)  # Step Functions retried a Lambda service error after the function ran
    assert len(world.store.deployments()) == 1
    assert len(world.notifications()) == 1
    assert world.store.lock() is None


def test_a_notification_lists_every_error_even_when_the_cause_is_cut(world: World) -> None:
    many = [
        Finding(line=n, column=1, path=None, message=f"error number {n} " + "x" * 60) for n in range(1, 151)
    ]
    state = rejected()
    assert state.validation is not None
    state = msgspec.structs.replace(
        state, validation=msgspec.structs.replace(state.validation, errors=many, omitted_findings=7)
    )
    result = world.finish(state).result
    assert result is not None and len(result.cause) <= 4000 and "truncated" in result.cause
    ((message, _),) = world.notifications()
    assert all(f"line {n}, column 1: error number {n} " in message for n in range(1, 151))
    assert message.count("error number 1 ") == 1 + ("error number 1 " in result.cause)


# ---------------------------------------------------------------- warnings that explain a failure

TOKEN_WARNING = Finding(
    line=3,
    column=3,
    path="control-plane.token",
    message="a literal token is set while the stack injects CONTROL_PLANE_TOKEN: the secret is ignored",
)


def warned(state: WorkflowState) -> WorkflowState:
    report = ValidationReport(valid=True, errors=[], warnings=[TOKEN_WARNING], validated_at=fakes.START)
    return msgspec.structs.replace(state, validation=report)


def test_a_failure_after_a_warning_shows_the_warning_in_its_cause() -> None:
    result, _ = decide(warned(rolled_back()))
    assert (result.outcome, result.error) == ("rolled_back", "DeploymentRolledBack")
    assert result.cause.startswith("Version ")
    assert "line 3, column 3: a literal token is set while the stack injects" in result.cause


def test_a_success_keeps_its_cause_without_the_warnings() -> None:
    result, _ = decide(warned(SUCCESS))
    assert result.outcome == "succeeded" and "literal token" not in result.cause


def test_the_warnings_reach_the_record_and_the_notification(world: World) -> None:
    world.finish(warned(rolled_back()))
    (record,) = world.store.deployments()
    assert record.validation_warnings == [
        "line 3, column 3: a literal token is set while the stack injects CONTROL_PLANE_TOKEN: the secret is "
        "ignored [control-plane.token]"
    ]
    ((message, _),) = world.notifications()
    assert "a literal token is set while the stack injects" in message
