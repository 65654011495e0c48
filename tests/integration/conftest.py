"""The acceptance suite: a deployed stack, on AWS or on the local twin's endpoint, driven through the AWS API.

On AWS (what a user with a sandbox runs; nothing here runs against AWS unless asked):

    AWS_SAM_STACK_NAME=<stack> CPA_VALID_CONFIG=<a config valid for that stack> \\
      .venv/bin/pytest tests/integration -p no:socket

with the normal credential chain and region. Without AWS_SAM_STACK_NAME the same tests run against
`cpctl local up`'s endpoint (a twin served on 127.0.0.1), so the suite is never untested code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

WALL_TIMEOUT = float(
    os.environ.get("CPA_ACCEPTANCE_TIMEOUT", "1800" if os.environ.get("AWS_SAM_STACK_NAME") else "120")
)


@dataclass
class DeployedStack:
    """One deployed stack: its outputs and clients for its endpoint."""

    outputs: dict[str, str]
    session: boto3.Session
    endpoint_url: str | None
    valid_configs: list[bytes]  # two distinct valid configs

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def executions_since(self, known: set[str]) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        found = sfn.list_executions(stateMachineArn=self.outputs["StateMachineArn"], maxResults=100)[
            "executions"
        ]
        return [e for e in found if e["executionArn"] not in known]

    def known_executions(self) -> set[str]:
        return {e["executionArn"] for e in self.executions_since(set())}

    def wait_for_new_execution(self, known: set[str]) -> dict[str, Any]:
        """The first execution not in `known`, once it has ended."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + WALL_TIMEOUT
        while time.monotonic() < deadline:
            new = self.executions_since(known)
            if new:
                described = sfn.describe_execution(executionArn=new[-1]["executionArn"])
                if described["status"] != "RUNNING":
                    return dict(described)
            time.sleep(0.5 if self.endpoint_url else 10)
        raise AssertionError(f"no execution ended within {WALL_TIMEOUT:.0f} s")

    def upload(self, data: bytes) -> str:
        s3 = self.client("s3")
        answer = s3.put_object(Bucket=self.outputs["ConfigBucketName"], Key="control-plane.conf", Body=data)
        return str(answer["VersionId"])

    def service(self) -> dict[str, Any]:
        ecs = self.client("ecs")
        return dict(
            ecs.describe_services(
                cluster=self.outputs["ClusterName"], services=[self.outputs["ServiceName"]]
            )["services"][0]
        )

    def pinned_version(self) -> str | None:
        tags = self.client("ecs").list_tags_for_resource(resourceArn=self.service()["taskDefinition"])["tags"]
        return next((t["value"] for t in tags if t["key"] == "config-version-id"), None)


@pytest.fixture(scope="module")
def deployed() -> Iterator[DeployedStack]:
    name = os.environ.get("AWS_SAM_STACK_NAME")
    if name:
        config = os.environ.get("CPA_VALID_CONFIG")
        if not config:
            pytest.skip("CPA_VALID_CONFIG names a config valid for the stack under test")
        session = boto3.Session()
        stack = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        data = Path(config).read_bytes()
        # A second valid version: the same config with a comment line, so its sha256 differs.
        yield DeployedStack(outputs, session, None, [data, data + b"\n# acceptance run\n"])
        return
    from cpctl.twin.twin import LocalTwin, TwinOptions, builtin_config

    with LocalTwin(TwinOptions(serve_port=0)) as twin:
        assert twin.stack is not None and twin.endpoint_url is not None
        session = boto3.Session(
            aws_access_key_id="twin", aws_secret_access_key="twin", region_name=twin.region
        )
        outputs = {key: str(value) for key, value in twin.stack.outputs.items()}
        yield DeployedStack(
            outputs, session, twin.endpoint_url, [builtin_config("initial"), builtin_config("changed")]
        )
