"""The twin's faults are declared once (cpctl/twin/faults.py): the docs, the CLI and the dispatch read it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from cpctl.cli import build_parser
from cpctl.twin import faults
from cpctl.twin.capture import Capture
from cpctl.twin.clock import SimulatedClock
from cpctl.twin.eventbridge import EVENT_FAULTS, EventBridge
from cpctl.twin.fargate import FAULTS as FARGATE_FAULTS
from cpctl.twin.health_faults import HealthFaults
from cpctl.twin.twin import LocalTwin, TwinError

ROOT = Path(__file__).resolve().parents[2]


def test_every_fault_is_declared_once_per_scope_with_what_it_stands_for() -> None:
    keys = [(fault.scope, fault.name) for fault in faults.FAULTS]
    assert len(keys) == len(set(keys))
    for fault in faults.FAULTS:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", fault.name), fault.name
        assert fault.simulates.strip() and fault.aws.strip(), fault.name
        assert "|" not in fault.simulates + fault.aws, f"{fault.name}: a | would break the docs table"


def test_the_docs_table_is_the_declaration() -> None:
    text = (ROOT / "docs" / "local-twin.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("| fault |")]
    assert len(lines) == 1, "docs/local-twin.md has no (or more than one) table of faults"
    start = text.splitlines().index(lines[0])
    documented = []
    for line in text.splitlines()[start:]:
        if not line.startswith("|"):
            break
        documented.append(line)
    expected = faults.markdown_table()
    assert documented == expected, "docs/local-twin.md's table of faults should read:\n" + "\n".join(expected)


def test_the_health_docs_name_the_health_faults() -> None:
    text = (ROOT / "docs" / "health.md").read_text()
    table = text[text.index("| Fault | What the twin does |") :].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)` \|", table, flags=re.MULTILINE)
    assert tuple(rows) == faults.names("health")
    synopsis = re.search(r"cpctl local health-check \[--fault ([a-z|-]+)\]", text)
    assert synopsis is not None and tuple(synopsis.group(1).split("|")) == faults.names("health")


def _fault_option(*command: str) -> argparse.Action:
    parser = build_parser(list(command))
    for name in command:
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = subparsers.choices[name]
    return next(action for action in parser._actions if "--fault" in action.option_strings)


@pytest.mark.parametrize(
    ("command", "scope"),
    [
        (("local", "deploy"), "deploy"),
        (("local", "up"), "deploy"),
        (("local", "health-check"), "health"),
    ],
)
def test_the_cli_offers_and_explains_the_declared_faults(
    command: tuple[str, ...], scope: faults.Scope
) -> None:
    option = _fault_option(*command)
    assert tuple(option.choices or ()) == faults.names(scope)
    for fault in faults.FAULTS:
        if fault.scope == scope:
            assert f"{fault.name}: {fault.simulates}" in str(option.help)


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.flaky = False
        self.file_tokens_rejected = False

    def arm(self, fault: str, version_id: str) -> None:
        self.calls.append(("fargate", fault, version_id))

    def arm_transient_failures(self) -> None:
        self.calls.append(("lambdas", "transient"))

    def arm_lost_results(self) -> None:
        self.calls.append(("lambdas", "lost"))

    def location_ids(self) -> list[str]:
        return ["prl_somewhere"]

    def start_run(self, locations: list[str], *, duration: float | None) -> str:
        self.calls.append(("gatling", "run", str(locations), str(duration)))
        return "run-1"


class _EventRecorder:
    def __init__(self, calls: list[tuple[str, ...]]) -> None:
        self.calls = calls

    def arm(self, fault: str) -> None:
        self.calls.append(("eventbridge", fault))


def test_the_twin_dispatches_every_deploy_fault_to_the_part_that_acts_it_out() -> None:
    twin = LocalTwin()
    recorder = _Recorder()
    twin.fargate, twin.gatling = recorder, recorder
    twin.lambdas = recorder  # type: ignore[assignment]
    twin.eventbridge = _EventRecorder(recorder.calls)  # type: ignore[assignment]
    for name in faults.names("deploy"):
        declared = faults.find(name, "deploy")
        assert declared is not None
        before = (list(recorder.calls), recorder.flaky, recorder.file_tokens_rejected)
        twin.arm(name, "v1")
        after = (list(recorder.calls), recorder.flaky, recorder.file_tokens_rejected)
        assert after != before, f"{name} armed nothing"
        if declared.armed_by == "fargate":
            assert recorder.calls[-1] == ("fargate", name, "v1")
        if declared.armed_by == "eventbridge":
            assert recorder.calls[-1] == ("eventbridge", name)
    with pytest.raises(TwinError, match="unknown fault 'task-stopped'"):
        twin.arm("task-stopped", "v1")  # a health fault is not a deploy fault
    assert set(faults.names("deploy", armed_by=("fargate",))) <= set(FARGATE_FAULTS)


def test_eventbridge_acts_out_each_of_its_faults() -> None:
    def bridge() -> EventBridge:
        return EventBridge("123456789012", "eu-west-1", SimulatedClock(), Capture(), None, None)  # type: ignore[arg-type]

    assert EVENT_FAULTS
    for name in EVENT_FAULTS:
        armed = bridge()
        before = (armed.duplicating, armed.late_next)
        armed.arm(name)
        assert (armed.duplicating, armed.late_next) != before, f"{name} armed nothing"
    with pytest.raises(ValueError, match="not 'never-up'"):
        bridge().arm("never-up")


def test_every_health_fault_has_its_injection() -> None:
    injections: Any = HealthFaults(twin=LocalTwin()).handlers()
    assert set(injections) == set(faults.names("health") + faults.names("test"))
