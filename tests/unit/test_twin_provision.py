"""The twin's template walker: built from template.yaml, and loud about anything it does not know."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cpctl.twin.provision import Provisioner, ProvisionError, TranslatedTemplate, translate

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def translated() -> TranslatedTemplate:
    return translate(REPO / "template.yaml", region=REGION)


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def provisioner(
    session: boto3.Session, template: dict[str, Any], base: TranslatedTemplate | None = None
) -> Provisioner:
    translated = TranslatedTemplate(
        template, base.code_dirs if base else {}, base.definitions if base else {}
    )
    return Provisioner(
        session, account_id="123456789012", region=REGION, stack_name="t", translated=translated
    )


def test_the_translation_keeps_every_function_and_the_state_machine_local(
    translated: TranslatedTemplate,
) -> None:
    resources = translated.template["Resources"]
    functions = [name for name, item in resources.items() if item["Type"] == "AWS::Lambda::Function"]
    assert functions and set(functions) == set(translated.code_dirs)
    assert all(path.is_dir() for path in translated.code_dirs.values())
    assert all(path.suffix == ".json" and path.is_file() for path in translated.definitions.values())
    assert not any(item["Type"].startswith("AWS::Serverless::") for item in resources.values())


def test_the_whole_template_provisions(session: boto3.Session, translated: TranslatedTemplate) -> None:
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]

    stack = provisioner(session, copy.deepcopy(translated.template), translated).provision(
        {"VpcId": vpc, "SubnetIds": subnet}
    )

    bucket = stack.first_of_type("AWS::S3::Bucket").ref
    assert session.client("s3").get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    definition = session.client("ecs").describe_task_definition(
        taskDefinition=stack.resources["TaskDefinition"].ref
    )
    assert definition["taskDefinition"]["networkMode"] == "awsvpc"
    assert stack.functions and stack.state_machines
    for spec in stack.functions.values():
        assert spec.environment["CONFIG_BUCKET"] == bucket  # from the template's Globals


def test_an_unknown_resource_type_is_named(session: boto3.Session) -> None:
    template = {"Resources": {"Queue": {"Type": "AWS::MQ::Broker", "Properties": {}}}}
    with pytest.raises(ProvisionError, match=r"Queue: resource type AWS::MQ::Broker is not supported"):
        provisioner(session, template).provision({})


def test_an_unknown_property_is_named_with_its_resource(session: boto3.Session) -> None:
    template = {
        "Resources": {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "c", "Colour": "red"}}
        }
    }
    with pytest.raises(ProvisionError, match=r"Cluster.Properties.Colour: property not supported"):
        provisioner(session, template).provision({})


def test_parameters_conditions_and_intrinsics_resolve(session: boto3.Session) -> None:
    template = {
        "Parameters": {
            "Name": {"Type": "String", "AllowedPattern": "^[a-z]+$"},
            "Logs": {"Type": "String", "Default": "yes", "AllowedValues": ["yes", "no"]},
        },
        "Conditions": {"WithLogs": {"Fn::Equals": [{"Ref": "Logs"}, "yes"]}},
        "Resources": {
            "Bucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {"BucketName": {"Fn::Sub": "${Name}-${AWS::Region}"}},
            },
            "Group": {
                "Type": "AWS::Logs::LogGroup",
                "Condition": "WithLogs",
                "Properties": {
                    "LogGroupName": {
                        "Fn::Join": [
                            "/",
                            ["", {"Ref": "Bucket"}, {"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}],
                        ]
                    }
                },
            },
        },
        "Outputs": {
            "Arn": {"Value": {"Fn::GetAtt": ["Bucket", "Arn"]}},
            "Group": {"Value": {"Fn::If": ["WithLogs", {"Ref": "Group"}, "none"]}},
        },
    }
    stack = provisioner(session, template).provision({"Name": "demo"})
    assert stack.outputs == {"Arn": "arn:aws:s3:::demo-eu-west-1", "Group": "/demo-eu-west-1/b"}

    with pytest.raises(ProvisionError, match=r"parameter Name: 'Demo!' does not match"):
        provisioner(session, template).provision({"Name": "Demo!"})
    skipped = provisioner(session, template).provision({"Name": "other", "Logs": "no"})
    assert skipped.skipped == ["Group"] and skipped.outputs["Group"] == "none"


def test_a_conditional_deny_the_twin_cannot_model_is_refused(session: boto3.Session) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
            }
        ],
    }
    template = {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "denied-bucket"}},
            "Policy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": policy},
            },
        }
    }
    with pytest.raises(
        ProvisionError, match=r"Policy \(AWS::S3::BucketPolicy\): a Deny statement with condition"
    ):
        provisioner(session, template).provision({})
