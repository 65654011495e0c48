"""`cpctl`: the operator CLI of Control Plane Autopilot."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

# Each sub-command lives in its own module exposing `register(subparsers)`; the module is
# imported only when the CLI starts so `cpctl --help` stays fast.
COMMAND_MODULES: tuple[str, ...] = ("cpctl.validate_cmd", "cpctl.local_cmd", "cpctl.status_cmd")


def _version() -> str:
    try:
        return version("control-plane-autopilot")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpctl",
        description="Operate a Gatling Enterprise control plane on AWS ECS Fargate, or its local twin.",
    )
    parser.add_argument("--version", action="version", version=f"cpctl {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
