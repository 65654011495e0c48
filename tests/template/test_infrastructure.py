"""The Gatling guide's stack, done right: each test fails if someone breaks what the guide or the facts require."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cpctl.twin.iam_eval import wildcard_match
from cpctl.twin.provision import documented_attribute
from tests.template.policies import policy_statements


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return dict(resources[logical_id]["Properties"])


def statements(role: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """Every statement of a role's inline policies, with the condition that guards it (None: always)."""
    found: list[tuple[str | None, dict[str, Any]]] = []
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                condition, when_true, when_false = statement["Fn::If"]
                assert when_false == {"Ref": "AWS::NoValue"}, "a conditional statement must vanish when off"
                found.append((condition, when_true))
            else:
                found.append((None, statement))
    return found


def by_sid(role: dict[str, Any]) -> dict[str, tuple[str | None, dict[str, Any]]]:
    return {statement["Sid"]: (condition, statement) for condition, statement in statements(role)}


def actions(statement: dict[str, Any]) -> set[str]:
    value = statement["Action"]
    return {value} if isinstance(value, str) else set(value)


def container(resources: dict[str, Any], name: str) -> dict[str, Any]:
    containers = props(resources, "TaskDefinition")["ContainerDefinitions"]
    matching = [c for c in containers if c["Name"] == name]
    assert len(matching) == 1, f"expected one container named {name}"
    return dict(matching[0])


# ---------------------------------------------------------------- config bucket


