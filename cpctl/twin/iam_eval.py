"""Just enough IAM policy evaluation for the twin's simulated Fargate and CloudWatch.

moto stores policies but enforces none of them in-process, so the side-car's `s3api get-object`
(task role), ECS's secret retrieval (execution role) and CloudWatch's alarm actions (the service
principal `cloudwatch.amazonaws.com` publishing to SNS, through the topic's KMS key) are decided
here, the way IAM decides them for one account: an explicit Deny in any policy wins, otherwise one
Allow is enough, otherwise the request is implicitly denied. A permissions boundary, when the role
has one, must also allow.

Covered: Action/NotAction, Resource/NotResource, Principal (resource policies; an IAM principal of
the account or an AWS service principal), `*` and `?`
wildcards, and the String*, Arn*, Bool and Null condition operators with `...IfExists` and the
`ForAnyValue:`/`ForAllValues:` qualifiers, over single-valued context keys. Any other operator in a
statement that applies to the request raises `UnsupportedPolicy`: the twin fails loudly rather than
guess a decision.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"


class UnsupportedPolicy(Exception):
    """A policy uses a construct this evaluator does not implement."""


@dataclass(frozen=True, slots=True)
class Request:
    action: str
    resource: str
    principal_arn: str = ""
    account_id: str = ""
    # Condition keys, case-insensitive; a key absent here is absent from the request context.
    context: Mapping[str, str] = field(default_factory=dict)
    # An AWS service acting on its own (CloudWatch running an alarm action): `cloudwatch.amazonaws.com`.
    service_principal: str = ""

    def value(self, key: str) -> str | None:
        lowered = key.lower()
        for name, value in self.context.items():
            if name.lower() == lowered:
                return value
        return None


def decide(
    identity_policies: Iterable[Any],
    request: Request,
    *,
    resource_policy: Any = None,
    permissions_boundary: Any = None,
) -> Decision:
    """Decide `request` for a principal of the resource's own account.

    Any explicit Deny wins; else an Allow of the resource policy, or of an identity policy that the
    permissions boundary (when there is one) also allows, grants the request.
    """
    identity = [evaluate(document, request) for document in identity_policies]
    resource = (
        evaluate(resource_policy, request, resource_policy=True) if resource_policy is not None else None
    )
    boundary = evaluate(permissions_boundary, request) if permissions_boundary is not None else None
    verdicts = [*identity, resource, boundary]
    if Decision.EXPLICIT_DENY in verdicts:
        return Decision.EXPLICIT_DENY
    identity_allows = Decision.ALLOW in identity and boundary in (None, Decision.ALLOW)
    if identity_allows or resource is Decision.ALLOW:
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY


def evaluate(document: Any, request: Request, *, resource_policy: bool = False) -> Decision:
    """One policy document (a JSON string or its parsed dict) against `request`."""
    policy = json.loads(document) if isinstance(document, str | bytes) else document
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not _applies(statement, request, resource_policy=resource_policy):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.EXPLICIT_DENY
        allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _applies(statement: Mapping[str, Any], request: Request, *, resource_policy: bool) -> bool:
    if resource_policy and not _principal_matches(statement, request):
        return False
    if "Action" in statement:
        if not _any_match(statement["Action"], request.action, request, case_sensitive=False):
            return False
    elif "NotAction" in statement and _any_match(
        statement["NotAction"], request.action, request, case_sensitive=False
    ):
        return False
    if "Resource" in statement:
        if not _any_match(statement["Resource"], request.resource, request, case_sensitive=True):
            return False
    elif "NotResource" in statement and _any_match(
        statement["NotResource"], request.resource, request, case_sensitive=True
    ):
        return False
    return _conditions_hold(statement.get("Condition", {}), request)


def _principal_matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotPrincipal" in statement:
        raise UnsupportedPolicy("NotPrincipal is not supported by the twin's IAM evaluator")
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    if request.service_principal:
        # A service principal is named by `{"Service": ...}`; `{"AWS": "*"}` means everyone
        # ("Principal": "*" and {"AWS": "*"} are equivalent, IAM User Guide, "AWS JSON policy
        # elements: Principal"), which the SNS Developer Guide relies on to let CloudWatch alarms
        # publish ("Allow any CloudWatch alarm to publish to a topic in a different account"). An
        # account or role ARN never names a service.
        everyone = principal.get("AWS", [])
        services = principal.get("Service", [])
        return "*" in _listed(everyone) or request.service_principal in _listed(services)
    candidates = principal.get("AWS", [])
    for candidate in _listed(candidates):
        if candidate == "*" or candidate == request.principal_arn:
            return True
        if request.account_id and candidate in (
            request.account_id,
            f"arn:aws:iam::{request.account_id}:root",
        ):
            return True
    return False


def _listed(value: Any) -> list[Any]:
    """A policy element that is one string or a list of them, as a list."""
    return [value] if isinstance(value, str) else list(value)


def _any_match(patterns: Any, value: str, request: Request, *, case_sensitive: bool) -> bool:
    for pattern in _listed(patterns):
        expanded = _expand_variables(pattern, request)
        if expanded is not None and wildcard_match(expanded, value, case_sensitive=case_sensitive):
            return True
    return False


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}


def _expand_variables(pattern: str, request: Request) -> str | None:
    """Policy variables from the request context; None when one is missing (the pattern cannot match)."""
    if "${" not in pattern:
        return pattern
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in _SPECIAL_VARIABLES:
            return _SPECIAL_VARIABLES[name]
        value = request.value(name)
        if value is None:
            missing = True
            return ""
        return value

    expanded = _VARIABLE.sub(replace, pattern)
    return None if missing else expanded


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """IAM wildcards: `*` any run of characters, `?` exactly one."""
    return _compiled(pattern, case_sensitive).fullmatch(value) is not None


@lru_cache(maxsize=1024)
def _compiled(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


# ------------------------------------------------------------------------------------- conditions

_NEGATED = frozenset(
    {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}
)


def _conditions_hold(conditions: Mapping[str, Any], request: Request) -> bool:
    for operator, block in conditions.items():
        for key, expected in block.items():
            values = [expected] if not isinstance(expected, list) else expected
            if not _condition_holds(operator, key, [str(value) for value in values], request):
                return False
    return True


def _condition_holds(operator: str, key: str, expected: list[str], request: Request) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicy(f"condition qualifier {qualifier!r} is not supported")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    actual = request.value(key)
    if base == "Null":
        wants_absent = expected[0].lower() == "true"
        return (actual is None) == wants_absent
    if actual is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return base in _NEGATED
    return _compare(base, actual, expected)


def _compare(base: str, actual: str, expected: list[str]) -> bool:
    if base == "StringEquals":
        return actual in expected
    if base == "StringNotEquals":
        return actual not in expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() in [value.lower() for value in expected]
    if base == "StringNotEqualsIgnoreCase":
        return actual.lower() not in [value.lower() for value in expected]
    if base in ("StringLike", "ArnLike", "ArnEquals"):
        return any(wildcard_match(value, actual) for value in expected)
    if base in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
        return not any(wildcard_match(value, actual) for value in expected)
    if base == "Bool":
        return actual.lower() in [value.lower() for value in expected]
    raise UnsupportedPolicy(f"condition operator {base!r} is not supported by the twin's IAM evaluator")
