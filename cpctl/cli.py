"""`cpctl`: the operator CLI of Control Plane Autopilot."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from cpctl.local_setup import twin_problem

# Each command lives in a module exposing `register(subparsers)`. Only the module of the command
# being run is imported (the twin pulls in moto), so `cpctl validate` and `cpctl --help` start fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("cpctl.validate_cmd", "check control-plane.conf files before uploading them"),
    "deploy": ("cpctl.deploy_cmd", "validate FILE, upload it, follow the deployment"),
    "rollback": ("cpctl.deploy_cmd", "deploy an older config version, or list them"),
    "redeploy": ("cpctl.deploy_cmd", "deploy the newest config version again, follow it"),
    "local": (
        "cpctl.local_cmd",
        "the pipeline on a local twin (moto, simulated Fargate)",
    ),
    "status": (
        "cpctl.status_cmd",
        "the control plane now: revision, health, stopped tasks",
    ),
    "history": ("cpctl.status_cmd", "deployments and heal actions, newest first"),
    "diff": ("cpctl.diff_cmd", "the running config against a file or a version"),
    "logs": ("cpctl.logs_cmd", "log lines of the control plane and its side-car"),
    "completion": ("cpctl.completion_cmd", "print the bash or zsh completion script"),
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))
# Modules that need the `[twin]` extra: without it their command only says how to install it.
TWIN_MODULES = frozenset({"cpctl.local_cmd"})


def cpctl_version() -> str:
    try:
        return version("control-plane-autopilot")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0+unknown"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with `argv`, only the named command's module is imported (None: all of them)."""
    parser = argparse.ArgumentParser(
        prog="cpctl",
        description="Operate a Gatling Enterprise control plane on ECS Fargate, or its twin.",
        # Wide enough for `completion` to share its line: the whole help stays on one screen.
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=18),
    )
    parser.add_argument("--version", action="version", version=f"cpctl {cpctl_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((arg for arg in argv if not arg.startswith("-")), None) if argv is not None else None
    modules = COMMAND_MODULES if argv is None else tuple(m for c, (m, _) in COMMANDS.items() if c == wanted)
    for module in modules:
        problem = twin_problem() if module in TWIN_MODULES else None
        if problem is None:
            importlib.import_module(module).register(subparsers)
        else:
            _register_missing(subparsers, module, problem)
    for command, (_, help_text) in COMMANDS.items():
        if command not in subparsers.choices:  # listed in --help; its module loads when it runs
            subparsers.add_parser(command, help=help_text)
    return parser


def _register_missing(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], module: str, problem: str
) -> None:
    """The commands of `module` as stubs that say what to install, whatever their arguments."""
    for command, (owner, help_text) in COMMANDS.items():
        if owner == module:
            stub = subparsers.add_parser(command, help=help_text, description=problem)
            stub.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            stub.set_defaults(handler=lambda _args, name=command: _report_missing(name, problem))


def _report_missing(command: str, problem: str) -> int:
    print(f"cpctl {command}: {problem}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; whatever happens, the user gets one line and an exit code, never a traceback
    (`CPCTL_DEBUG=1` shows it, for a bug report)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in arguments if not arg.startswith("-")), "")
    name = f"cpctl {command}".rstrip()
    try:
        parser = build_parser(arguments)
        args = parser.parse_args(arguments)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 2
        code: int = handler(args)
        return code
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, what a shell reports for a tool stopped by Ctrl-C
    except BrokenPipeError:
        # The reader went away (`cpctl ... | head`): stop quietly, as Unix tools do. Python would
        # otherwise also fail flushing stdout at exit, so point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe
    except ModuleNotFoundError as error:
        if os.environ.get("CPCTL_DEBUG"):
            raise
        print(
            f"{name}: the Python module {error.name!r} is missing: reinstall cpctl "
            "(pipx install --force ...), or add the '[twin]' extra for `cpctl local`",
            file=sys.stderr,
        )
        return 2
    except Exception as error:  # the last line of defence: one line, not a traceback
        if os.environ.get("CPCTL_DEBUG"):
            raise
        print(
            f"{name}: unexpected {type(error).__name__}: {error} (a bug: CPCTL_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return 70  # EX_SOFTWARE (sysexits.h): an internal error


if __name__ == "__main__":
    sys.exit(main())
