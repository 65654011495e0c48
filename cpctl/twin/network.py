"""The twin's network, as a Lambda function sees it: a VPC with no NAT gateway and no VPC endpoints.

"A Lambda function attached to a VPC has no public IP address; to reach the internet or AWS APIs
it needs a NAT gateway, or VPC endpoints for the services" (Lambda developer guide, "Giving Lambda
functions access to resources in an Amazon VPC" and "Enable internet access for VPC-connected
Lambda functions"). A function outside a VPC reaches the internet and AWS APIs, and no private
address of a VPC. So, while a handler runs (`LambdaRouter.current()` names its function):

- an AWS API call of a function with `VpcConfig` fails as the connection attempt times out
  (botocore's `ConnectTimeoutError` naming the endpoint; on AWS, after the SDK's retries);
- an HTTP connection of such a function to anything outside the VPC (the Gatling API) times out;
- an HTTP connection of a function without `VpcConfig` to a private address of the VPC (a task's
  private IP) times out.
Security groups are not evaluated. Code outside any handler (the twin itself, the simulated Fargate,
tests) reaches everything.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ConnectTimeoutError

from cpctl.twin.lambdas import LambdaRouter

LOG = logging.getLogger(__name__)

Resolver = Callable[[str, int], tuple[str, int]]
_HOOK_ID = "cpctl-twin-lambda-network"


@dataclass(frozen=True)
class Refusal:
    """One connection the network refused: which function, to where."""

    function_name: str
    destination: str


@dataclass
class LambdaNetwork:
    """Decides what the running function can reach; the twin's `controlplane.endpoints` resolver."""

    router: LambdaRouter
    vpc_cidrs: list[str]
    task_resolver: Resolver  # a task's private IP:port -> where its fake control plane listens
    refusals: list[Refusal] = field(default_factory=list)

    def install(self, session: boto3.Session) -> None:
        """Check every AWS API call made through `session`'s clients (register before creating any)."""
        session.events.register("before-call", self._before_call, unique_id=_HOOK_ID)

    def uninstall(self, session: boto3.Session) -> None:
        session.events.unregister("before-call", unique_id=_HOOK_ID)

    def resolve(self, host: str, port: int) -> tuple[str, int]:
        """Where an HTTP connection to `host:port` goes; `TimeoutError` when the function cannot reach it."""
        function = self.router.current()
        private = self.is_private(host)
        if function is not None and function.in_vpc != private:
            self._refuse(function.function_name, f"{host}:{port}")
            if function.in_vpc:
                why = f"{function.function_name} is attached to the VPC (no NAT gateway) and {host} is outside it"
            else:
                why = f"{host} is a private address of the VPC and {function.function_name} is not attached to it"
            raise TimeoutError(f"timed out ({why})")
        return self.task_resolver(host, port) if private else (host, port)

    def is_private(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a name: the twin's VPC has only IP addresses
        return any(address in ipaddress.ip_network(cidr) for cidr in self.vpc_cidrs)

    def _before_call(self, params: dict[str, Any], **kwargs: Any) -> None:
        function = self.router.current()
        if function is None or not function.in_vpc:
            return
        endpoint = str(params.get("url", ""))
        self._refuse(function.function_name, endpoint)
        raise ConnectTimeoutError(endpoint_url=endpoint)

    def _refuse(self, function_name: str, destination: str) -> None:
        LOG.info("network: %s cannot reach %s", function_name, destination)
        self.refusals.append(Refusal(function_name, destination))
