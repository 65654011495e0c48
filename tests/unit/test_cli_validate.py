"""`cpctl validate`: output formats, exit codes and the deployment context flags."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path

import pytest
from controlplane.validation import MAX_CONFIG_BYTES

from cpctl import cli, validate_cmd

SECRET = "cpt_cli_secret_9d8c7b6a5f4e"
VALID = f"""control-plane {{
  token = "{SECRET}"
  locations = [ {{
    id = "prl_aws", type = aws, region = eu-west-1, ami.type = certified
    security-groups = [sg-1], subnets = [subnet-1], instance-type = c7i.xlarge
  }} ]
}}
"""
INVALID = VALID.replace("ami.type = certified", "ami.type = golden").replace(
    "eu-west-1", "eu-west-1, spot = maybe"
)
ENV_TOKEN = VALID.replace(f'token = "{SECRET}"', "token = ${?CONTROL_PLANE_TOKEN}")
LINE = re.compile(
    r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning): (?P<message>.+) \[(?P<path>.+)\]$"
)


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return str(path)


def main(argv: list[str]) -> int:
    """`cpctl` with only this sub-command: the others import AWS SDKs this test does not need."""
    parser = argparse.ArgumentParser(prog="cpctl")
    validate_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def test_the_command_is_registered() -> None:
    assert "cpctl.validate_cmd" in cli.COMMAND_MODULES


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


def test_valid_file_exits_0_with_a_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "cp.conf", VALID)
    code, out, err = run(capsys, path)
    assert code == 0
    assert out.splitlines() == [f"{path}: valid"]
    assert err == ""


def test_invalid_file_exits_1_with_compiler_style_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "cp.conf", INVALID)
    code, out, _ = run(capsys, path)
    assert code == 1
    *findings, verdict = out.splitlines()
    assert verdict == f"{path}: invalid (2 errors)"
    parsed = [LINE.match(line) for line in findings]
    assert all(parsed), findings
    assert [(m["line"], m["col"], m["severity"], m["path"]) for m in parsed if m] == [
        ("4", "53", "error", "control-plane.locations[0].spot"),
        ("4", "67", "error", "control-plane.locations[0].ami.type"),
    ]


def test_warnings_keep_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "cp.conf", ENV_TOKEN)
    code, out, _ = run(capsys, path)
    assert code == 0
    assert out.splitlines()[-1] == f"{path}: valid (1 warning)"
    assert ": warning: the token comes only from ${?CONTROL_PLANE_TOKEN}" in out


def test_missing_file_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["validate"])
    assert exited.value.code == 2
    assert "the following arguments are required: FILE" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_path_is_a_usage_error(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "nope.conf") if kind == "missing" else str(tmp_path)
    good = write(tmp_path, "cp.conf", VALID)
    code, out, err = run(capsys, good, path)
    assert code == 2
    assert out == ""
    assert err.startswith(f"cpctl validate: cannot read {path}: ")


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = write(tmp_path, "good.conf", VALID), write(tmp_path, "bad.conf", INVALID)
    code, out, _ = run(capsys, "--format", "json", good, bad)
    assert code == 1
    document = json.loads(out)
    assert list(document) == ["files"]
    first, second = document["files"]
    assert set(first) == {"file", "valid", "errors", "warnings", "summary"}
    assert (first["file"], first["valid"], first["errors"]) == (good, True, [])
    assert first["summary"]["locations"] == [{"id": "prl_aws", "type": "aws", "region_or_zone": "eu-west-1"}]
    assert set(first["summary"]) == {"description", "locations", "sha256"}
    assert second["valid"] is False
    assert second["errors"][1] == {
        "line": 4,
        "column": 67,
        "path": "control-plane.locations[0].ami.type",
        "message": 'type is "golden"; allowed values: certified, custom',
    }


def test_several_files_end_with_a_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = write(tmp_path, "good.conf", VALID), write(tmp_path, "bad.conf", INVALID)
    code, out, _ = run(capsys, good, bad)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{good}: valid"
    assert lines[-2] == f"{bad}: invalid (2 errors)"
    assert lines[-1] == "2 files: 1 valid, 1 invalid"


def test_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(INVALID.encode())))
    code, out, _ = run(capsys, "-")
    assert code == 1
    assert out.splitlines()[0].startswith("-:4:53: error: spot")


def test_bad_bytes_are_a_verdict_not_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        "empty.conf": b"",
        "binary.conf": b"\x00\x01\x02",
        "latin1.conf": 'description = "caf\u00e9"'.encode("latin-1"),
        "huge.conf": VALID.encode().ljust(MAX_CONFIG_BYTES + 10, b"#"),
    }
    for name, data in cases.items():
        code, out, err = run(capsys, write(tmp_path, name, data))
        assert code == 1, name
        assert "Traceback" not in out + err
        assert out.splitlines()[-1].endswith("invalid (1 error)"), out


def test_context_flags_turn_deployment_warnings_into_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "cp.conf", ENV_TOKEN.replace("ami.type", 'iam-instance-profile = "lg", ami.type'))
    code, out, _ = run(capsys, path)
    assert code == 0
    assert out.count(": warning: ") == 2
    code, out, _ = run(capsys, "--token-injected", path)
    assert code == 1
    assert ": error: iam-instance-profile needs iam:PassRole" in out
    code, out, _ = run(capsys, "--token-injected", "--pass-role", path)
    assert (code, out.splitlines()) == (0, [f"{path}: valid"])


def test_server_port_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "cp.conf", VALID.replace("  locations", "  server.port = 9090\n  locations"))
    assert run(capsys, "--server-port", "9090", path)[0] == 0
    code, out, _ = run(capsys, "--server-port", "8080", path)
    assert code == 1
    assert "server.port is 9090 but the task exposes port 8080" in out


def test_container_env_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "cp.conf", VALID.replace("  locations", "  description = ${TEAM}\n  locations"))
    assert run(capsys, path)[0] == 1
    assert run(capsys, "--container-env", "TEAM", path)[0] == 0


def test_context_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "cp.conf", ENV_TOKEN)
    context = write(tmp_path, "context.json", json.dumps({"token_injected": True, "server_port": 8080}))
    assert run(capsys, "--context", context, path)[:2] == (0, f"{path}: valid\n")
    not_injected = write(tmp_path, "no-token.json", json.dumps({"token_injected": False}))
    assert run(capsys, "--context", not_injected, path)[0] == 1


@pytest.mark.parametrize(
    ("content", "words"),
    [("{not json", "cannot read the context file"), ('{"token_injected": "perhaps"}', "invalid deployment context"),
     ('{"unknown_field": 1}', "invalid deployment context"), ("[1]", "must hold a JSON object")],
)  # fmt: skip
def test_bad_context_file_is_a_usage_error(
    content: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = write(tmp_path, "context.json", content)
    code, out, err = run(capsys, "--context", context, write(tmp_path, "cp.conf", VALID))
    assert (code, out) == (2, "")
    assert words in err


def test_missing_context_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--context", str(tmp_path / "none.json"), write(tmp_path, "cp.conf", VALID))
    assert code == 2
    assert "cannot read the context file" in err
