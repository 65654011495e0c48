"""Admission: one deployment per service at a time, the newest request next, duplicates and stale events dropped.

Rules, in the order they apply:
1. An upload event of a version already seen (a redelivery) ends as `duplicate`; so does a manual
   request for the version that is deploying or waiting right now. What this execution itself
   claimed, queued or locked (an attempt Step Functions retried after it had run) is its own.
2. An upload of which the bucket holds a newer version (ListObjectVersions, S3's own order) ends as
   `stale`. Manual requests are never stale.
3. A request older than the running deployment or than another live waiter ends as `superseded`.
4. Otherwise it waits (long-polling in this Lambda, looping through the ASL) until the lock is free,
   takes it and is `admitted`; after `QUEUE_WAIT_SECONDS` it ends as `timed_out`.
A lock whose execution is no longer running (stopped, timed out) is taken over at once; the lease
only matters if the execution's status cannot be read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
from botocore.exceptions import ClientError

from controlplane import clock
from controlplane.codec import parse
from controlplane.config_versions import (
    DENIED_CODES,
    MISSING_OR_DENIED,
    newer_versions,
    no_config_uploaded,
)
from controlplane.errors import ConfigVersionNotFound, InvalidRequest, error_code
from controlplane.models import (
    Admission,
    AdmissionDecision,
    AdmitDeploymentInput,
    ConfigObject,
    DeploymentRequest,
    WorkflowState,
)
from controlplane.records import RecordStore, Ticket, normalise_sequencer
from controlplane.settings import Settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

IsRunning = Callable[[str], bool]
_MISSING_VERSION_CODES = {"404", "NoSuchKey", "NoSuchVersion", "400", "InvalidArgument", "NotFound"}


def execution_liveness(sfn: SFNClient) -> IsRunning:
    """`is_running(execution_arn)`, from Step Functions' own view of the execution."""

    def is_running(execution_arn: str) -> bool:
        try:
            return sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
        except sfn.exceptions.ExecutionDoesNotExist:
            return False

    return is_running


def resolve_target(
    request: DeploymentRequest, *, s3: S3Client, store: RecordStore, settings: Settings
) -> ConfigObject:
    """The exact config version a request is about; a manual request without a version means the latest."""
    if request.source == "upload":
        if (request.bucket, request.key) != (settings.config_bucket, settings.config_key):
            raise InvalidRequest(
                f"event for s3://{request.bucket}/{request.key}, but this stack deploys "
                f"s3://{settings.config_bucket}/{settings.config_key}"
            )
        assert request.version_id is not None  # the model requires it for uploads
        return ConfigObject(
            bucket=settings.config_bucket,
            key=settings.config_key,
            version_id=request.version_id,
            etag=request.etag,
            size=request.size,
            sequencer=normalise_sequencer(request.sequencer),
        )
    wanted = f"version {request.version_id}" if request.version_id else "the latest version"
    try:
        if request.version_id:
            head = s3.head_object(
                Bucket=settings.config_bucket, Key=settings.config_key, VersionId=request.version_id
            )
        else:
            head = s3.head_object(Bucket=settings.config_bucket, Key=settings.config_key)
    except ClientError as error:
        where = f"s3://{settings.config_bucket}/{settings.config_key}"
        code = error_code(error)
        if code in _MISSING_VERSION_CODES:
            raise ConfigVersionNotFound(f"{wanted} of {where} does not exist") from None
        if code in DENIED_CODES:
            if not store.knows_a_version():
                raise ConfigVersionNotFound(
                    no_config_uploaded(settings.config_bucket, settings.config_key)
                ) from None
            raise ConfigVersionNotFound(
                f"{wanted} of {where} cannot be read ({code}): {MISSING_OR_DENIED}"
            ) from None
        raise
    version_id = head.get("VersionId")
    if not version_id or version_id == "null":
        raise ConfigVersionNotFound(f"s3://{settings.config_bucket}/{settings.config_key} has no version id")
    known = store.version(version_id)
    return ConfigObject(
        bucket=settings.config_bucket,
        key=settings.config_key,
        version_id=version_id,
        etag=head.get("ETag"),
        size=head.get("ContentLength"),
        sequencer=None if known is None or known.get("sequencer") is None else str(known["sequencer"]),
    )