def test_config_bucket_is_versioned_and_sends_eventbridge_events(resources: dict[str, Any]) -> None:
    bucket = props(resources, "ConfigBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


def test_config_bucket_is_private_and_encrypted(resources: dict[str, Any]) -> None:
    bucket = props(resources, "ConfigBucket")
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    block = bucket["PublicAccessBlockConfiguration"]
    assert all(
        block[key] is True
        for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}


def test_config_bucket_keeps_noncurrent_versions_for_rollbacks(resources: dict[str, Any]) -> None:
    rules = props(resources, "ConfigBucket")["LifecycleConfiguration"]["Rules"]
    expiring = [rule for rule in rules if "NoncurrentVersionExpiration" in rule]
    assert expiring, "noncurrent versions must expire by a rule that keeps some of them"
    for rule in expiring:
        kept = rule["NoncurrentVersionExpiration"]
        assert kept.get("NewerNoncurrentVersions", 0) >= 10
        assert kept["NoncurrentDays"] >= 30
    assert not any("ExpirationInDays" in rule for rule in rules), "current configs must never expire"


def test_config_bucket_policy_denies_non_tls_access(resources: dict[str, Any]) -> None:
    policy = props(resources, "ConfigBucketPolicy")
    assert policy["Bucket"] == {"Ref": "ConfigBucket"}
    denies = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert len(denies) == 1
    deny = denies[0]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::GetAtt": ["ConfigBucket", "Arn"]} in deny["Resource"]
    assert {"Fn::Sub": "${ConfigBucket.Arn}/*"} in deny["Resource"]


# ---------------------------------------------------------------- task role


def test_task_role_reads_only_the_config_object(resources: dict[str, Any]) -> None:
    sid = by_sid(resources["TaskRole"])
    condition, read = sid["ReadConfigObject"]
    assert condition is None
    assert actions(read) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert read["Resource"] == {"Fn::Sub": "${ConfigBucket.Arn}/${ConfigObjectKey}"}
    s3_statements = [
        s for _, s in statements(resources["TaskRole"]) if any(a.startswith("s3:") for a in actions(s))
    ]
    assert all("*" not in str(s["Resource"]).replace("/*", "") for s in s3_statements)


def test_task_role_launches_only_tagged_load_generators(resources: dict[str, Any]) -> None:
    sid = by_sid(resources["TaskRole"])
    _, launch = sid["LaunchLoadGenerators"]
    # CreateTags has its own statement, for launches only (test_aws_constraints.py).
    assert actions(launch) == {
        "ec2:RunInstances",
        "ec2:CreateLaunchTemplate",
        "ec2:DeleteLaunchTemplate",
        "ec2:CreateFleet",
        "ec2:DeleteFleets",
    }
    kinds = {str(resource["Fn::Sub"]).rsplit(":", 1)[-1].split("/")[0] for resource in launch["Resource"]}
    assert kinds == {
        "instance",
        "network-interface",
        "security-group",
        "subnet",
        "volume",
        "image",
        "launch-template",
        "fleet",
    }
    _, deny = sid["DenyUntaggedInstances"]
    assert deny["Effect"] == "Deny"
    assert actions(deny) == {"ec2:RunInstances"}
    assert deny["Condition"] == {"StringNotLike": {"aws:RequestTag/Name": "GATLING_LG_*"}}
    _, terminate = sid["TerminateOwnLoadGenerators"]
    assert actions(terminate) == {"ec2:TerminateInstances"}
    assert terminate["Condition"] == {"StringLike": {"ec2:ResourceTag/Name": "GATLING_LG_*"}}


def test_task_role_describes_only_images_and_instances(resources: dict[str, Any]) -> None:
    every_action = {a for _, s in statements(resources["TaskRole"]) for a in actions(s)}
    assert "ec2:Describe*" not in every_action
    assert not any(a.endswith("*") for a in every_action), "no wildcard actions on the task role"
    _, describe = by_sid(resources["TaskRole"])["DescribeImagesAndInstances"]
    assert actions(describe) == {"ec2:DescribeImages", "ec2:DescribeInstances"}


@pytest.mark.parametrize(
    ("sid", "condition", "expected_actions"),
    [
        (
            "AssociateElasticIpsWithLoadGenerators",
            "HasElasticIps",
            {"ec2:AssociateAddress", "ec2:DisassociateAddress"},
        ),
        ("AssociateElasticIps", "HasElasticIps", {"ec2:AssociateAddress", "ec2:DisassociateAddress"}),
        ("DescribeElasticIps", "HasElasticIps", {"ec2:DescribeAddresses"}),
        ("PassLoadGeneratorRole", "HasLoadGeneratorRole", {"iam:PassRole"}),
        (
            "ReadWritePrivatePackages",
            "HasPrivatePackagesBucket",
            {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        ),
    ],
)
def test_optional_task_role_statements_exist_only_under_their_condition(
    resources: dict[str, Any], sid: str, condition: str, expected_actions: set[str]
) -> None:
    guard, statement = by_sid(resources["TaskRole"])[sid]
    assert guard == condition
    assert actions(statement) == expected_actions
    for other_guard, other in statements(resources["TaskRole"]):
        if other_guard is None:
            assert not actions(other) & expected_actions - {"s3:GetObject"}, (
                f"{sid} actions also granted unconditionally"
            )


def test_pass_role_is_limited_to_the_load_generator_role(resources: dict[str, Any]) -> None:
    _, statement = by_sid(resources["TaskRole"])["PassLoadGeneratorRole"]
    assert statement["Resource"] == {"Ref": "LoadGeneratorRoleArn"}
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_conditions_follow_their_parameters(template: dict[str, Any]) -> None:
    conditions = template["Conditions"]
    assert conditions["HasTokenSecret"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ControlPlaneTokenSecretArn"}, ""]}]
    }
    assert conditions["HasLoadGeneratorRole"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "LoadGeneratorRoleArn"}, ""]}]
    }
    assert conditions["HasPrivatePackagesBucket"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PrivatePackagesBucket"}, ""]}]
    }
    assert conditions["HasElasticIps"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ElasticIpAllocationIds"}]}, ""]}]
    }
    assert conditions["CreateSecurityGroup"] == {
        "Fn::Equals": [{"Fn::Join": ["", {"Ref": "SecurityGroupIds"}]}, ""]
    }


