"""Health checks on the twin: each fault is seen by the first scheduled run after it, the alarm fires
only after its periods, and the heal restores a healthy control plane (task-stopped, revision-drift,
lost-upload); `cpctl status` and `cpctl history` show what happened.

Each scenario is `cpctl local health-check --fault NAME` (a fresh twin, the built-in config deployed,
runs every 5 simulated minutes), inspected before the twin stops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from cpctl import cli
from cpctl.status_cmd import Clients, collect_history, collect_status, discover, format_history, format_status
from cpctl.twin import health_scenario
from cpctl.twin.health_scenario import HealthWatch, ScenarioResult, run_scenario
from cpctl.twin.twin import LocalTwin, TwinOptions

WALL_TIMEOUT = 120.0
PERIOD_MINUTES = 5.0


@dataclass
class Seen:
    """What the twin looked like at the end of a scenario."""

    status: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    status_text: str = ""
    history_text: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    task_definition: str = ""
    config_version_id: str | None = None
    original_task_definition: str = ""
    leaks: list[str] = field(default_factory=list)


def twin_clients(twin: LocalTwin) -> Clients:
    return Clients(
        ecs=twin.client("ecs"),
        dynamodb=twin.client("dynamodb"),
        cloudwatch=twin.client("cloudwatch"),
        cloudformation=None,
        stepfunctions=twin.client("stepfunctions"),
    )


def scenario(fault: str, *, max_runs: int = 8) -> tuple[ScenarioResult, Seen]:
    seen = Seen()

    def inspect(twin: LocalTwin, watch: HealthWatch) -> None:
        clients = twin_clients(twin)
        ref = discover(clients, source="twin")
        seen.status = collect_status(ref, clients)
        seen.history = collect_history(ref, clients)
        seen.status_text = format_status(seen.status)
        seen.history_text = format_history(seen.history)
        seen.records = twin.records()
        service = twin.service()
        seen.task_definition = service.task_definition
        seen.config_version_id = service.config_version_id
        assert twin.stack is not None
        seen.original_task_definition = str(twin.stack.first_of_type("AWS::ECS::TaskDefinition").ref)
        texts = [(item.source, item.text) for item in twin.captured()]
        texts += [("cpctl status", seen.status_text), ("cpctl history", seen.history_text)]
        secrets = (twin.control_plane_token, twin.api_token)
        seen.leaks = sorted({source for source, text in texts if any(secret in text for secret in secrets)})

    result = run_scenario(fault, max_runs=max_runs, inspect=inspect, wall_timeout=WALL_TIMEOUT)
    return result, seen


def last_good(seen: Seen) -> dict[str, Any]:
    return next(item for item in seen.records if item.get("kind") == "last_good")


def heal_starts(result: ScenarioResult) -> list[int]:
    """Indexes of the runs (after the fault) that started a self-heal."""
    return [
        i for i, run in enumerate(result.runs) if (run.result.get("heal") or {}).get("decision") == "started"
    ]


def alarm_minutes(result: ScenarioResult, state: str) -> list[float]:
    return [
        (item.at.timestamp() - result.baseline.at) / 60 for item in result.transitions if item.new == state
    ]


# ---------------------------------------------------------------- task-stopped


@pytest.fixture(scope="module")
def task_stopped() -> tuple[ScenarioResult, Seen]:
    return scenario("task-stopped")


def test_a_stopped_task_is_seen_by_the_first_run_after_it(task_stopped: tuple[ScenarioResult, Seen]) -> None:
    result, _ = task_stopped
    assert result.baseline.healthy
    first = result.runs[0]
    assert not first.healthy and {"service", "info"} <= set(first.failed)
    checks = first.result["report"]["checks"]
    assert "0 task(s) running, not 1" in checks["service"]["detail"]
    assert "twin fault task-stopped" in checks["service"]["detail"], "the recorded stop reason explains it"


def test_the_self_heal_restores_a_stopped_control_plane(task_stopped: tuple[ScenarioResult, Seen]) -> None:
    result, seen = task_stopped
    assert heal_starts(result) == [2], "the third consecutive failed run heals"
    [action] = result.actions
    assert action["action"] == "self-heal" and action["reason"] == "self-heal"
    assert action["outcome"] == "succeeded" and action["version_id"] == last_good(seen)["version_id"]
    assert result.healed and result.runs[-1].healthy
    assert (
        seen.status["ecs"]["running"] == 1 and seen.task_definition == last_good(seen)["task_definition_arn"]
    )


def test_the_alarm_fires_only_after_its_periods_and_pages_once(
    task_stopped: tuple[ScenarioResult, Seen],
) -> None:
    result, _ = task_stopped
    # Failing runs at minutes 5, 10 and 15: three periods, so ALARM at 15, not before; OK once healed.
    assert alarm_minutes(result, "ALARM") == [3 * PERIOD_MINUTES]
    # OK in the fourth period, by the run at minute 20; that run overlaps the heal's bake, whose
    # sleeps and probes share the simulated clock with it, so its data point can land seconds later.
    ok = alarm_minutes(result, "OK")[-1]
    assert 4 * PERIOD_MINUTES <= ok < 4 * PERIOD_MINUTES + 1
    # CloudWatch may publish to the topic (its policy, its KMS key): every state change was delivered.
    assert result.failed_alarm_actions == [], "\n".join(result.failed_alarm_actions)
    [page] = result.alarm_messages
    assert page["AlarmName"].endswith("-unhealthy") and page["NewStateValue"] == "ALARM"
    assert "3 out of the last 3 datapoints" in page["NewStateReason"]


def test_the_stopped_task_reason_is_kept_and_shown(task_stopped: tuple[ScenarioResult, Seen]) -> None:
    result, seen = task_stopped
    stopped = [
        item for item in result.stopped_tasks if "twin fault task-stopped" in str(item.get("stopped_reason"))
    ]
    assert len(stopped) == 1 and stopped[0]["stop_code"] == "UserInitiated"
    assert seen.status["stopped_tasks"] and "twin fault task-stopped" in seen.status_text


def test_status_and_history_tell_the_story(task_stopped: tuple[ScenarioResult, Seen]) -> None:
    _, seen = task_stopped
    health = seen.status["health"]
    assert health["healthy"] is True and health["consecutive_failures"] == 0
    assert {check["status"] for check in health["checks"].values()} == {"pass"}
    assert seen.status["last_deployment"]["reason"] == "self-heal"
    assert seen.status["last_deployment"]["outcome"] == "succeeded"
    assert seen.status["alarm"]["state"] == "OK"
    kinds = [(entry["kind"], entry.get("action"), entry["outcome"]) for entry in seen.history]
    assert ("heal", "self-heal", "succeeded") in kinds
    assert [kind for kind, _, _ in kinds].count("deployment") == 2, "the initial deployment and the heal"
    assert "self-heal" in seen.history_text and "Self-heal" in seen.status_text


# ---------------------------------------------------------------- revision-drift


def test_revision_drift_is_recognised_and_healed_at_once() -> None:
    result, seen = scenario("revision-drift")
    # The change's ECS deployment event runs the check at once: the drift is healed before the first
    # scheduled run, not after SelfHealAfterFailures of them, and never pages.
    assert result.healed and result.runs[0].healthy
    heals = [
        item for item in seen.records if item.get("kind") == "heal" and item.get("action") == "heal-drift"
    ]
    assert len(heals) == 1, heals
    trigger = heals[0]["trigger"]
    original = seen.original_task_definition.rsplit("/", 1)[-1]
    assert f"{original}, not the last good revision" in trigger, trigger
    assert "no config: the stack's own revision" in trigger and "ECS deployment" in trigger
    assert heals[0]["outcome"] == "succeeded"
    assert seen.task_definition != seen.original_task_definition
    assert seen.task_definition == last_good(seen)["task_definition_arn"]
    assert alarm_minutes(result, "ALARM") == []


# ---------------------------------------------------------------- lost-upload


def test_a_lost_upload_is_found_and_deployed_without_paging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token, api_token = "cpt_health_lost_upload_0123456789abcdef", "gat_health_lost_upload_0123456789abcdef"
    monkeypatch.setattr(
        health_scenario,
        "LocalTwin",
        lambda options=None: LocalTwin(TwinOptions(control_plane_token=token, api_token=api_token)),
    )

    code = cli.main(
        ["local", "health-check", "--fault", "lost-upload", "--json", "--timeout", str(WALL_TIMEOUT)]
    )

    printed = capsys.readouterr().out
    assert token not in printed and api_token not in printed
    result = json.loads(printed)
    assert code == 0 and {"healthy", "checks", "actions", "after"} <= set(result)
    lost = result["injected"].split("config version ")[1].split(" ")[0]
    # Seen by the first run after it ...
    assert result["healthy"] is False
    assert [name for name, check in result["checks"].items() if check["status"] == "fail"] == ["config"]
    assert lost in result["checks"]["config"]["detail"] and "lost" in result["checks"]["config"]["detail"]
    # ... deployed at once, not self-healed ...
    [action] = result["actions"]
    assert action["action"] == "deploy-lost-upload" and action["version_id"] == lost
    assert action["outcome"] == "succeeded"
    assert all(run["heal"] != "started" for run in result["runs"])
    # ... and nobody paged.
    assert result["after"]["healthy"] is True
    assert result["after"]["checks"]["config"]["detail"] == f"the newest version {lost} is deployed"
    assert result["pages"] == 0 and all(item["state"] != "ALARM" for item in result["alarm"])
    assert result["failed_alarm_actions"] == [], "the alarm's other state changes were delivered"


def test_no_token_in_anything_the_health_checks_left(task_stopped: tuple[ScenarioResult, Seen]) -> None:
    _, seen = task_stopped
    assert seen.leaks == []
