"""Every item kind of the records table, and the one store that reads and writes them (docs/records.md).

Every item of a service shares the partition key `pk = <service name>`; the sort key names the item
kind. The workflow's: `LOCK`, `LAST_GOOD`, `WAIT#<execution>`, `VERSION#<version id>`,
`DEPLOYMENT#<started at>#<execution>`; the health check's: `HEALTH_STATE`, `HEALTH#<checked at>`,
`HEAL#<at>#<execution>`; the stopped-task recorder's: `STOPPED#<stopped at>#<task id>`. Every item
carries `kind` so readers can skip kinds they do not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

import msgspec
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from msgspec import field

from controlplane import clock
from controlplane.codec import dump, parse
from controlplane.errors import error_code
from controlplane.models import (
    BakeStatus,
    ContainerExit,
    FailureReport,
    HealthReport,
    LoadTestStatus,
    Outcome,
    Payload,
    RollbackStarter,
    RollbackStatus,
    describe_stopped_task,
)
from controlplane.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LOCK_SK = "LOCK"
LAST_GOOD_SK = "LAST_GOOD"
WAIT_PREFIX = "WAIT#"
VERSION_PREFIX = "VERSION#"
DEPLOYMENT_PREFIX = "DEPLOYMENT#"
HEALTH_STATE_SK = "HEALTH_STATE"
HEALTH_PREFIX = "HEALTH#"
HEAL_PREFIX = "HEAL#"
STOPPED_PREFIX = "STOPPED#"
# DynamoDB's TTL attribute of the table: items with it vanish some time after that epoch second.
TTL_ATTRIBUTE = "expires_at"
DAY_SECONDS = 86_400
HEALTH_TTL_DAYS = 14
HEAL_TTL_DAYS = 400
STOPPED_TTL_DAYS = 30

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def deployment_sk(finished_at_iso: str, execution_name: str) -> str:
    """History items sort by time: `DEPLOYMENT#2026-11-29T16:22:29.123000+00:00#<execution>`."""
    return f"{DEPLOYMENT_PREFIX}{finished_at_iso}#{execution_name}"


def normalise_sequencer(sequencer: str | None) -> str | None:
    """S3 sequencers of different lengths compare after right-padding the shorter with zeros (S3 User
    Guide, "Event message structure", `sequencer`): right-pad to 64, upper case. Only a tie-breaker
    between queued uploads: which upload is newest is the bucket's own version order."""
    return None if sequencer is None else sequencer.upper().ljust(64, "0")


