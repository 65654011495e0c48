"""The end of every deployment: decide the outcome, record it, move the last-good pointer, prune old
revisions, notify, and release the lock. The Fail state then ends the execution with `error`/`cause`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
from botocore.exceptions import ClientError

from controlplane import clock
from controlplane.config_versions import mark_retention
from controlplane.errors import InconsistentState, error_of_outcome
from controlplane.models import Finding, Outcome, OutcomeResult, RecordOutcomeInput, WorkflowState
from controlplane.notifications import notify
from controlplane.records import (
    BakeRecord,
    DeploymentRecord,
    LastGood,
    LoadTestsRecord,
    RecordStore,
    RollbackRecord,
    deployment_sk,
)
from controlplane.revisions import prune_revisions, service_task_definitions
from controlplane.rollback import error_message, failure_of
from controlplane.settings import Settings
from controlplane.telemetry import count_deployment, logger, record_phase_durations

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

MAX_CAUSE_CHARS = 4000


def format_finding(finding: Finding) -> str:
    where = f"line {finding.line}" if finding.line is not None else "file"
    if finding.line is not None and finding.column is not None:
        where += f", column {finding.column}"
    suffix = f" [{finding.path}]" if finding.path else ""
    return f"{where}: {finding.message}{suffix}"


def decide(state: WorkflowState) -> tuple[OutcomeResult, str]:
    """The outcome of an execution from its state: (result without record key, one-line summary).

    A version that failed after it was validated gets the validator's warnings on it in its cause:
    one may say why (a literal token the control plane used instead of the injected secret...).
    """
    result, summary = _decide(state)
    warnings = validation_warnings(state)
    if warnings and result.outcome in ("failed", "rolled_back", "rollback_failed"):
        cause = f"{result.cause}\nThe validator warned about this version; one may explain the failure:\n"
        result = msgspec.structs.replace(result, cause=_fit(cause + "\n".join(warnings)))
    return result, summary


def validation_warnings(state: WorkflowState) -> list[str]:
    """The validator's warnings on the deployed version, one line each."""
    return [format_finding(finding) for finding in state.validation.warnings] if state.validation else []


