"""Scenario 11: the control plane token and the Gatling API token appear nowhere the twin captured.

Not in Lambda logs or payloads, execution histories, records, notifications, log groups, Fargate
events, Gatling's request log, Python log records, nor in what `cpctl local deploy` prints, even
when a config carries its token literally and is rejected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cpctl import cli, exit_codes, local_cmd
from cpctl.twin.capture import Captured
from cpctl.twin.twin import LocalTwin, TwinOptions, builtin_config

from .conftest import WALL_TIMEOUT, Baseline, deploy


def with_literal_token(data: bytes, token: str) -> bytes:
    return data.replace(b"token = ${?CONTROL_PLANE_TOKEN}", f'token = "{token}"'.encode())


def leaks(captured: list[Captured], *secrets: str) -> dict[str, list[str]]:
    return {
        secret[:8] + "...": sorted({item.source for item in captured if secret in item.text})
        for secret in secrets
    }


def test_no_token_in_anything_the_twin_captured(twin: LocalTwin, baseline: Baseline) -> None:
    token, api_token = twin.control_plane_token, twin.api_token
    literal = with_literal_token(builtin_config("changed"), token)
    rejected = with_literal_token(builtin_config("changed"), token).replace(b'"c7i.xlarge"', b"[]", 1)

    accepted = deploy(twin, literal, "gatling-api-flaky")
    refused = deploy(twin, rejected)
    manual = twin.start_manual({"version_id": baseline.version_id, "reason": "back to the initial config"})
    twin.wait_for_execution(manual, wall_timeout=WALL_TIMEOUT)

    assert accepted.report.status == "SUCCEEDED", accepted.report.cause
    assert refused.report.error == "ConfigRejected"
    captured = twin.captured()
    # The search itself works: the captures hold the runs (their version ids) and the secrets exist.
    everything = "\n".join(item.text for item in captured)
    assert accepted.version_id in everything and refused.version_id in everything
    assert any('"level":"INFO"' in item.text for item in captured if item.source.startswith("lambda-log:"))
    sources = {item.source.split(":")[0] for item in captured}
    assert {
        "lambda-log",
        "lambda-event",
        "execution-history",
        "records",
        "notifications",
        "log-group",
    } <= sources
    body = twin.client("s3").get_object(
        Bucket=twin.bucket, Key=twin.config_key, VersionId=accepted.version_id
    )
    assert token.encode() in body["Body"].read()
    assert twin.client("secretsmanager").list_secrets()["SecretList"]

    assert leaks(captured, token, api_token) == {token[:8] + "...": [], api_token[:8] + "...": []}


def test_no_token_in_what_cpctl_local_deploy_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token, api_token = "cpt_scenario_eleven_0123456789abcdef", "gat_scenario_eleven_0123456789abcdef"
    monkeypatch.setattr(
        local_cmd,
        "LocalTwin",
        lambda options=None: LocalTwin(TwinOptions(control_plane_token=token, api_token=api_token)),
    )
    file = tmp_path / "control-plane.conf"
    file.write_bytes(with_literal_token(builtin_config("changed"), token))

    assert cli.main(["local", "deploy", str(file), "--json"]) == 0
    assert cli.main(["local", "deploy", str(file), "--fault", "never-up"]) == exit_codes.ROLLED_BACK

    out, err = capsys.readouterr()
    assert '"status": "SUCCEEDED"' in out and "DeploymentRolledBack" in out
    assert token not in out + err
    assert api_token not in out + err