def ticket_for(state: WorkflowState, target: ConfigObject) -> Ticket:
    """The request's place in the queue. Uploads order by S3 sequencer; a manual request orders by the
    time it was made, not by its version's age: an operator rolling back to an old version while a
    newer upload deploys is the newest request, not a stale one."""
    requested_at = state.request.event_time or state.execution.started_at
    return Ticket(
        execution_name=state.execution.name,
        execution_arn=state.execution.id,
        version_id=target.version_id,
        source=state.request.source,
        sequencer=target.sequencer if state.request.source == "upload" else None,
        requested_at_ms=int(requested_at.timestamp() * 1000),
    )


def admit(
    state: AdmitDeploymentInput,
    *,
    store: RecordStore,
    s3: S3Client,
    is_running: IsRunning,
    settings: Settings,
) -> WorkflowState:
    """Decide whether this execution deploys now, waits, or ends quietly; the state with `admission` set."""
    previous = state.admission
    if previous is None:
        target = resolve_target(state.request, s3=s3, store=store, settings=settings)
        deadline = state.execution.started_at + timedelta(seconds=settings.queue_wait_seconds)
        ticket = ticket_for(state, target)
        early = _first_look(ticket, store=store, is_running=is_running, now=clock.now())
        if early is None and ticket.source == "upload":
            early = _newer_in_bucket(target, s3=s3)
            if early is not None:
                store.mark_version(
                    ticket.version_id, status="stale", execution_name=ticket.execution_name, decision=early[1]
                )
        if early is not None:
            return _decided(state, target, deadline, 1, early)
        store.enqueue(
            ticket, expires_at=int(deadline.timestamp()) + 3600, queued_at_iso=clock.utcnow().isoformat()
        )
    else:
        target, deadline = previous.target, previous.wait_deadline
        ticket = ticket_for(state, target)
    invocations = (previous.invocations if previous else 0) + 1
    decision = _wait_for_turn(
        ticket, store=store, is_running=is_running, settings=settings, deadline=deadline.timestamp()
    )
    return _decided(state, target, deadline, invocations, decision)


def _decided(
    state: WorkflowState,
    target: ConfigObject,
    deadline: datetime,
    invocations: int,
    decision: tuple[AdmissionDecision, str],
) -> WorkflowState:
    verdict, detail = decision
    admission = parse(
        Admission,
        {
            "decision": verdict,
            "detail": detail,
            "target": target,
            "invocations": invocations,
            "wait_deadline": deadline,
            "admitted_at": clock.utcnow() if verdict == "admitted" else None,
        },
    )
    logger.info(
        "admission decided", extra={"decision": verdict, "detail": detail, "invocations": invocations}
    )
    return msgspec.structs.replace(state, admission=admission)


def _first_look(
    ticket: Ticket, *, store: RecordStore, is_running: IsRunning, now: float
) -> tuple[AdmissionDecision, str] | None:
    """Duplicates, decided once when the request arrives."""
    if ticket.source == "upload":
        seen = store.claim_version(ticket, now_iso=clock.utcnow().isoformat())
        # Step Functions retries a Lambda service error even when this function had run: a claim made
        # by this very execution is its own, not a duplicate's.
        if seen is not None and seen.get("first_execution") != ticket.execution_name:
            return (
                "duplicate",
                f"version {ticket.version_id} was already handled by execution "
                f"{seen.get('first_execution', '?')} (status {seen.get('status', '?')})",
            )
        return None
    lock = store.lock()
    if (
        lock is not None
        and lock.holder.version_id == ticket.version_id
        and lock.holder.execution_name != ticket.execution_name
        and is_running(lock.holder.execution_arn)
    ):
        return ("duplicate", f"version {ticket.version_id} is being deployed by {lock.holder.execution_name}")
    for waiter in store.waiters(now=now):
        if waiter.execution_name == ticket.execution_name:
            continue  # this execution's own place, queued by an attempt whose answer was lost
        if waiter.version_id == ticket.version_id and is_running(waiter.execution_arn):
            return ("duplicate", f"version {ticket.version_id} is already queued by {waiter.execution_name}")
    return None