@dataclass(frozen=True)
class Ticket:
    """A request's place in the per-service queue: who asks for which version, and how new it is."""

    execution_name: str
    execution_arn: str
    version_id: str
    source: str
    sequencer: str | None
    requested_at_ms: int

    def is_newer_than(self, other: Ticket) -> bool:
        """Two uploads compare by S3 sequencer; anything else by request time, then execution name."""
        if self.sequencer is not None and other.sequencer is not None and self.sequencer != other.sequencer:
            return self.sequencer > other.sequencer
        return (self.requested_at_ms, self.execution_name) > (other.requested_at_ms, other.execution_name)

    def attributes(self) -> dict[str, Any]:
        return {
            "execution_name": self.execution_name,
            "execution_arn": self.execution_arn,
            "version_id": self.version_id,
            "source": self.source,
            "sequencer": self.sequencer,
            "requested_at_ms": self.requested_at_ms,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Ticket:
        return cls(
            execution_name=str(item["execution_name"]),
            execution_arn=str(item["execution_arn"]),
            version_id=str(item["version_id"]),
            source=str(item["source"]),
            sequencer=None if item.get("sequencer") is None else str(item["sequencer"]),
            requested_at_ms=int(item["requested_at_ms"]),
        )


@dataclass(frozen=True)
class Lock:
    """The deployment that holds the service, until it releases the lock or its lease expires."""

    holder: Ticket
    lease_expires_at: int


@dataclass(frozen=True)
class LastGood:
    """The last revision that was deployed and proved up: where a rollback goes."""

    version_id: str
    sha256: str
    task_definition_arn: str
    deployment_id: str
    deployed_at: str
    execution_name: str
    newest_sequencer: str | None
    image_digests: dict[str, str] | None = None  # container -> digest of the task that proved it good


class ItemAttributes(msgspec.Struct, frozen=True):
    """Attributes of an item: read back ignoring the keys and what a later version adds (msgspec
    ignores unknown fields unless told otherwise)."""


class LoadTestsRecord(ItemAttributes, frozen=True, kw_only=True):
    status: LoadTestStatus
    detail: str
    waited_seconds: float
    runs: list[str] | None = None
    forced: bool = False


class BakeRecord(ItemAttributes, frozen=True, kw_only=True):
    status: BakeStatus
    checks: int
    seconds: float
    problem: str | None = None


class RollbackRecord(ItemAttributes, frozen=True, kw_only=True):
    target_task_definition_arn: str | None = None
    status: RollbackStatus
    deployment_id: str | None = None
    started_by: RollbackStarter = "workflow"
    restores_task_definition_arn: str | None = None
    problem: str | None = None


class DeploymentRecord(ItemAttributes, frozen=True, kw_only=True):
    """The history item of one execution (docs/records.md, "A deployment record")."""

    execution_name: str
    execution_arn: str
    cluster: str
    service: str
    outcome: Outcome
    error: str | None = None
    cause: str
    source: str
    reason: str | None = None
    event_id: str | None = None
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    sha256: str | None = None
    task_definition_arn: str | None = None
    previous_task_definition_arn: str | None = None
    deployment_id: str | None = None
    image_digests: dict[str, str] | None = None
    started_at: str  # ISO 8601, as `datetime.isoformat()` writes it
    finished_at: str
    phase_seconds: dict[str, float]
    validation_errors: list[str] | None = None
    validation_warnings: list[str] | None = None
    failure: FailureReport | None = None
    load_tests: LoadTestsRecord | None = None
    bake: BakeRecord | None = None
    monitoring_problem: str | None = None
    rollback: RollbackRecord | None = None
    notified_at: str | None = None  # set once its notification is published


class StoppedTask(Payload, frozen=True, kw_only=True):
    """One stopped task of the service, as recorded."""

    task_arn: str
    task_id: str
    task_definition_arn: str | None = None
    started_by: str | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    containers: list[ContainerExit] = field(default_factory=list)
    side_car_failed: bool = False
    started_at: datetime | None = None
    stopped_at: datetime

    def describe(self) -> str:
        """One line: `task abc stopped (EssentialContainerExited: ...); control-plane: exit code 1`."""
        return describe_stopped_task(
            self.task_id,
            stop_code=self.stop_code,
            stopped_reason=self.stopped_reason,
            containers=self.containers,
            side_car_failed=self.side_car_failed,
        )


def stopped_sk(stopped_at: datetime, task_id: str) -> str:
    """Sort by time: `STOPPED#2026-01-01T00:05:00.123000+00:00#<task id>`."""
    return f"{STOPPED_PREFIX}{stopped_at.isoformat()}#{task_id}"


ActionKind = Literal["self-heal", "deploy-lost-upload", "heal-drift"]
HealDecisionKind = Literal[
    "not_needed",
    "counting",
    "deployment_running",
    "no_last_good",
    "rate_limited",
    "started",
    "failed_to_start",
]


class HealAction(Payload, frozen=True, kw_only=True):
    """One action the health check took: which execution it started for which version, and how it ended."""

    record_key: str
    action: ActionKind
    version_id: str
    reason: str
    trigger: str
    at: datetime
    execution_name: str
    execution_arn: str | None = None
    outcome: str  # started, failed_to_start, then succeeded, rolled_back, rejected, failed ... when it ends
    detail: str = ""
    finished_at: datetime | None = None


class HealDecision(Payload, frozen=True, kw_only=True):
    decision: HealDecisionKind
    detail: str


class OpenAction(Payload, frozen=True, kw_only=True):
    """An action whose execution had not ended at the last run."""

    record_key: str | None = None
    execution_arn: str | None = None


class HealthState(ItemAttributes, frozen=True, kw_only=True):
    """`HEALTH_STATE`: what one health run leaves the next (docs/records.md)."""

    consecutive_failures: int | None = None
    last_checked_at: str | None = None
    last_healthy: bool | None = None
    last_run: str | None = None
    last_report: HealthReport | None = None
    last_heal_decision: HealDecision | None = None
    # The heal slot, written only by `RecordStore.claim_heal_slot` (epoch seconds).
    last_heal_at: int | None = None
    last_heal_execution: str | None = None
    open_actions: list[OpenAction] = field(default_factory=list)
    lost_uploads: dict[str, str] = field(default_factory=dict)  # version id -> execution that redelivered it
    drifts: dict[str, str] = field(default_factory=dict)  # drifted revision -> execution that healed it


_HEAL_SLOT = {"last_heal_at", "last_heal_execution"}


def _fields_of(model: type[msgspec.Struct], item: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of an item that are fields of `model` (an item also has its keys and `kind`)."""
    return {name: value for name, value in item.items() if name in model.__struct_fields__}


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A plain mapping as DynamoDB attribute values (floats become Decimal, None is dropped)."""
    return {
        key: _SERIALIZER.serialize(_decimals(value)) for key, value in values.items() if value is not None
    }


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(round(value, 3)))
    if isinstance(value, Mapping):
        return {key: _decimals(inner) for key, inner in value.items() if inner is not None}
    if isinstance(value, list | tuple):
        return [_decimals(inner) for inner in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    return value


def _conditional_check_failed(error: ClientError) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"


class RecordStore:
    """The items of one service in the records table."""

    def __init__(self, *, dynamodb: DynamoDBClient, table: str, service: str) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._pk = service

    @classmethod
    def of(cls, settings: Settings, *, dynamodb: DynamoDBClient) -> Self:
        """The store of this stack's service."""
        return cls(dynamodb=dynamodb, table=settings.records_table, service=settings.service)

    def _key(self, sk: str) -> dict[str, Any]:
        return to_item({"pk": self._pk, "sk": sk})

    def _get(self, sk: str) -> dict[str, Any] | None:
        response = self._dynamodb.get_item(TableName=self._table, Key=self._key(sk), ConsistentRead=True)
        item = response.get("Item")
        return from_item(item) if item else None

    def _put_new(self, item: Mapping[str, Any]) -> bool:
        """Put the item unless one with its key exists; whether it was written."""
        try:
            self._dynamodb.put_item(
                TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if not _conditional_check_failed(error):
                raise
            return False
        return True

    def _query_prefix(
        self, prefix: str, *, newest_first: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": self._pk, ":prefix": prefix}),
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        while True:
            if limit is not None:
                arguments["Limit"] = limit - len(items)
            response = self._dynamodb.query(**arguments)
            items.extend(from_item(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last or (limit is not None and len(items) >= limit):
                return items
            arguments["ExclusiveStartKey"] = last

    # ---------------------------------------------------------------- versions seen

    def claim_version(self, ticket: Ticket, *, now_iso: str) -> dict[str, Any] | None:
        """Remember that an upload of this version arrived; the item already there if it was seen before."""
        item = {
            "pk": self._pk,
            "sk": VERSION_PREFIX + ticket.version_id,
            "kind": "version",
            "version_id": ticket.version_id,
            "source": ticket.source,
            "sequencer": ticket.sequencer,
            "first_seen_at": now_iso,
            "first_execution": ticket.execution_name,
            "status": "queued",
        }
        if self._put_new(item):
            return None
        return self.version(ticket.version_id) or {"status": "unknown"}

    def version(self, version_id: str) -> dict[str, Any] | None:
        return self._get(VERSION_PREFIX + version_id)

    def knows_a_version(self) -> bool:
        """Whether the records know any config version: one the workflow saw, or one it deployed."""
        return bool(self._query_prefix(VERSION_PREFIX, limit=1)) or self.last_good() is not None

    def mark_version(
        self,
        version_id: str,
        *,
        status: str,
        execution_name: str,
        sha256: str | None = None,
        decision: str | None = None,
    ) -> None:
        """Upsert the version's latest status and, in words, why (a manual deploy creates the item too)."""
        updates = {
            "kind": "version",
            "version_id": version_id,
            "status": status,
            "last_execution": execution_name,
        }
        if decision is not None:
            updates["decision"] = decision
        if sha256 is not None:
            updates["sha256"] = sha256
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(VERSION_PREFIX + version_id),
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in updates),
            ExpressionAttributeNames={f"#{name}": name for name in updates},
            ExpressionAttributeValues=to_item({f":{name}": value for name, value in updates.items()}),
        )

    # ---------------------------------------------------------------- lock

    def lock(self) -> Lock | None:
        item = self._get(LOCK_SK)
        if item is None:
            return None
        return Lock(holder=Ticket.from_item(item), lease_expires_at=int(item["lease_expires_at"]))

    def acquire_lock(
        self, ticket: Ticket, *, now: float, lease_seconds: int, acquired_at_iso: str, replacing: str | None
    ) -> bool:
        """Take the lock if it is free, expired, already ours, or held by `replacing` (a finished execution)."""
        condition = "attribute_not_exists(pk) OR lease_expires_at < :now OR execution_name = :me"
        values: dict[str, Any] = {":now": int(now), ":me": ticket.execution_name}
        if replacing is not None:
            condition += " OR execution_name = :replacing"
            values[":replacing"] = replacing
        item = {
            "pk": self._pk,
            "sk": LOCK_SK,
            "kind": "lock",
            **ticket.attributes(),
            "acquired_at": acquired_at_iso,
            "lease_expires_at": int(now) + lease_seconds,
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=to_item(item),
                ConditionExpression=condition,
                ExpressionAttributeValues=to_item(values),
            )
        except ClientError as error:
            if _conditional_check_failed(error):
                return False
            raise
        return True

    def release_lock(self, execution_name: str) -> bool:
        """Release the lock if this execution holds it; False when it did not."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key=self._key(LOCK_SK),
                ConditionExpression="execution_name = :me",
                ExpressionAttributeValues=to_item({":me": execution_name}),
            )
        except ClientError as error:
            if _conditional_check_failed(error):
                return False
            raise
        return True

    def note_rollout(self, execution_name: str, rollout: Mapping[str, Any]) -> bool:
        """Note on the lock this execution holds the deployment it started; False when it holds none.

        A GetItem with `ConsistentRead` returns every write that succeeded before it (DynamoDB
        Developer Guide, "DynamoDB read consistency"), which ECS's DescribeServices does not promise
        (ECS API reference, on eventual consistency): a retried call finds its first attempt's
        deployment here before ECS lists it."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(LOCK_SK),
                UpdateExpression="SET rollout = :rollout",
                ConditionExpression="execution_name = :me",
                ExpressionAttributeValues=to_item({":rollout": rollout, ":me": execution_name}),
            )
        except ClientError as error:
            if _conditional_check_failed(error):
                return False
            raise
        return True

    def noted_rollout(self, execution_name: str) -> dict[str, Any] | None:
        """The deployment this execution last noted on the lock it holds; None when it noted none."""
        item = self._get(LOCK_SK)
        if item is None or item.get("execution_name") != execution_name:
            return None
        rollout = item.get("rollout")
        return dict(rollout) if isinstance(rollout, Mapping) else None

    # ---------------------------------------------------------------- queue

    def enqueue(self, ticket: Ticket, *, expires_at: int, queued_at_iso: str) -> None:
        item = {
            "pk": self._pk,
            "sk": WAIT_PREFIX + ticket.execution_name,
            "kind": "wait",
            **ticket.attributes(),
            "queued_at": queued_at_iso,
            TTL_ATTRIBUTE: expires_at,
        }
        self._dynamodb.put_item(TableName=self._table, Item=to_item(item))

    def dequeue(self, execution_name: str) -> None:
        self._dynamodb.delete_item(TableName=self._table, Key=self._key(WAIT_PREFIX + execution_name))

    def waiters(self, *, now: float) -> list[Ticket]:
        """Requests waiting for the lock whose wait has not expired (TTL deletion lags by hours)."""
        return [
            Ticket.from_item(item)
            for item in self._query_prefix(WAIT_PREFIX)
            if int(item.get(TTL_ATTRIBUTE, 0)) > now
        ]

    # ---------------------------------------------------------------- last good and history

    def last_good(self) -> LastGood | None:
        item = self._get(LAST_GOOD_SK)
        if item is None:
            return None
        return LastGood(
            version_id=str(item["version_id"]),
            sha256=str(item["sha256"]),
            task_definition_arn=str(item["task_definition_arn"]),
            deployment_id=str(item["deployment_id"]),
            deployed_at=str(item["deployed_at"]),
            execution_name=str(item["execution_name"]),
            newest_sequencer=None if item.get("newest_sequencer") is None else str(item["newest_sequencer"]),
            image_digests={str(k): str(v) for k, v in item["image_digests"].items()}
            if item.get("image_digests")
            else None,
        )

    def set_last_good(self, last_good: LastGood) -> None:
        item = {"pk": self._pk, "sk": LAST_GOOD_SK, "kind": "last_good", **last_good.__dict__}
        self._dynamodb.put_item(TableName=self._table, Item=to_item(item))

    def _deployment_item(self, sk: str, record: DeploymentRecord) -> dict[str, Any]:
        return {**dump(record), "pk": self._pk, "sk": sk, "kind": "deployment"}

    def put_deployment(self, sk: str, record: DeploymentRecord) -> None:
        self._dynamodb.put_item(TableName=self._table, Item=to_item(self._deployment_item(sk, record)))

    def add_deployment(self, sk: str, record: DeploymentRecord) -> DeploymentRecord | None:
        """Write the history item unless it exists; the item already there, if any (a retried call)."""
        if self._put_new(self._deployment_item(sk, record)):
            return None
        # Gone again since (deleted by hand): it was there, and nothing says it was notified.
        return self.deployment(sk) or msgspec.structs.replace(record, notified_at=None)

    def deployment(self, sk: str) -> DeploymentRecord | None:
        item = self._get(sk)
        return None if item is None else parse(DeploymentRecord, item)

    def mark_notified(self, sk: str, *, at_iso: str) -> None:
        """Note on the history item that its notification was published."""
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(sk),
            UpdateExpression="SET notified_at = :at",
            ExpressionAttributeValues=to_item({":at": at_iso}),
        )

    def deployments(self, *, limit: int = 20) -> list[DeploymentRecord]:
        """The newest deployment records first."""
        items = self._query_prefix(DEPLOYMENT_PREFIX, newest_first=True, limit=limit)
        return [parse(DeploymentRecord, item) for item in items]

    # ---------------------------------------------------------------- stopped tasks

    def put_stopped_task(self, task: StoppedTask, *, event_id: str, recorded_at: float) -> str:
        sk = stopped_sk(task.stopped_at, task.task_id)
        item = {
            **dump(task),
            "pk": self._pk,
            "sk": sk,
            "kind": "stopped_task",
            "event_id": event_id,
            "recorded_at": clock.utcnow().isoformat(),
            TTL_ATTRIBUTE: int(recorded_at) + STOPPED_TTL_DAYS * DAY_SECONDS,
        }
        self._dynamodb.put_item(TableName=self._table, Item=to_item(item))
        return sk

    def stopped_tasks(self, *, limit: int = 5) -> list[StoppedTask]:
        """The newest stopped tasks first."""
        items = self._query_prefix(STOPPED_PREFIX, newest_first=True, limit=limit)
        return [parse(StoppedTask, _fields_of(StoppedTask, item)) for item in items]

    # ---------------------------------------------------------------- health state, runs and heal actions

    def health_state(self) -> HealthState | None:
        item = self._get(HEALTH_STATE_SK)
        return None if item is None else parse(HealthState, item)

    def claim_heal_slot(self, *, now: float, min_interval_seconds: float, execution_name: str) -> bool:
        """Take the right to heal now: False when the last heal is younger than the interval."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(HEALTH_STATE_SK),
                UpdateExpression="SET #kind = :kind, last_heal_at = :now, last_heal_execution = :name",
                ConditionExpression="attribute_not_exists(last_heal_at) OR last_heal_at <= :cutoff",
                ExpressionAttributeNames={"#kind": "kind"},
                ExpressionAttributeValues=to_item(
                    {
                        ":kind": "health_state",
                        ":now": int(now),
                        ":name": execution_name,
                        ":cutoff": int(now - min_interval_seconds),
                    }
                ),
            )
        except ClientError as error:
            if _conditional_check_failed(error):
                return False
            raise
        return True

    def save_state(self, state: HealthState) -> None:
        """Set the attributes of HEALTH_STATE that `state` has (the heal slot is only ever written by
        `claim_heal_slot`)."""
        values = {
            "kind": "health_state",
            **{
                name: value
                for name, value in dump(state).items()
                if name not in _HEAL_SLOT and value is not None
            },
        }
        names = {f"#a{index}": name for index, name in enumerate(values)}
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(HEALTH_STATE_SK),
            UpdateExpression="SET " + ", ".join(f"{alias} = :v{alias[2:]}" for alias in names),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(
                {f":v{index}": value for index, value in enumerate(values.values())}
            ),
        )

    def put_run(
        self,
        report: HealthReport,
        *,
        consecutive_failures: int,
        heal: HealDecision,
        action_keys: list[str],
        now: float,
    ) -> str:
        """Record one health run (`HEALTH#<checked at>`); its key."""
        sk = f"{HEALTH_PREFIX}{report.checked_at.isoformat()}"
        item = {
            "pk": self._pk,
            "sk": sk,
            "kind": "health",
            "healthy": report.healthy,
            "summary": report.summary(),
            "report": dump(report),
            "consecutive_failures": consecutive_failures,
            "heal": dump(heal),
            "actions": action_keys,
            TTL_ATTRIBUTE: int(now) + HEALTH_TTL_DAYS * DAY_SECONDS,
        }
        self._dynamodb.put_item(TableName=self._table, Item=to_item(item))
        return sk

    def put_action(self, action: HealAction, *, now: float) -> None:
        item = {
            **dump(action),
            "pk": self._pk,
            "sk": action.record_key,
            "kind": "heal",
            TTL_ATTRIBUTE: int(now) + HEAL_TTL_DAYS * DAY_SECONDS,
        }
        self._dynamodb.put_item(TableName=self._table, Item=to_item(item))

    def actions(self, *, limit: int = 20) -> list[HealAction]:
        """The newest heal actions first."""
        items = self._query_prefix(HEAL_PREFIX, newest_first=True, limit=limit)
        return [parse(HealAction, _fields_of(HealAction, item)) for item in items]

    def action(self, record_key: str) -> HealAction | None:
        item = self._get(record_key)
        if item is None:
            return None
        return parse(HealAction, _fields_of(HealAction, item))
