"""The twin's IAM on the functions' calls: the request IAM is asked, and AWS's answer when it says no."""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cpctl.twin.iam_calls import CallAuthorizer, UnknownOperation, Where, role_policies, target_check
from cpctl.twin.iam_eval import Decision

WHERE = Where(partition="aws", region="eu-west-1", account="123456789012")
ROLE = "arn:aws:iam::123456789012:role/fn"
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/records"


def authorizer(*statements: dict[str, object], running: tuple[str, str] | None = None) -> CallAuthorizer:
    policy = {"Version": "2012-10-17", "Statement": list(statements)}
    return CallAuthorizer(
        where=WHERE, policies_of=lambda role: [policy] if role == ROLE else [], current=lambda: running
    )


def test_a_call_on_the_granted_resource_is_allowed_and_recorded() -> None:
    checker = authorizer({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE})
    record = checker.authorize("Fn", ROLE, "dynamodb:GetItem", {"TableName": "records", "Key": {}})
    assert record.decision is Decision.ALLOW
    assert record.checks == (("dynamodb:GetItem", TABLE, {}),)


def test_a_call_outside_the_grant_is_denied_as_aws_denies_it() -> None:
    checker = authorizer({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE})
    with pytest.raises(ClientError) as denied:
        checker.authorize("Fn", ROLE, "dynamodb:GetItem", {"TableName": "other", "Key": {}})
    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert "not authorized to perform: dynamodb:GetItem on resource: " in error["Message"]
    assert checker.records[-1].decision is Decision.IMPLICIT_DENY


def test_a_version_read_needs_get_object_version_and_s3_answers_403() -> None:
    arn = "arn:aws:s3:::b/control-plane.conf"
    checker = authorizer({"Effect": "Allow", "Action": "s3:GetObject", "Resource": arn})
    checker.authorize("Fn", ROLE, "s3:GetObject", {"Bucket": "b", "Key": "control-plane.conf"})
    with pytest.raises(ClientError) as denied:
        checker.authorize(
            "Fn", ROLE, "s3:GetObject", {"Bucket": "b", "Key": "control-plane.conf", "VersionId": "v1"}
        )
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_registering_a_revision_also_asks_for_tagging_on_create_and_passing_the_roles() -> None:
    family = "arn:aws:ecs:eu-west-1:123456789012:task-definition/cp:*"
    checker = authorizer(
        {"Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": family},
        {
            "Effect": "Allow",
            "Action": "ecs:TagResource",
            "Resource": family,
            "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
        },
    )
    params = {
        "family": "cp",
        "containerDefinitions": [],
        "tags": [{"key": "a", "value": "b"}],
        "taskRoleArn": ROLE,
    }
    with pytest.raises(ClientError, match="iam:PassRole"):
        checker.authorize("Fn", ROLE, "ecs:RegisterTaskDefinition", params)


def test_an_operation_the_twin_cannot_authorize_fails_loudly() -> None:
    with pytest.raises(UnknownOperation, match="ec2:TerminateInstances"):
        authorizer().authorize("Fn", ROLE, "ec2:TerminateInstances", {})


def test_only_calls_made_while_a_function_runs_are_checked() -> None:
    model = SimpleNamespace(name="GetItem", service_model=SimpleNamespace(signing_name="dynamodb"))
    params = {"TableName": "records", "Key": {}}
    outside = authorizer()
    outside._before_parameter_build(params, model)  # the twin's own call: nobody's role applies
    assert outside.records == []
    inside = authorizer(running=("Fn", ROLE))
    with pytest.raises(ClientError):
        inside._before_parameter_build(params, model)  # the function's role grants nothing
    assert [(r.function, r.operation) for r in inside.records] == [("Fn", "dynamodb:GetItem")]


def test_a_service_acting_for_the_stack_is_checked_under_its_own_role() -> None:
    model = SimpleNamespace(name="Invoke", service_model=SimpleNamespace(signing_name="lambda"))
    function = "arn:aws:lambda:eu-west-1:123456789012:function:validate"
    machine = CallAuthorizer(
        where=WHERE,
        policies_of=lambda role: [],
        current=lambda: None,
        acting_service=lambda: ("StateMachine", "arn:aws:iam::123456789012:role/sfn"),
    )
    with pytest.raises(ClientError, match="lambda:InvokeFunction"):
        machine._before_parameter_build({"FunctionName": function}, model)
    assert [(r.function, r.operation) for r in machine.records] == [("StateMachine", "lambda:Invoke")]


RULE = "arn:aws:events:eu-west-1:123456789012:rule/uploads"
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:deploy"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:health"
QUEUE = "arn:aws:sqs:eu-west-1:123456789012:dead-letters"


