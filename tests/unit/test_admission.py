"""Admission: duplicates, stale uploads, the lock, the bounded wait and the newest-goes-next queue."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from controlplane.admission import admit
from controlplane.codec import dump, parse
from controlplane.errors import ConfigVersionNotFound, InvalidRequest
from controlplane.models import AdmitDeploymentInput, WorkflowState
from controlplane.records import LastGood, RecordStore, Ticket, normalise_sequencer

from tests.unit import workflow_fakes as fakes


@dataclass
class World:
    s3: Any
    store: RecordStore
    clock: fakes.FakeClock
    versions: list[str]
    running: set[str] = field(default_factory=set)

    def is_running(self, execution_arn: str) -> bool:
        return execution_arn in self.running

    def admit(self, state: dict[str, Any] | WorkflowState, **overrides: str) -> WorkflowState:
        payload = dump(state) if isinstance(state, WorkflowState) else state
        return admit(
            parse(AdmitDeploymentInput, payload),
            store=self.store,
            s3=self.s3,
            is_running=self.is_running,
            settings=fakes.settings(**overrides),
        )

    def hold_lock(self, name: str, version: str = "v-running", sequencer: str | None = None) -> Ticket:
        holder = Ticket(
            name, fakes.execution(name)["id"], version, "upload", normalise_sequencer(sequencer), 0
        )
        assert self.store.acquire_lock(
            holder, now=self.clock.now(), lease_seconds=7200, acquired_at_iso="t", replacing=None
        )
        self.running.add(holder.execution_arn)
        return holder


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    configs = [fakes.VALID_CONFIG, fakes.VALID_CONFIG + b"\n"]
    with (
        fakes.records_and_config(monkeypatch, configs) as (dynamodb, s3, versions),
        fakes.fake_clock() as clock,
    ):
        store = RecordStore(dynamodb=dynamodb, table=fakes.TABLE, service=fakes.CLUSTER)
        yield World(s3, store, clock, versions)


def upload(version: str, sequencer: str, name: str) -> dict[str, Any]:
    return {"request": fakes.upload_request(version, sequencer), "execution": fakes.execution(name)}


def manual(name: str, version: str | None = None) -> dict[str, Any]:
    request = {"reason": "operator says so", **({"version_id": version} if version else {})}
    return {"request": request, "execution": fakes.execution(name)}


def decision(state: WorkflowState) -> str:
    assert state.admission is not None
    return state.admission.decision


def test_a_first_upload_takes_the_lock_at_once(world: World) -> None:
    state = world.admit(upload("v2", "0A", "e1"))
    assert decision(state) == "admitted"
    assert state.admission is not None and state.admission.target.version_id == "v2"
    lock = world.store.lock()
    assert lock is not None and lock.holder.execution_name == "e1"
    assert world.store.waiters(now=world.clock.now()) == []
    assert world.clock.sleeps == []


def test_a_redelivered_upload_event_is_a_duplicate(world: World) -> None:
    world.admit(upload("v2", "0A", "e1"))
    again = world.admit(upload("v2", "0A", "e2"))
    assert decision(again) == "duplicate"
    lock = world.store.lock()
    assert lock is not None and lock.holder.execution_name == "e1"


def test_a_retried_admission_whose_first_attempt_ran_is_its_own_not_a_duplicate(world: World) -> None:
    # Step Functions retries a Lambda service error after the function ran: same input, same execution.
    first = world.admit(upload("v2", "0A", "e1"))
    world.running.add(fakes.execution("e1")["id"])
    again = world.admit(upload("v2", "0A", "e1"))
    assert decision(first) == decision(again) == "admitted"
    lock = world.store.lock()
    assert lock is not None and lock.holder.execution_name == "e1"


def test_a_retried_manual_request_is_not_a_duplicate_of_itself(world: World) -> None:
    world.admit(manual("m1", world.versions[0]))
    world.running.add(fakes.execution("m1")["id"])
    assert decision(world.admit(manual("m1", world.versions[0]))) == "admitted"


def test_an_upload_for_another_object_is_refused(world: World) -> None:
    request = upload("v2", "0A", "e1")
    request["request"]["key"] = "other.conf"
    with pytest.raises(InvalidRequest, match=r"other\.conf"):
        world.admit(request)


def test_an_upload_older_than_the_newest_deployed_is_stale_but_a_manual_request_is_not(world: World) -> None:
    world.store.set_last_good(LastGood("v9", "a" * 64, "arn:td:9", "d", "t", "e0", normalise_sequencer("0B")))
    state = world.admit(upload(world.versions[0], "0A", "e1"))
    assert decision(state) == "stale"
    version = world.store.version(world.versions[0])
    assert version is not None and version["status"] == "stale"
    assert decision(world.admit(manual("e2", world.versions[0]))) == "admitted"


def test_a_manual_request_without_version_resolves_the_latest(world: World) -> None:
    state = world.admit(manual("e1"))
    assert decision(state) == "admitted"
    assert state.admission is not None and state.admission.target.version_id == world.versions[-1]


def test_a_manual_request_for_an_unknown_version_is_refused(world: World) -> None:
    with pytest.raises(ConfigVersionNotFound, match="no-such-version"):
        world.admit(manual("e1", "no-such-version"))


def s3_without_list_bucket() -> tuple[Any, Stubber]:
    """S3 as a role without s3:ListBucket sees a key that does not exist: HEAD answers 403, no body."""
    client = boto3.client("s3", region_name=fakes.REGION)
    stubber = Stubber(client)
    stubber.add_client_error(
        "head_object", service_error_code="403", service_message="Forbidden", http_status_code=403
    )
    return client, stubber


def test_a_manual_redeploy_before_the_first_upload_says_no_config_was_uploaded(world: World) -> None:
    world.s3, stubber = s3_without_list_bucket()
    with stubber, pytest.raises(ConfigVersionNotFound) as raised:
        world.admit(manual("e1"))
    assert str(raised.value) == f"no config uploaded yet to s3://{fakes.BUCKET}/{fakes.KEY}"
    stubber.assert_no_pending_responses()


def test_a_403_after_uploads_is_reported_as_missing_or_denied(world: World) -> None:
    world.store.set_last_good(LastGood("v9", "a" * 64, "arn:td:9", "d", "t", "e0", None))
    world.s3, stubber = s3_without_list_bucket()
    with stubber, pytest.raises(ConfigVersionNotFound) as raised:
        world.admit(manual("e1"))
    assert str(raised.value) == (
        f"the latest version of s3://{fakes.BUCKET}/{fakes.KEY} cannot be read (403): without "
        "s3:ListBucket S3 answers 403 for a missing key too: it was deleted, or this function may not read it"
    )


def test_a_manual_request_for_the_version_being_deployed_is_a_duplicate(world: World) -> None:
    world.hold_lock("running", version=world.versions[0])
    assert decision(world.admit(manual("e1", world.versions[0]))) == "duplicate"


def test_it_waits_while_another_deployment_runs_and_goes_as_soon_as_it_ends(world: World) -> None:
    world.hold_lock("running", sequencer="01")
    released_at = world.clock.now() + 42

    def release(now: float) -> None:
        if now >= released_at:
            world.store.release_lock("running")

    world.clock.on_sleep = release
    state = world.admit(upload("v2", "0A", "e1"))
    assert decision(state) == "admitted"
    assert world.clock.now() - released_at <= 5, "noticed within one poll"
    assert world.store.waiters(now=world.clock.now()) == []


def test_a_wait_longer_than_the_budget_returns_and_resumes(world: World) -> None:
    world.hold_lock("running", sequencer="01")
    state = world.admit(upload("v2", "0A", "e1"))
    assert decision(state) == "waiting"
    assert state.admission is not None and state.admission.invocations == 1
    assert 595 <= sum(world.clock.sleeps) <= 600
    assert [w.execution_name for w in world.store.waiters(now=world.clock.now())] == ["e1"]
    world.store.release_lock("running")
    resumed = world.admit(state)
    assert decision(resumed) == "admitted"
    assert resumed.admission is not None and resumed.admission.invocations == 2


def test_the_wait_is_bounded_by_the_queue_deadline(world: World) -> None:
    world.hold_lock("running", sequencer="01")
    state = world.admit(upload("v2", "0A", "e1"), QUEUE_WAIT_MINUTES="15")
    for _ in range(10):  # bounded: a wait that never ends fails here instead of hanging the run
        if decision(state) != "waiting":
            break
        state = world.admit(state, QUEUE_WAIT_MINUTES="15")
    assert decision(state) == "timed_out"
    assert state.admission is not None
    assert world.clock.now() - state.execution.started_at.timestamp() == pytest.approx(15 * 60, abs=5)
    assert world.store.waiters(now=world.clock.now()) == []


def test_a_stopped_lock_holder_is_replaced_at_once(world: World) -> None:
    holder = world.hold_lock("crashed", sequencer="01")
    world.running.discard(holder.execution_arn)
    assert decision(world.admit(upload("v2", "0A", "e1"))) == "admitted"
    assert world.clock.sleeps == []


def test_when_several_wait_the_newest_goes_next_and_older_ones_are_superseded(world: World) -> None:
    world.hold_lock("running", sequencer="01")
    world.running.update({fakes.execution("older")["id"], fakes.execution("newer")["id"]})
    older = world.admit(upload("v-older", "0A", "older"), INVOCATION_BUDGET_SECONDS="10")
    assert decision(older) == "waiting"
    newer = world.admit(upload("v-newer", "0B", "newer"), INVOCATION_BUDGET_SECONDS="10")
    assert decision(newer) == "waiting"
    assert decision(world.admit(older, INVOCATION_BUDGET_SECONDS="10")) == "superseded"
    version = world.store.version("v-older")
    assert version is not None and version["status"] == "superseded"
    world.store.release_lock("running")
    assert decision(world.admit(newer, INVOCATION_BUDGET_SECONDS="10")) == "admitted"


def test_a_request_older_than_the_running_deployment_is_superseded(world: World) -> None:
    world.hold_lock("running", sequencer="0C")
    assert decision(world.admit(upload("v-late", "0A", "late"))) == "superseded"


def test_a_newer_waiter_that_stopped_does_not_block_the_queue(world: World) -> None:
    world.hold_lock("running", sequencer="01")
    ghost = Ticket("ghost", fakes.execution("ghost")["id"], "v-ghost", "upload", normalise_sequencer("0F"), 0)
    world.store.enqueue(ghost, expires_at=int(world.clock.now()) + 3600, queued_at_iso="t")
    world.store.release_lock("running")
    state = world.admit(upload("v2", "0A", "e1"))
    assert decision(state) == "admitted"
    assert world.store.waiters(now=world.clock.now()) == []


def test_the_deadline_is_counted_from_the_execution_start(world: World) -> None:
    state = world.admit(upload("v2", "0A", "e1"), QUEUE_WAIT_MINUTES="20")
    assert state.admission is not None
    assert state.admission.wait_deadline - state.execution.started_at == timedelta(minutes=20)


def test_a_manual_rollback_to_an_old_version_waits_for_a_newer_upload_and_then_goes(world: World) -> None:
    seen = Ticket("old-upload", fakes.execution("old-upload")["id"], world.versions[0], "upload", "01", 0)
    assert world.store.claim_version(seen, now_iso="t") is None  # the old version was seen as an upload
    world.hold_lock("new-upload", version=world.versions[1], sequencer="02")
    later = fakes.execution("rollback", started=fakes.START + timedelta(minutes=5))
    state = world.admit(
        {"request": {"version_id": world.versions[0], "reason": "v2 is bad"}, "execution": later},
        INVOCATION_BUDGET_SECONDS="10",
    )
    assert decision(state) == "waiting", "not superseded by the upload it means to undo"
    world.store.release_lock("new-upload")
    assert decision(world.admit(state)) == "admitted"