def test_roles_are_assumed_only_by_ecs_tasks_of_this_account(resources: dict[str, Any]) -> None:
    for logical_id in ("TaskRole", "ExecutionRole"):
        (trust,) = props(resources, logical_id)["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# ---------------------------------------------------------------- execution role


def test_execution_role_pulls_images_and_writes_logs(resources: dict[str, Any]) -> None:
    sid = by_sid(resources["ExecutionRole"])
    assert actions(sid["PullImagesFromEcr"][1]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    }
    logs = sid["WriteTaskLogs"][1]
    assert actions(logs) == {"logs:CreateLogStream", "logs:PutLogEvents"}


def _resolved_log_resource(statement: dict[str, Any]) -> str:
    """A statement's `Fn::Sub` resource with `Fn::GetAtt` in CloudFormation's documented format."""
    text = statement["Resource"]["Fn::Sub"]
    values = {
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "123456789012",
        "ControlPlaneLogGroup": "/ecs/cp",
        "ControlPlaneLogGroup.Arn": documented_attribute(
            "AWS::Logs::LogGroup", "Arn", name="/ecs/cp", region="eu-west-1", account_id="123456789012"
        ),
    }
    return re.sub(r"\$\{([^}]+)\}", lambda match: values[match.group(1)], text)


@pytest.mark.parametrize(
    ("logical_id", "sid"),
    [
        ("ExecutionRole", "WriteTaskLogs"),
        ("AwaitRolloutFunction", "ReadTaskLogs"),
        ("RollBackFunction", "ReadTaskLogs"),
    ],
)
def test_log_statements_match_the_streams_the_containers_write(
    resources: dict[str, Any], logical_id: str, sid: str
) -> None:
    # The awslogs driver names a stream <prefix>/<container>/<task id> (ECS developer guide, awslogs).
    stream = (
        "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/cp:log-stream:control-plane/control-plane/0a1b2c"
    )
    resource = resources[logical_id]
    if resource["Type"] == "AWS::IAM::Role":
        statement = by_sid(resource)[sid][1]
    else:
        statement = next(s for _, s in policy_statements(resource, resources) if s.get("Sid") == sid)
    resolved = _resolved_log_resource(statement)
    assert wildcard_match(resolved, stream), f"{logical_id}.{sid}: {resolved} matches no log stream"


def test_execution_role_reads_the_token_secret_only_when_set(resources: dict[str, Any]) -> None:
    guard, secret = by_sid(resources["ExecutionRole"])["ReadControlPlaneToken"]
    assert guard == "HasTokenSecret"
    assert actions(secret) == {"secretsmanager:GetSecretValue"}
    assert secret["Resource"] == {"Ref": "ControlPlaneTokenSecretArn"}
    unconditional = {a for g, s in statements(resources["ExecutionRole"]) if g is None for a in actions(s)}
    assert not any(a.startswith("secretsmanager:") for a in unconditional)


# ---------------------------------------------------------------- logs and cluster


def test_log_group_is_named_after_the_family_with_retention(resources: dict[str, Any]) -> None:
    log_group = props(resources, "ControlPlaneLogGroup")
    assert log_group["LogGroupName"] == {"Fn::Sub": "/ecs/${ControlPlaneName}"}
    assert props(resources, "TaskDefinition")["Family"] == {"Ref": "ControlPlaneName"}
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_cluster_runs_fargate_with_container_insights_opt_in(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    cluster = props(resources, "Cluster")
    assert cluster["CapacityProviders"] == ["FARGATE"]
    assert {"Name": "containerInsights", "Value": {"Ref": "ContainerInsights"}} in cluster["ClusterSettings"]
    parameter = template["Parameters"]["ContainerInsights"]
    # Billed per metric, more than the automation itself: off unless asked for.
    assert parameter["Default"] == "disabled"
    # The values ECS accepts for the containerInsights cluster setting (ClusterSetting, ECS API Reference).
    assert set(parameter["AllowedValues"]) == {"enabled", "disabled", "enhanced"}


def test_created_security_group_only_allows_https_out(resources: dict[str, Any]) -> None:
    group = resources["TaskSecurityGroup"]
    assert group["Condition"] == "CreateSecurityGroup"
    (egress,) = group["Properties"]["SecurityGroupEgress"]
    assert (egress["IpProtocol"], egress["FromPort"], egress["ToPort"]) == ("tcp", 443, 443)
    assert "SecurityGroupIngress" not in group["Properties"]


# ---------------------------------------------------------------- task definition


def test_task_definition_is_fargate_linux_of_the_chosen_size(resources: dict[str, Any]) -> None:
    task = props(resources, "TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert task["RuntimePlatform"] == {
        "OperatingSystemFamily": "LINUX",
        "CpuArchitecture": {"Ref": "CpuArchitecture"},
    }
    assert (task["Cpu"], task["Memory"]) == ({"Ref": "TaskCpu"}, {"Ref": "TaskMemory"})
    assert task["Volumes"] == [{"Name": "control-plane-conf"}]
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}


def test_task_size_defaults_to_the_documented_minimum(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["TaskCpu"]["Default"] == "256"
    assert parameters["TaskMemory"]["Default"] == "512"
    assert parameters["ConfigObjectKey"]["Default"] == "control-plane.conf"
    assert parameters["ControlPlaneImage"]["Default"] == "gatlingcorp/control-plane:latest"


def test_side_car_copies_the_config_into_the_shared_volume(resources: dict[str, Any]) -> None:
    loader = container(resources, "config-loader")
    assert loader["Essential"] is False
    assert loader["Image"] == {"Ref": "ConfigLoaderImage"}
    assert loader["WorkingDirectory"] == "/app/conf"
    command = loader["Command"]
    assert command[:2] == ["s3api", "get-object"]
    assert command[command.index("--bucket") + 1] == {"Ref": "ConfigBucket"}
    assert command[command.index("--key") + 1] == {"Ref": "ConfigObjectKey"}
    assert command[-1] == "/app/conf/control-plane.conf"
    assert loader["MountPoints"] == [
        {"SourceVolume": "control-plane-conf", "ContainerPath": "/app/conf", "ReadOnly": False}
    ]


def test_control_plane_starts_only_after_the_config_was_fetched(resources: dict[str, Any]) -> None:
    control_plane = container(resources, "control-plane")
    assert control_plane["Essential"] is True
    assert control_plane["DependsOn"] == [{"ContainerName": "config-loader", "Condition": "SUCCESS"}]
    assert control_plane["MountPoints"] == [
        {"SourceVolume": "control-plane-conf", "ContainerPath": "/app/conf", "ReadOnly": True}
    ]
    assert control_plane["PortMappings"] == [{"ContainerPort": {"Ref": "ServerPort"}, "Protocol": "tcp"}]
    assert 30 <= control_plane["StopTimeout"] <= 120


def test_token_secret_is_injected_only_when_set(resources: dict[str, Any]) -> None:
    secrets = container(resources, "control-plane")["Secrets"]
    condition, when_set, when_unset = secrets["Fn::If"]
    assert condition == "HasTokenSecret"
    assert when_set == [{"Name": "CONTROL_PLANE_TOKEN", "ValueFrom": {"Ref": "ControlPlaneTokenSecretArn"}}]
    assert when_unset == {"Ref": "AWS::NoValue"}


@pytest.mark.parametrize("name", ["config-loader", "control-plane"])
def test_both_containers_log_to_the_group_with_their_own_prefix(resources: dict[str, Any], name: str) -> None:
    logging = container(resources, name)["LogConfiguration"]
    assert logging["LogDriver"] == "awslogs"
    assert logging["Options"]["awslogs-group"] == {"Ref": "ControlPlaneLogGroup"}
    assert logging["Options"]["awslogs-stream-prefix"] == name


# ---------------------------------------------------------------- service and outputs


def test_service_runs_one_control_plane_with_the_circuit_breaker(resources: dict[str, Any]) -> None:
    service = props(resources, "Service")
    assert service["LaunchType"] == "FARGATE"
    # The stack starts no task: on the first deploy the bucket is empty, and CloudFormation would
    # wait for a task that can only fail (the twin's create fails with DesiredCount 1).
    assert service["DesiredCount"] == 0
    deployment = service["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (0, 100)


def test_service_network_comes_from_the_parameters(resources: dict[str, Any]) -> None:
    network = props(resources, "Service")["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == {"Ref": "SubnetIds"}
    assert network["AssignPublicIp"] == {"Ref": "AssignPublicIp"}
    assert network["SecurityGroups"] == {
        "Fn::If": ["CreateSecurityGroup", [{"Ref": "TaskSecurityGroup"}], {"Ref": "SecurityGroupIds"}]
    }


def test_outputs_name_what_an_operator_needs(template: dict[str, Any]) -> None:
    assert {"ConfigBucketName", "ClusterName", "ServiceName", "TaskDefinitionFamily", "LogGroupName"} <= set(
        template["Outputs"]
    )
