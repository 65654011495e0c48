"""The fake control plane serving `/info` on loopback and registering with the fake Gatling Cloud."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from cpctl.twin.control_plane import ContainerLog, FakeControlPlane
from cpctl.twin.gatling import FakeGatlingCloud

REGION = "eu-west-3"
GROUP = "/ecs/gatling-control-plane"
TOKEN = "cpt_token_for_control_plane_tests"
AT = 1_767_225_600.0
AWS_LOCATION = (
    'type = "aws", region = "eu-west-3", ami { type = certified }, security-groups = ["sg"], subnets = ["s"]'
)
CONFIG = f"""
control-plane {{
  token = ${{?CONTROL_PLANE_TOKEN}}
  description = "paris"
  locations = [
    {{ id = "prl_paris", description = "Paris", {AWS_LOCATION} }},
    {{ id = "prl_js", engine = "javascript", {AWS_LOCATION} }},
    {{ id = "prl_no_region", type = "aws", ami {{ type = certified }}, security-groups = ["sg"], subnets = ["s"] }},
    {{ id = "PRL-Bad", {AWS_LOCATION} }},
  ]
}}
"""


@pytest.fixture
def gatling() -> Iterator[FakeGatlingCloud]:
    fake = FakeGatlingCloud("api", TOKEN)
    with mock_aws():
        boto3.client("logs", region_name=REGION).create_log_group(logGroupName=GROUP)
        yield fake


def control_plane(gatling: FakeGatlingCloud, config: str = CONFIG, token: str = TOKEN) -> FakeControlPlane:
    log = ContainerLog(
        account_id="123456789012", region=REGION, group=GROUP, stream="control-plane/control-plane/t1"
    )
    return FakeControlPlane(
        name="gatling-control-plane",
        config=config.encode(),
        environment={"CONTROL_PLANE_TOKEN": token},
        gatling=gatling,
        log=log,
    )


def lines() -> list[str]:
    events = boto3.client("logs", region_name=REGION).get_log_events(
        logGroupName=GROUP, logStreamName="control-plane/control-plane/t1"
    )["events"]
    return [event["message"] for event in events]


def info(port: int | None) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=5) as response:
            return int(response.status)
    except urllib.error.URLError:
        return 0


def test_comes_up_registers_its_valid_locations_and_answers_info(gatling: FakeGatlingCloud) -> None:
    process = control_plane(gatling)

    assert process.start(AT)

    assert process.reachable and process.server_port == 8080
    assert info(process.port) == 200
    assert gatling.location_ids() == ["prl_paris", "prl_js"]
    listed = {
        item["_id"]: item for item in gatling.handle("GET", "/api/public/v2/locations", "api")[1]["data"]
    }
    assert listed["prl_paris"]["_description"] == "Paris" and listed["prl_js"]["_description"] == "paris"
    assert listed["prl_js"]["_capabilities"] == {"artifactFormats": ["js"]}
    logged = lines()
    assert (
        "ERROR Control plane 'gatling-control-plane' failed to deploy private location 'prl_no_region': "
        "missing required key 'region'"
    ) in logged
    assert any("failed to deploy private location 'PRL-Bad': invalid id" in line for line in logged)
    port = process.port

    process.stop(AT + 1)

    assert process.exit_code == 143 and process.port is None
    assert info(port) == 0
    assert gatling.location_ids() == ["prl_paris", "prl_js"], (
        "locations stay listed after the control plane stops"
    )
    assert "INFO  Received SIGTERM, draining in-flight work before shutting down" in lines()


def test_a_token_gatling_does_not_know_exits_with_an_auth_error(gatling: FakeGatlingCloud) -> None:
    process = control_plane(gatling, token="cpt_revoked_token")

    assert not process.start(AT)

    assert process.exit_code == 1 and process.port is None
    assert gatling.location_ids() == []
    assert "401 Unauthorized" in lines()[-1] and "cpt_revoked_token" not in "\n".join(lines())


def test_a_loopback_bind_address_is_not_reachable_from_the_task_ip(gatling: FakeGatlingCloud) -> None:
    config = 'control-plane { token = ${?CONTROL_PLANE_TOKEN}, server { port = 9090, bind-address = "127.0.0.1" } }'
    process = control_plane(gatling, config)

    assert process.start(AT)

    assert process.server_port == 9090 and not process.reachable
    process.close()