def events_may(action: str, resource: str, source: str = RULE) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": action,
                "Resource": resource,
                "Condition": {"ArnLike": {"AWS:SourceArn": source}},
            }
        ],
    }


def check(target: dict[str, str], *, identity: object = None, resource: object = None) -> Decision:
    return target_check(
        RULE,
        target,
        where=WHERE,
        policies_of=lambda role: [identity] if identity is not None and role == ROLE else [],
        resource_policy_of=lambda arn: resource,
    ).decision


def test_eventbridge_starts_a_state_machine_only_under_a_target_role_that_may() -> None:
    may = {"Statement": [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": MACHINE}]}
    assert check({"Arn": MACHINE, "RoleArn": ROLE}, identity=may) is Decision.ALLOW
    assert check({"Arn": MACHINE}, identity=may) is Decision.IMPLICIT_DENY, "no RoleArn, no start"
    assert check({"Arn": MACHINE, "RoleArn": ROLE}) is Decision.IMPLICIT_DENY


def test_eventbridge_reaches_a_function_or_queue_only_through_its_resource_policy_for_that_rule() -> None:
    assert check({"Arn": FUNCTION}, resource=events_may("lambda:InvokeFunction", FUNCTION)) is Decision.ALLOW
    assert check({"Arn": FUNCTION}) is Decision.IMPLICIT_DENY
    other_rule = events_may("lambda:InvokeFunction", FUNCTION, source=RULE + "-other")
    assert check({"Arn": FUNCTION}, resource=other_rule) is Decision.IMPLICIT_DENY
    assert check({"Arn": QUEUE}, resource=events_may("sqs:SendMessage", QUEUE)) is Decision.ALLOW
    with pytest.raises(UnknownOperation):
        check({"Arn": "arn:aws:kinesis:eu-west-1:123456789012:stream/s"})


def test_a_secret_under_a_customer_managed_key_also_needs_kms_decrypt_via_secrets_manager() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        kms = boto3.client("kms", region_name=WHERE.region)
        secrets = boto3.client("secretsmanager", region_name=WHERE.region)
        key = kms.create_key()["KeyMetadata"]["Arn"]
        plain = secrets.create_secret(Name="plain", SecretString="x")["ARN"]
        encrypted = secrets.create_secret(Name="encrypted", SecretString="x", KmsKeyId=key)["ARN"]
        read = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": [plain, encrypted]}
        decrypt = {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key,
            "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}},
        }

        # The AWS managed key aws/secretsmanager: GetSecretValue alone.
        assert authorizer(read).authorize("Fn", ROLE, "secretsmanager:GetSecretValue", {"SecretId": "plain"})
        with pytest.raises(ClientError) as denied:
            authorizer(read).authorize("Fn", ROLE, "secretsmanager:GetSecretValue", {"SecretId": encrypted})
        assert f"not authorized to perform: kms:Decrypt on resource: {key}" in str(denied.value)
        record = authorizer(read, decrypt).authorize(
            "Fn", ROLE, "secretsmanager:GetSecretValue", {"SecretId": "encrypted"}
        )
        assert record.checks[1] == (
            "kms:Decrypt",
            key,
            {
                "kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com",
                "kms:EncryptionContext:SecretARN": encrypted,
            },
        )


def test_a_role_s_attached_managed_policies_count_with_their_default_version_only() -> None:
    def document(*actions: str) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": TABLE}],
            }
        )

    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=document("sts:AssumeRole"))["Role"][
            "Arn"
        ]
        arn = iam.create_policy(PolicyName="shared-read", PolicyDocument=document("dynamodb:GetItem"))[
            "Policy"
        ]["Arn"]
        checker = CallAuthorizer(
            where=WHERE,
            policies_of=lambda r: role_policies(WHERE.account, WHERE.region, r),
            current=lambda: None,
        )
        request = {"TableName": "records", "Key": {}}
        with pytest.raises(ClientError):  # not attached yet: nothing grants it
            checker.authorize("Fn", role, "dynamodb:GetItem", request)
        iam.attach_role_policy(RoleName="fn", PolicyArn=arn)
        assert checker.authorize("Fn", role, "dynamodb:GetItem", request).decision is Decision.ALLOW
        # A new default version without the action takes it away (IAM evaluates the default version).
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document("dynamodb:Query"), SetAsDefault=True)
        with pytest.raises(ClientError):
            checker.authorize("Fn", role, "dynamodb:GetItem", request)
        iam.detach_role_policy(RoleName="fn", PolicyArn=arn)
        assert role_policies(WHERE.account, WHERE.region, role) == []
