"""`cpctl completion bash|zsh`: the generated script completes as a user pressing Tab would see."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cpctl import cli

REPO = Path(__file__).resolve().parents[2]


def script(shell: str) -> str:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; from cpctl.cli import main; sys.exit(main(['completion', '{shell}']))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return completed.stdout


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "cpctl.bash"
    path.write_text(script("bash"))
    return path


def complete(shell: str, script_path: Path, words: list[str], cwd: Path | None = None) -> list[str]:
    """What the completion function offers for `words` (the last one being typed)."""
    quoted = " ".join("'" + word.replace("'", "'\\''") + "'" for word in words)
    if shell == "bash":
        program = f'source {script_path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _cpctl; printf "%s\\n" "${{COMPREPLY[@]}}"'
        command = ["bash", "--norc", "--noprofile", "-c", program]
    else:  # zsh runs the function through bashcompinit, in its sh emulation, as `_bash_complete` does
        program = (
            f"source {script_path}; emulate -L sh; setopt kshglob noshglob braceexpand; "
            f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _cpctl; "
            'print -rl -- "${COMPREPLY[@]}"'
        )
        command = ["zsh", "-f", "-c", program]
    completed = subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd or REPO)
    return [line for line in completed.stdout.splitlines() if line]


def test_bash_completes_commands_subcommands_options_and_choices(bash_script: Path) -> None:
    assert complete("bash", bash_script, ["cpctl", ""]) == list(cli.COMMANDS)
    assert complete("bash", bash_script, ["cpctl", "lo"]) == ["local", "logs"]
    assert complete("bash", bash_script, ["cpctl", "local", ""]) == ["demo", "up", "deploy", "health-check"]
    assert complete("bash", bash_script, ["cpctl", "validate", "--format", "s"]) == ["sarif"]
    assert "task-fails-to-start" in complete("bash", bash_script, ["cpctl", "local", "deploy", "--fault", ""])
    assert complete("bash", bash_script, ["cpctl", "logs", "--fo"]) == ["--follow"]
    diff_options = complete("bash", bash_script, ["cpctl", "diff", "--"])
    assert {"--version", "--against", "--stack-name", "--endpoint-url", "--json"} <= set(diff_options)
    assert complete("bash", bash_script, ["cpctl", "status", "--endpoint-url", ""]) == []  # a URL: no guess


def test_bash_completes_files_where_a_file_is_expected(bash_script: Path, tmp_path: Path) -> None:
    (tmp_path / "control-plane.conf").write_text("")
    (tmp_path / "context.json").write_text("{}")
    assert complete("bash", bash_script, ["cpctl", "validate", "con"], cwd=tmp_path) == [
        "context.json",
        "control-plane.conf",
    ]
    assert complete("bash", bash_script, ["cpctl", "validate", "--context", "conte"], cwd=tmp_path) == [
        "context.json"
    ]
    assert complete("bash", bash_script, ["cpctl", "diff", "control"], cwd=tmp_path) == ["control-plane.conf"]
    assert complete("bash", bash_script, ["cpctl", "logs", "con"], cwd=tmp_path) == []  # logs takes no file


def test_bash_registers_the_function_for_cpctl(bash_script: Path) -> None:
    completed = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", f"source {bash_script}; complete -p cpctl"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == "complete -o filenames -F _cpctl cpctl"


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_offers_the_same_candidates(tmp_path: Path) -> None:
    path = tmp_path / "cpctl.zsh"
    path.write_text(script("zsh"))
    # zsh filters the candidates by what is typed itself: the function offers every one of the level.
    assert complete("zsh", path, ["cpctl", ""]) == list(cli.COMMANDS)
    assert complete("zsh", path, ["cpctl", "local", ""]) == ["demo", "up", "deploy", "health-check"]
    assert complete("zsh", path, ["cpctl", "validate", "--format", ""]) == ["text", "json", "github", "sarif"]
    registered = subprocess.run(
        ["zsh", "-f", "-c", f"source {path}; print -r -- $_comps[cpctl]"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert registered.stdout.strip() == "_bash_complete -o filenames -F _cpctl"


def test_help_lists_every_command_on_one_screen() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; from cpctl.cli import main; sys.exit(main(['--help']))"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
        cwd=REPO,
    )
    lines = completed.stdout.splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 80, completed.stdout
    listed = {line.split()[0] for line in lines if line.startswith("    ") and not line.startswith("     ")}
    assert listed == set(cli.COMMANDS)
