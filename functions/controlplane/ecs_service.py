"""The stack's ECS service as DescribeServices shows it: one call, one answer, for every reader.

DescribeServices answers a service it does not know with an empty `services` and a `MISSING` entry in
`failures`, and a deleted service with `status` INACTIVE for a while (Amazon ECS API Reference,
DescribeServices and Service).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ecs.type_defs import DeploymentTypeDef, ServiceTypeDef


def describe_service(ecs: ECSClient, *, cluster: str, service: str) -> ServiceTypeDef | None:
    """The service as DescribeServices shows it, whatever its status; None when ECS does not know it."""
    services = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    return services[0] if services else None


def active_service(ecs: ECSClient, *, cluster: str, service: str) -> ServiceTypeDef | None:
    """The service if it is ACTIVE; None when it is missing, DRAINING or INACTIVE."""
    found = describe_service(ecs, cluster=cluster, service=service)
    return found if found is not None and found.get("status") == "ACTIVE" else None


def primary_deployment(service: ServiceTypeDef | None) -> DeploymentTypeDef | None:
    """The service's PRIMARY deployment (its most recent deployment, ECS API Reference, Deployment), if it lists one."""
    if service is None:
        return None
    return next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)
