"""Rolling back after a failure past registration: to the last good revision, or to the revision in use
before this execution when nothing was recorded yet.

A revision that does not pin a config version (the template's original one) would read the new,
failing config again on start; it is first re-registered pinned to the version written just before
the failing one. With no such version, there is nothing safe to roll back to: manual action needed.

When ECS's circuit breaker has already rolled the service back onto that very revision, its rollback
deployment is watched like our own would be, instead of forcing another one on top of it (which
would restart the control plane ECS has just started). ECS's rollback reuses the last successful
service revision, with the image digests it resolved ("Amazon ECS doesn't create a new service
revision for a rollback operation", ECS developer guide, Amazon ECS service revisions).

A rollback the workflow starts itself is a new deployment, for which ECS resolves image tags again
(AWS Containers blog, "Announcing software version consistency for Amazon ECS services"): a tag
moved since would bring other software back. So the target is first re-registered with each image at
the digest the last good deployment's task ran (`repository@sha256:...`), and once that rollback
succeeds the copy becomes the last good revision (same config version, same software).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
from botocore.exceptions import ClientError

from controlplane import clock
from controlplane.config_versions import read_version, versions_before
from controlplane.diagnostics import CONTROL_PLANE, error_lines, unavailable_reason
from controlplane.ecs_service import describe_service
from controlplane.models import (
    CaughtError,
    FailureReport,
    RevisionRef,
    Rollback,
    RollBackInput,
    WorkflowState,
)
from controlplane.records import RecordStore
from controlplane.revisions import (
    current_task_definition,
    pinned_version,
    register_pinned,
    register_with_images,
)
from controlplane.rollout import await_deployment, await_ecs_rollback, start_or_adopt_rollout
from controlplane.service_deployments import created_since
from controlplane.settings import Settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client


def error_message(caught: CaughtError) -> str:
    """`Error: message` from a Step Functions Catch (a Lambda error's Cause is JSON with errorMessage)."""
    try:
        message = str(json.loads(caught.Cause).get("errorMessage", caught.Cause))
    except (ValueError, AttributeError):
        message = caught.Cause
    return f"{caught.Error}: {message}" if message else caught.Error


def failure_of(state: WorkflowState) -> FailureReport:
    """Why the deployment failed, from whichever step noticed."""
    if state.bake is not None and state.bake.failure is not None:
        return state.bake.failure
    if state.up is not None and state.up.failure is not None:
        return state.up.failure
    if state.rollout is not None and state.rollout.failure is not None:
        return state.rollout.failure
    if state.error is not None:
        return FailureReport(phase="workflow", reason=error_message(state.error))
    if state.up is not None and state.up.status == "checking":
        return FailureReport(
            phase="control_plane_up",
            reason=f"gave up after {state.up.invocations} checks of the control plane: {state.up.last_problem}",
        )
    if state.bake is not None and state.bake.status == "baking":
        return FailureReport(phase="bake", reason=f"gave up after {state.bake.invocations} bake checks")
    if state.rollout is not None and state.rollout.status == "in_progress":
        return FailureReport(
            phase="rollout", reason=f"gave up after {state.rollout.invocations} rollout checks"
        )
    return FailureReport(phase="workflow", reason="the deployment failed at an unknown step")


def service_changed_since(revision: RevisionRef, *, ecs: ECSClient, settings: Settings) -> str | None:
    """Why the service counts as changed since `revision` was registered, or None if nothing says so.

    It is, when it runs the revision, when `deployments[]` holds one created after the registration,
    or when ECS's service-deployments history lists one created after it (a deployment that is not
    shown yet, or no longer). Any of them means a rollout may be running unwatched: roll back.
    """
    service = describe_service(ecs, cluster=settings.cluster, service=settings.service) or {}
    if service.get("taskDefinition") == revision.task_definition_arn:
        return f"the service runs {revision.task_definition_arn}"
    for deployment in service.get("deployments", []):
        created = deployment.get("createdAt")
        if isinstance(created, datetime) and created >= revision.registered_at:
            return (
                f"deployment {deployment.get('id')} of {deployment.get('taskDefinition')} was created at "
                f"{created.isoformat()}, after {revision.task_definition_arn} was registered"
            )
    # One second of slack: ECS's clock and this Lambda's are not the same clock.
    for fate in (
        created_since(revision.registered_at - timedelta(seconds=1), ecs=ecs, settings=settings) or []
    ):
        return f"{fate.describe()}, created after {revision.task_definition_arn} was registered"
    return None


def roll_back(
    state: RollBackInput,
    *,
    ecs: ECSClient,
    s3: S3Client,
    logs: CloudWatchLogsClient,
    store: RecordStore,
    settings: Settings,
) -> WorkflowState:
    """Start the rollback on the first call, then wait for it like any rollout; the state with `rollback` set."""
    rollback = state.rollback or _begin(state, ecs=ecs, s3=s3, logs=logs, store=store, settings=settings)
    if rollback.status == "in_progress" and rollback.watch is not None:
        watch = await_deployment(rollback.watch, ecs=ecs, logs=logs, settings=settings)
        problem = watch.failure.describe() if watch.failure is not None else None
        rollback = msgspec.structs.replace(rollback, watch=watch, status=watch.status, problem=problem)
    rollback = msgspec.structs.replace(rollback, invocations=rollback.invocations + 1)
    logger.info("rollback", extra={"status": rollback.status, "target": rollback.target_task_definition_arn})
    return msgspec.structs.replace(state, rollback=rollback)


def _begin(
    state: RollBackInput,
    *,
    ecs: ECSClient,
    s3: S3Client,
    logs: CloudWatchLogsClient,
    store: RecordStore,
    settings: Settings,
) -> Rollback:
    failure = failure_of(state)
    task_arn = state.rollout.task_arn if state.rollout is not None else None
    if failure.phase == "control_plane_up" and task_arn and not failure.log_lines and settings.log_group:
        try:
            lines = error_lines(task_arn, CONTROL_PLANE, log_group=settings.log_group, logs=logs)
            failure = msgspec.structs.replace(failure, log_lines=lines)
        except ClientError as error:
            unavailable = unavailable_reason(error)
            logger.warning("diagnostics unavailable", extra={"error": unavailable})
            failure = msgspec.structs.replace(failure, diagnostics_unavailable=unavailable)
    if state.rollout is None:
        # Start rollout failed, but its UpdateService may have taken effect (its answer lost, or the
        # call retried): "not changed" needs two looks a consistency window apart.
        changed = service_changed_since(state.revision, ecs=ecs, settings=settings)
        if changed is None:
            clock.sleep(settings.consistency_grace_seconds)
            changed = service_changed_since(state.revision, ecs=ecs, settings=settings)
        if changed is None:
            current = current_task_definition(ecs=ecs, settings=settings)
            return Rollback(failure=failure, target_task_definition_arn=current, status="not_needed")
        logger.warning("the service was changed although Start rollout failed", extra={"evidence": changed})
        failure = msgspec.structs.replace(
            failure, reason=f"{failure.reason}; yet the service was changed: {changed}"
        )
    last_good = store.last_good()
    target = last_good.task_definition_arn if last_good else state.revision.previous_task_definition_arn
    described = ecs.describe_task_definition(taskDefinition=target)["taskDefinition"]
    if pinned_version(described) is None:
        # No last good revision yet: the one before pins no config (the stack's own names `unpinned`).
        # Only a config version that once deployed successfully is safe to start on: the version
        # written just before the failing one may be one the validator rejected, or one that failed.
        config = state.config
        older = next(
            (
                version
                for version in versions_before(config.bucket, config.key, config.version_id, s3=s3)
                if (store.version(version) or {}).get("status") == "succeeded"
            ),
            None,
        )
        if older is None:
            return Rollback(
                failure=failure,
                target_task_definition_arn=target,
                status="failed",
                problem=(
                    f"{target} pins no config version and no config version older than "
                    f"{config.version_id} ever deployed successfully, so there is nothing safe to roll back to"
                ),
            )
        data = read_version(config.bucket, config.key, older, s3=s3)
        target = register_pinned(
            target,
            bucket=config.bucket,
            key=config.key,
            version_id=older,
            sha256=hashlib.sha256(data).hexdigest(),
            execution_name=state.execution.name,
            ecs=ecs,
        )
    if state.rollout is not None:
        ecs_rollback = await_ecs_rollback(target, failed=state.rollout, ecs=ecs, settings=settings)
        if ecs_rollback is not None:
            return Rollback(
                failure=failure, target_task_definition_arn=target, watch=ecs_rollback, started_by="ecs"
            )
    restores = None
    if last_good is not None and last_good.image_digests and target == last_good.task_definition_arn:
        pinned = register_with_images(
            target, last_good.image_digests, execution_name=state.execution.name, ecs=ecs
        )
        if pinned != target:
            restores, target = target, pinned
    logger.warning("rolling back", extra={"target": target, "reason": failure.reason})
    return Rollback(
        failure=failure,
        target_task_definition_arn=target,
        watch=start_or_adopt_rollout(
            target, execution_name=state.execution.name, ecs=ecs, store=store, settings=settings
        ),
        restores_task_definition_arn=restores,
    )
