"""Validate a control-plane.conf like a compiler: every problem with its line and column, one verdict.

The workflow's first step and `cpctl validate` both call `validate_config`; the local twin's fake
control plane reads configs with `load_config`. docs/validator.md lists the rules.

Nothing here opens a file or a URL named by the config, reads the process's own environment, or
lets the control plane token reach a result: messages never quote a secret's value, and every
message, path and summary string is passed through a redaction of the secrets found in the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any, Literal

import msgspec

from controlplane.config_rules import Issue, check_config
from controlplane.deployment_context import (
    TOKEN_VARIABLE,
    DeploymentContext,
    environment_placeholder,
    hide_token_like,
    is_environment_placeholder,
    show_placeholders,
)
from controlplane.hocon_source import (
    MAX_CONFIG_BYTES,
    KeyPath,
    ParseFailure,
    PathSegment,
    PlainRead,
    Position,
    SourceError,
    SourceMap,
    Substitution,
    decode_source,
    garbage_collection_paused,
    parse_resolved,
    read_plain,
    render_path,
    scan,
)
from controlplane.models import Finding

__all__ = [
    "MAX_CONFIG_BYTES",
    "ConfigParseError",
    "ConfigSummary",
    "DeploymentContext",
    "Finding",
    "LocationSummary",
    "ValidationResult",
    "load_config",
    "read_config",
    "validate_config",
]

# A file with more missing required substitutions than this gets one more error saying so.
MAX_REPORTED_SUBSTITUTIONS = 20
# Secrets shorter than this are not searched for inside messages (they would blank ordinary words);
# messages never quote a secret's value in the first place.
_MIN_REDACTED_LENGTH = 4
# Every placeholder has it: text without it has none to show.
_PLACEHOLDER_MARK = environment_placeholder("")[0]
_PLACEHOLDER_END = environment_placeholder("")[-1]


class LocationSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    region_or_zone: str | None


class ConfigSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What the workflow passes on about a config: never the token."""

    description: str | None
    locations: list[LocationSummary]
    sha256: str


