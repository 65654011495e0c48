"""`cpctl validate FILE...`: check control-plane.conf files on a laptop or in CI before uploading them.

Exit codes: 0 every file is valid (warnings allowed), 1 a file is invalid, 2 usage error (a file or
the context file cannot be read). docs/validator.md describes the rules and the output formats:
`text` (compiler style), `json`, `github` (GitHub Actions workflow commands, shown as annotations on
the pull request) and `sarif` (SARIF 2.1.0, for code scanning).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import msgspec
from controlplane.codec import describe, dump, parse
from controlplane.models import Finding
from controlplane.validation import MAX_CONFIG_BYTES, DeploymentContext, ValidationResult, validate_config

from cpctl.cli import cpctl_version

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
        "--format",
        "--output",
        choices=tuple(FORMATS),
        default="text",
        help="output format: text, json, github (Actions annotations), sarif (2.1.0) (default: text)",
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
    print(FORMATS[args.format](results))
    return EXIT_VALID if all(result.valid for result in results) else EXIT_INVALID


def format_results(results: list[ValidationResult], *, findings: bool = True) -> str:
    """Every file's findings (unless `findings` is False) and verdict; several files end with a total."""
    lines = [
        line
        for result in results
        for line in (*(result.format_lines() if findings else ()), result.verdict())
    ]
    if len(results) > 1:
        invalid = sum(not result.valid for result in results)
        lines.append(f"{len(results)} files: {len(results) - invalid} valid, {invalid} invalid")
    return "\n".join(lines)


def format_json(results: list[ValidationResult]) -> str:
    return json.dumps({"files": [dump(result) for result in results]}, indent=2)


# ---------------------------------------------------------------------------------- GitHub Actions
def format_github(results: list[ValidationResult]) -> str:
    """One workflow command per finding (`::error file=F,line=L,col=C,title=T::message`; the log
    shows each as a line, the pull request as an annotation), then the verdicts as plain lines. Syntax: docs.github.com, "Workflow commands for GitHub Actions"."""
    lines = []
    for result in results:
        for severity, finding in _findings(result):
            properties = {"file": result.file} if result.file != "-" else {}
            if finding.line is not None:
                properties["line"] = str(finding.line)
                properties["col"] = str(finding.column or 1)
            properties["title"] = f"cpctl validate: {finding.path}" if finding.path else "cpctl validate"
            fields = ",".join(f"{name}={_escape_property(value)}" for name, value in properties.items())
            lines.append(f"::{severity} {fields}::{_escape_data(finding.message)}")
    return "\n".join([*lines, format_results(results, findings=False)])


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# ---------------------------------------------------------------------------------- SARIF
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_RULES = {
    "error": ("config-error", "The control plane would refuse or mis-deploy this config"),
    "warning": ("config-warning", "The config deploys, but likely not as intended"),
}


def format_sarif(results: list[ValidationResult]) -> str:
    """One SARIF 2.1.0 log: one run of cpctl, one result per finding, with its region when known."""
    rules = [
        {"id": rule_id, "shortDescription": {"text": text}, "defaultConfiguration": {"level": level}}
        for level, (rule_id, text) in SARIF_RULES.items()
    ]
    sarif_results = [
        _sarif_result(result.file, severity, finding)
        for result in results
        for severity, finding in _findings(result)
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cpctl validate",
                        "version": cpctl_version(),
                        "rules": rules,
                    }
                },
                "invocations": [{"executionSuccessful": True}],
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(log, indent=2)


def _sarif_result(file: str, severity: str, finding: Finding) -> dict[str, Any]:
    rule_id = SARIF_RULES[severity][0]
    physical: dict[str, Any] = {"artifactLocation": _artifact(file)}
    if finding.line is not None:
        physical["region"] = {"startLine": finding.line, "startColumn": finding.column or 1}
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.path:
        location["logicalLocations"] = [{"fullyQualifiedName": finding.path, "kind": "member"}]
    return {
        "ruleId": rule_id,
        "ruleIndex": list(SARIF_RULES).index(severity),
        "level": severity,
        "message": {"text": finding.message},
        "locations": [location],
    }


def _artifact(file: str) -> dict[str, str]:
    if file == "-":
        return {"uri": "stdin"}
    path = Path(file)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    # Relative to where the scan ran: code scanning resolves %SRCROOT% to the repository's root.
    return {"uri": quote(PurePosixPath(*path.parts).as_posix()), "uriBaseId": "%SRCROOT%"}


def _findings(result: ValidationResult) -> Iterator[tuple[str, Finding]]:
    """The errors and warnings of one file in file order, each with its severity."""
    tagged = [("error", f) for f in result.errors] + [("warning", f) for f in result.warnings]
    yield from sorted(tagged, key=lambda item: (item[1].line or 0, item[1].column or 0))


FORMATS: dict[str, Callable[[list[ValidationResult]], str]] = {
    "text": format_results,
    "json": format_json,
    "github": format_github,
    "sarif": format_sarif,
}


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
        return parse(DeploymentContext, fields)
    except msgspec.ValidationError as error:
        raise UsageError(f"invalid deployment context: {describe(error)}") from None


def read_source(name: str) -> bytes:
    """The bytes of FILE, or of standard input for '-'; at most one byte past the size limit."""
    if name == "-":
        return sys.stdin.buffer.read(MAX_CONFIG_BYTES + 1)
    try:
        with open(name, "rb") as file:
            return file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read {name}: {error.strerror or error}") from None
