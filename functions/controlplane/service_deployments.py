"""What ECS's service-deployments API says became of a deployment DescribeServices no longer lists.

`deployments[]` of DescribeServices forgets a deployment once it is replaced and drained; the
service deployments (ListServiceDeployments, DescribeServiceDeployments, ECS API reference) keep
90 days of history with a status and its reason. A service deployment does not carry the
`deployments[].id`; ECS creates it with the deployment (developer guide, "View service history
using Amazon ECS service deployments"), so the one created closest to our deployment's `createdAt`
is ours.

Reading this history never decides a rollout by itself failing: an error here (an account or
Region without the API, a denied call) leaves the explanation without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from controlplane.settings import Settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import CreatedAtTypeDef

# How far apart a deployment's createdAt and its service deployment's may be.
MATCH_SECONDS: Final = 10.0
# ServiceDeployment.status values of a deployment still under way (the guide's "Pending" and "Ongoing").
ONGOING: Final = frozenset(
    {"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
)


@dataclass(frozen=True)
class Fate:
    """One service deployment: its status and why, in ECS's words."""

    arn: str
    status: str
    reason: str
    rollback_reason: str | None = None

    @property
    def ongoing(self) -> bool:
        return self.status in ONGOING

    def describe(self) -> str:
        words = f"ECS's service deployment {self.arn.rsplit('/', 1)[-1]} is {self.status}"
        if self.reason:
            words += f" ({self.reason})"
        if self.rollback_reason:
            words += f"; rolled back: {self.rollback_reason}"
        return words


def fate_of(created_at: datetime, *, ecs: ECSClient, settings: Settings) -> Fate | None:
    """The service deployment created with the deployment created at `created_at`; None if ECS lists none."""
    window = timedelta(seconds=MATCH_SECONDS)
    briefs = _listed(ecs, settings, after=created_at - window, before=created_at + window)
    if briefs is None or not briefs:
        return None
    closest = min(briefs, key=lambda brief: abs((_instant(brief) - created_at).total_seconds()))
    arn = str(closest["serviceDeploymentArn"])
    try:
        described = ecs.describe_service_deployments(serviceDeploymentArns=[arn]).get(
            "serviceDeployments", []
        )
    except (ClientError, BotoCoreError) as error:
        logger.warning("service deployment unreadable", extra={"arn": arn, "error": str(error)})
        described = []
    full: dict[str, Any] = dict(described[0]) if described else dict(closest)
    rollback = full.get("rollback") or {}
    return Fate(
        arn=arn,
        status=str(full.get("status") or "unknown"),
        reason=str(full.get("statusReason") or ""),
        rollback_reason=str(rollback["reason"]) if rollback.get("reason") else None,
    )


def created_since(moment: datetime, *, ecs: ECSClient, settings: Settings) -> list[Fate] | None:
    """The service deployments ECS created after `moment`; None when the history cannot be read."""
    briefs = _listed(ecs, settings, after=moment, before=None)
    if briefs is None:
        return None
    return [
        Fate(
            arn=str(brief["serviceDeploymentArn"]),
            status=str(brief.get("status") or "unknown"),
            reason=str(brief.get("statusReason") or ""),
        )
        for brief in briefs
    ]


def _listed(
    ecs: ECSClient, settings: Settings, *, after: datetime, before: datetime | None
) -> list[dict[str, Any]] | None:
    window: CreatedAtTypeDef = {"after": after}
    if before is not None:
        window["before"] = before
    try:
        page = ecs.list_service_deployments(
            cluster=settings.cluster,
            service=settings.service,
            createdAt=window,
        )
    except (ClientError, BotoCoreError) as error:
        logger.warning("service deployments unreadable", extra={"error": str(error)})
        return None
    return [dict(brief) for brief in page.get("serviceDeployments", [])]


def _instant(brief: dict[str, Any]) -> datetime:
    value = brief.get("createdAt") or brief.get("startedAt")
    return value if isinstance(value, datetime) else datetime.min.replace(tzinfo=UTC)
