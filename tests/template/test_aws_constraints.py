"""What AWS itself refuses or allows, checked on the template before a `sam deploy` finds out.

Each test names the AWS page whose rule it applies.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from cpctl.twin.provision import Provisioner, ProvisionError, translate
from tests.conftest import TEMPLATE_PATH
from tests.template.policies import actions, policy_statements
from tests.template.test_infrastructure import by_sid, props

# Values for the parameters without a default; nothing is created before the checks under test fail.
REQUIRED = {"VpcId": "vpc-0123456789abcdef0", "SubnetIds": "subnet-0123456789abcdef0"}


def parameter(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template["Parameters"][name])


def allowed(template: dict[str, Any], name: str, value: str) -> bool:
    return re.fullmatch(parameter(template, name)["AllowedPattern"], value) is not None


@pytest.fixture(scope="module")
def provisioner() -> Provisioner:
    import boto3

    translated = translate(TEMPLATE_PATH, region="eu-west-1")
    session = boto3.Session(region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return Provisioner(
        session, account_id="123456789012", region="eu-west-1", stack_name="s", translated=translated
    )


# ---------------------------------------------------------------- parameters


def test_the_config_key_cannot_carry_an_iam_wildcard(template: dict[str, Any]) -> None:
    # The key is part of IAM resource ARNs, where "*" and "?" are wildcards (IAM User Guide, "IAM JSON
    # policy elements: Resource").
    assert allowed(template, "ConfigObjectKey", "configs/control-plane.conf")
    assert not allowed(template, "ConfigObjectKey", "*")
    assert not allowed(template, "ConfigObjectKey", "control-plane?.conf")


@pytest.mark.parametrize("name", ["ControlPlaneTokenSecretArn", "GatlingApiTokenSecretArn"])
def test_secret_parameters_take_complete_arns_only(template: dict[str, Any], name: str) -> None:
    # Secrets Manager appends 6 random characters to a secret's ARN; a policy naming the partial ARN
    # matches no request (Secrets Manager User Guide, "Permissions policy examples").
    base = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gatling/token"
    assert allowed(template, name, f"{base}-AbC123")
    assert allowed(template, name, "")
    assert not allowed(template, name, base)


def test_the_gatling_api_is_reached_over_https_only(template: dict[str, Any]) -> None:
    assert allowed(template, "GatlingApiUrl", "https://api.gatling.io/api/public")
    assert not allowed(template, "GatlingApiUrl", "http://api.gatling.io/api/public")


@pytest.mark.parametrize(
    ("cpu", "memory", "valid"),
    [
        ("256", "512", True),
        ("256", "4096", False),
        ("512", "512", False),
        ("4096", "16384", True),
        ("2048", "2048", False),
    ],
)
def test_rules_refuse_task_sizes_fargate_refuses(
    provisioner: Provisioner, cpu: str, memory: str, valid: bool
) -> None:
    # ECS developer guide, "Task CPU and memory" (Fargate's table of valid pairs).
    values = {**REQUIRED, "TaskCpu": cpu, "TaskMemory": memory}
    provisioner.parameters = provisioner._resolve_parameters(values)
    provisioner.conditions = {}
    if valid:
        provisioner._check_rules()
    else:
        with pytest.raises(ProvisionError, match=f"With TaskCpu {cpu}, TaskMemory must be"):
            provisioner._check_rules()


# ---------------------------------------------------------------- resources


def test_cloudformation_names_the_bucket(resources: dict[str, Any]) -> None:
    # S3 bucket names have at most 63 characters (S3 User Guide, "General purpose bucket naming
    # rules"): a name derived from a 40-character ControlPlaneName, the account and the region could
    # not fit, and a retained bucket of a fixed name makes every new create fail.
    assert "BucketName" not in props(resources, "ConfigBucket")


def test_tags_are_created_only_with_a_launch(resources: dict[str, Any]) -> None:
    # EC2 User Guide, "Grant permission to tag resources during creation" (ec2:CreateAction).
    sid = by_sid(resources["TaskRole"])
    assert "ec2:CreateTags" not in sid["LaunchLoadGenerators"][1]["Action"]
    tagging = sid["TagOnLaunchOnly"][1]
    assert tagging["Action"] == "ec2:CreateTags"
    assert set(tagging["Condition"]["StringEquals"]["ec2:CreateAction"]) == {
        "RunInstances",
        "CreateFleet",
        "CreateLaunchTemplate",
    }


def test_elastic_ip_statements_name_the_allocation_ids(resources: dict[str, Any]) -> None:
    condition, statement = by_sid(resources["TaskRole"])["AssociateElasticIps"]
    assert condition == "HasElasticIps"
    assert statement["Condition"] == {"StringEquals": {"ec2:AllocationId": {"Ref": "ElasticIpAllocationIds"}}}


@pytest.mark.parametrize("logical_id", ["RegisterRevisionFunction", "RollBackFunction"])
def test_revisions_are_registered_only_in_the_family(resources: dict[str, Any], logical_id: str) -> None:
    registering = [
        s
        for _, s in policy_statements(resources[logical_id], resources)
        if "ecs:RegisterTaskDefinition" in actions(s)
    ]
    assert registering and all(s["Resource"] != "*" for s in registering)
    assert all("task-definition/${ControlPlaneName}:*" in s["Resource"]["Fn::Sub"] for s in registering)


def test_hygiene_of_the_singleton_service_and_the_records(resources: dict[str, Any]) -> None:
    assert props(resources, "Service")["AvailabilityZoneRebalancing"] == "DISABLED"
    assert props(resources, "RecordsTable")["DeletionProtectionEnabled"] is True
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert "DeletionPolicy" in resource, f"{logical_id} has no explicit DeletionPolicy"
    for container in props(resources, "TaskDefinition")["ContainerDefinitions"]:
        assert container["LogConfiguration"]["Options"]["mode"] == "non-blocking", container["Name"]


def test_the_side_car_image_is_pinned_and_off_docker_hub(template: dict[str, Any]) -> None:
    image = parameter(template, "ConfigLoaderImage")["Default"]
    assert image.startswith("public.ecr.aws/aws-cli/aws-cli:")
    assert re.fullmatch(r"\d+\.\d+\.\d+", image.rsplit(":", 1)[1]), image


def test_an_undelivered_upload_event_is_kept(resources: dict[str, Any]) -> None:
    rule = resources["DeployStateMachine"]["Properties"]["Events"]["ConfigUploaded"]["Properties"]
    assert rule["DeadLetterConfig"]["Type"] == "SQS"
