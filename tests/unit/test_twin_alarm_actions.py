"""CloudWatch's alarm actions on the twin: published only where AWS lets CloudWatch publish (the
topic's access policy, its KMS key), as cpctl/twin/alarm_actions.py cites; and the stack's own alarm
can notify its topic."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cpctl.twin.alarm_actions import KEY_ERROR, AlarmActionPolicy
from cpctl.twin.provision import Provisioner, TranslatedTemplate, translate

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ACCOUNT = "123456789012"
ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:cp-unhealthy"


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def policy_of(session: boto3.Session) -> AlarmActionPolicy:
    return AlarmActionPolicy(sns=session.client("sns"), kms=session.client("kms"), account_id=ACCOUNT)


def topic(session: boto3.Session, **attributes: str) -> str:
    # A new name each time: CreateTopic of an existing name returns that topic as it is.
    name = f"t-{uuid.uuid4().hex[:8]}"
    return str(session.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"])


def customer_key(session: boto3.Session, *cloudwatch_statements: dict[str, Any]) -> str:
    """A customer managed key whose policy gives the account root admin, plus `cloudwatch_statements`."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            *cloudwatch_statements,
        ],
    }
    return str(session.client("kms").create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"])


def cloudwatch_may_use_key(condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    return statement


def test_the_default_topic_policy_lets_the_accounts_alarms_publish(session: boto3.Session) -> None:
    assert policy_of(session).denial(topic(session), ALARM) is None


def test_a_topic_policy_that_leaves_cloudwatch_out_refuses_the_action(session: boto3.Session) -> None:
    arn = topic(session)
    only_a_role = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/publisher"},
                "Action": "sns:Publish",
                "Resource": arn,
            }
        ],
    }
    session.client("sns").set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(only_a_role)
    )

    denied = policy_of(session).denial(arn, ALARM)

    assert denied is not None
    assert denied.error == f"Resource: {ALARM} is not authorized to perform: SNS:Publish on resource: {arn}"
    assert denied.history.startswith(f"Failed to execute action {arn}. Received error: ")


@pytest.mark.parametrize("key_id", ["alias/aws/sns", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/sns"])
def test_the_aws_managed_key_never_lets_cloudwatch_publish(session: boto3.Session, key_id: str) -> None:
    denied = policy_of(session).denial(topic(session, KmsMasterKeyId=key_id), ALARM)

    assert denied is not None and denied.error == KEY_ERROR
    assert f"AWS managed key {key_id}" in denied.cause


def test_a_customer_key_must_let_cloudwatch_use_it(session: boto3.Session) -> None:
    root_only = customer_key(session)

    denied = policy_of(session).denial(topic(session, KmsMasterKeyId=root_only), ALARM)

    assert denied is not None and denied.error == KEY_ERROR
    assert f"the key policy of {root_only} does not allow cloudwatch.amazonaws.com kms:GenerateDataKey" in (
        denied.cause
    )


def test_a_customer_key_for_the_stacks_alarms_allows_them_and_only_them(session: boto3.Session) -> None:
    key = customer_key(
        session,
        cloudwatch_may_use_key(
            {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:cp-*"},
            }
        ),
    )
    session.client("kms").create_alias(AliasName="alias/cp-notifications", TargetKeyId=key)
    policy = policy_of(session)

    for key_id in (key, "alias/cp-notifications"):
        assert policy.denial(topic(session, KmsMasterKeyId=key_id), ALARM) is None, key_id
    other = policy.denial(topic(session, KmsMasterKeyId=key), ALARM.replace("cp-unhealthy", "other"))
    assert other is not None and "aws:SourceArn" in other.cause


def test_a_disabled_or_missing_key_refuses_the_action(session: boto3.Session) -> None:
    key = customer_key(session, cloudwatch_may_use_key())
    session.client("kms").disable_key(KeyId=key.rsplit("/", 1)[-1])  # moto takes the id only
    policy = policy_of(session)

    disabled = policy.denial(topic(session, KmsMasterKeyId=key), ALARM)
    missing = policy.denial(topic(session, KmsMasterKeyId="alias/nothing"), ALARM)

    assert disabled is not None and disabled.cause.endswith("is Disabled")
    assert missing is not None and "does not exist" in missing.cause


# ---------------------------------------------------------------- the stack's alarm and topic
@pytest.fixture(scope="module")
def translated() -> TranslatedTemplate:
    return translate(REPO / "template.yaml", region=REGION)


def provisioned_alarm_actions(
    session: boto3.Session, template: dict[str, Any], base: TranslatedTemplate
) -> list[tuple[str, str]]:
    """(alarm ARN, topic ARN) of every SNS action of the template's alarms, provisioned in moto."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    Provisioner(
        session,
        account_id=ACCOUNT,
        region=REGION,
        stack_name="t",
        translated=TranslatedTemplate(template, base.code_dirs, base.definitions),
    ).provision({"VpcId": vpc, "SubnetIds": subnet})
    alarms = session.client("cloudwatch").describe_alarms()["MetricAlarms"]
    keys = ("AlarmActions", "OKActions", "InsufficientDataActions")
    return sorted({(alarm["AlarmArn"], topic) for alarm in alarms for key in keys for topic in alarm[key]})


def test_the_stacks_alarm_may_notify_its_topic(
    session: boto3.Session, translated: TranslatedTemplate
) -> None:
    actions = provisioned_alarm_actions(session, copy.deepcopy(translated.template), translated)

    assert actions, "the template's alarm has SNS actions"
    refused = [policy_of(session).denial(topic_arn, alarm) for alarm, topic_arn in actions]
    assert [item.history for item in refused if item] == []


def test_the_stacks_topic_on_the_aws_managed_key_would_be_refused(
    session: boto3.Session, translated: TranslatedTemplate
) -> None:
    template = copy.deepcopy(translated.template)
    template["Resources"]["NotificationTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"

    actions = provisioned_alarm_actions(session, template, translated)

    refused = [policy_of(session).denial(topic_arn, alarm) for alarm, topic_arn in actions]
    assert refused and all(item and "AWS managed key alias/aws/sns" in item.cause for item in refused)
