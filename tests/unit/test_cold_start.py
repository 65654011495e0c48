"""Lambdas that never validate a config do not load the HOCON parser at cold start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def loaded_at_import(handler: str) -> set[str]:
    script = f"import sys; import {handler}.app; print(' '.join(sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=FUNCTIONS, capture_output=True, text=True, check=True
    )
    return set(completed.stdout.split())


@pytest.mark.parametrize(
    "handler",
    [
        "admit_deployment",
        "register_revision",
        "start_rollout",
        "await_rollout",
        "await_control_plane_up",
        "roll_back",
        "record_outcome",
        "record_stopped_task",
        "probe_info",
    ],
)
def test_handler_cold_start_leaves_the_hocon_parser_out(handler: str) -> None:
    modules = loaded_at_import(handler)
    assert f"{handler}.app" in modules
    assert "zig_hocon" not in modules
    assert "controlplane.validation" not in modules


def test_the_validator_still_loads_where_it_is_used() -> None:
    assert "zig_hocon" in loaded_at_import("check_health")