def _decide(state: WorkflowState) -> tuple[OutcomeResult, str]:
    version = state.admission.target.version_id if state.admission else state.request.version_id
    rollback = state.rollback
    if state.rollback_error is not None or (
        rollback is not None and rollback.status in ("failed", "in_progress")
    ):
        failure = rollback.failure if rollback is not None else failure_of(state)
        target = rollback.target_task_definition_arn if rollback is not None else None
        cause = (
            f"Manual action needed: version {version} failed and the rollback to "
            f"{target or 'the last good revision'} failed too; nothing more was changed.\n"
            f"Why the deployment failed: {failure.describe()}\n"
            f"Why the rollback failed: {_rollback_problem(state)}"
        )
        return _result("rollback_failed", cause), "rollback failed"
    if rollback is not None and rollback.status == "succeeded":
        back = (
            f"ECS rolled the service back to {rollback.target_task_definition_arn} by itself "
            "(the workflow watched that rollback complete rather than starting another)"
            if rollback.started_by == "ecs"
            else f"the service is back on {rollback.target_task_definition_arn}"
        )
        if rollback.restores_task_definition_arn:
            back += f" (a copy of {rollback.restores_task_definition_arn} with its images pinned to the digests it ran)"
        cause = (
            f"Version {version} failed and {back}. "
            f"Fix the config and upload it again.\nWhy: {rollback.failure.describe()}"
        )
        return _result("rolled_back", cause), "rolled back"
    if rollback is not None and rollback.status == "not_needed":
        cause = f"Version {version} was not deployed; the service was not changed.\nWhy: {rollback.failure.describe()}"
        return _result("failed", cause), "failed before the service changed"
    if state.validation is not None and state.validation.unchanged:
        cause = (
            f"Version {version} has the same content (sha256 {state.config.sha256 if state.config else '?'}) "
            f"as the config {state.validation.running_task_definition_arn} runs: recorded, the control "
            "plane was not restarted. To restart it anyway, start a manual redeploy."
        )
        return _result("unchanged", cause), "unchanged"
    if state.validation is not None and not state.validation.valid:
        errors = [format_finding(finding) for finding in state.validation.errors]
        if state.validation.omitted_findings:
            errors.append(f"... and {state.validation.omitted_findings} more findings (run cpctl validate)")
        cause = (
            f"Version {version} of s3://{state.admission.target.bucket if state.admission else '?'}/"
            f"{state.admission.target.key if state.admission else '?'} is invalid ({len(errors)} error(s)); "
            "the service was not touched.\n" + "\n".join(errors)
        )
        return _result("rejected", cause), "rejected"
    if state.error is not None:
        cause = f"Version {version} was not deployed; the service was not changed.\nWhy: {error_message(state.error)}"
        return _result("failed", cause), "failed before the service changed"
    if state.admission is not None and state.admission.decision != "admitted":
        cause = f"Version {version} was not deployed: {state.admission.detail}"
        return _result("failed", cause), "gave up waiting"
    if state.load_tests is not None and state.load_tests.status in ("gave_up", "waiting"):
        cause = (
            f"Version {version} was not deployed, so as not to restart the control plane under a load test; "
            f"the service was not changed: {state.load_tests.detail}. "
            'Upload it again when the run has ended, or start a manual request with "force": true.'
        )
        return _result("failed", cause), "gave up waiting for load tests"
    baked = state.bake is None or state.bake.status in ("passed", "off")
    if state.up is not None and state.up.status == "up" and state.revision is not None and baked:
        cause = f"Version {version} is deployed as {state.revision.task_definition_arn} and the control plane is up"
        if state.bake is not None and state.bake.status == "passed":
            cause += f", and stayed up through a {(state.bake.deadline - state.bake.started_at).total_seconds():.0f} s bake"
        cause += "."
        if state.up.monitoring_problem:
            cause += f"\nThe up-check could not check everything: {state.up.monitoring_problem}"
        return _result("succeeded", cause), "succeeded"
    raise InconsistentState("the workflow state names no outcome: no success, failure or rollback")


def _rollback_problem(state: WorkflowState) -> str:
    if state.rollback_error is not None:
        return error_message(state.rollback_error)
    if state.rollback is not None and state.rollback.status == "in_progress":
        return "gave up waiting for the rollback"
    if state.rollback is not None and state.rollback.problem:
        return state.rollback.problem
    return "unknown"


def _result(outcome: Outcome, cause: str) -> OutcomeResult:
    return OutcomeResult(outcome=outcome, error=error_of_outcome(outcome), cause=_fit(cause), record_key="")


def _fit(cause: str) -> str:
    """`cause`, cut to what the Fail state's cause holds."""
    if len(cause) > MAX_CAUSE_CHARS:
        cause = cause[: MAX_CAUSE_CHARS - 20] + "\n... (truncated)"
    return cause


def phase_seconds(state: WorkflowState, finished: datetime) -> dict[str, float]:
    """Time spent in each phase that ran, in seconds."""
    marks: list[tuple[str, datetime | None, datetime | None]] = []
    admitted = state.admission.admitted_at if state.admission else None
    marks.append(("queue", state.execution.started_at, admitted))
    validated = state.validation.validated_at if state.validation else None
    marks.append(("validation", admitted, validated))
    registered = state.revision.registered_at if state.revision else None
    waited = state.load_tests.finished_at if state.load_tests else None
    marks.append(("registration", waited or validated, registered))
    if state.rollout is not None:
        marks.append(("rollout", state.rollout.started_at, state.rollout.finished_at))
    if state.load_tests is not None:
        marks.append(("load_test_wait", state.load_tests.started_at, state.load_tests.finished_at))
    if state.up is not None:
        marks.append(("control_plane_up", state.up.started_at, state.up.finished_at))
    if state.bake is not None:
        marks.append(("bake", state.bake.started_at, state.bake.finished_at))
    if state.rollback is not None and state.rollback.watch is not None:
        marks.append(("rollback", state.rollback.watch.started_at, state.rollback.watch.finished_at))
    durations = {name: (end - start).total_seconds() for name, start, end in marks if start and end}
    durations["total"] = (finished - state.execution.started_at).total_seconds()
    return {name: round(max(seconds, 0.0), 3) for name, seconds in durations.items()}


