"""`cpctl deploy`, `rollback` and `redeploy` against the twin served on 127.0.0.1, driven as an
operator would from another terminal (`--endpoint-url`), through the code that drives a stack on AWS."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

from cpctl import exit_codes
from cpctl.cli import build_parser
from cpctl.twin.twin import LocalTwin, builtin_config

from .conftest import WALL_TIMEOUT, deployment_record, restored_revision

TOKEN = "cpt_users_own_token_0a1b2c3d4e5f6071"


def cpctl(twin: LocalTwin, *argv: str, stopping: threading.Event | None = None) -> tuple[int, str]:
    assert twin.endpoint_url is not None
    full = [*argv, "--endpoint-url", twin.endpoint_url, "--region", twin.region, "--poll-seconds", "0.1"]
    args = build_parser(full).parse_args(full)
    out = io.StringIO()
    code: int = args.handler(args, out, stopping)
    text = out.getvalue()
    assert TOKEN not in text
    return code, text


def conf(tmp_path: Path, data: bytes, name: str = "control-plane.conf") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def with_users_token(data: bytes) -> bytes:
    return data.replace(b"token = ${?CONTROL_PLANE_TOKEN}", f'token = "{TOKEN}"'.encode())


def test_deploy_follows_the_execution_live_and_exits_0_when_up(served: LocalTwin, tmp_path: Path) -> None:
    code, text = cpctl(served, "deploy", conf(tmp_path, builtin_config("changed")), "--timeout", "120")
    assert code == exit_codes.SUCCEEDED, text
    version = served.service().config_version_id
    assert f"version {version}" in text.splitlines()[0]
    states = [line.split("▸ ", 1)[1] for line in text.splitlines() if "▸ " in line]
    assert states[0] == "Admit deployment" and states[-1] == "Deployment succeeded", states
    assert "Wait for rollout" in states
    # ECS's side, between the states: the task launched, the deployment completed, in time order.
    assert "has started 1 tasks" in text and "COMPLETED" in text, text
    stamps = [line.split()[0] for line in text.splitlines() if line.startswith("  ") and ":" in line[:12]]
    assert stamps == sorted(stamps), text
    assert (
        text.rstrip()
        .splitlines()[-1]
        .startswith(f"Succeeded: up on gatling-control-plane:3, config version {version}")
    )


def test_deploy_of_an_invalid_file_is_refused_before_any_upload(served: LocalTwin, tmp_path: Path) -> None:
    versions_before = len(served.client("s3").list_object_versions(Bucket=served.bucket)["Versions"])
    invalid = builtin_config("changed").replace(b'"c7i.xlarge"', b"[]", 1)
    code, text = cpctl(served, "deploy", conf(tmp_path, invalid))
    assert code == exit_codes.REJECTED, text
    assert "error:" in text and "instance-type" in text
    assert "nothing was uploaded" in text
    assert len(served.client("s3").list_object_versions(Bucket=served.bucket)["Versions"]) == versions_before

    # The stack's context decides: the twin injects the token, so a config without one is fine,
    # while `--output json` gives the validator's findings to a script.
    code, text = cpctl(served, "deploy", conf(tmp_path, invalid), "--output", "json")
    report = json.loads(text)
    assert (code, report["outcome"], report["exit_code"]) == (3, "rejected", 3)
    assert report["validation"]["errors"]


def test_deploy_of_a_file_that_rolls_back_exits_4(served: LocalTwin, tmp_path: Path) -> None:
    before = served.service()
    served.arm("token-rejected", "")  # the token in the user's file is a revoked one
    code, text = cpctl(
        served, "deploy", conf(tmp_path, with_users_token(builtin_config("changed"))), "--json"
    )
    report = json.loads(text)
    assert code == exit_codes.ROLLED_BACK, report
    assert (report["outcome"], report["error"]) == ("rolled_back", "DeploymentRolledBack")
    assert "Roll back" in report["states"]
    # Back on the last good revision's config and software (its image-pinned copy).
    assert restored_revision(served, report["task_definition"]) == before.task_definition.rsplit("/", 1)[-1]
    assert report["running_version_id"] == before.config_version_id
    assert deployment_record(served, report["execution"])["outcome"] == "rolled_back"


def test_the_users_own_token_deploys_on_the_twin(served: LocalTwin, tmp_path: Path) -> None:
    code, text = cpctl(served, "deploy", conf(tmp_path, with_users_token(builtin_config("changed"))))
    assert code == exit_codes.SUCCEEDED, text
    assert "prl_twin_eu_central_1" in served.gatling.location_ids()


def test_rollback_lists_candidates_then_goes_to_an_older_version(served: LocalTwin, tmp_path: Path) -> None:
    initial = served.service()
    assert cpctl(served, "deploy", conf(tmp_path, builtin_config("changed")))[0] == 0
    newer = served.service()

    code, text = cpctl(served, "rollback")
    assert code == exit_codes.USAGE
    lines = text.splitlines()
    assert lines[1].split() == ["UPLOADED", "(UTC)", "VERSION", "SHA256", "OUTCOME"]
    assert newer.config_version_id in lines[2] and "succeeded (running, newest)" in lines[2]
    assert initial.config_version_id in lines[3] and str(initial.config_sha256)[:12] in lines[3]
    assert lines[3].endswith(" succeeded")

    code, text = cpctl(
        served, "rollback", "--to", str(initial.config_version_id), "--reason", "new location fails"
    )
    assert code == exit_codes.SUCCEEDED, text
    assert served.service().config_version_id == initial.config_version_id
    (started,) = [line for line in text.splitlines() if line.startswith("Started cpctl-rollback-")]
    record = deployment_record(served, started.split()[1])
    assert (record["source"], record["reason"], record["outcome"]) == (
        "manual",
        "new location fails",
        "succeeded",
    )

    # --previous: the version that succeeded before the running one, here the newer one again.
    code, text = cpctl(served, "rollback", "--previous", "--json")
    assert (code, json.loads(text)["version_id"]) == (0, newer.config_version_id)

    code, _ = cpctl(served, "rollback", "--to", "no-such-version")
    assert code == exit_codes.USAGE


def test_redeploy_no_wait_and_ctrl_c(served: LocalTwin) -> None:
    code, text = cpctl(served, "redeploy", "--no-wait", "--json")
    assert (code, json.loads(text)["outcome"]) == (0, "started")
    arn = json.loads(text)["execution_arn"]
    served.wait_for_execution(arn, wall_timeout=WALL_TIMEOUT)

    # Ctrl-C while following: following stops (130), the deployment carries on and succeeds.
    stopping = threading.Event()
    results: list[tuple[int, str]] = []
    follower = threading.Thread(
        target=lambda: results.append(cpctl(served, "redeploy", "--reason", "restart", stopping=stopping))
    )
    follower.start()
    deadline = time.monotonic() + 30
    while not any(
        e["name"].startswith("cpctl-redeploy-") and e["status"] == "RUNNING" for e in served.executions()
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stopping.set()
    follower.join(timeout=30)
    ((code, text),) = results
    assert code == exit_codes.INTERRUPTED, text
    assert "Stopped following;" in text and "goes on" in text
    running = [e for e in served.executions() if e["name"].startswith("cpctl-redeploy-")][-1]
    assert served.wait_for_execution(running["executionArn"], wall_timeout=WALL_TIMEOUT).status == "SUCCEEDED"
