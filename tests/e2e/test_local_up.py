"""`cpctl local up`: the twin served on 127.0.0.1 runs the health check on its schedule, so an
operator's `cpctl status --endpoint-url` shows health results and the tasks a rollout stopped."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from cpctl import cli
from cpctl.cli import build_parser
from cpctl.local_cmd import port_problem, serve
from cpctl.twin.deployments import deploy_file, deploy_initial
from cpctl.twin.twin import LocalTwin, TwinOptions, builtin_config

from .conftest import WALL_TIMEOUT, records_of_kind

ROOT = Path(__file__).resolve().parents[2]


def test_local_up_runs_the_health_check_and_status_shows_it() -> None:
    with LocalTwin(TwinOptions(serve_port=0)) as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        deploy_file(twin, builtin_config("changed"), wall_timeout=WALL_TIMEOUT)  # stops the first task
        assert twin.endpoint_url is not None
        out = io.StringIO()
        stopping = threading.Event()
        server = threading.Thread(
            target=serve, args=(twin, out, stopping), kwargs={"schedule_every": 0.2}, daemon=True
        )
        started = twin.clock.now()
        # The deployments' ECS events have run the check already; count the scheduled runs only.
        before = len(records_of_kind(twin, "health"))
        server.start()
        try:
            deadline = time.monotonic() + 60.0
            while len(records_of_kind(twin, "health")) < before + 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stopping.set()  # what Ctrl-C does
            server.join(timeout=30.0)
        assert not server.is_alive(), "local up did not stop within 30 s of Ctrl-C"

        runs = records_of_kind(twin, "health")
        assert len(runs) >= before + 2, out.getvalue()
        # Each run after the first is one schedule period (rate(5 minutes)) of simulated time later.
        assert twin.clock.now() - started >= 300.0
        assert out.getvalue().count("(simulated): healthy") >= 2, out.getvalue()
        # The first data turns the alarm OK, and CloudWatch may notify the stack's topic of it.
        assert "-unhealthy: INSUFFICIENT_DATA -> OK; notified arn:aws:sns:" in out.getvalue(), out.getvalue()
        assert "not delivered" not in out.getvalue(), out.getvalue()

        # The operator's view, through the served endpoint as from another terminal.
        argv = ["status", "--endpoint-url", twin.endpoint_url]
        args = build_parser(argv).parse_args(argv)
        text = io.StringIO()
        assert args.handler(args, text) == 0
        status = text.getvalue()
        assert "Health           healthy at" in status, status
        assert "Stopped tasks    none recorded" not in status, status
        assert "ServiceSchedulerInitiated" in status, status


def test_an_execution_started_without_a_name_does_not_end_the_twin(served: LocalTwin) -> None:
    out = io.StringIO()
    stopping = threading.Event()
    server = threading.Thread(
        target=serve, args=(served, out, stopping), kwargs={"schedule_every": 0}, daemon=True
    )
    server.start()
    try:
        sfn = served.client("stepfunctions")
        arn = sfn.start_execution(  # no name: AWS makes one, a UUID
            stateMachineArn=served.state_machine_arn, input=json.dumps({"reason": "by hand, unnamed"})
        )["executionArn"]
        report = served.wait_for_execution(arn, wall_timeout=WALL_TIMEOUT)
        deadline = time.monotonic() + 30.0
        while f"Execution {report.name} SUCCEEDED" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.is_alive(), out.getvalue()
    finally:
        stopping.set()
        server.join(timeout=30.0)
    assert len(report.name) == 36 and report.name.count("-") == 4  # a UUID
    assert f"Execution {report.name} started" in out.getvalue()
    assert f"Execution {report.name} SUCCEEDED" in out.getvalue()


def test_a_busy_port_fails_local_up_at_once_naming_port(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        problem = port_problem(port)
        assert problem is not None and f"127.0.0.1:{port}" in problem and "--port" in problem
        assert cli.main(["local", "up", "--port", str(port)]) == 2
    assert "pass another --port" in capsys.readouterr().err
    assert port_problem(0) is None
    assert time.monotonic() - started < 5.0  # at once: before any twin starts


def test_local_up_with_a_fault_gives_it_to_every_upload() -> None:
    """`cpctl local up --fault task-fails-to-start`, run as a user runs it: the initial config deploys
    cleanly, then a config put with any S3 client meets the fault and is rolled back."""
    command = ["local", "up", "--port", "0", "--schedule-every", "0", "--fault", "task-fails-to-start"]
    process = subprocess.Popen(
        [sys.executable, "-m", "cpctl.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        output = _wait_for(lines, lambda text: "Deploy a config by hand:" in text, process)
        endpoint = re.search(r"endpoint\s+(http://127\.0\.0\.1:\d+)", output)
        bucket = re.search(r"bucket\s+s3://([^/\s]+)/(\S+)", output)
        assert endpoint and bucket, output
        assert "faults         task-fails-to-start (armed for every config version uploaded)" in output
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint.group(1),
            region_name="eu-west-1",
            aws_access_key_id="twin",
            aws_secret_access_key="twin",
        )
        s3.put_object(Bucket=bucket.group(1), Key=bucket.group(2), Body=builtin_config("changed"))
        output = _wait_for(lines, lambda text: re.search(r"Execution \S+ FAILED", text) is not None, process)
        assert "DeploymentRolledBack" in output, output
        assert "Roll back" in output, output
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        code = process.wait(timeout=60)
        reader.join(timeout=5)
    assert code == 0, "".join(lines)
    assert "Stopping the local twin" in "".join(lines)


def _wait_for(lines: list[str], done: Callable[[str], bool], process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 3 * WALL_TIMEOUT
    while time.monotonic() < deadline:
        text = "".join(lines)
        if done(text):
            return text
        assert process.poll() is None, f"cpctl local up ended with {process.returncode}:\n{text}"
        time.sleep(0.2)
    raise AssertionError("cpctl local up did not get there in time:\n" + "".join(lines))
