"""`cpctl validate FILE...`: check control-plane.conf files on a laptop or in CI before uploading them.

Exit codes: 0 every file is valid (warnings allowed), 1 a file is invalid, 2 usage error (a file or
the context file cannot be read). docs/validator.md describes the rules and the JSON format.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from controlplane.validation import MAX_CONFIG_BYTES, DeploymentContext, ValidationResult, validate_config
from pydantic import ValidationError

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line names something that cannot be used; exit code 2."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check control-plane.conf files before uploading them",
        description=(
            "Check control-plane.conf files like a compiler: FILE:LINE:COL: error|warning: message [key.path]. "
            "Without deployment flags, findings that depend on the stack's parameters are warnings; with "
            "any of them (or --context), they are errors."
        ),
        epilog="Exit codes: 0 every file is valid, 1 a file is invalid, 2 usage error. See docs/validator.md.",
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="config file to check ('-' reads standard input)"
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    deployment = parser.add_argument_group("deployment context (what the stack gives the container)")
    deployment.add_argument(
        "--context", metavar="FILE", type=Path, help="JSON file with DeploymentContext fields"
    )
    deployment.add_argument(
        "--token-injected",
        action="store_true",
        help="the stack injects the token secret as CONTROL_PLANE_TOKEN",
    )
    deployment.add_argument("--pass-role", action="store_true", help="the PassRole parameter is set")
    deployment.add_argument("--elastic-ips", action="store_true", help="the elastic IP parameter is set")
    deployment.add_argument(
        "--private-packages-bucket", action="store_true", help="the private packages bucket parameter is set"
    )
    deployment.add_argument("--server-port", type=int, metavar="N", help="the port the task exposes")
    deployment.add_argument(
        "--container-env",
        action="append",
        default=[],
        metavar="NAME",
        help="an extra environment variable the container has (repeatable)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        context = deployment_context(args)
        sources = [(name, read_source(name)) for name in args.files]
    except UsageError as error:
        print(f"cpctl validate: {error}", file=sys.stderr)
        return EXIT_USAGE
    results = [validate_config(data, context=context, filename=name) for name, data in sources]
    if args.format == "json":
        print(json.dumps({"files": [result.model_dump(mode="json") for result in results]}, indent=2))
    else:
        print(format_results(results))
    return EXIT_VALID if all(result.valid for result in results) else EXIT_INVALID


def format_results(results: list[ValidationResult]) -> str:
    """Every file's findings and verdict; several files end with a total."""
    lines = [line for result in results for line in (*result.format_lines(), result.verdict())]
    if len(results) > 1:
        invalid = sum(not result.valid for result in results)
        lines.append(f"{len(results)} files: {len(results) - invalid} valid, {invalid} invalid")
    return "\n".join(lines)


def deployment_context(args: argparse.Namespace) -> DeploymentContext | None:
    """The context from --context and the flags, or None when none of them is given."""
    fields: dict[str, object] = {}
    if args.context is not None:
        try:
            loaded = json.loads(args.context.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UsageError(f"cannot read the context file {args.context}: {error}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"the context file {args.context} must hold a JSON object")
        fields.update(loaded)
    flags = {
        "token_injected": args.token_injected,
        "pass_role_configured": args.pass_role,
        "elastic_ips_configured": args.elastic_ips,
        "private_packages_bucket_configured": args.private_packages_bucket,
    }
    fields.update({name: True for name, given in flags.items() if given})
    if args.server_port is not None:
        fields["server_port"] = args.server_port
    if args.container_env:
        from_file = fields.get("container_env", [])
        if isinstance(from_file, list):  # anything else is left for the model to reject
            fields["container_env"] = [*from_file, *args.container_env]
    if not fields and args.context is None:
        return None
    try:
        return DeploymentContext.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise UsageError(f"invalid deployment context: {problems}") from None


def read_source(name: str) -> bytes:
    """The bytes of FILE, or of standard input for '-'; at most one byte past the size limit."""
    if name == "-":
        return sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1)
    try:
        with open(name, "rb") as file:
            return file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read {name}: {error.strerror or error}") from None
