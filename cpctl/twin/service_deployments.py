"""ECS's service-deployments API in the twin: ListServiceDeployments and DescribeServiceDeployments.

moto (5.2.5, and its main branch) implements neither. The simulated Fargate knows every deployment
a service ever had; this module answers the two operations from that history, in the shapes of the
ECS API reference ("ListServiceDeployments", "DescribeServiceDeployments", "ServiceDeployment",
"ServiceDeploymentBrief"), by adding the two actions to moto's ECS responses while a twin runs.

Statuses follow the developer guide ("View service history using Amazon ECS service deployments"):
a deployment in progress is IN_PROGRESS; one that reached a steady state is SUCCESSFUL; one the
circuit breaker failed is ROLLBACK_IN_PROGRESS while ECS rolls back (ECS creates no new service
deployment for a rollback), then ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED; without the rollback
option it is STOPPED ("the rollback option is not in use ... and the service fails",
`ServiceDeployment.stoppedAt`). The guide does not say what becomes of one replaced by a newer
deployment before it finished: the twin says STOPPED, with a reason naming the newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from moto.core.responses import ActionResult
from moto.ecs.exceptions import InvalidParameterException, ServiceNotFoundException
from moto.ecs.responses import EC2ContainerServiceResponse

MAX_DESCRIBED: Final = 20  # "You can specify a maximum of 20 ARNs" (DescribeServiceDeployments)
# "If this parameter isn't used, then ListServiceDeployments returns up to 20 results"
DEFAULT_PAGE: Final = 20


@dataclass(frozen=True)
class ServiceDeploymentRecord:
    """One service deployment as DescribeServiceDeployments returns it (the fields the twin knows)."""

    arn: str
    service_arn: str
    cluster_arn: str
    created_at: datetime
    updated_at: datetime
    status: str
    status_reason: str
    target_revision_arn: str
    finished_at: datetime | None = None
    stopped_at: datetime | None = None
    rollback: Mapping[str, Any] | None = None
    failure_count: int = 0

    def brief(self) -> dict[str, Any]:
        return _without_none({**self._common(), "targetServiceRevisionArn": self.target_revision_arn})

    def full(self) -> dict[str, Any]:
        return _without_none(
            {
                **self._common(),
                "stoppedAt": self.stopped_at,
                "updatedAt": self.updated_at,
                "targetServiceRevision": {"arn": self.target_revision_arn},
                "rollback": dict(self.rollback) if self.rollback else None,
                "deploymentCircuitBreaker": {
                    "status": "TRIGGERED" if self.status.startswith("ROLLBACK") else "MONITORING",
                    "failureCount": self.failure_count,
                    "threshold": 3,
                },
            }
        )

    def _common(self) -> dict[str, Any]:
        return {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "createdAt": self.created_at,
            "startedAt": self.created_at,
            "finishedAt": self.finished_at,
            "status": self.status,
            "statusReason": self.status_reason,
        }


# (cluster name, service name) -> that service's deployments, oldest first.
History = Callable[[str, str], list[ServiceDeploymentRecord] | None]
_SOURCES: dict[tuple[str, str], History] = {}  # (account, region) -> the running twin's history


def install(account_id: str, region: str, history: History) -> None:
    """Serve the two operations for this account and region from `history`."""
    _SOURCES[(account_id, region)] = history
    EC2ContainerServiceResponse.list_service_deployments = _list  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.describe_service_deployments = _describe  # type: ignore[attr-defined]


def uninstall(account_id: str, region: str) -> None:
    _SOURCES.pop((account_id, region), None)
    if not _SOURCES:
        for name in ("list_service_deployments", "describe_service_deployments"):
            if name in vars(EC2ContainerServiceResponse):
                delattr(EC2ContainerServiceResponse, name)


def _history(response: EC2ContainerServiceResponse) -> History:
    source = _SOURCES.get((response.current_account, response.region))
    if source is None:
        raise InvalidParameterException("the twin serves service deployments only for its own account")
    return source


def _list(self: EC2ContainerServiceResponse) -> ActionResult:
    cluster = str(self._get_param("cluster", "default")).rsplit("/", 1)[-1]
    service = str(self._get_param("service") or "").rsplit("/", 1)[-1]
    records = _history(self)(cluster, service)
    if records is None:
        raise ServiceNotFoundException()
    statuses = set(self._get_param("status") or [])
    window = self._get_param("createdAt") or {}
    after, before = _instant(window.get("after")), _instant(window.get("before"))
    size = int(self._get_param("maxResults") or DEFAULT_PAGE)
    if not 1 <= size <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100")
    chosen = [
        record
        for record in reversed(records)
        if (not statuses or record.status in statuses)
        and (after is None or record.created_at > after)
        and (before is None or record.created_at < before)
    ]
    start = int(self._get_param("nextToken") or 0)
    page = chosen[start : start + size]
    result: dict[str, Any] = {"serviceDeployments": [record.brief() for record in page]}
    if start + size < len(chosen):
        result["nextToken"] = str(start + size)
    return ActionResult(result)


def _describe(self: EC2ContainerServiceResponse) -> ActionResult:
    arns = [str(arn) for arn in self._get_param("serviceDeploymentArns") or []]
    if not arns or len(arns) > MAX_DESCRIBED:
        raise InvalidParameterException(f"serviceDeploymentArns takes 1 to {MAX_DESCRIBED} ARNs")
    found: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for arn in arns:
        parts = arn.split(":", 5)[-1].split("/")
        record = None
        if len(parts) == 4 and parts[0] == "service-deployment":
            records = _history(self)(parts[1], parts[2]) or []
            record = next((item for item in records if item.arn == arn), None)
        if record is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(record.full())
    return ActionResult({"serviceDeployments": found, "failures": failures})


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
