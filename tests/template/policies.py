"""A function's permissions as template.yaml grants them: its inline policy documents and the
customer managed policies (AWS::IAM::ManagedPolicy) its Policies reference, each statement with the
condition that guards it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Statement = tuple[str | None, dict[str, Any]]


def policy_statements(function: Mapping[str, Any], resources: Mapping[str, Any]) -> list[Statement]:
    """Every statement a function's role gets from its Policies, with the Fn::If condition (or the
    managed policy's own Condition) that guards it; a Ref to anything but a managed policy of the
    template fails the test that asked."""
    found: list[Statement] = []
    for policy in function["Properties"].get("Policies", []):
        condition = None
        if isinstance(policy, dict) and "Fn::If" in policy:
            condition, policy, absent = policy["Fn::If"]
            assert absent == {"Ref": "AWS::NoValue"}
        if isinstance(policy, dict) and set(policy) == {"Ref"}:
            managed = resources[policy["Ref"]]
            assert managed["Type"] == "AWS::IAM::ManagedPolicy", policy
            assert managed.get("Condition", condition) == condition, (
                f"{policy['Ref']} exists when {managed.get('Condition')}, referenced when {condition}"
            )
            policy = managed["Properties"]["PolicyDocument"]
        found.extend((condition, statement) for statement in policy["Statement"])
    return found


def actions(statement: Mapping[str, Any]) -> set[str]:
    value = statement["Action"]
    return {value} if isinstance(value, str) else set(value)
