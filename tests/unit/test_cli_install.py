"""`cpctl` installs without the twin: every command but `local` works, and `local` says what to install."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cpctl import local_setup

REPO = Path(__file__).resolve().parents[2]
# A Python without the twin's extra: its modules cannot be imported (as after `pipx install .`).
WITHOUT_TWIN = "import sys\nfor name in ('moto', 'samtranslator'): sys.modules[name] = None\n"


def cpctl_without_twin(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    script = WITHOUT_TWIN + f"from cpctl.cli import main\nsys.exit(main({list(argv)!r}))\n"
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, input=stdin, cwd=REPO, check=False
    )


def test_the_core_dependencies_leave_the_twin_to_its_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    assert "moto" not in core and "aws-sam-translator" not in core
    twin = " ".join(project["optional-dependencies"]["twin"])
    assert "moto[" in twin and "aws-sam-translator" in twin


@pytest.mark.parametrize(
    "argv", [["local", "up"], ["local", "deploy", "x.conf", "--json"], ["local", "--help"]]
)
def test_local_without_the_extra_says_the_command_that_installs_it(argv: list[str]) -> None:
    completed = cpctl_without_twin(*argv)
    if argv[-1] == "--help":  # help still works, and says it too
        assert completed.returncode == 0
        assert "[twin]" in completed.stdout
        return
    assert completed.returncode == 2
    assert completed.stdout == ""
    (line,) = completed.stderr.splitlines()
    assert line.startswith(
        "cpctl local: the local twin needs the '[twin]' extra (moto, samtranslator not installed)"
    )
    assert line.endswith(f"install it with: {sys.executable} -m pip install --editable '{REPO}[twin]'")
    assert "Traceback" not in completed.stderr


def test_validate_and_help_work_without_the_extra() -> None:
    config = (REPO / "cpctl/twin/configs/initial.conf").read_text()
    completed = cpctl_without_twin("validate", "--token-injected", "-", stdin=config)
    assert (completed.returncode, completed.stdout.strip()) == (0, "-: valid"), completed.stderr
    # Every --help in one interpreter without the extra (one each would take a second apiece).
    commands = [[], ["status"], ["history"], ["diff"], ["logs"]]
    script = (
        WITHOUT_TWIN
        + "import contextlib, io, json\nfrom cpctl.cli import main\n"
        + f"for argv in {commands!r}:\n"
        + "    out = io.StringIO()\n"
        + "    with contextlib.redirect_stdout(out):\n"
        + "        try:\n"
        + "            code = main([*argv, '--help'])\n"
        + "        except SystemExit as end:\n"
        + "            code = end.code\n"
        + "    print(json.dumps([argv, code, out.getvalue()]))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    helped = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [argv for argv, _, _ in helped] == commands, completed.stderr
    (_, code, listing), *per_command = helped
    assert code == 0 and "local" in listing and "validate" in listing
    for argv, code, text in per_command:
        assert code == 0, (argv, completed.stderr)
        assert "--endpoint-url" in text, argv


def test_an_install_without_a_checkout_needs_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local_setup, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(local_setup, "_source_checkout", lambda: None)
    problem = local_setup.twin_problem()
    assert problem is not None
    assert problem.startswith("the local twin runs from a checkout of the repository")
    assert problem.endswith("--editable '.[twin]' (in a checkout of the repository)")


def test_under_pipx_the_command_is_pipx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "pipx_metadata.json").write_text("{}")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert local_setup.install_command() == f"pipx install --force --editable '{REPO}[twin]'"


def test_with_the_twin_installed_there_is_no_problem() -> None:
    assert local_setup.twin_problem() is None
