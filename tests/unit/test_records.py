"""The records table: the lock, the queue, versions seen, the last good revision and the history."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import msgspec
import pytest
from controlplane.models import Outcome
from controlplane.records import DeploymentRecord, LastGood, RecordStore, Ticket, normalise_sequencer
from moto import mock_aws

from tests.unit import workflow_fakes as fakes


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordStore]:
    for name, value in fakes.ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=fakes.REGION)
        fakes.create_records_table(dynamodb)
        yield RecordStore(dynamodb=dynamodb, table=fakes.TABLE, service=fakes.CLUSTER)


def ticket(name: str, version: str = "v1", sequencer: str | None = None, at: int = 1000) -> Ticket:
    return Ticket(name, f"arn:{name}", version, "upload" if sequencer else "manual", sequencer, at)


def test_the_lock_is_exclusive_until_released_or_expired(store: RecordStore) -> None:
    assert store.acquire_lock(ticket("a"), now=100, lease_seconds=60, acquired_at_iso="t", replacing=None)
    assert not store.acquire_lock(ticket("b"), now=110, lease_seconds=60, acquired_at_iso="t", replacing=None)
    assert store.acquire_lock(ticket("a"), now=120, lease_seconds=60, acquired_at_iso="t", replacing=None), (
        "re-entrant"
    )
    assert not store.release_lock("b")
    lock = store.lock()
    assert lock is not None and lock.holder.execution_name == "a" and lock.lease_expires_at == 180
    assert store.acquire_lock(ticket("b"), now=181, lease_seconds=60, acquired_at_iso="t", replacing=None), (
        "expired"
    )
    assert store.release_lock("b")
    assert store.lock() is None


def test_a_finished_holder_can_be_replaced_but_only_the_one_seen(store: RecordStore) -> None:
    store.acquire_lock(ticket("a"), now=100, lease_seconds=3600, acquired_at_iso="t", replacing=None)
    assert not store.acquire_lock(ticket("b"), now=110, lease_seconds=60, acquired_at_iso="t", replacing="z")
    assert store.acquire_lock(ticket("b"), now=110, lease_seconds=60, acquired_at_iso="t", replacing="a")


def test_a_version_is_claimed_once(store: RecordStore) -> None:
    assert store.claim_version(ticket("a", "v1", "0A"), now_iso="t") is None
    seen = store.claim_version(ticket("b", "v1", "0A"), now_iso="t2")
    assert seen is not None and seen["first_execution"] == "a" and seen["status"] == "queued"
    store.mark_version("v1", status="succeeded", execution_name="a", sha256="f" * 64)
    version = store.version("v1")
    assert version is not None and version["status"] == "succeeded" and version["sha256"] == "f" * 64


def test_waiters_whose_wait_expired_are_ignored(store: RecordStore) -> None:
    store.enqueue(ticket("a"), expires_at=200, queued_at_iso="t")
    store.enqueue(ticket("b"), expires_at=100, queued_at_iso="t")
    assert [w.execution_name for w in store.waiters(now=150)] == ["a"]
    store.dequeue("a")
    assert store.waiters(now=150) == []


def test_last_good_and_history(store: RecordStore) -> None:
    assert store.last_good() is None
    good = LastGood("v1", "a" * 64, "arn:td:2", "ecs-svc/1", "2026-11-29T12:00:00+00:00", "a", None)
    store.set_last_good(good)
    assert store.last_good() == good
    store.put_deployment("DEPLOYMENT#2026-11-29T12:00:00#a", deployment("a", "succeeded", rollout=90.5))
    store.put_deployment("DEPLOYMENT#2026-11-29T13:00:00#b", deployment("b", "rolled_back"))
    history = store.deployments()
    assert [record.outcome for record in history] == ["rolled_back", "succeeded"]
    assert history[1].phase_seconds == {"rollout": 90.5}
    items = [
        store._dynamodb.get_item(TableName=fakes.TABLE, Key=store._key(sk))["Item"]
        for sk in ("DEPLOYMENT#2026-11-29T12:00:00#a", "DEPLOYMENT#2026-11-29T13:00:00#b")
    ]
    assert all("error" not in item for item in items), "absent values are not stored"
    assert all(item["kind"] == {"S": "deployment"} for item in items)


def deployment(name: str, outcome: Outcome, *, rollout: float | None = None) -> DeploymentRecord:
    return DeploymentRecord(
        execution_name=name,
        execution_arn=f"arn:{name}",
        cluster=fakes.CLUSTER,
        service=fakes.CLUSTER,
        outcome=outcome,
        cause=f"{outcome} in a test",
        source="manual",
        started_at="2026-11-29T12:00:00+00:00",
        finished_at="2026-11-29T12:05:00+00:00",
        phase_seconds={} if rollout is None else {"rollout": rollout},
    )


def test_a_history_item_already_there_is_returned_with_its_notification(store: RecordStore) -> None:
    record = deployment("a", "succeeded")
    assert store.add_deployment("DEPLOYMENT#x#a", record) is None
    store.mark_notified("DEPLOYMENT#x#a", at_iso="2026-11-29T12:06:00+00:00")
    earlier = store.add_deployment("DEPLOYMENT#x#a", msgspec.structs.replace(record, cause="second try"))
    assert earlier is not None and earlier.notified_at == "2026-11-29T12:06:00+00:00"
    assert earlier.cause == record.cause, "the first attempt's record is kept"


def test_sequencers_of_different_lengths_compare_after_right_padding() -> None:
    # S3 User Guide, "Event message structure": pad the shorter on the right with zeros.
    older, newer = normalise_sequencer("62A1B2C3D4E5F600A1"), normalise_sequencer("62A1B2C3D4E5F601")
    assert older is not None and newer is not None and older < newer
    assert normalise_sequencer("ff") == normalise_sequencer("FF00")


def test_two_uploads_compare_by_sequencer_anything_else_by_time() -> None:
    early_but_newer = ticket("a", sequencer="0B", at=1000)
    late_but_older = ticket("b", sequencer="0A", at=2000)
    assert early_but_newer.is_newer_than(late_but_older)
    manual = ticket("m", at=1500)
    assert manual.is_newer_than(early_but_newer) and not manual.is_newer_than(late_but_older)