def build_record(
    state: WorkflowState, result: OutcomeResult, *, settings: Settings, finished: datetime
) -> DeploymentRecord:
    """The history item of one execution (see docs/records.md)."""
    target = state.admission.target if state.admission else None
    rollout = state.rollout
    failure = None
    if (
        result.outcome != "succeeded"
        and result.outcome != "rejected"
        and (state.rollback or state.error or rollout)
    ):
        failure = state.rollback.failure if state.rollback else failure_of(state)
    rollback = state.rollback
    return DeploymentRecord(
        execution_name=state.execution.name,
        execution_arn=state.execution.id,
        cluster=settings.cluster,
        service=settings.service,
        outcome=result.outcome,
        error=result.error,
        cause=result.cause,
        source=state.request.source,
        reason=state.request.reason,
        event_id=state.request.event_id,
        bucket=target.bucket if target else settings.config_bucket,
        key=target.key if target else settings.config_key,
        version_id=target.version_id if target else state.request.version_id,
        sha256=state.config.sha256 if state.config else None,
        task_definition_arn=state.revision.task_definition_arn if state.revision else None,
        previous_task_definition_arn=state.revision.previous_task_definition_arn if state.revision else None,
        deployment_id=rollout.deployment_id if rollout else None,
        image_digests=rollout.image_digests or None if rollout else None,
        started_at=state.execution.started_at.isoformat(),
        finished_at=finished.isoformat(),
        phase_seconds=phase_seconds(state, finished),
        validation_errors=[format_finding(f) for f in state.validation.errors]
        if state.validation and not state.validation.valid
        else None,
        validation_warnings=validation_warnings(state) or None,
        failure=failure,
        load_tests=LoadTestsRecord(
            status=state.load_tests.status,
            detail=state.load_tests.detail,
            waited_seconds=state.load_tests.waited_seconds,
            runs=state.load_tests.runs or None,
            forced=state.request.force,
        )
        if state.load_tests
        else None,
        bake=BakeRecord(
            status=state.bake.status,
            checks=state.bake.checks,
            seconds=(state.bake.deadline - state.bake.started_at).total_seconds(),
            problem=state.bake.last_problem,
        )
        if state.bake
        else None,
        monitoring_problem=state.up.monitoring_problem if state.up else None,
        rollback=RollbackRecord(
            target_task_definition_arn=rollback.target_task_definition_arn,
            status=rollback.status,
            deployment_id=rollback.watch.deployment_id if rollback.watch else None,
            started_by=rollback.started_by,
            restores_task_definition_arn=rollback.restores_task_definition_arn,
            problem=rollback.problem,
        )
        if rollback
        else None,
    )


def finish(
    state: RecordOutcomeInput,
    *,
    store: RecordStore,
    ecs: ECSClient,
    sns: SNSClient,
    s3: S3Client,
    settings: Settings,
) -> WorkflowState:
    """Record, move the last-good pointer, prune, notify, release the lock; the state with `result` set."""
    result, summary = decide(state)
    finished = clock.utcnow()
    record = build_record(state, result, settings=settings, finished=finished)
    key = deployment_sk(state.execution.started_at.isoformat(), state.execution.name)
    # A retried call whose first attempt ran (Step Functions retries Lambda service errors) finds its
    # record there: it keeps it, and notifies and counts only what the first attempt did not.
    earlier = store.add_deployment(key, record)
    if record.version_id:
        store.mark_version(
            record.version_id,
            status=result.outcome,
            execution_name=state.execution.name,
            sha256=record.sha256,
            decision=result.cause.splitlines()[0],
        )
    before = store.last_good()
    if result.outcome == "succeeded":
        _move_last_good(state, store=store, ecs=ecs, settings=settings, deployed_at=finished.isoformat())
    elif result.outcome == "rolled_back":
        _adopt_restored_copy(state, store=store)
    _mark_retention(state, record.version_id, before=before, store=store, s3=s3)
    if earlier is None or not earlier.notified_at:
        notify(record, sns=sns, topic_arn=settings.require_topic_arn())
        store.mark_notified(key, at_iso=clock.utcnow().isoformat())
    released = store.release_lock(state.execution.name)
    store.dequeue(state.execution.name)
    if earlier is None:
        count_deployment(result.outcome)
        record_phase_durations(record.phase_seconds)
    logger.info(
        "deployment finished",
        extra={"outcome": result.outcome, "summary": summary, "lock_released": released},
    )
    return msgspec.structs.replace(state, result=msgspec.structs.replace(result, record_key=key))


