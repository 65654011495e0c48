"""The twin's IAM evaluator for AWS service principals in resource policies (a topic policy, a key
policy), as the IAM User Guide's "AWS JSON policy elements: Principal" describes them."""

from __future__ import annotations

from typing import Any

import pytest

from cpctl.twin.iam_eval import Decision, Request, decide

ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALARM = f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:cp-unhealthy"


def cloudwatch(action: str = "kms:Decrypt", *, source_arn: str = ALARM, account: str = ACCOUNT) -> Request:
    return Request(
        action,
        KEY,
        service_principal="cloudwatch.amazonaws.com",
        context={"aws:SourceArn": source_arn, "aws:SourceAccount": account},
    )


def key_policy(principal: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ({"Service": "cloudwatch.amazonaws.com"}, Decision.ALLOW),
        ({"Service": ["events.amazonaws.com", "cloudwatch.amazonaws.com"]}, Decision.ALLOW),
        ("*", Decision.ALLOW),
        # "Principal": "*" and {"AWS": "*"} are equivalent; SNS's example for CloudWatch alarms uses it.
        ({"AWS": "*"}, Decision.ALLOW),
        ({"Service": "events.amazonaws.com"}, Decision.IMPLICIT_DENY),
        # An account, its root or a role never names a service.
        ({"AWS": ACCOUNT}, Decision.IMPLICIT_DENY),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, Decision.IMPLICIT_DENY),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/publisher"}, Decision.IMPLICIT_DENY),
    ],
)
def test_a_service_principal_is_named_by_service_or_everyone(principal: Any, expected: Decision) -> None:
    assert decide([], cloudwatch(), resource_policy=key_policy(principal)) is expected


def test_a_role_is_not_matched_by_a_service_statement() -> None:
    role = Request("kms:Decrypt", KEY, principal_arn=f"arn:aws:iam::{ACCOUNT}:role/r", account_id=ACCOUNT)
    policy = key_policy({"Service": "cloudwatch.amazonaws.com"})
    assert decide([], role, resource_policy=policy) is Decision.IMPLICIT_DENY


def test_the_source_conditions_hold_the_service_to_the_alarm_and_account() -> None:
    policy = key_policy(
        {"Service": "cloudwatch.amazonaws.com"},
        {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:cp-*"},
        },
    )
    assert decide([], cloudwatch("kms:GenerateDataKey"), resource_policy=policy) is Decision.ALLOW
    assert decide([], cloudwatch("kms:Encrypt"), resource_policy=policy) is Decision.IMPLICIT_DENY
    other_alarm = cloudwatch(source_arn=f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:someone-else")
    assert decide([], other_alarm, resource_policy=policy) is Decision.IMPLICIT_DENY
    other_account = cloudwatch(account="999999999999")
    assert decide([], other_account, resource_policy=policy) is Decision.IMPLICIT_DENY
    no_context = Request("kms:Decrypt", KEY, service_principal="cloudwatch.amazonaws.com")
    assert decide([], no_context, resource_policy=policy) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_of_the_service_wins() -> None:
    policy = key_policy({"Service": "cloudwatch.amazonaws.com"})
    policy["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"})
    assert decide([], cloudwatch(), resource_policy=policy) is Decision.EXPLICIT_DENY
