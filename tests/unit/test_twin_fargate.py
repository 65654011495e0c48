"""The pieces of the simulated Fargate that need no socket: IAM decisions, the side-car's command
line, and agreement with template.yaml. The rollouts themselves run in tests/e2e/twin (the fake
control plane listens on loopback).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from controlplane import revisions

from cpctl.twin.fargate import DEFAULT_DEPLOYMENT_CONFIGURATION, parse_get_object
from cpctl.twin.iam_eval import Decision, Request, UnsupportedPolicy, decide, evaluate, wildcard_match

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/TaskRole"
OBJECT = "arn:aws:s3:::cp-config-123456789012-eu-west-3/control-plane.conf"


def read_config_policy(template: dict[str, Any]) -> dict[str, Any]:
    """The TaskRole's read-config policy with the bucket and key filled in."""
    role = template["Resources"]["TaskRole"]["Properties"]
    [policy] = [item for item in role["Policies"] if item["PolicyName"] == "read-config"]
    document = json.loads(json.dumps(policy["PolicyDocument"]))
    for statement in document["Statement"]:
        statement["Resource"] = OBJECT
    return dict(document)


def request(action: str, version: str | None = None, resource: str = OBJECT) -> Request:
    context = {"aws:SecureTransport": "true"}
    if version is not None:
        context["s3:VersionId"] = version
    return Request(action, resource, principal_arn=ROLE, account_id=ACCOUNT, context=context)


DENY_VERSION = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": "*",
            "Condition": {"StringEquals": {"s3:VersionId": ["v-bad"]}},
        }
    ],
}


# ------------------------------------------------------------------------------------ IAM decisions


def test_the_template_task_role_may_read_its_config_and_nothing_else(template: dict[str, Any]) -> None:
    policy = read_config_policy(template)
    assert decide([policy], request("s3:GetObject")) is Decision.ALLOW
    assert decide([policy], request("s3:GetObjectVersion", "v1")) is Decision.ALLOW
    assert decide([policy], request("S3:getobject")) is Decision.ALLOW, "actions are case-insensitive"
    assert decide([policy], request("s3:PutObject")) is Decision.IMPLICIT_DENY
    assert decide([policy], request("s3:GetObject", resource=OBJECT + ".bak")) is Decision.IMPLICIT_DENY
    assert (
        decide([policy], request("s3:ListBucket", resource=OBJECT.rsplit("/", 1)[0]))
        is Decision.IMPLICIT_DENY
    )


def test_a_deny_on_one_version_wins_only_for_that_version(template: dict[str, Any]) -> None:
    policy = read_config_policy(template)
    assert decide([policy, DENY_VERSION], request("s3:GetObjectVersion", "v-bad")) is Decision.EXPLICIT_DENY
    assert decide([policy, DENY_VERSION], request("s3:GetObjectVersion", "v-good")) is Decision.ALLOW
    # An unversioned GetObject has no s3:VersionId: StringEquals on a missing key does not match.
    assert decide([policy, DENY_VERSION], request("s3:GetObject")) is Decision.ALLOW


def test_the_template_bucket_policy_denies_only_insecure_transport(template: dict[str, Any]) -> None:
    statement = template["Resources"]["ConfigBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{**statement, "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}],
    }
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    over_tls = Request("s3:GetObject", "arn:aws:s3:::b/k", ROLE, ACCOUNT, {"aws:SecureTransport": "true"})
    plain = Request("s3:GetObject", "arn:aws:s3:::b/k", ROLE, ACCOUNT, {"aws:SecureTransport": "false"})
    assert decide([allow], over_tls, resource_policy=policy) is Decision.ALLOW
    assert decide([allow], plain, resource_policy=policy) is Decision.EXPLICIT_DENY


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [
        ({"StringLike": {"s3:VersionId": "v-*"}}, {"s3:VersionId": "v-1"}, True),
        ({"StringLike": {"s3:VersionId": "v-?"}}, {"s3:VersionId": "v-10"}, False),
        ({"StringLike": {"s3:VersionId": "v-*"}}, {}, False),
        ({"StringNotEquals": {"s3:VersionId": "v-1"}}, {}, True),  # negated operator, key absent
        ({"StringNotLike": {"s3:VersionId": ["a*", "b*"]}}, {"s3:VersionId": "c"}, True),
        ({"StringEqualsIfExists": {"s3:VersionId": "v-1"}}, {}, True),
        ({"StringEqualsIgnoreCase": {"s3:VersionId": "V-1"}}, {"s3:versionid": "v-1"}, True),
        ({"Null": {"s3:VersionId": "true"}}, {}, True),
        ({"Null": {"s3:VersionId": "false"}}, {}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Task*"}}, {"aws:PrincipalArn": ROLE}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}, {}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": "a"}}, {}, True),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, str], expected: bool) -> None:
    policy = {
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": condition}]
    }
    decision = evaluate(policy, Request("s3:GetObject", OBJECT, context=context))
    assert (decision is Decision.ALLOW) is expected


