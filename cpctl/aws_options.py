"""Where a command finds the stack and its credentials, as the AWS CLI and the SAM CLI do.

- Credentials and region: boto3's chain (`--profile` or `AWS_PROFILE`, the environment, the shared
  files, a role). The region comes from `--region`, else `AWS_DEFAULT_REGION` (the variable botocore
  reads, `botocore/configprovider.py`), else the profile's `region`, else `samconfig.toml`.
- The stack: `--stack-name`, else `--endpoint-url` (the local twin, found by listing), else the
  `stack_name` (and `region`, `profile`) of `samconfig.toml` in the current directory: the
  environment `--config-env` (default `default`), its `global` then `deploy` parameters, as
  `sam deploy` reads them (SAM CLI configuration file, AWS SAM Developer Guide).
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpctl.terminal import add_output_argument

SAMCONFIG = Path("samconfig.toml")
REGION_HELP = "pass --region or set AWS_DEFAULT_REGION (or a region in the profile or samconfig.toml)"


class LocationError(RuntimeError):
    """The stack cannot be located from the arguments, the environment and samconfig.toml."""


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the stack is (AWS or the twin) and the output format: the same for every command that reads it."""
    where = parser.add_argument_group("where the stack is (default: samconfig.toml here)")
    where.add_argument("--stack-name", help="the deployed stack (reads its outputs)")
    where.add_argument("--endpoint-url", help="the local twin's endpoint (`cpctl local up`)")
    where.add_argument("--region", help="AWS region (default: AWS_DEFAULT_REGION, the profile's)")
    where.add_argument("--profile", help="named profile of the AWS config files (default: AWS_PROFILE)")
    where.add_argument(
        "--config-env", default="default", metavar="ENV", help="samconfig.toml environment (default: default)"
    )
    add_output_argument(parser)


@dataclass(frozen=True)
class Location:
    stack_name: str | None
    endpoint_url: str | None
    region: str | None
    profile: str | None
    source: str = "arguments"


def locate(args: argparse.Namespace, *, samconfig: Path = SAMCONFIG) -> Location:
    """The stack, region and profile of `args`, filled in from samconfig.toml when not given."""
    stack_name = getattr(args, "stack_name", None)
    endpoint_url = getattr(args, "endpoint_url", None)
    region = getattr(args, "region", None)
    profile = getattr(args, "profile", None)
    if stack_name or endpoint_url:
        return Location(stack_name, endpoint_url, region, profile)
    env = getattr(args, "config_env", "default") or "default"
    values = samconfig_parameters(samconfig, env)
    if not values.get("stack_name"):
        where = f"{samconfig} has no stack_name for environment {env!r}" if samconfig.exists() else None
        raise LocationError(
            "pass --stack-name (AWS) or --endpoint-url (the local twin)"
            + (f"; {where}" if where else ", or run it where samconfig.toml is")
        )
    return Location(
        stack_name=str(values["stack_name"]),
        endpoint_url=None,
        region=region or _text(values.get("region")),
        profile=profile or _text(values.get("profile")),
        source=f"{samconfig} [{env}]",
    )


def samconfig_parameters(path: Path, env: str) -> dict[str, Any]:
    """`[env.global.parameters]` overlaid by `[env.deploy.parameters]`; empty when there is no file."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise LocationError(f"cannot read {path}: {error}") from None
    section = document.get(env) or {}
    merged: dict[str, Any] = {}
    for command in ("global", "deploy"):
        merged.update(((section.get(command) or {}).get("parameters")) or {})
    return merged


def _text(value: Any) -> str | None:
    return str(value) if value else None
