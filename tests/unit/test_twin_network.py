"""The twin's Lambda service and network: which function's code runs in a thread, what it can reach,
and a synchronous invoke from inside a handler (run inline, not a deadlock on the router's mutex)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from cpctl.twin.capture import Capture, StdStreams
from cpctl.twin.clock import SimulatedClock
from cpctl.twin.lambdas import FunctionSpec, LambdaRouter
from cpctl.twin.network import LambdaNetwork

HANDLERS = """
import json
import os

ROUTER = None
NETWORK = None
SESSION = None


def outer(event, context):
    answer, error = ROUTER.invoke(ROUTER.find("inner"), b"{}")
    return {
        "inner": json.loads(answer),
        "error": error,
        "who_after": os.environ.get("WHO"),
        "running_after": ROUTER.current().function_name,
    }


def inner(event, context):
    return {"who": os.environ.get("WHO"), "running": ROUTER.current().function_name}


def connect(event, context):
    try:
        return {"to": list(NETWORK.resolve(event["host"], event["port"]))}
    except TimeoutError as error:
        return {"refused": str(error)}


def aws(event, context):
    client = SESSION.client(
        "s3", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.list_buckets()
"""


@pytest.fixture
def twin_lambdas(tmp_path: Path) -> Iterator[tuple[LambdaRouter, LambdaNetwork, ModuleType]]:
    package = tmp_path / "network_handlers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(HANDLERS)
    clock = SimulatedClock(0.0)
    router = LambdaRouter(clock=clock, capture=Capture(), streams=StdStreams(), region="eu-west-1")
    session = boto3.Session(region_name="eu-west-1")
    network = LambdaNetwork(
        router=router, vpc_cidrs=["10.42.0.0/16"], task_resolver=lambda ip, port: ("127.0.0.1", 40000)
    )
    network.install(session)
    for name, in_vpc in (
        ("outer", False),
        ("inner", True),
        ("connect", False),
        ("connect-in-vpc", True),
        ("aws-in-vpc", True),
    ):
        attribute = name.removesuffix("-in-vpc")
        router.register(
            FunctionSpec(
                logical_id=name,
                function_name=name,
                arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{name}",
                handler=f"network_handlers/app.{attribute}",
                code_dir=tmp_path,
                environment={"WHO": name},
                in_vpc=in_vpc,
            )
        )
    router._handler(router.functions()["outer"])  # imports it once, as a warm container
    module = sys.modules["network_handlers.app"]
    module.ROUTER, module.NETWORK, module.SESSION = router, network, session
    try:
        with clock.worker():
            yield router, network, module
    finally:
        network.uninstall(session)
        clock.close()
        sys.modules.pop("network_handlers.app", None)
        sys.modules.pop("network_handlers", None)
        sys.path.remove(str(tmp_path))


def call(router: LambdaRouter, name: str, event: dict[str, Any] | None = None) -> tuple[Any, str | None]:
    spec = router.find(name)
    assert spec is not None
    answer, error = router.invoke(spec, json.dumps(event or {}).encode())
    return json.loads(answer), error


def test_a_handler_invoking_another_runs_it_inline_and_gets_its_environment_back(
    twin_lambdas: tuple[LambdaRouter, LambdaNetwork, ModuleType],
) -> None:
    router, _, _ = twin_lambdas
    answer, error = call(router, "outer")
    assert error is None, answer
    assert answer == {
        "inner": {"who": "inner", "running": "inner"},
        "error": None,
        "who_after": "outer",
        "running_after": "outer",
    }
    assert [invocation.function_name for invocation in router.invocations] == ["outer", "inner"]
    assert router.current() is None, "no function runs in this thread once the invoke returned"


def test_a_function_in_the_vpc_reaches_the_task_and_nothing_outside(
    twin_lambdas: tuple[LambdaRouter, LambdaNetwork, ModuleType],
) -> None:
    router, network, _ = twin_lambdas
    assert call(router, "connect-in-vpc", {"host": "10.42.1.7", "port": 8080})[0] == {
        "to": ["127.0.0.1", 40000]
    }
    refused, _ = call(router, "connect-in-vpc", {"host": "api.gatling.io", "port": 443})
    assert refused == {
        "refused": "timed out (connect-in-vpc is attached to the VPC (no NAT gateway) and api.gatling.io is outside it)"
    }
    assert [(r.function_name, r.destination) for r in network.refusals] == [
        ("connect-in-vpc", "api.gatling.io:443")
    ]


def test_a_function_outside_the_vpc_reaches_the_internet_and_no_private_address(
    twin_lambdas: tuple[LambdaRouter, LambdaNetwork, ModuleType],
) -> None:
    router, network, _ = twin_lambdas
    assert call(router, "connect", {"host": "api.gatling.io", "port": 443})[0] == {
        "to": ["api.gatling.io", 443]
    }
    refused, _ = call(router, "connect", {"host": "10.42.1.7", "port": 8080})
    assert "10.42.1.7 is a private address of the VPC and connect is not attached to it" in refused["refused"]
    # Outside any handler (the twin itself, tests): everything is reachable.
    assert network.resolve("10.42.1.7", 8080) == ("127.0.0.1", 40000)


def test_an_aws_api_call_from_the_vpc_times_out_naming_the_endpoint(
    twin_lambdas: tuple[LambdaRouter, LambdaNetwork, ModuleType],
) -> None:
    router, network, _ = twin_lambdas
    answer, error = call(router, "aws-in-vpc")
    assert error == "ConnectTimeoutError"
    assert answer["errorMessage"] == 'Connect timeout on endpoint URL: "https://s3.eu-west-1.amazonaws.com/"'
    assert [r.destination for r in network.refusals] == ["https://s3.eu-west-1.amazonaws.com/"]