def _newer_in_bucket(target: ConfigObject, *, s3: S3Client) -> tuple[AdmissionDecision, str] | None:
    """`stale` when the bucket holds a newer version of the key than this upload (ListObjectVersions:
    S3's own order, not sequencer arithmetic): a late event never deploys an older upload over a newer
    one, whether that one was deployed, rejected or rolled back. Its own event (or the health check,
    if that event was lost) decides the newer one."""
    newer = newer_versions(target.bucket, target.key, target.version_id, s3=s3)
    if not newer:
        return None
    return (
        "stale",
        f"version {target.version_id} is not the newest: the bucket holds {len(newer)} newer version(s) "
        f"of {target.key} (the newest is {newer[0]}), so this late event deploys nothing",
    )


def _wait_for_turn(
    ticket: Ticket, *, store: RecordStore, is_running: IsRunning, settings: Settings, deadline: float
) -> tuple[AdmissionDecision, str]:
    budget_end = clock.now() + settings.invocation_budget_seconds
    while True:
        now = clock.now()
        decision, detail = _look(ticket, store=store, is_running=is_running, settings=settings, now=now)
        if decision != "waiting":
            store.dequeue(ticket.execution_name)
            if decision in ("stale", "superseded") and ticket.source == "upload":
                store.mark_version(
                    ticket.version_id, status=decision, execution_name=ticket.execution_name, decision=detail
                )
            return decision, detail
        now = clock.now()
        if now >= deadline:
            store.dequeue(ticket.execution_name)
            return (
                "timed_out",
                f"gave up after {settings.queue_wait_minutes:g} minutes in the queue: {detail}",
            )
        if now + settings.poll_interval_seconds > budget_end:
            return "waiting", detail
        clock.sleep(min(settings.poll_interval_seconds, max(deadline - now, 0.0)))


def _look(
    ticket: Ticket, *, store: RecordStore, is_running: IsRunning, settings: Settings, now: float
) -> tuple[AdmissionDecision, str]:
    """One look at the lock and the queue."""
    lock = store.lock()
    if lock is not None and lock.holder.execution_name == ticket.execution_name:
        return "admitted", "this execution holds the lock"
    holder_alive = lock is not None and lock.lease_expires_at > now and is_running(lock.holder.execution_arn)
    if lock is not None and holder_alive and lock.holder.is_newer_than(ticket):
        return "superseded", f"the running deployment {lock.holder.execution_name} is newer"
    for waiter in store.waiters(now=now):
        if waiter.execution_name == ticket.execution_name or not waiter.is_newer_than(ticket):
            continue
        if is_running(waiter.execution_arn):
            return (
                "superseded",
                f"a newer request, {waiter.execution_name} (version {waiter.version_id}), goes next",
            )
        store.dequeue(waiter.execution_name)  # a stopped execution's leftover
    if lock is not None and holder_alive:
        return "waiting", f"waiting for {lock.holder.execution_name} (version {lock.holder.version_id})"
    acquired = store.acquire_lock(
        ticket,
        now=now,
        lease_seconds=settings.lock_lease_seconds,
        acquired_at_iso=clock.utcnow().isoformat(),
        replacing=lock.holder.execution_name if lock is not None else None,
    )
    if acquired:
        return (
            "admitted",
            "lock acquired"
            if lock is None
            else f"lock taken over from finished {lock.holder.execution_name}",
        )
    return "waiting", "another request took the lock first"
