"""Task definition revisions pinned to one config version, found again by their tags.

A pinned revision is a copy of the service's current revision whose `config-loader` side-car runs
`s3api get-object --bucket B --key K --version-id V /app/conf/control-plane.conf`, so any task of
that revision, including one started by a rollback, reads exactly the config it was made for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from controlplane import clock
from controlplane.ecs_service import active_service, describe_service, primary_deployment
from controlplane.errors import ServiceNotFound, TaskDefinitionUnsupported
from controlplane.models import ConfigRef, RevisionRef
from controlplane.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

CONFIG_LOADER = "config-loader"
CONFIG_PATH = "/app/conf/control-plane.conf"
# The version the template's own revision names (template.yaml, config-loader): no S3 version has
# this id, so GetObject fails (S3 API reference, GetObject: a versionId selects that version and needs
# s3:GetObjectVersion; an unknown one is an error, NoSuchVersion) and a task of that revision stops
# at its side-car instead of reading the latest upload. Pinned by tests/e2e/test_12_stack_update.py.
UNPINNED = "unpinned"
TAG_VERSION = "config-version-id"
TAG_SHA256 = "config-sha256"
TAG_EXECUTION = "execution"
# On a copy whose images are pinned by digest: the revision it restores the software of.
TAG_RESTORES = "restores-revision"
# What DescribeTaskDefinition returns but RegisterTaskDefinition does not take.
READ_ONLY_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
    }
)


def pinned_command(bucket: str, key: str, version_id: str) -> list[str]:
    """The side-car command that fetches exactly one version (the local twin parses this exact shape)."""
    return ["s3api", "get-object", "--bucket", bucket, "--key", key, "--version-id", version_id, CONFIG_PATH]


def named_version(task_definition: Mapping[str, Any]) -> str | None:
    """What a revision's side-car passes as `--version-id`; None when it reads the latest object."""
    command = _config_loader(task_definition).get("command") or []
    if "--version-id" in command:
        position = command.index("--version-id") + 1
        return str(command[position]) if position < len(command) else None
    return None


def pinned_version(task_definition: Mapping[str, Any]) -> str | None:
    """The config version a revision's side-car fetches, or None when it pins none (the template's
    revision, whose side-car names `UNPINNED` and so never fetches a config, or one reading the latest)."""
    version = named_version(task_definition)
    return None if version == UNPINNED else version


def describe_pin(task_definition: Mapping[str, Any]) -> str:
    """What config a revision's tasks start on, in words."""
    version = named_version(task_definition)
    if version == UNPINNED:
        return "no config: the stack's own revision, whose side-car names no config version"
    return f"config version {version}" if version else "config not pinned: reads the latest object"


def pin(
    task_definition: Mapping[str, Any], *, bucket: str, key: str, version_id: str, accepted: Sequence[str]
) -> dict[str, Any]:
    """RegisterTaskDefinition arguments: a copy of `task_definition` whose side-car fetches `version_id`.

    `accepted` lists RegisterTaskDefinition's parameters; anything else the description holds is dropped,
    so a field ECS adds to its answers in future cannot break registration.
    """
    _config_loader(task_definition)  # fails early on a foreign task definition
    spec = {
        name: value
        for name, value in task_definition.items()
        if name not in READ_ONLY_FIELDS and name in accepted
    }
    spec["containerDefinitions"] = [
        {**container, "command": pinned_command(bucket, key, version_id)}
        if container.get("name") == CONFIG_LOADER
        else dict(container)
        for container in task_definition["containerDefinitions"]
    ]
    return spec


def image_repository(image: str) -> str:
    """`image` without its tag or digest: `registry:5000/team/app:1.2` -> `registry:5000/team/app`."""
    head, _, last = image.split("@", 1)[0].rpartition("/")
    name = last.split(":", 1)[0]
    return f"{head}/{name}" if head else name


def pin_images(task_definition: Mapping[str, Any], digests: Mapping[str, str]) -> list[dict[str, Any]]:
    """The container definitions with each container named in `digests` at `repository@digest`.

    ECS resolves a tag again for every new deployment ("software version consistency"), so a
    rollback by UpdateService onto a revision that names a tag runs whatever the tag points to now;
    a digest in the image reference runs exactly the software that was proved good.
    """
    return [
        {**container, "image": f"{image_repository(str(container['image']))}@{digests[container['name']]}"}
        if container.get("name") in digests and container.get("image")
        else dict(container)
        for container in task_definition["containerDefinitions"]
    ]


