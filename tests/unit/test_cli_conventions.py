"""The conventions every cpctl command keeps: where the stack and region come from, one output flag,
colour and width only for a terminal, exit codes, and never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cpctl import cli, exit_codes
from cpctl.aws_options import LocationError, locate
from cpctl.cli import build_parser
from cpctl.status_cmd import Clients, StatusError
from cpctl.terminal import paint, wrap, write

SAMCONFIG = """version = 0.1
[default.global.parameters]
stack_name = "cp-default"
[production.global.parameters]
stack_name = "cp-production"
[production.deploy.parameters]
region = "eu-central-1"
profile = "prod-operator"
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def parsed(*argv: str) -> object:
    return build_parser(list(argv)).parse_args(list(argv))


def test_the_stack_region_and_profile_come_from_samconfig_when_not_given(tmp_path: Path) -> None:
    config = tmp_path / "samconfig.toml"
    config.write_text(SAMCONFIG)
    assert locate(parsed("status"), samconfig=config).stack_name == "cp-default"
    production = locate(parsed("status", "--config-env", "production"), samconfig=config)
    assert (production.stack_name, production.region, production.profile) == (
        "cp-production",
        "eu-central-1",
        "prod-operator",
    )
    given = locate(parsed("status", "--config-env", "production", "--region", "us-east-1"), samconfig=config)
    assert given.region == "us-east-1"
    assert locate(parsed("status", "--stack-name", "mine"), samconfig=config).stack_name == "mine"
    with pytest.raises(LocationError, match="has no stack_name for environment 'staging'"):
        locate(parsed("status", "--config-env", "staging"), samconfig=config)
    with pytest.raises(LocationError, match="pass --stack-name"):
        locate(parsed("status"), samconfig=tmp_path / "absent.toml")


def test_no_region_names_the_variable_boto3_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    with pytest.raises(StatusError, match="pass --region or set AWS_DEFAULT_REGION"):
        Clients.create(region=None, endpoint_url=None)
    with pytest.raises(StatusError, match=r"nowhere.*--profile or AWS_PROFILE"):
        Clients.create(region="eu-west-1", endpoint_url=None, profile="nowhere")


@pytest.mark.parametrize(
    "argv",
    [
        ("status",),
        ("history",),
        ("diff",),
        ("logs",),
        ("deploy", "x.conf"),
        ("rollback",),
        ("redeploy",),
        ("local", "deploy", "x.conf"),
        ("local", "health-check"),
    ],
)
def test_one_output_flag_and_the_old_one_as_its_alias(argv: tuple[str, ...]) -> None:
    assert parsed(*argv).output == "text"
    assert parsed(*argv, "--output", "json").output == "json"
    assert parsed(*argv, "--json").output == "json"


def test_validate_takes_output_as_its_format() -> None:
    assert parsed("validate", "a.conf", "--output", "json").format == "json"


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert paint(Terminal(), "Succeeded", "32") == "\033[32mSucceeded\033[0m"
    assert paint(io.StringIO(), "Succeeded", "32") == "Succeeded"
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint(Terminal(), "Succeeded", "32") == "Succeeded"


def test_lines_wrap_to_the_terminal_width_under_their_value(monkeypatch: pytest.MonkeyPatch) -> None:
    cause = "  Cause            " + "the control plane of task 0123456789abcdef0123456789abcdef exited 1 " * 2
    wrapped = wrap(cause, 60).splitlines()
    assert all(len(line) <= 60 for line in wrapped) and len(wrapped) > 2
    assert all(line.startswith(" " * 19) and line[19] != " " for line in wrapped[1:])
    long_id = "  Execution        " + "x" * 100
    assert all(len(line) <= 60 for line in wrap(long_id, 60).splitlines())
    monkeypatch.setenv("COLUMNS", "60")
    terminal, pipe = Terminal(), io.StringIO()
    write(terminal, cause)
    write(pipe, cause)
    assert max(map(len, terminal.getvalue().splitlines())) <= 60
    assert pipe.getvalue() == cause + "\n"  # a pipe gets whole lines


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (KeyError("name"), 70, "cpctl status: unexpected KeyError: 'name'"),
        (KeyboardInterrupt(), exit_codes.INTERRUPTED, "cpctl status: interrupted"),
        (ModuleNotFoundError("no moto", name="moto"), 2, "the Python module 'moto' is missing"),
    ],
)
def test_no_traceback_reaches_the_user(
    raised: BaseException,
    code: int,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail(_args: object) -> int:
        raise raised

    monkeypatch.setattr("cpctl.status_cmd.run_status", fail)
    monkeypatch.delenv("CPCTL_DEBUG", raising=False)
    assert cli.main(["status", "--endpoint-url", "http://127.0.0.1:1"]) == code
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("status", "error", "last_state", "code"),
    [
        ("SUCCEEDED", None, "Deployment succeeded", exit_codes.SUCCEEDED),
        ("SUCCEEDED", None, "Nothing to deploy", exit_codes.FAILED),
        ("FAILED", "ConfigRejected", "Config rejected", exit_codes.REJECTED),
        ("FAILED", "DeploymentRolledBack", "Rolled back", exit_codes.ROLLED_BACK),
        ("FAILED", "RollbackFailed", "Manual action needed", exit_codes.ROLLBACK_FAILED),
        ("TIMED_OUT", None, "Wait for rollout", exit_codes.TIMED_OUT),
        ("FAILED", "DeploymentFailed", "Deployment failed", exit_codes.FAILED),
        ("ABORTED", None, "Wait for rollout", exit_codes.FAILED),
    ],
)
def test_exit_codes_of_an_execution(status: str, error: str | None, last_state: str, code: int) -> None:
    assert exit_codes.of_execution(status, error, last_state) == code
