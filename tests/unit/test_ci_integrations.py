"""The pre-commit hook and the GitHub Action run `cpctl validate` as those tools would.

Installing either needs a package index (pre-commit and the action `pip install` the repository,
which needs hatchling and boto3 from it), so these tests take what runs after the install: the hook
as pre-commit loads, filters and calls it, and the action's validation step as the runner's bash runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from identify.identify import tags_from_path
from pre_commit.clientlib import load_manifest
from pre_commit.commands.run import filter_by_include_exclude
from pre_commit.lang_base import hook_cmd

from .test_cli_validate import INVALID, SECRET, VALID

REPO = Path(__file__).resolve().parents[2]
BIN = str(
    Path(sys.executable).parent
)  # where `cpctl` is installed, as the hook's or the action's venv has it
PATHS = [
    "control-plane.conf",
    "conf/control-plane-prod.conf",
    "conf/other.conf",
    "control-plane.conf.bak",
    "README.md",
]


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A user's repository: one valid config, one invalid, and files the hook must leave alone."""
    (tmp_path / "conf").mkdir()
    contents = {"control-plane.conf": VALID, "conf/control-plane-prod.conf": INVALID}
    for path in PATHS:
        (tmp_path / path).write_text(contents.get(path, "not a config {"))
    return tmp_path


def environment(**extra: str) -> dict[str, str]:
    return {
        "PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        **extra,
    }


# ---------------------------------------------------------------------------------- pre-commit
def hook() -> dict[str, Any]:
    hooks = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))  # pre-commit's schema, defaults applied
    (found,) = [item for item in hooks if item["id"] == "cpctl-validate"]
    assert found["language"] == "python"
    return found


def hook_files(hook: dict[str, Any], root: Path) -> list[str]:
    names = filter_by_include_exclude(PATHS, hook["files"], hook["exclude"])
    return [name for name in names if set(hook["types"]) <= tags_from_path(str(root / name))]


def test_the_hook_runs_on_control_plane_configs_only(repository: Path) -> None:
    assert hook_files(hook(), repository) == ["control-plane.conf", "conf/control-plane-prod.conf"]


def test_the_hook_fails_on_an_invalid_config_and_says_where(repository: Path) -> None:
    spec = hook()
    completed = subprocess.run(
        [*hook_cmd(spec["entry"], spec["args"]), *hook_files(spec, repository)],
        cwd=repository,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert "conf/control-plane-prod.conf:4:" in completed.stdout
    assert completed.stdout.rstrip().endswith("2 files: 1 valid, 1 invalid")
    assert SECRET not in completed.stdout + completed.stderr


def test_the_hook_passes_valid_configs_with_the_users_args(repository: Path) -> None:
    spec = hook()
    completed = subprocess.run(
        [*hook_cmd(spec["entry"], ["--server-port", "8080"]), "control-plane.conf"],
        cwd=repository,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert (completed.returncode, completed.stdout.strip()) == (0, "control-plane.conf: valid")


# ---------------------------------------------------------------------------------- the GitHub Action
def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "action.yml").read_text())
    assert loaded["runs"]["using"] == "composite"
    return loaded


def run_validate_step(repository: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The action's validation step, with its inputs (defaults from action.yml) as the runner passes them."""
    spec = action()
    (step,) = [item for item in spec["runs"]["steps"] if item.get("id") == "validate"]
    assert step["shell"] == "bash"
    values = {
        name: inputs.get(name.replace("-", "_"), item["default"]) for name, item in spec["inputs"].items()
    }
    env = {
        name: values[expression.split("inputs.")[1].strip(" }")] for name, expression in step["env"].items()
    }
    output = repository / "github-output"
    output.write_text("")
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=repository,
        env=environment(**env, GITHUB_OUTPUT=str(output), GITHUB_ACTION_PATH=str(REPO)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert SECRET not in completed.stdout + completed.stderr
    return completed, output.read_text()


def test_the_action_installs_the_repository_without_the_twin() -> None:
    steps = action()["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    install = steps[1]["run"]
    assert '"$GITHUB_ACTION_PATH"' in install and "[twin]" not in install


def test_the_action_annotates_every_config_of_the_repository(repository: Path) -> None:
    completed, outputs = run_validate_step(repository)
    assert completed.returncode == 1, completed.stderr
    annotations = [line for line in completed.stdout.splitlines() if line.startswith("::")]
    assert len(annotations) == 2
    assert all(line.startswith("::error file=conf/control-plane-prod.conf,line=4,") for line in annotations)
    assert "control-plane.conf.bak" not in completed.stdout and outputs == ""


def test_the_action_writes_sarif_and_passes_on_valid_files(repository: Path) -> None:
    completed, outputs = run_validate_step(
        repository, files="control-plane.conf", args="--server-port 8080", sarif_file="results.sarif"
    )
    assert (completed.returncode, completed.stdout.strip()) == (0, "control-plane.conf: valid")
    assert outputs == "sarif-file=results.sarif\n"
    log = json.loads((repository / "results.sarif").read_text())
    assert log["version"] == "2.1.0" and log["runs"][0]["results"] == []


def test_the_action_writes_sarif_of_invalid_files_and_still_fails(repository: Path) -> None:
    completed, _ = run_validate_step(repository, sarif_file="results.sarif")
    assert completed.returncode == 1
    results = json.loads((repository / "results.sarif").read_text())["runs"][0]["results"]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {
        "conf/control-plane-prod.conf"
    }
    assert len(results) == 2


def test_the_action_warns_when_no_file_matches(repository: Path) -> None:
    shutil.rmtree(repository / "conf")
    (repository / "control-plane.conf").unlink()
    completed, _ = run_validate_step(repository)
    assert completed.returncode == 0
    assert (
        completed.stdout.strip() == "::warning title=cpctl validate::no file matches **/control-plane*.conf"
    )


def test_a_named_file_that_is_missing_is_an_error(repository: Path) -> None:
    completed, _ = run_validate_step(repository, files="missing/control-plane.conf")
    assert completed.returncode == 2
    assert "cannot read missing/control-plane.conf" in completed.stderr