def images_pinned(task_definition: Mapping[str, Any], digests: Mapping[str, str]) -> bool:
    """Every container named in `digests` already runs its image by that digest."""
    containers = {c.get("name"): str(c.get("image", "")) for c in task_definition["containerDefinitions"]}
    return all(containers.get(name, "").endswith(f"@{digest}") for name, digest in digests.items())


def _config_loader(task_definition: Mapping[str, Any]) -> Mapping[str, Any]:
    for container in task_definition.get("containerDefinitions", []):
        if container.get("name") == CONFIG_LOADER:
            return dict(container)
    raise TaskDefinitionUnsupported(
        f"task definition {task_definition.get('taskDefinitionArn', task_definition.get('family'))} "
        f"has no {CONFIG_LOADER} container"
    )


def current_task_definition(*, ecs: ECSClient, settings: Settings) -> str:
    """The revision the service runs now."""
    service = active_service(ecs, cluster=settings.cluster, service=settings.service)
    if service is None:
        raise ServiceNotFound(
            f"service {settings.service} of cluster {settings.cluster} is missing or inactive"
        )
    return service["taskDefinition"]


def register_pinned(
    source_arn: str,
    *,
    bucket: str,
    key: str,
    version_id: str,
    sha256: str,
    execution_name: str,
    ecs: ECSClient,
) -> str:
    """Register a copy of `source_arn` pinned to `version_id` and tagged with it; the new revision's ARN."""
    described = ecs.describe_task_definition(taskDefinition=source_arn, include=["TAGS"])
    ours = {TAG_VERSION: version_id, TAG_SHA256: sha256, TAG_EXECUTION: execution_name}
    again = _registered_already(
        str(described["taskDefinition"]["family"]),
        ours,
        lambda latest: pinned_version(latest) == version_id,
        ecs=ecs,
    )
    if again is not None:
        return again
    spec = pin(
        described["taskDefinition"], bucket=bucket, key=key, version_id=version_id, accepted=_accepted(ecs)
    )
    return _register(spec, _tags(described.get("tags", []), ours), ecs=ecs)


def register_with_images(
    source_arn: str, digests: Mapping[str, str], *, execution_name: str, ecs: ECSClient
) -> str:
    """`source_arn` itself when its images are already pinned to `digests`, else the ARN of a copy
    whose images are (same config, same tags, plus `restores-revision`); a retried call finds the
    copy its first attempt registered."""
    described = ecs.describe_task_definition(taskDefinition=source_arn, include=["TAGS"])
    definition = described["taskDefinition"]
    if images_pinned(definition, digests):
        return source_arn
    _config_loader(definition)
    ours = {TAG_EXECUTION: execution_name, TAG_RESTORES: source_arn.rsplit("/", 1)[-1]}
    again = _registered_already(
        str(definition["family"]), ours, lambda latest: images_pinned(latest, digests), ecs=ecs
    )
    if again is not None:
        return again
    accepted = _accepted(ecs)
    spec = {
        name: value for name, value in definition.items() if name not in READ_ONLY_FIELDS and name in accepted
    }
    spec["containerDefinitions"] = pin_images(definition, digests)
    return _register(spec, _tags(described.get("tags", []), ours), ecs=ecs)


def _accepted(ecs: ECSClient) -> list[str]:
    input_shape = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape
    return list(input_shape.members) if input_shape is not None else []


def _tags(existing: Sequence[Mapping[str, Any]], ours: Mapping[str, str]) -> list[dict[str, str]]:
    # Keep the stack's own tags; `aws:` tags are ECS's and cannot be set by anyone else.
    kept = [
        {"key": str(tag["key"]), "value": str(tag.get("value", ""))}
        for tag in existing
        if tag.get("key") not in ours and not str(tag.get("key", "")).startswith("aws:")
    ]
    return kept + [{"key": name, "value": value} for name, value in ours.items()]


