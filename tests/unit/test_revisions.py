"""Pinned revisions: a copy of the current revision whose side-car fetches one exact config version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from controlplane.errors import ServiceNotFound, TaskDefinitionUnsupported
from controlplane.models import ConfigRef
from controlplane.revisions import (
    READ_ONLY_FIELDS,
    TAG_RESTORES,
    image_repository,
    images_pinned,
    pin,
    pin_images,
    pinned_command,
    pinned_version,
    prune_revisions,
    register_revision,
    register_with_images,
    revision_tags,
)
from moto import mock_aws

from tests.conftest import load_template
from tests.unit import workflow_fakes as fakes

CONFIG = ConfigRef(bucket=fakes.BUCKET, key=fakes.KEY, version_id="v-42", sha256="ab" * 32, size=10)


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's ECS with the template's task definition and service (moto checks the API's shapes)."""
    for name, value in fakes.ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=fakes.REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="task", Description="task", VpcId=vpc)["GroupId"]
        client = boto3.client("ecs", region_name=fakes.REGION)
        client.create_cluster(clusterName=fakes.CLUSTER)
        definition = fakes.task_definition(1)
        spec = {k: v for k, v in definition.items() if k not in READ_ONLY_FIELDS}
        arn = client.register_task_definition(**spec, tags=[{"key": "team", "value": "perf"}])[
            "taskDefinition"
        ]["taskDefinitionArn"]
        client.create_service(
            cluster=fakes.CLUSTER,
            serviceName=fakes.CLUSTER,
            taskDefinition=arn,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
        )
        yield client


def test_the_template_side_car_command_has_the_shape_pinning_rewrites() -> None:
    containers = load_template()["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    loader = next(c for c in containers if c["Name"] == "config-loader")
    assert loader["Command"][-1] == pinned_command("b", "k", "v")[-1]
    assert loader["Command"][:2] == pinned_command("b", "k", "v")[:2]


def test_pinning_rewrites_only_the_side_car_command() -> None:
    original = fakes.task_definition(7)
    spec = pin(original, bucket="b", key="k", version_id="v1", accepted=list(original))
    assert not READ_ONLY_FIELDS & set(spec)
    loader, control_plane = spec["containerDefinitions"]
    assert loader["command"] == [
        "s3api",
        "get-object",
        "--bucket",
        "b",
        "--key",
        "k",
        "--version-id",
        "v1",
        "/app/conf/control-plane.conf",
    ]
    assert control_plane == original["containerDefinitions"][1]
    assert original["containerDefinitions"][0]["command"][-2] == fakes.KEY, "the original is not modified"


def test_pinning_again_replaces_the_version_id() -> None:
    pinned = fakes.task_definition(7, command=pinned_command("b", "k", "old"))
    spec = pin(pinned, bucket="b", key="k", version_id="new", accepted=list(pinned))
    command = spec["containerDefinitions"][0]["command"]
    assert command.count("--version-id") == 1 and pinned_version(spec) == "new"
    assert pinned_version(fakes.task_definition(1)) is None


def test_a_task_definition_without_the_side_car_cannot_be_pinned() -> None:
    foreign = fakes.task_definition(1)
    foreign["containerDefinitions"] = foreign["containerDefinitions"][1:]
    with pytest.raises(TaskDefinitionUnsupported):
        pin(foreign, bucket="b", key="k", version_id="v", accepted=list(foreign))


def test_a_revision_is_registered_pinned_and_tagged_without_touching_the_service(ecs: Any) -> None:
    before = ecs.describe_services(cluster=fakes.CLUSTER, services=[fakes.CLUSTER])["services"][0]
    revision = register_revision(CONFIG, "exec-7", ecs=ecs, settings=fakes.settings())
    assert revision.previous_task_definition_arn == before["taskDefinition"]
    assert revision.task_definition_arn.endswith(f"task-definition/{fakes.FAMILY}:2")
    registered = ecs.describe_task_definition(taskDefinition=revision.task_definition_arn)["taskDefinition"]
    assert pinned_version(registered) == "v-42"
    assert registered["containerDefinitions"][0]["command"][3] == fakes.BUCKET
    tags = revision_tags(revision.task_definition_arn, ecs=ecs)
    assert tags == {
        "team": "perf",
        "config-version-id": "v-42",
        "config-sha256": "ab" * 32,
        "execution": "exec-7",
    }
    after = ecs.describe_services(cluster=fakes.CLUSTER, services=[fakes.CLUSTER])["services"][0]
    assert after["taskDefinition"] == before["taskDefinition"]


def test_a_retried_registration_whose_first_attempt_ran_registers_nothing_more(ecs: Any) -> None:
    first = register_revision(CONFIG, "exec-7", ecs=ecs, settings=fakes.settings())
    registered = ecs.list_task_definitions(familyPrefix=fakes.FAMILY)["taskDefinitionArns"]
    again = register_revision(CONFIG, "exec-7", ecs=ecs, settings=fakes.settings())
    assert again.task_definition_arn == first.task_definition_arn
    assert ecs.list_task_definitions(familyPrefix=fakes.FAMILY)["taskDefinitionArns"] == registered
    other = register_revision(CONFIG, "exec-8", ecs=ecs, settings=fakes.settings())
    assert other.task_definition_arn != first.task_definition_arn, "another execution pins its own"


def test_registering_needs_the_service(ecs: Any) -> None:
    with pytest.raises(ServiceNotFound):
        register_revision(CONFIG, "exec-7", ecs=ecs, settings=fakes.settings(SERVICE_NAME="missing"))


def test_pruning_keeps_the_newest_and_every_protected_revision() -> None:
    ecs = fakes.FakeEcs()
    for revision in range(2, 9):
        definition = fakes.task_definition(revision)
        ecs.task_definitions[definition["taskDefinitionArn"]] = definition
    other = {
        **fakes.task_definition(1),
        "family": f"{fakes.FAMILY}-prod",
        "taskDefinitionArn": "arn:aws:ecs:x:1:task-definition/cp-prod:1",
    }
    ecs.task_definitions[other["taskDefinitionArn"]] = other
    arn = {n: fakes.task_definition(n)["taskDefinitionArn"] for n in range(1, 9)}
    pruned = prune_revisions(keep=3, protected={arn[2]}, ecs=ecs, settings=fakes.settings())
    assert sorted(pruned) == sorted([arn[5], arn[4], arn[3], arn[1]])
    assert other["taskDefinitionArn"] not in pruned, "only this family, not one that shares its prefix"


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("gatlingcorp/control-plane:1.2.3", "gatlingcorp/control-plane"),
        ("gatlingcorp/control-plane", "gatlingcorp/control-plane"),
        ("registry.example:5000/team/cp:7", "registry.example:5000/team/cp"),
        ("registry.example:5000/team/cp", "registry.example:5000/team/cp"),
        ("public.ecr.aws/aws-cli/aws-cli@sha256:" + "0" * 64, "public.ecr.aws/aws-cli/aws-cli"),
        ("cp:1@sha256:" + "1" * 64, "cp"),
    ],
)
def test_an_image_reference_loses_its_tag_or_digest_never_its_registry_port(
    image: str, repository: str
) -> None:
    assert image_repository(image) == repository


