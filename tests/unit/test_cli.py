"""The CLI loads only the command it runs: an operator's `cpctl validate` never pays for the twin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cpctl import cli
from tests.conftest import REPO_ROOT


def imported_after(argv: list[str]) -> set[str]:
    script = (
        "import sys; from cpctl import cli; "
        f"cli.build_parser({argv!r}); "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {'moto', 'cpctl', 'boto3'})))"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(completed.stdout.split())


def test_validate_imports_neither_the_twin_nor_moto() -> None:
    modules = imported_after(["validate", "x.conf"])
    assert "cpctl.validate_cmd" in modules
    assert not {
        m for m in modules if m.startswith(("moto", "cpctl.twin", "cpctl.local_cmd", "cpctl.status_cmd"))
    }


def test_help_lists_every_command_without_importing_them() -> None:
    modules = imported_after(["--help"])
    assert not {m for m in modules if m.endswith("_cmd")}
    parser = cli.build_parser(["--help"])
    assert "validate" in parser.format_help()
    assert all(command in parser.format_help() for command in cli.COMMANDS)


def test_help_fits_one_screen_of_80_by_24(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = cli.build_parser(["--help"]).format_help()
    lines = text.splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 80, text
    listed = {line.split()[0] for line in lines if line.startswith("    ") and line.strip()}
    assert set(cli.COMMANDS) <= listed


def test_each_command_runs_from_its_own_module() -> None:
    # One interpreter for every command (each a fresh interpreter would take a second): before each,
    # the cpctl modules an earlier command loaded are forgotten, so each is seen loading its own.
    script = (
        "import json, sys; from cpctl import cli\n"
        f"for command in {list(cli.COMMANDS)!r}:\n"
        "    for name in [m for m in sys.modules if m.startswith('cpctl.') and m != 'cpctl.cli']:\n"
        "        del sys.modules[name]\n"
        "    cli.build_parser([command])\n"
        "    print(json.dumps([command, sorted(m for m in sys.modules if m.startswith('cpctl.'))]))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = dict(json.loads(line) for line in completed.stdout.splitlines())
    assert list(loaded) == list(cli.COMMANDS)
    for command, (module, _) in cli.COMMANDS.items():
        assert module in loaded[command], command


def test_a_reader_that_stops_early_ends_cpctl_quietly(tmp_path: Path) -> None:
    # `cpctl validate ... | head`: the pipe closes while cpctl still writes (far more than a pipe buffer).
    config = tmp_path / "control-plane.conf"
    keys = "\n".join(f"  unknown_key_{n} = {n}" for n in range(3000))
    config.write_text(f"control-plane {{\n{keys}\n}}\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "cpctl.cli", "validate", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(100)
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in errors, errors