def _register(spec: Mapping[str, Any], tags: list[dict[str, str]], *, ecs: ECSClient) -> str:
    registered = ecs.register_task_definition(**spec, tags=tags)  # type: ignore[arg-type]
    return registered["taskDefinition"]["taskDefinitionArn"]


def _registered_already(
    family: str,
    ours: Mapping[str, str],
    is_copy: Callable[[Mapping[str, Any]], bool],
    *,
    ecs: ECSClient,
) -> str | None:
    """The family's newest revision when this execution registered that very copy already (tagged
    `ours`, `is_copy` of it): a retried call whose first attempt ran (Step Functions retries Lambda
    service errors) registers nothing more. DescribeTaskDefinition of a family alone describes its
    latest ACTIVE revision."""
    latest = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    tags = {str(tag.get("key")): str(tag.get("value")) for tag in latest.get("tags", [])}
    definition = latest["taskDefinition"]
    if all(tags.get(name) == value for name, value in ours.items()) and is_copy(definition):
        return str(definition["taskDefinitionArn"])
    return None


def register_revision(
    config: ConfigRef, execution_name: str, *, ecs: ECSClient, settings: Settings
) -> RevisionRef:
    """Step 3: copy the stack's revision (the service's current one when the stack names none), pin it
    to `config`, tag it; the service is untouched. Copying the stack's revision makes a `sam deploy`
    that changed the image or the task size reach the next deployment."""
    previous = current_task_definition(ecs=ecs, settings=settings)
    arn = register_pinned(
        settings.template_task_definition or previous,
        bucket=config.bucket,
        key=config.key,
        version_id=config.version_id,
        sha256=config.sha256,
        execution_name=execution_name,
        ecs=ecs,
    )
    return RevisionRef(
        task_definition_arn=arn, previous_task_definition_arn=previous, registered_at=clock.utcnow()
    )


def running_revision_with(sha256: str, *, ecs: ECSClient, settings: Settings) -> str | None:
    """The revision the service runs steadily (PRIMARY deployment COMPLETED, its tasks running) when it
    pins a config of this sha256; None otherwise, so a control plane that is down is restarted."""
    service = active_service(ecs, cluster=settings.cluster, service=settings.service)
    if service is None:
        return None
    primary = primary_deployment(service)
    if (
        primary is None
        or primary.get("rolloutState") != "COMPLETED"
        or not service.get("runningCount")
        or primary.get("taskDefinition") != service.get("taskDefinition")
    ):
        return None
    arn = str(service["taskDefinition"])
    return arn if revision_tags(arn, ecs=ecs).get(TAG_SHA256) == sha256 else None


def revision_tags(task_definition_arn: str, *, ecs: ECSClient) -> dict[str, str]:
    """The tags of a revision (`config-version-id`, `config-sha256`, `execution` for pinned ones)."""
    tags = ecs.list_tags_for_resource(resourceArn=task_definition_arn).get("tags", [])
    return {str(tag.get("key")): str(tag.get("value")) for tag in tags}


def prune_revisions(*, keep: int, protected: set[str], ecs: ECSClient, settings: Settings) -> list[str]:
    """Deregister the family's revisions beyond the newest `keep`, never a protected one; those deregistered."""
    arns: list[str] = []
    paginator = ecs.get_paginator("list_task_definitions")
    for page in paginator.paginate(familyPrefix=settings.task_family, status="ACTIVE", sort="DESC"):
        arns.extend(arn for arn in page.get("taskDefinitionArns", []) if _family(arn) == settings.task_family)
    arns.sort(key=_revision_number, reverse=True)
    doomed = [arn for arn in arns[keep:] if arn not in protected]
    for arn in doomed:
        ecs.deregister_task_definition(taskDefinition=arn)
    return doomed


def _family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _revision_number(arn: str) -> int:
    return int(arn.rsplit(":", 1)[-1])


def service_task_definitions(*, ecs: ECSClient, settings: Settings) -> set[str]:
    """Every revision the service uses now: its own and those of its live deployments."""
    service = describe_service(ecs, cluster=settings.cluster, service=settings.service)
    if service is None:
        return set()
    return {
        service["taskDefinition"],
        *(deployment["taskDefinition"] for deployment in service.get("deployments", [])),
    }
