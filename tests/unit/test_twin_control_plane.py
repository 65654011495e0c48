"""The fake control plane reads its config like the real one and refuses to start where it would.

Only `boot` runs here (it opens no socket); serving `/info` is tested in tests/e2e/twin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cpctl.twin.control_plane import CONFIG_PATH, ContainerLog, FakeControlPlane
from cpctl.twin.gatling import FakeGatlingCloud

ACCOUNT = "123456789012"
REGION = "eu-west-3"
GROUP = "/ecs/gatling-control-plane"
TOKEN = "cpt_secret_value_never_logged_42"
AT = 1_767_225_600.0


@pytest.fixture(scope="module")
def logs_group() -> Iterator[None]:
    with mock_aws():
        boto3.client("logs", region_name=REGION).create_log_group(logGroupName=GROUP)
        yield


@pytest.fixture
def log(logs_group: None) -> ContainerLog:
    stream = f"control-plane/control-plane/{uuid.uuid4().hex}"
    return ContainerLog(account_id=ACCOUNT, region=REGION, group=GROUP, stream=stream)


def lines(log: ContainerLog) -> list[str]:
    events = boto3.client("logs", region_name=REGION).get_log_events(
        logGroupName=GROUP, logStreamName=log.stream
    )
    return [event["message"] for event in events["events"]]


def boot(
    log: ContainerLog, config: str | None, environment: dict[str, str] | None = None, **kwargs: Any
) -> FakeControlPlane:
    control_plane = FakeControlPlane(
        name="gatling-control-plane",
        config=config.encode() if config is not None else None,
        environment=environment if environment is not None else {"CONTROL_PLANE_TOKEN": TOKEN},
        gatling=FakeGatlingCloud("api", TOKEN),
        log=log,
        **kwargs,
    )
    control_plane.boot(AT)
    return control_plane


GOOD = """
control-plane {
  token = ${?CONTROL_PLANE_TOKEN}
  description = "eu"
  server { port = 8081 }
  locations = [{ id = "prl_eu", type = "aws", region = "eu-west-3", ami { type = certified },
                 security-groups = ["sg-1"], subnets = ["subnet-1"] }]
}
"""


def test_a_good_config_boots_with_the_token_from_the_environment(log: ContainerLog) -> None:
    control_plane = boot(log, GOOD)

    assert control_plane.exit_code is None
    assert control_plane.server_port == 8081
    assert control_plane.port is None and not control_plane.reachable, "nothing served before serve()"
    assert lines(log)[-1] == "INFO  Configuration loaded: 1 private location(s)"
    events = boto3.client("logs", region_name=REGION).get_log_events(
        logGroupName=GROUP, logStreamName=log.stream
    )
    assert events["events"][0]["timestamp"] == int(AT * 1000), "simulated time, not wall time"


@pytest.mark.parametrize(
    ("config", "environment", "expected"),
    [
        pytest.param(
            "control-plane { token = ${?CONTROL_PLANE_TOKEN} }",
            {},
            "No configuration setting found for key 'control-plane.token'",
            id="optional-token-unset",
        ),
        pytest.param(
            'control-plane { token = "" }',
            {},
            "No configuration setting found for key 'control-plane.token'",
            id="empty",
        ),
        pytest.param(
            "control-plane {\n  token = ${CONTROL_PLANE_TOKEN}\n  description = ${DESCRIPTION}\n}",
            None,
            "ConfigException$UnresolvedSubstitution: /app/conf/control-plane.conf: 3: "
            "Could not resolve substitution to a value: ${DESCRIPTION}",
            id="required-substitution",
        ),
        pytest.param(
            "locations = []",
            None,
            "No configuration setting found for key 'control-plane'",
            id="no-root-object",
        ),
        pytest.param(
            "control-plane { token = ${?CONTROL_PLANE_TOKEN}, enterprise-cloud.proxy.keystore.path = /app/conf/ks.jks }",
            None,
            "KeyStoreException: keystore /app/conf/ks.jks is a JKS keystore",
            id="jks-path",
        ),
        pytest.param(
            "control-plane { token = ${?CONTROL_PLANE_TOKEN}\n"
            "  enterprise-cloud.proxy.keystore { path = /app/conf/ks.p12, type = jks } }",
            None,
            "is a JKS keystore",
            id="jks-type",
        ),
        pytest.param(
            "control-plane { token = ${?CONTROL_PLANE_TOKEN}, server.certificate.path = /etc/cert.p12 }",
            None,
            "java.nio.file.NoSuchFileException: /etc/cert.p12",
            id="file-not-in-container",
        ),
        pytest.param(
            "control-plane { token = ",
            None,
            "ConfigException$Parse: /app/conf/control-plane.conf: 1:",
            id="syntax",
        ),
        # What Lightbend Config refuses and a lenient reader would take (docs/validator.md).
        pytest.param(
            "control-plane {\n  token = ${?CONTROL_PLANE_TOKEN}\n  enterprise-cloud.proxy.url = http://proxy:3128\n}",
            None,
            "ConfigException$Parse: /app/conf/control-plane.conf: 3:",
            id="unquoted-url",
        ),
        pytest.param(
            "control-plane { token = ${?CONTROL_PLANE_TOKEN} }\n}\nignored = 1",
            None,
            "ConfigException$Parse: /app/conf/control-plane.conf: 2:",
            id="stray-close-brace",
        ),
        pytest.param(
            'control-plane {\n  token = ${?CONTROL_PLANE_TOKEN}\n  description = "a\tb"\n}',
            None,
            "ConfigException$Parse: /app/conf/control-plane.conf: 3:",
            id="tab-in-quotes",
        ),
        pytest.param(
            "control-plane {\n  token = ${?CONTROL_PLANE_TOKEN}\n  locations = [{ tags += x }]\n}",
            None,
            "ConfigException$Parse: /app/conf/control-plane.conf: 3:",
            id="append-inside-a-list",
        ),
    ],
)
def test_refuses_to_start_like_the_real_control_plane(
    log: ContainerLog, config: str, environment: dict[str, str] | None, expected: str
) -> None:
    control_plane = boot(log, config, environment)

    assert control_plane.exit_code == 1
    last = lines(log)[-1]
    assert last.startswith("ERROR ") and expected in last


def test_a_token_fallback_through_two_unset_variables_boots(log: ContainerLog) -> None:
    """Lightbend keeps the injected token when the later optional substitutions are both unset."""
    config = GOOD.replace(
        "token = ${?CONTROL_PLANE_TOKEN}",
        "token = ${?CONTROL_PLANE_TOKEN}\n  token = ${?GATLING_TOKEN}\n  token = ${?OLD_TOKEN}",
    )
    control_plane = boot(log, config)

    assert control_plane.exit_code is None
    assert lines(log)[-1] == "INFO  Configuration loaded: 1 private location(s)"


def test_a_missing_config_file_refuses_to_start(log: ContainerLog) -> None:
    control_plane = boot(log, None)
    assert control_plane.exit_code == 1
    assert lines(log)[-1] == f"ERROR java.nio.file.NoSuchFileException: {CONFIG_PATH}"


def test_a_truststore_shipped_next_to_the_config_is_fine(log: ContainerLog) -> None:
    config = "control-plane { token = ${?CONTROL_PLANE_TOKEN}, enterprise-cloud.proxy.truststore.path = /app/conf/ca.pem }"
    control_plane = boot(log, config, container_files=(CONFIG_PATH, "/app/conf/ca.pem"))
    assert control_plane.exit_code is None


def test_neither_the_token_nor_environment_values_are_logged(log: ContainerLog) -> None:
    boot(log, GOOD, {"CONTROL_PLANE_TOKEN": TOKEN, "OTHER": "value-of-other"})
    boot(
        log, f'control-plane {{ token = "{TOKEN}", description = ${{MISSING}} }}', {"OTHER": "value-of-other"}
    )
    text = "\n".join(lines(log))
    assert "ERROR" in text
    assert TOKEN not in text and "value-of-other" not in text


def test_log_streams_follow_the_template_awslogs_options(template: dict[str, Any]) -> None:
    containers = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    for container in containers:
        options = container["LogConfiguration"]["Options"]
        definition = {
            "name": container["Name"],
            "logConfiguration": {
                "logDriver": container["LogConfiguration"]["LogDriver"],
                "options": {
                    "awslogs-group": GROUP,
                    "awslogs-region": REGION,
                    "awslogs-stream-prefix": options["awslogs-stream-prefix"],
                },
            },
        }
        log = ContainerLog.for_container(
            definition, task_id="0123abcd", account_id=ACCOUNT, region="us-east-1"
        )
        assert log is not None
        assert (log.group, log.region) == (GROUP, REGION)
        assert log.stream == f"{options['awslogs-stream-prefix']}/{container['Name']}/0123abcd"
    assert ContainerLog.for_container({"name": "x"}, task_id="t", account_id=ACCOUNT, region=REGION) is None