def _mark_retention(
    state: WorkflowState, version_id: str | None, *, before: LastGood | None, store: RecordStore, s3: S3Client
) -> None:
    """The last good version is kept from the lifecycle rule; this execution's version, once decided
    otherwise, and a last good version it replaced may expire (config_versions.mark_retention)."""
    target = state.admission.target if state.admission else None
    if target is None or not version_id:
        return
    good = store.last_good()
    expendable = [version_id] + ([before.version_id] if before is not None else [])
    try:
        mark_retention(
            target.bucket, target.key, keep=good.version_id if good else None, expendable=expendable, s3=s3
        )
    except ClientError as error:
        # An untagged version never expires: the safe side. Say so and go on.
        logger.warning("could not tag config versions for the lifecycle rule", extra={"error": str(error)})


def _adopt_restored_copy(state: WorkflowState, *, store: RecordStore) -> None:
    """After a rollback onto an image-pinned copy of the last good revision, the copy is the last good
    revision: the same config version and software, and the one the service now runs (so the health
    check sees no drift, and the next rollback needs no new copy)."""
    rollback = state.rollback
    previous = store.last_good()
    if (
        rollback is None
        or rollback.restores_task_definition_arn is None
        or rollback.target_task_definition_arn is None
        or previous is None
        or previous.task_definition_arn != rollback.restores_task_definition_arn
    ):
        return
    store.set_last_good(
        replace(
            previous,
            task_definition_arn=rollback.target_task_definition_arn,
            deployment_id=rollback.watch.deployment_id if rollback.watch else previous.deployment_id,
        )
    )
    logger.info(
        "last good revision is now its image-pinned copy",
        extra={"copy": rollback.target_task_definition_arn, "of": previous.task_definition_arn},
    )


def _move_last_good(
    state: WorkflowState, *, store: RecordStore, ecs: ECSClient, settings: Settings, deployed_at: str
) -> None:
    assert state.config is not None and state.revision is not None and state.rollout is not None
    previous = store.last_good()
    sequencers = [s for s in (state.config.sequencer, previous.newest_sequencer if previous else None) if s]
    store.set_last_good(
        LastGood(
            version_id=state.config.version_id,
            sha256=state.config.sha256,
            task_definition_arn=state.revision.task_definition_arn,
            deployment_id=state.rollout.deployment_id,
            deployed_at=deployed_at,
            execution_name=state.execution.name,
            newest_sequencer=max(sequencers) if sequencers else None,
            image_digests=state.rollout.image_digests or None,
        )
    )
    protected = {state.revision.task_definition_arn, state.revision.previous_task_definition_arn}
    if settings.template_task_definition:
        # CloudFormation updates and rolls back the service onto its own revision: never deregister it.
        protected.add(settings.template_task_definition)
    if previous is not None:
        protected.add(previous.task_definition_arn)
    try:
        protected |= service_task_definitions(ecs=ecs, settings=settings)
        pruned = prune_revisions(
            keep=settings.keep_revisions, protected=protected, ecs=ecs, settings=settings
        )
    except ClientError as error:
        # The deployment succeeded; a revision left registered costs nothing. Say so and go on.
        logger.warning("could not prune old revisions", extra={"error": str(error)})
        return
    logger.info("pruned old revisions", extra={"deregistered": pruned})
