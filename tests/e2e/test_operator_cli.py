"""`cpctl diff` and `cpctl logs` against the twin served on 127.0.0.1, driven as an operator would
from another terminal (`--endpoint-url`), through the same code that reads a stack on AWS."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from cpctl.cli import build_parser
from cpctl.twin.control_plane import ContainerLog
from cpctl.twin.deployments import deploy_file, deploy_initial
from cpctl.twin.twin import STACK_NAME, LocalTwin, TwinOptions, builtin_config
from tests.conftest import load_template
from tests.template.test_health_template import dashboard_widgets

from .conftest import WALL_TIMEOUT

SECRET = "cpt_operator_cli_e2e_0a1b2c3d4e5f"


def cpctl(twin: LocalTwin, *argv: str) -> tuple[int, str]:
    assert twin.endpoint_url is not None
    full = [*argv, "--endpoint-url", twin.endpoint_url, "--region", twin.region]
    args = build_parser(full).parse_args(full)
    out = io.StringIO()
    code: int = args.handler(args, out)
    text = out.getvalue()
    assert SECRET not in text
    return code, text


def test_diff_after_a_location_change(served: LocalTwin, tmp_path: Path) -> None:
    initial_version = served.service().config_version_id
    changed = tmp_path / "control-plane.conf"
    changed.write_bytes(builtin_config("changed"))

    # Before deploying: the file against the running config.
    code, text = cpctl(served, "diff", str(changed))
    assert code == 1, text
    assert f"version {initial_version} (running, deployed " in text.splitlines()[0]
    assert '+      id = "prl_twin_eu_central_1"' in text
    assert "  + control-plane.locations[prl_twin_eu_central_1] (a whole location)" in text
    assert text.rstrip().endswith("Locations: added prl_twin_eu_central_1; removed -; changed -")

    result = deploy_file(served, changed.read_bytes(), wall_timeout=WALL_TIMEOUT)
    assert result.report.status == "SUCCEEDED"

    # Deployed: the newest version is the running one.
    code, text = cpctl(served, "diff")
    assert (code, text.splitlines()[0]) == (0, "No difference."), text
    assert f"version {result.version_id} (newest)" in text and f"version {result.version_id} (running" in text

    # The older version against the running one, and the other way round as JSON.
    code, text = cpctl(served, "diff", "--version", str(initial_version))
    assert code == 1
    assert "Locations: added -; removed prl_twin_eu_central_1; changed -" in text
    code, text = cpctl(
        served, "diff", "--against", str(initial_version), "--version", result.version_id, "--json"
    )
    report = json.loads(text)
    assert (code, report["identical"]) == (1, False)
    assert report["locations"] == {"added": ["prl_twin_eu_central_1"], "removed": [], "changed": []}
    (added,) = report["keys"]["added"]
    assert added["key"] == "control-plane.locations[prl_twin_eu_central_1]"
    assert added["value"]["region"] == "eu-central-1"
    assert report["base"]["version_id"] == initial_version


def test_diff_never_shows_a_token(served: LocalTwin, tmp_path: Path) -> None:
    running = builtin_config("initial").decode()
    literal = running.replace("token = ${?CONTROL_PLANE_TOKEN}", f'token = "{SECRET}"').replace(
        "c7i.xlarge", "c7i.2xlarge"
    )
    literal += f"\n# rotated from {SECRET[:-1]}x on Monday\n"
    path = tmp_path / "with-token.conf"
    path.write_text(literal)
    code, text = cpctl(served, "diff", str(path))  # cpctl() asserts the token is absent
    assert code == 1
    assert '+  token = "***"' in text
    assert f"{SECRET[:-1]}x" not in text  # token-shaped, though not the file's token
    assert '  ~ control-plane.token: "${CONTROL_PLANE_TOKEN}" -> "***"' in text
    assert (
        '  ~ control-plane.locations[prl_twin_eu_west_1].instance-type: "c7i.xlarge" -> "c7i.2xlarge"' in text
    )
    assert "changed prl_twin_eu_west_1" in text
    code, text = cpctl(served, "diff", str(path), "--json")
    assert code == 1 and "***" in text


def test_diff_of_an_unknown_version_says_so(served: LocalTwin) -> None:
    code, text = cpctl(served, "diff", "--version", "no-such-version")
    assert (code, text) == (2, "")


def log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("task ")]


def test_logs_of_the_newest_task_then_of_an_older_one(served: LocalTwin) -> None:
    code, text = cpctl(served, "logs")
    assert code == 0, text
    header, *lines = text.splitlines()
    first_task = header.split()[1]
    assert header == f"task {first_task} (config-loader, control-plane; /ecs/gatling-control-plane)"
    containers = {line.split()[2] for line in lines}
    assert containers == {"config-loader", "control-plane"}
    assert any("Configuration loaded: 1 private location(s)" in line for line in lines)
    assert lines == sorted(lines, key=lambda line: line[:19])  # oldest first, both streams merged

    assert (
        deploy_file(served, builtin_config("changed"), wall_timeout=WALL_TIMEOUT).report.status == "SUCCEEDED"
    )
    code, text = cpctl(served, "logs", "--container", "control-plane")
    header, *lines = text.splitlines()
    assert code == 0 and header.split()[1] != first_task
    assert any("Configuration loaded: 2 private location(s)" in line for line in lines)
    assert {line.split()[2] for line in lines} == {"control-plane"}

    code, text = cpctl(served, "logs", "--task", first_task, "--json")
    entries = [json.loads(line) for line in text.splitlines()]
    assert code == 0 and {entry["task_id"] for entry in entries} == {first_task}
    assert any("1 private location(s)" in entry["message"] for entry in entries)

    # --since an ISO time keeps the lines from then on; a duration counts back from the newest line.
    stamps = sorted({entry["timestamp"] for entry in entries})
    code, text = cpctl(served, "logs", "--task", first_task, "--since", stamps[-1], "--json")
    assert {json.loads(line)["timestamp"] for line in text.splitlines()} == {stamps[-1]}
    code, text = cpctl(served, "logs", "--since", "1d")
    assert len(log_lines(text)) == len(lines) + 10  # both containers' lines of the newest task
    code, text = cpctl(served, "logs", "--since", "bogus")
    assert (code, text) == (2, "")


def test_logs_follow_moves_on_to_the_new_task_and_redacts(served: LocalTwin) -> None:
    assert served.endpoint_url is not None
    argv = [
        "logs",
        "--follow",
        "--poll-seconds",
        "0.1",
        "--endpoint-url",
        served.endpoint_url,
        "--region",
        served.region,
    ]
    args = build_parser(argv).parse_args(argv)
    out = io.StringIO()
    stopping = threading.Event()
    results: list[int] = []
    follower = threading.Thread(target=lambda: results.append(args.handler(args, out, stopping)), daemon=True)
    follower.start()
    deadline = time.monotonic() + 30.0
    while "Server listening" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)  # the first task's lines are out: the deployment below starts a newer one
    try:
        deploy_file(served, builtin_config("changed"), wall_timeout=WALL_TIMEOUT)
        # A line that would leak a token, written as the new control plane writes its lines.
        logs = served.client("logs")
        stream = next(
            s["logStreamName"]
            for s in logs.describe_log_streams(
                logGroupName="/ecs/gatling-control-plane", orderBy="LastEventTime", descending=True
            )["logStreams"]
            if s["logStreamName"].startswith("control-plane/")
        )
        ContainerLog(
            account_id=served.account_id,
            region=served.region,
            group="/ecs/gatling-control-plane",
            stream=stream,
        ).write(served.clock.now(), f"DEBUG config token = {SECRET}")
        time.sleep(1.0)
    finally:
        stopping.set()
        follower.join(timeout=30.0)
    assert not follower.is_alive(), "cpctl logs --follow did not stop"
    text = out.getvalue()
    assert results == [0]
    assert SECRET not in text
    headers = [line for line in text.splitlines() if line.startswith("task ")]
    assert len(headers) == 2, text  # the first task, then the one the deployment started
    after = text.split(headers[1], 1)[1]
    assert "Configuration loaded: 2 private location(s)" in after
    assert "DEBUG config token = ***" in after


def test_diff_and_logs_with_a_stack_name_read_the_stack_outputs(served: LocalTwin, tmp_path: Path) -> None:
    # What `--stack-name` does on AWS: DescribeStacks of that stack, its outputs naming the resources.
    changed = tmp_path / "control-plane.conf"
    changed.write_bytes(builtin_config("changed"))
    stack = ["--stack-name", STACK_NAME]
    code, text = cpctl(served, "diff", str(changed), *stack)
    assert code == 1 and "Locations: added prl_twin_eu_central_1" in text, text
    code, text = cpctl(served, "logs", "--container", "control-plane", *stack)
    assert code == 0 and "Server listening on 0.0.0.0:8080" in text, text
    # The outputs were what found them: another name is another stack, which does not exist.
    full = ["logs", "--stack-name", "gatling-prod", "--endpoint-url", str(served.endpoint_url)]
    args = build_parser(full).parse_args([*full, "--region", served.region])
    assert args.handler(args, io.StringIO()) == 2


def test_status_prints_the_last_stack_update(served: LocalTwin) -> None:
    code, text = cpctl(served, "status")
    created = served.described.creation_time if served.described else None
    assert created is not None
    stamp = created.strftime("%Y-%m-%d %H:%M:%S")
    assert code == 0, text
    assert f"  Stack            {STACK_NAME} CREATE_COMPLETE, created {stamp}, never updated" in text, text

    served.advance(3600.0)
    served.update_stack({"ControlPlaneImage": "gatlingcorp/control-plane:1.99.0"})
    served.wait_until_idle(wall_timeout=WALL_TIMEOUT)
    for argv in (["status"], ["status", "--stack-name", STACK_NAME]):
        code, text = cpctl(served, *argv, "--json")
        stack = json.loads(text)["stack"]
        assert code == 0 and stack["status"] == "UPDATE_COMPLETE", text
        assert stack["created_at"] == created.isoformat(timespec="seconds")
        updated = datetime.fromisoformat(stack["updated_at"])
        assert updated.timestamp() - created.timestamp() >= 3600.0, text
    code, text = cpctl(served, "status")
    assert f"  Stack            {STACK_NAME} UPDATE_COMPLETE, last updated {_stamp(updated)}" in text, text


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_status_prints_the_dashboard_and_it_shows_only_emitted_metrics(served: LocalTwin) -> None:
    code, text = cpctl(served, "status")
    url = f"https://{served.region}.console.aws.amazon.com/cloudwatch/home?region={served.region}#dashboards:name=gatling-control-plane"
    assert code == 0 and f"  Dashboard        {url}" in text.splitlines(), text

    body = json.loads(
        served.client("cloudwatch").get_dashboard(DashboardName="gatling-control-plane")["DashboardBody"]
    )
    # The widgets the template declares (tests/template/test_health_template.py names them).
    declared = dashboard_widgets(load_template()["Resources"], health_check_on=True)
    titles = [widget["properties"]["title"] for widget in body["widgets"]]
    assert titles == [widget["properties"]["title"] for widget in declared] and len(titles) == 6
    named = {
        part
        for widget in body["widgets"]
        for row in widget["properties"].get("metrics", [])
        for part in row
        if isinstance(part, str)
    }
    searched = {
        word.split('"')[1]
        for widget in body["widgets"]
        for row in widget["properties"].get("metrics", [])
        for part in row
        if isinstance(part, dict)
        for word in part["expression"].split("MetricName=")[1:]
    }
    # Every metric the dashboard draws is one the functions emit, with the dimensions they give it.
    emitted = "\n".join(
        path.read_text()
        for path in (Path(__file__).resolve().parents[2] / "functions" / "controlplane").glob("*.py")
    )
    drawn = {
        row[1]
        for widget in body["widgets"]
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], str)
    }
    assert drawn == {"Healthy"}
    for metric in drawn | searched:
        assert f'name="{metric}"' in emitted, metric
    assert searched == {"Deployments", "PhaseSeconds"}
    assert {"ControlPlaneAutopilot", "control-plane-autopilot", "gatling-control-plane"} <= named
    (alarm,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    described = served.client("cloudwatch").describe_alarms(AlarmNames=["gatling-control-plane-unhealthy"])
    assert alarm["properties"]["alarms"] == [described["MetricAlarms"][0]["AlarmArn"]]
    running, heals = [w for w in body["widgets"] if w["type"] == "log"]
    # The running-task count is a property of the health check's metric line, not a metric.
    assert 'key="running_tasks"' in emitted and "max(running_tasks)" in running["properties"]["query"]
    assert "SOURCE '/aws/lambda/gatling-control-plane-workflow'" in heals["properties"]["query"]
    assert 'filter message = "heal action"' in heals["properties"]["query"]


def test_with_the_health_check_off_status_says_so_and_the_dashboard_keeps_the_deployments() -> None:
    with LocalTwin(TwinOptions(serve_port=0, parameters={"HealthCheckEnabled": "false"})) as twin:
        deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
        code, text = cpctl(twin, "status")
        url = f"https://{twin.region}.console.aws.amazon.com/cloudwatch/home?region={twin.region}#dashboards:name=gatling-control-plane"
        assert code == 0 and f"  Dashboard        {url}" in text.splitlines(), text
        assert (
            "  Health           check off (HealthCheckEnabled=false): no schedule, no alarm, no self-heal"
            in text.splitlines()
        ), text
        assert "Alarm  " not in text, text
        code, text = cpctl(twin, "status", "--json")
        status = json.loads(text)
        assert status["stack"]["health_check_enabled"] is False and status["dashboard_url"] == url
        body = json.loads(
            twin.client("cloudwatch").get_dashboard(DashboardName="gatling-control-plane")["DashboardBody"]
        )
        declared = dashboard_widgets(load_template()["Resources"], health_check_on=False)
        assert [w["type"] for w in body["widgets"]] == ["metric", "metric", "text"]
        assert [w["properties"] for w in body["widgets"]][2:] == [w["properties"] for w in declared][2:]