def test_not_action_not_resource_and_policy_variables() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::private/*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::home/${aws:username}/*"},
        ]
    }
    assert evaluate(policy, Request("s3:GetObject", "arn:aws:s3:::public/k")) is Decision.ALLOW
    assert evaluate(policy, Request("iam:PassRole", "arn:aws:s3:::public/k")) is Decision.IMPLICIT_DENY
    assert evaluate(policy, Request("s3:PutObject", "arn:aws:s3:::private/k")) is Decision.IMPLICIT_DENY
    mine = Request("s3:GetObject", "arn:aws:s3:::private/x", context={"aws:username": "ann"})
    assert evaluate(policy, mine) is Decision.IMPLICIT_DENY
    home = Request("s3:GetObject", "arn:aws:s3:::home/ann/notes", context={"aws:username": "ann"})
    assert evaluate(policy, home) is Decision.ALLOW
    assert (
        evaluate(policy, Request("s3:GetObject", "arn:aws:s3:::home/ann/notes")) is Decision.ALLOW
    )  # NotResource


def test_a_permissions_boundary_limits_identity_allows() -> None:
    allow_all = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    boundary = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    assert decide([allow_all], request("s3:GetObject"), permissions_boundary=boundary) is Decision.ALLOW
    assert (
        decide([allow_all], request("s3:PutObject"), permissions_boundary=boundary) is Decision.IMPLICIT_DENY
    )


def test_resource_policy_principals() -> None:
    def bucket_policy(principal: Any) -> dict[str, Any]:
        return {
            "Statement": [
                {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"}
            ]
        }

    assert decide([], request("s3:GetObject"), resource_policy=bucket_policy({"AWS": ROLE})) is Decision.ALLOW
    assert (
        decide([], request("s3:GetObject"), resource_policy=bucket_policy({"AWS": ACCOUNT})) is Decision.ALLOW
    )
    other = {"AWS": "arn:aws:iam::999999999999:root"}
    assert decide([], request("s3:GetObject"), resource_policy=bucket_policy(other)) is Decision.IMPLICIT_DENY
    service = {"Service": "logs.amazonaws.com"}
    assert (
        decide([], request("s3:GetObject"), resource_policy=bucket_policy(service)) is Decision.IMPLICIT_DENY
    )


def test_unsupported_constructs_fail_loudly() -> None:
    numeric = {
        "Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"a": "1"}}}
        ]
    }
    with pytest.raises(UnsupportedPolicy):
        evaluate(numeric, Request("s3:GetObject", OBJECT, context={"a": "0"}))
    not_principal = {
        "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "*", "Resource": "*"}]
    }
    with pytest.raises(UnsupportedPolicy):
        decide([], request("s3:GetObject"), resource_policy=not_principal)


def test_wildcards() -> None:
    assert wildcard_match("arn:aws:s3:::b/*", "arn:aws:s3:::b/dir/key")
    assert not wildcard_match("arn:aws:s3:::b/*", "arn:aws:s3:::bucket/key")
    assert wildcard_match("a?c", "abc") and not wildcard_match("a?c", "abbc")
    assert not wildcard_match("ARN:aws:s3:::b", "arn:aws:s3:::b"), "resources are case-sensitive"
    assert wildcard_match("a.b", "a.b") and not wildcard_match("a.b", "axb"), "only * and ? are special"


# ------------------------------------------------------------------------------ the side-car command


def test_the_template_side_car_command_parses_like_the_aws_cli(template: dict[str, Any]) -> None:
    [loader] = [
        item
        for item in template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
        if item["Name"] == "config-loader"
    ]
    command = [
        "my-bucket" if isinstance(part, dict) and part.get("Ref") == "ConfigBucket" else part
        for part in loader["Command"]
    ]
    command = ["control-plane.conf" if isinstance(part, dict) else part for part in command]
    # The template's own revision names a version no object has: a task of it never reads a config.
    assert parse_get_object(command) == (
        "my-bucket",
        "control-plane.conf",
        revisions.UNPINNED,
        None,
        None,
        "/app/conf/control-plane.conf",
    )
    assert (
        revisions.pinned_version({"containerDefinitions": [{"name": "config-loader", "command": command}]})
        is None
    )
    pinned = revisions.pinned_command("my-bucket", "control-plane.conf", "v7")
    assert parse_get_object(pinned)[2] == "v7"  # type: ignore[index]
    assert (
        revisions.pinned_version({"containerDefinitions": [{"name": "config-loader", "command": pinned}]})
        == "v7"
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ["s3api", "get-object", "--bucket=b", "--key", "k", "--if-match", '"e"', "out"],
            ("b", "k", None, '"e"', None, "out"),
        ),
        (
            [
                "s3api",
                "get-object",
                "--bucket",
                "b",
                "--key",
                "k",
                "--no-cli-pager",
                "--region",
                "eu-west-3",
                "out",
            ],
            ("b", "k", None, None, None, "out"),
        ),
        (
            ["s3api", "get-object", "--bucket", "b", "--key", "k", "--sneaky", "out"],
            "aws: error: Unknown options: --sneaky",
        ),
        (
            ["s3api", "get-object", "--key", "k", "out"],
            "aws: error: the following arguments are required: --bucket",
        ),
        (
            ["s3api", "get-object", "--bucket", "b", "--key", "k"],
            "aws: error: the following arguments are required: outfile",
        ),
        (
            ["s3api", "get-object", "--bucket", "b", "--key"],
            "aws: error: argument --key: expected one argument",
        ),
    ],
)
def test_side_car_command_line(command: list[str], expected: Any) -> None:
    assert parse_get_object(command) == expected


def test_other_aws_commands_are_not_simulated() -> None:
    result = parse_get_object(["s3", "cp", "s3://b/k", "/app/conf/control-plane.conf"])
    assert isinstance(result, str) and "only simulates `aws s3api get-object`" in result


# ----------------------------------------------------------------------------- agreement with the stack


def test_assumed_deployment_configuration_is_the_template_one(template: dict[str, Any]) -> None:
    """moto drops deploymentConfiguration on CreateService; the simulation assumes the stack's."""
    configuration = template["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]
    assert {
        "deploymentCircuitBreaker": {
            "enable": configuration["DeploymentCircuitBreaker"]["Enable"],
            "rollback": configuration["DeploymentCircuitBreaker"]["Rollback"],
        },
        "maximumPercent": configuration["MaximumPercent"],
        "minimumHealthyPercent": configuration["MinimumHealthyPercent"],
    } == DEFAULT_DEPLOYMENT_CONFIGURATION


def test_the_template_task_shape_is_what_the_simulation_runs(template: dict[str, Any]) -> None:
    """One essential control plane that waits for the side-car's SUCCESS, both on the shared volume."""
    properties = template["Resources"]["TaskDefinition"]["Properties"]
    containers = {item["Name"]: item for item in properties["ContainerDefinitions"]}
    assert set(containers) == {"config-loader", "control-plane"}
    assert (
        containers["config-loader"]["Essential"] is False and containers["control-plane"]["Essential"] is True
    )
    assert containers["control-plane"]["DependsOn"] == [
        {"ContainerName": "config-loader", "Condition": "SUCCESS"}
    ]
    [volume] = properties["Volumes"]
    for container in containers.values():
        assert container["MountPoints"][0]["SourceVolume"] == volume["Name"]
        assert container["MountPoints"][0]["ContainerPath"] == "/app/conf"
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert containers["config-loader"]["MountPoints"][0]["ReadOnly"] is False
    assert containers["control-plane"]["MountPoints"][0]["ReadOnly"] is True