def test_pinning_images_puts_each_named_container_at_its_digest_and_leaves_the_rest() -> None:
    definition = fakes.task_definition(3)
    digest = "sha256:" + "a" * 64
    containers = pin_images(definition, {"control-plane": digest})
    by_name = {container["name"]: container for container in containers}
    assert by_name["control-plane"]["image"].endswith(f"@{digest}")
    assert "@" not in by_name["config-loader"]["image"]
    assert images_pinned({"containerDefinitions": containers}, {"control-plane": digest})
    assert not images_pinned(definition, {"control-plane": digest})


def test_a_copy_with_pinned_images_keeps_the_config_and_tags_and_is_made_once(ecs: Any) -> None:
    source = ecs.list_task_definitions()["taskDefinitionArns"][0]
    digests = {"control-plane": "sha256:" + "b" * 64, "config-loader": "sha256:" + "c" * 64}

    copy = register_with_images(source, digests, execution_name="exec-1", ecs=ecs)

    assert copy != source
    described = ecs.describe_task_definition(taskDefinition=copy, include=["TAGS"])
    definition = described["taskDefinition"]
    original = ecs.describe_task_definition(taskDefinition=source)["taskDefinition"]
    assert pinned_version(definition) == pinned_version(original)
    assert images_pinned(definition, digests)
    tags = {tag["key"]: tag["value"] for tag in described["tags"]}
    assert tags["team"] == "perf" and tags[TAG_RESTORES] == source.rsplit("/", 1)[-1]
    assert register_with_images(copy, digests, execution_name="exec-2", ecs=ecs) == copy