class ValidationResult(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    valid: bool
    errors: list[Finding]
    warnings: list[Finding]
    summary: ConfigSummary | None

    def format_lines(self) -> list[str]:
        """Compiler-style lines, `FILE:LINE:COL: error|warning: message [key.path]`, in file order."""
        tagged = [("error", f) for f in self.errors] + [("warning", f) for f in self.warnings]
        tagged.sort(key=lambda item: (item[1].line or 0, item[1].column or 0))
        lines = []
        for severity, finding in tagged:
            where = self.file
            if finding.line is not None:
                where += f":{finding.line}:{finding.column or 1}"
            suffix = f" [{finding.path}]" if finding.path else ""
            lines.append(f"{where}: {severity}: {finding.message}{suffix}")
        return lines

    def verdict(self) -> str:
        """One line: `FILE: valid (2 warnings)` or `FILE: invalid (1 error, 2 warnings)`."""
        counts = [_count(len(self.errors), "error")] if self.errors else []
        if self.warnings:
            counts.append(_count(len(self.warnings), "warning"))
        detail = f" ({', '.join(counts)})" if counts else ""
        return f"{self.file}: {'valid' if self.valid else 'invalid'}{detail}"

    def format_text(self) -> str:
        """The compiler-style lines, then the verdict."""
        return "\n".join([*self.format_lines(), self.verdict()])


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


class ConfigParseError(Exception):
    """The file cannot be read as HOCON, or a required substitution cannot be resolved."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.message}"


# Documented hocon errors are handled one by one; these are what a parser bug could raise instead.
# The validator must answer with a verdict for any bytes, so they become an error finding too.
_PARSER_FAILURES = (RuntimeError, ValueError, TypeError, LookupError, AttributeError, ArithmeticError)


def validate_config(
    data: bytes, *, context: DeploymentContext | None = None, filename: str = "control-plane.conf"
) -> ValidationResult:
    """Validate the raw bytes of a control-plane.conf; never raises, whatever the bytes."""
    with garbage_collection_paused():
        return _validate(data, context, filename)


def _validate(data: bytes, context: DeploymentContext | None, filename: str) -> ValidationResult:
    plain = _validate_plain(data, context, filename)
    return plain if plain is not None else _validate_scanned(data, context, filename)


def _validate_plain(data: bytes, context: DeploymentContext | None, filename: str) -> ValidationResult | None:
    """The verdict on a plain document (hocon_source.read_plain), read without the scan, which then
    runs only to place the findings of the rules; None for any other file, which `_validate_scanned`
    judges. docs/validator.md, "Speed", says why both give the same result."""
    environment = context.environment() if context is not None else {}
    read = _read_plain(data, environment)
    if read is None:
        return None
    text, plain = read
    tree = plain.tree
    report = _Report(filename)
    if check_config(tree, context=context):
        # Findings: the scan places them, and says where the token comes from (on a plain document
        # it notes nothing, reaches no limit and hands the parser the same text).
        try:
            source = scan(text, environment)
        except SourceError:
            return None
        if source.violation is not None or source.includes:
            return None  # never on a plain document; should it happen, the scan judges alone
        report.secrets.update(source.secrets)
        return _judge(tree, data, context, source, report)
    if _PLACEHOLDER_MARK in text or _PLACEHOLDER_END in text:
        return None  # a secret could then be part of a placeholder's text
    # No scan, so no secret literal it would note; those values are in `plain.secrets` (and maybe
    # more). Redacting them changes nothing when none is written anywhere else.
    for secret, written in plain.secrets.items():
        if len(secret) >= _MIN_REDACTED_LENGTH and (secret in filename or text.count(secret) != written):
            return None
    root = tree.get("control-plane")
    token = root.get("token") if isinstance(root, dict) else None
    if isinstance(token, str) and not is_environment_placeholder(token) and token not in plain.secrets:
        return None
    report.secrets.update(plain.secrets)
    return report.result(_summary(tree, data, report))


def _read_plain(data: bytes, environment: Mapping[str, str]) -> tuple[str, PlainRead] | None:
    """The text of `data` and what `read_plain` reads of it, or None (the scan then reads it)."""
    try:
        text = decode_source(data)
        plain = read_plain(text, environment)
    except (SourceError, *_PARSER_FAILURES):
        return None
    return (text, plain) if plain is not None else None


def _validate_scanned(data: bytes, context: DeploymentContext | None, filename: str) -> ValidationResult:
    report = _Report(filename)
    environment = context.environment() if context is not None else {}
    read = _read(data, environment, context, report, as_container=False)
    if read is None:
        return report.result(None)
    source, tree = read
    return _judge(tree, data, context, source, report)


def _judge(
    tree: dict[str, Any], data: bytes, context: DeploymentContext | None, source: SourceMap, report: _Report
) -> ValidationResult:
    """The rules' findings on a tree, placed by the scan's notes, and the summary."""
    root = tree.get("control-plane")
    token = root.get("token") if isinstance(root, dict) else None
    if isinstance(token, str) and not is_environment_placeholder(token):
        report.secrets.add(token)
    for issue in check_config(tree, context=context, substitutions=source.substitutions):
        report.add_issue(issue, source)
    return report.result(_summary(tree, data, report))


def _read(
    data: bytes,
    environment: dict[str, str],
    context: DeploymentContext | None,
    report: _Report,
    *,
    as_container: bool,
) -> tuple[SourceMap, dict[str, Any]] | None:
    """The resolved tree of `data` and the scanner's notes, or None with the reasons in `report`.

    Include directives get the validator's rules (docs/validator.md), or `as_container` the
    control plane's: only a required include stops the read, the others are empty; and the first
    unresolved substitution stops it too.
    """
    try:
        source = scan(decode_source(data), environment)
    except SourceError as error:
        report.add("error", error.position, None, error.message)
        return None
    report.secrets.update(source.secrets)
    if source.violation is not None:
        _report_violation(source, environment, report)
        return None
    if not as_container:
        report.add_includes(source)
    else:
        for include in source.includes:
            if include.required:
                report.add(
                    "error", include.position, None, f"{include.directive}: the included file is not there"
                )
            elif include.kind == "url":  # the real control plane would fetch it: nothing here can
                report.add("error", include.position, None, f"{include.directive}: never fetched here")
    tree = _resolve(source, environment, context, report, as_container=as_container)
    if tree is None or (as_container and report.findings):
        return None
    return source, tree


def _report_violation(source: SourceMap, environment: Mapping[str, str], report: _Report) -> None:
    """Report what the scanner refused, and what the parser finds: the control plane stops at the
    first syntax error of the file, and reads past what only the validator refuses."""
    violation = source.violation
    assert violation is not None
    shared = violation.message.startswith("syntax error")
    try:
        parse_resolved(source.text, environment)
    except ParseFailure as error:
        position = _parser_position(source, error.position)
        before = position is not None and position.line < source.violation_starts
        prefix = "syntax error" if error.kind == "syntax" else "error"
        if error.kind == "syntax" and before:
            report.add("error", position, None, f"{prefix}: {error.message}")
            return
        elsewhere = position is not None and position.line != source.violation_starts
        if not shared and error.kind != "substitution" and elsewhere:
            report.add("error", position, None, f"{prefix}: {error.message}")
    report.add("error", violation.position, None, violation.message)


def read_config(
    data: bytes, *, environment: Mapping[str, str]
) -> tuple[ValidationResult, dict[str, Any] | None]:
    """Only the reading part of `validate_config` (input limits, includes, syntax, substitutions),
    against exactly `environment` with its real values, and the tree it read: what the
    differential test compares with Lightbend Config. No content rule runs; `summary` is None."""
    report = _Report("control-plane.conf")
    context = DeploymentContext(container_env=tuple(environment))
    with garbage_collection_paused():
        plain = _read_plain(data, environment)
        if plain is not None:  # read as validate_config reads it, without the scan
            return report.result(None), plain[1].tree
        read = _read(data, dict(environment), context, report, as_container=False)
    return report.result(None), (read[1] if read is not None else None)


def load_config(data: bytes, *, environment: Mapping[str, str]) -> dict[str, Any]:
    """Parse and resolve like the control plane in its container: against exactly `environment`,
    with no include read (a plain include is empty, a required one fails). Raises `ConfigParseError`.
    """
    report = _Report("control-plane.conf")
    context = DeploymentContext(container_env=tuple(environment))
    try:
        with garbage_collection_paused():
            read = _read(data, dict(environment), context, report, as_container=True)
    except _PARSER_FAILURES as error:
        raise ConfigParseError(
            f"the HOCON parser failed on this file ({type(error).__name__})", None, None
        ) from error
    if read is None:
        first = report.result(None).errors[0]
        raise ConfigParseError(first.message, first.line, first.column)
    return read[1]


def _redact(text: str, secrets: Collection[str]) -> str:
    for written in secrets:
        if written in text:  # some secret is there: take them all, longest first
            for secret in sorted(secrets, key=len, reverse=True):
                if len(secret) >= _MIN_REDACTED_LENGTH:
                    text = text.replace(secret, "***")
            break
    if _PLACEHOLDER_MARK in text:
        text = show_placeholders(text)
    text = hide_token_like(text)
    if text.isascii():
        return text
    # Lone surrogates (from \ud800 escapes) cannot be printed or serialised: make them visible.
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _resolve(
    source: SourceMap,
    environment: dict[str, str],
    context: DeploymentContext | None,
    report: _Report,
    *,
    as_container: bool,
) -> dict[str, Any] | None:
    """The resolved tree, reporting each required substitution the container cannot satisfy (or
    `as_container`, the first one, in the words of Lightbend Config)."""
    reported_before_parsing = len(report.findings)
    if not as_container:
        _report_environment_only_variables(source, context, environment, report)
    # A substitution the scan cannot judge (its first key exists, the rest may not) surfaces as a
    # parse error naming it: report it, give it a placeholder and parse again.
    for _ in range(MAX_REPORTED_SUBSTITUTIONS + 1):
        try:
            return parse_resolved(source.text, environment)
        except ParseFailure as error:
            position = _parser_position(source, error.position)
            if error.kind != "substitution" or position is None:
                # A file that cannot be parsed stops the control plane there: the substitutions
                # reported before parsing would not be reached.
                del report.findings[reported_before_parsing:]
                prefix = "syntax error" if error.kind == "syntax" else "error"
                message = f"{prefix}: {error.message}"
                if (
                    error.name == "UnsupportedConcatenation"
                    and any(after.line == position.line for after in source.after_container)
                    if position
                    else False
                ):
                    message = (
                        "text after a list or an object, from a substitution: the control plane ignores a text "
                        "value there, and a list or an object only joins another of its kind"
                    )
                report.add("error", position, None, message)
                return None
            found = [s for s in source.substitutions if s.position == position]
            name = found[0].name if found else None
            if name is None or name in environment or as_container:
                shown = f"{error.message}: ${{{name}}}" if name else error.message
                report.add("error", position, None, shown if as_container else f"cannot resolve: {shown}")
                return None
            _report_unresolved(name, position, found[0].key_path or None, 1, context, report)
            environment[name] = environment_placeholder(name)
        except _PARSER_FAILURES as error:
            report.add("error", None, None, f"the HOCON parser failed on this file ({type(error).__name__})")
            return None
    report.add(
        "error", None, None, f"more than {MAX_REPORTED_SUBSTITUTIONS} substitutions cannot be resolved"
    )
    return None


def _report_environment_only_variables(
    source: SourceMap, context: DeploymentContext | None, environment: dict[str, str], report: _Report
) -> None:
    """Report, before parsing, every required `${NAME}` that only the environment could satisfy
    (no top-level key of the file starts its path) and that the container will not have; each gets a
    placeholder so one parse checks the whole file."""
    top_level_keys: set[PathSegment] | None = None  # made when first needed: it reads every key
    uses: dict[str, list[Substitution]] = {}
    for substitution in source.substitutions:
        name = substitution.name
        if substitution.optional or name in environment or '"' in name or name.endswith("[]"):
            continue  # optional, provided, or a form the parser judges better (quoted path, list)
        if top_level_keys is None:
            top_level_keys = {path[0] for path in source.positions if len(path) == 1}
        if name.split(".")[0] not in top_level_keys:
            uses.setdefault(name, []).append(substitution)
    for name, found in uses.items():
        _report_unresolved(name, found[0].position, found[0].key_path or None, len(found), context, report)
        environment[name] = environment_placeholder(name)


def _report_unresolved(
    name: str,
    position: Position | None,
    path: KeyPath | None,
    uses: int,
    context: DeploymentContext | None,
    report: _Report,
) -> None:
    where = render_path(path) if path else None
    also = f" (and {uses - 1} more use{'s' if uses > 2 else ''})" if uses > 1 else ""
    if name == TOKEN_VARIABLE and context is None:
        report.add(
            "warning",
            position,
            where,
            f"${{{name}}} is set only when the deployment injects the token secret "
            f"(set the stack's token secret parameter){also}",
        )
        return
    report.add(
        "error",
        position,
        where,
        f"${{{name}}} is neither defined in the file nor set in the container's environment: the control "
        f"plane would refuse to start (write ${{?{name}}} if it is optional){also}",
    )


def _parser_position(source: SourceMap, position: Position | None) -> Position | None:
    """A position reported by the parser, in the original file (None when the parser has none)."""
    return source.original(position.line, position.column) if position is not None else None


def _summary(tree: Mapping[str, Any], data: bytes, report: _Report) -> ConfigSummary:
    root = tree.get("control-plane")
    root = root if isinstance(root, dict) else {}
    description = root.get("description")
    locations = root.get("locations")
    summaries = []
    cleaned: dict[str, str] = {}  # types and regions repeat: each is redacted once

    def clean(text: str) -> str:
        known = cleaned.get(text)
        if known is None:
            known = cleaned[text] = report.clean(text)
        return known

    for location in locations if isinstance(locations, list) else []:
        if not isinstance(location, dict):
            continue
        location_id, kind = location.get("id"), location.get("type")
        if not isinstance(location_id, str) or not isinstance(kind, str):
            continue
        where = location.get("zone" if kind == "gcp" else "region")
        summaries.append(
            LocationSummary(
                id=clean(location_id),
                type=clean(kind),
                region_or_zone=clean(where) if isinstance(where, str) else None,
            )
        )
    return ConfigSummary(
        description=report.clean(description) if isinstance(description, str) else None,
        locations=summaries,
        sha256=hashlib.sha256(data).hexdigest(),
    )


class _Report:
    """Findings being collected for one file, redacted as they are added."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.secrets: set[str] = set()
        self.findings: list[tuple[Literal["error", "warning"], Position | None, str | None, str]] = []

    def clean(self, text: str) -> str:
        return _redact(text, self.secrets)

    def add(
        self, severity: Literal["error", "warning"], position: Position | None, path: str | None, message: str
    ) -> None:
        self.findings.append((severity, position, path, message))

    def add_issue(self, issue: Issue, source: SourceMap) -> None:
        path: KeyPath = issue.path
        position = source.locate(path) if path else None
        self.add(issue.severity, position, render_path(path) if path else None, issue.message)

    def add_includes(self, source: SourceMap) -> None:
        for include in source.includes:
            directive = include.directive if len(include.directive) <= 80 else include.directive[:77] + "..."
            if include.kind == "plain" and not include.required:
                message = (
                    f"{directive}: will be empty in the container, where only control-plane.conf is shipped"
                )
                self.add("warning", include.position, None, message)
            elif include.kind in ("plain", "file") and include.required:
                message = (
                    f"{directive}: the control plane would not start, as only control-plane.conf is shipped "
                    "to the container (the validator never reads the file)"
                )
                self.add("error", include.position, None, message)
            else:
                message = (
                    f"{directive}: {include.kind}(...) includes are not allowed: the validator never fetches "
                    "them and the container has only control-plane.conf (inline the settings instead)"
                )
                self.add("error", include.position, None, message)

    def result(self, summary: ConfigSummary | None) -> ValidationResult:
        errors: list[Finding] = []
        warnings: list[Finding] = []
        ordered = sorted(self.findings, key=lambda f: (f[1].line, f[1].column) if f[1] else (0, 0))
        for severity, position, path, message in ordered:
            finding = Finding(
                line=position.line if position else None,
                column=position.column if position else None,
                path=self.clean(path) if path else None,
                message=self.clean(message),
            )
            (errors if severity == "error" else warnings).append(finding)
        return ValidationResult(
            file=self.clean(self.filename),
            valid=not errors,
            errors=errors,
            warnings=warnings,
            summary=summary,
        )
