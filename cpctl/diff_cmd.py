"""`cpctl diff [FILE | --version V] [--against V]`: what would change against the running config.

The base is the running config, the last good version of the records table (`LAST_GOOD`), or
`--against V`; the other side is FILE, `--version V`, or else the newest version of the config
object (what the next deployment would take). Both are read as a unified diff of the files and as
the keys and location ids added, removed and changed. The object is the one the last good
revision's side-car fetches (`--bucket B --key K`), so the same code reads a stack on AWS
(`--stack-name`) and the local twin (`--endpoint-url`).

Secrets never show: token and password values (literal or found by the scanner anywhere in the
file) and anything token-shaped print as `***`. Exit codes as diff(1): 0 the same, 1 different,
2 trouble (a version or the stack cannot be read).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError
from controlplane.deployment_context import hide_token_like, show_placeholders
from controlplane.hocon_source import SECRET_KEYS, SourceError, scan
from controlplane.records import LastGood, RecordStore
from controlplane.revisions import CONFIG_LOADER
from controlplane.validation import MAX_CONFIG_BYTES, ConfigParseError, DeploymentContext, load_config

from cpctl.aws_options import add_stack_arguments
from cpctl.status_cmd import Clients, StackRef, StatusError, run_against_stack, service_revision

EXIT_SAME, EXIT_DIFFERENT = 0, 1
HIDDEN = "***"
# Key names whose values are secrets, wherever they are in the tree.
_SECRET_KEY = re.compile(r"(?i)(token|password|secret|authorization|api[-_]?key)")
# `token = "..."`, `"password": value`: a secret key assigned a literal (a `${...}` substitution is kept).
_ASSIGNED_SECRET = re.compile(
    r"""(?ix)\b(?P<key>"?[\w-]*(?:token|password|secret|authorization|api[-_]?key)"?)
    (?P<sep>\s*[=:]\s*|\s+(?=["']))
    (?!\$\{)(?P<value>"(?:[^"\\\n]|\\.)*"|[^\s,}\]\#]+)"""
)
# Resolve as the container does with the token injected: the key then shows as `${CONTROL_PLANE_TOKEN}`.
_ENVIRONMENT = DeploymentContext(token_injected=True).environment()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="the running config against a file or another version, secrets hidden",
        description=(
            "Compare the running config (the last good version) with FILE, with --version V, or else with "
            "the newest uploaded version: a unified diff, then the keys and location ids added, removed "
            "and changed. Secrets print as ***."
        ),
        epilog="Exit codes: 0 no difference, 1 different, 2 a version or the stack cannot be read.",
    )
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE", help="a config file to compare")
    parser.add_argument("--version", metavar="V", help="a version id of the config object instead of FILE")
    parser.add_argument("--against", metavar="V", help="compare with this version instead of the running one")
    parser.add_argument(
        "--context-lines", type=int, default=3, metavar="N", help="lines of context (default 3)"
    )
    add_stack_arguments(parser)
    parser.set_defaults(handler=run)


# ---------------------------------------------------------------------------------- the two sides
@dataclass(frozen=True)
class Side:
    """One config being compared: what it is, and its bytes."""

    label: str
    data: bytes = field(repr=False)
    version_id: str | None = None


@dataclass(frozen=True)
class ConfigObject:
    """Where the config versions live: the object the side-car fetches."""

    bucket: str
    key: str

    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def config_object(ecs: Any, task_definition_arn: str) -> ConfigObject:
    """The bucket and key a revision's side-car fetches (`s3api get-object --bucket B --key K ...`)."""
    definition = ecs.describe_task_definition(taskDefinition=task_definition_arn)["taskDefinition"]
    for container in definition.get("containerDefinitions", []):
        if container.get("name") == CONFIG_LOADER:
            command = [str(part) for part in container.get("command") or []]
            bucket, key = _option(command, "--bucket"), _option(command, "--key")
            if bucket and key:
                return ConfigObject(bucket=bucket, key=key)
    raise StatusError(f"revision {task_definition_arn} has no {CONFIG_LOADER} side-car fetching from S3")


def _option(command: list[str], name: str) -> str | None:
    position = command.index(name) + 1 if name in command else len(command)
    return command[position] if position < len(command) else None


def read_version(s3: Any, where: ConfigObject, version_id: str | None) -> tuple[bytes, str | None]:
    """The bytes of one version (the newest without `version_id`) and its version id."""
    arguments = {"Bucket": where.bucket, "Key": where.key} | ({"VersionId": version_id} if version_id else {})
    try:
        response = s3.get_object(**arguments)
    except ClientError as error:
        what = f"version {version_id} of {where.url()}" if version_id else where.url()
        raise StatusError(f"cannot read {what}: {error.response['Error'].get('Message', error)}") from None
    data: bytes = response["Body"].read(MAX_CONFIG_BYTES + 1)
    return data, response.get("VersionId") or version_id


def sides(args: argparse.Namespace, ref: StackRef, clients: Clients) -> tuple[Side, Side]:
    """The base (running, or --against) and the other side (FILE, --version, or the newest)."""
    last_good = RecordStore(dynamodb=clients.dynamodb, table=ref.table, service=ref.service).last_good()
    if last_good is None and not args.against:
        raise StatusError("no last good version is recorded yet: pass --against VERSION")
    where = config_object(clients.ecs, _revision(last_good, ref, clients))
    if args.against:
        data, _ = read_version(clients.s3, where, args.against)
        base = Side(label=f"{where.url()} version {args.against}", data=data, version_id=args.against)
    else:
        assert last_good is not None
        data, _ = read_version(clients.s3, where, last_good.version_id)
        label = f"{where.url()} version {last_good.version_id} (running, deployed {last_good.deployed_at})"
        base = Side(label=label, data=data, version_id=last_good.version_id)
    if args.file is not None:
        try:
            with open(args.file, "rb") as file:
                other = Side(label=str(args.file), data=file.read(MAX_CONFIG_BYTES + 1))
        except OSError as error:
            raise StatusError(f"cannot read {args.file}: {error.strerror or error}") from None
    else:
        data, version_id = read_version(clients.s3, where, args.version)
        what = "" if args.version else " (newest)"
        other = Side(label=f"{where.url()} version {version_id}{what}", data=data, version_id=version_id)
    return base, other


def _revision(last_good: LastGood | None, ref: StackRef, clients: Clients) -> str:
    if last_good is not None:
        return last_good.task_definition_arn
    return service_revision(ref, clients)


# ---------------------------------------------------------------------------------- comparing
def redact_text(text: str) -> str:
    """`text` with every secret the scanner finds, secret-key literals and token-shaped words hidden."""
    try:
        secrets = scan(text).secrets
    except SourceError:
        secrets = set()
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    text = hide_token_like(text, HIDDEN)
    return _ASSIGNED_SECRET.sub(lambda m: f"{m['key']}{m['sep']}{_hidden_like(m['value'])}", text)


def _hidden_like(value: str) -> str:
    return f'"{HIDDEN}"' if value.startswith('"') else HIDDEN


def unified_diff(base: Side, other: Side, *, context: int) -> str:
    before = redact_text(base.data.decode("utf-8", errors="replace")).splitlines(keepends=True)
    after = redact_text(other.data.decode("utf-8", errors="replace")).splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, fromfile=base.label, tofile=other.label, n=context)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaf paths and values; a list of objects with ids (the locations) is keyed by id."""
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            leaves.update(flatten(value, path) if value else {path: {}})
        elif _keyed_by_id(value):
            for item in value:
                leaves.update(flatten(item, f"{path}[{item['id']}]"))
        else:
            leaves[path] = _shown(str(key), value)
    return leaves


def _keyed_by_id(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    ids = [item.get("id") if isinstance(item, Mapping) else None for item in value]
    return all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids)


def _shown(key: str, value: Any) -> Any:
    """A value as it may be printed: secrets hidden, environment placeholders as `${NAME}`."""
    if isinstance(value, str):
        shown = show_placeholders(value)
        if shown != value:
            return shown
        if _SECRET_KEY.search(key) or key in SECRET_KEYS:
            return HIDDEN
        return hide_token_like(value, HIDDEN)
    if isinstance(value, list):
        return [_shown(key, item) for item in value]
    if isinstance(value, Mapping):
        return {k: _shown(str(k), v) for k, v in value.items()}
    return value


_LOCATION = re.compile(r"^control-plane\.locations\[(?P<id>[^\]]+)\]")


def compare(base: Side, other: Side, *, context: int = 3) -> dict[str, Any]:
    """The whole comparison as plain JSON values (what `--json` prints)."""
    report: dict[str, Any] = {
        "base": {"label": base.label, "version_id": base.version_id},
        "other": {"label": other.label, "version_id": other.version_id},
        "identical": base.data == other.data,
        "unified_diff": unified_diff(base, other, context=context),
        "keys": None,
        "locations": None,
        "problem": None,
    }
    leaves = []
    for side in (base, other):
        try:
            leaves.append(flatten(load_config(side.data, environment=_ENVIRONMENT)))
        except ConfigParseError as error:  # its message is redacted by the validator
            report["problem"] = f"the keys cannot be compared: {side.label} does not parse: {error}"
            return report
    before, after = leaves
    ids_before, ids_after = _location_ids(before), _location_ids(after)
    added_ids, removed_ids = ids_after - ids_before, ids_before - ids_after
    changed = [
        {"key": k, "from": before[k], "to": after[k]}
        for k in sorted(before.keys() & after.keys())
        if before[k] != after[k]
    ]
    report["keys"] = {
        "added": _entries(after, after.keys() - before.keys(), folded=added_ids),
        "removed": _entries(before, before.keys() - after.keys(), folded=removed_ids),
        "changed": changed,
    }
    changed_ids = {
        match["id"]
        for kind in ("added", "removed", "changed")
        for entry in report["keys"][kind]
        if (match := _LOCATION.match(entry["key"]))
    }
    report["locations"] = {
        "added": sorted(added_ids),
        "removed": sorted(removed_ids),
        "changed": sorted(changed_ids & ids_before & ids_after),
    }
    return report


def _entries(leaves: Mapping[str, Any], keys: Iterable[str], *, folded: set[str]) -> list[dict[str, Any]]:
    """One entry per key, except that a whole location added or removed is one entry (its object)."""
    entries: dict[str, Any] = {}
    for key in sorted(keys):
        match = _LOCATION.match(key)
        if match and match["id"] in folded:
            entries.setdefault(match.group(0), {})[key[match.end() + 1 :]] = leaves[key]
        else:
            entries[key] = leaves[key]
    return [{"key": key, "value": value} for key, value in entries.items()]


def _location_ids(leaves: Mapping[str, Any]) -> set[str]:
    return {match["id"] for path in leaves if (match := _LOCATION.match(path))}


# ---------------------------------------------------------------------------------- text
def format_report(report: Mapping[str, Any]) -> str:
    if report["identical"]:
        return f"No difference.\n  --- {report['base']['label']}\n  +++ {report['other']['label']}"
    lines = [report["unified_diff"].rstrip("\n")] if report["unified_diff"] else []
    lines.append("")
    if report["problem"]:
        lines.append(report["problem"])
        return "\n".join(lines)
    keys = report["keys"]
    counts = ", ".join(f"{len(keys[kind])} {kind}" for kind in ("added", "removed", "changed"))
    lines.append(f"Keys: {counts}")
    lines.extend(_key_lines(keys))
    locations = report["locations"]
    lines.append(
        "Locations: "
        + "; ".join(f"{kind} {', '.join(locations[kind]) or '-'}" for kind in ("added", "removed", "changed"))
    )
    return "\n".join(lines)


def _key_lines(keys: Mapping[str, Any]) -> Iterator[str]:
    for entry in keys["added"]:
        yield f"  + {entry['key']}" + (
            " (a whole location)" if _whole(entry) else f" = {_value(entry['value'])}"
        )
    for entry in keys["removed"]:
        yield f"  - {entry['key']}" + (
            " (a whole location)" if _whole(entry) else f" (was {_value(entry['value'])})"
        )
    for entry in keys["changed"]:
        yield f"  ~ {entry['key']}: {_value(entry['from'])} -> {_value(entry['to'])}"


def _whole(entry: Mapping[str, Any]) -> bool:
    match = _LOCATION.match(entry["key"])
    return match is not None and match.end() == len(entry["key"])


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------------------------- command
def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    if args.file is not None and args.version:
        print("cpctl diff: give FILE or --version, not both", file=sys.stderr)
        return 2
    return run_against_stack(
        args,
        "diff",
        lambda ref, clients: compare(*sides(args, ref, clients), context=args.context_lines),
        format_report,
        out,
        exit_code=lambda report: EXIT_SAME if report["identical"] else EXIT_DIFFERENT,
        wrap_lines=False,  # a unified diff's lines stay whole, or patch would not read it
    )
