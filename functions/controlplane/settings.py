"""The one settings model of every Lambda, read once from the environment the template sets."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, field

from controlplane.codec import describe, parse
from controlplane.deployment_context import DeploymentContext
from controlplane.errors import SettingsError

DEFAULT_GATLING_API_URL = "https://api.gatling.io/api/public"


_NonEmpty = Annotated[str, Meta(min_length=1)]
_EMPTY_IS_UNSET = (
    "log_group",
    "topic_arn",
    "gatling_api_token_secret_arn",
    "state_machine_arn",
    "probe_function_arn",
    "template_task_definition",
)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """What a handler needs to know about its stack: each field's `name` is its environment variable
    (what `load_settings` reads; the constructor takes the attribute names); other variables are ignored."""

    # Identity of the stack's resources (every function gets these through the template's Globals).
    cluster: _NonEmpty = field(name="CLUSTER_NAME")
    service: _NonEmpty = field(name="SERVICE_NAME")
    task_family: _NonEmpty = field(name="TASK_FAMILY")
    config_bucket: _NonEmpty = field(name="CONFIG_BUCKET")
    config_key: _NonEmpty = field(name="CONFIG_KEY")
    records_table: _NonEmpty = field(name="RECORDS_TABLE")
    # The stack's own task definition revision (Ref TaskDefinition): what pinned revisions copy.
    template_task_definition: str | None = field(name="TEMPLATE_TASK_DEFINITION", default=None)
    log_group: str | None = field(name="LOG_GROUP_NAME", default=None)
    topic_arn: str | None = field(name="NOTIFICATION_TOPIC_ARN", default=None)

    # Deadlines and polling.
    # Deadlines come in minutes, as the template's parameters do (CloudFormation cannot multiply).
    deployment_deadline_minutes: Annotated[float, Meta(gt=0)] = field(
        name="DEPLOYMENT_DEADLINE_MINUTES", default=15
    )
    up_deadline_minutes: Annotated[float, Meta(gt=0)] = field(
        name="CONTROL_PLANE_UP_DEADLINE_MINUTES", default=5
    )
    queue_wait_minutes: Annotated[float, Meta(ge=0)] = field(name="QUEUE_WAIT_MINUTES", default=30)
    lock_lease_seconds: Annotated[int, Meta(ge=60)] = field(name="LOCK_LEASE_SECONDS", default=7200)
    poll_interval_seconds: Annotated[float, Meta(gt=0)] = field(name="POLL_INTERVAL_SECONDS", default=5.0)
    invocation_budget_seconds: Annotated[float, Meta(gt=0)] = field(
        name="INVOCATION_BUDGET_SECONDS", default=600.0
    )
    http_timeout_seconds: Annotated[float, Meta(gt=0)] = field(name="HTTP_TIMEOUT_SECONDS", default=3.0)
    keep_revisions: Annotated[int, Meta(ge=1)] = field(name="KEEP_REVISIONS", default=10)
    # Tasks of our deployment that may stop after starting before the rollout is called failed.
    stopped_tasks_before_failing: Annotated[int, Meta(ge=1)] = field(
        name="STOPPED_TASKS_BEFORE_FAILING", default=3
    )
    # ECS is eventually consistent: for this long after UpdateService, a DescribeServices that does not
    # list the new deployment yet means "in progress", not "vanished" (ECS API reference, "Request
    # eventual consistency"; the length is undocumented, a minute covers what is reported).
    consistency_grace_seconds: Annotated[float, Meta(ge=0)] = field(
        name="ECS_CONSISTENCY_GRACE_SECONDS", default=60.0
    )

    # The control plane's /info port and Gatling's public API.
    server_port: Annotated[int, Meta(ge=1, le=65535)] = field(name="SERVER_PORT", default=8080)
    gatling_api_url: str = field(name="GATLING_API_URL", default=DEFAULT_GATLING_API_URL)
    gatling_api_token_secret_arn: str | None = field(name="GATLING_API_TOKEN_SECRET_ARN", default=None)
    # The function in the VPC that probes /info for the functions outside it (docs/health.md).
    probe_function_arn: str | None = field(name="PROBE_INFO_FUNCTION_ARN", default=None)

    # What the stack gives the container, for the validator.
    token_injected: bool = field(name="CONTEXT_TOKEN_INJECTED", default=False)
    pass_role_configured: bool = field(name="CONTEXT_PASS_ROLE_CONFIGURED", default=False)
    elastic_ips_configured: bool = field(name="CONTEXT_ELASTIC_IPS_CONFIGURED", default=False)
    private_packages_bucket_configured: bool = field(
        name="CONTEXT_PRIVATE_PACKAGES_BUCKET_CONFIGURED", default=False
    )

    # Load test runs and the bake (docs/workflow.md, "Load test runs" and "Bake").
    run_wait_minutes: Annotated[float, Meta(ge=0)] = field(name="RUN_WAIT_MINUTES", default=60)
    run_wait_expiry: Literal["deploy", "skip"] = field(name="RUN_WAIT_EXPIRY", default="skip")
    # Each look at Gatling's runs lists them and reads each unfinished one: not every few seconds.
    run_check_interval_seconds: Annotated[float, Meta(gt=0)] = field(
        name="RUN_CHECK_INTERVAL_SECONDS", default=60.0
    )
    bake_minutes: Annotated[float, Meta(ge=0)] = field(name="BAKE_MINUTES", default=5)
    bake_check_interval_seconds: Annotated[float, Meta(gt=0)] = field(
        name="BAKE_CHECK_INTERVAL_SECONDS", default=30.0
    )

    # Health checks and self-heal (docs/health.md).
    state_machine_arn: str | None = field(name="STATE_MACHINE_ARN", default=None)
    self_heal_after_failures: Annotated[int, Meta(ge=1)] = field(name="SELF_HEAL_AFTER_FAILURES", default=3)
    self_heal_min_interval_minutes: Annotated[float, Meta(ge=0)] = field(
        name="SELF_HEAL_MIN_INTERVAL_MINUTES", default=60
    )

    @property
    def waits_for_runs(self) -> bool:
        """Whether deployments look at Gatling's load test runs before a restart: a token and a wait."""
        return self.gatling_api_token_secret_arn is not None and self.run_wait_minutes > 0

    @property
    def bakes(self) -> bool:
        """Whether a new control plane is watched for `BakeMinutes` after it is up."""
        return self.bake_minutes > 0

    def __post_init__(self) -> None:
        # CloudFormation cannot omit a variable conditionally without noise; "" means "not configured".
        for name in _EMPTY_IS_UNSET:
            if getattr(self, name) == "":
                msgspec.structs.force_setattr(self, name, None)
        msgspec.structs.force_setattr(self, "gatling_api_url", self.gatling_api_url.rstrip("/"))

    @property
    def deployment_deadline_seconds(self) -> float:
        return self.deployment_deadline_minutes * 60

    @property
    def up_deadline_seconds(self) -> float:
        return self.up_deadline_minutes * 60

    @property
    def queue_wait_seconds(self) -> float:
        return self.queue_wait_minutes * 60

    @property
    def run_wait_seconds(self) -> float:
        return self.run_wait_minutes * 60

    @property
    def bake_seconds(self) -> float:
        return self.bake_minutes * 60

    def deployment_context(self) -> DeploymentContext:
        """The container's situation as the validator needs it."""
        return DeploymentContext(
            token_injected=self.token_injected,
            pass_role_configured=self.pass_role_configured,
            elastic_ips_configured=self.elastic_ips_configured,
            private_packages_bucket_configured=self.private_packages_bucket_configured,
            server_port=self.server_port,
        )

    def require_topic_arn(self) -> str:
        if self.topic_arn is None:
            raise SettingsError("NOTIFICATION_TOPIC_ARN is not set")
        return self.topic_arn

    def require_state_machine_arn(self) -> str:
        if self.state_machine_arn is None:
            raise SettingsError("STATE_MACHINE_ARN is not set")
        return self.state_machine_arn

    def require_probe_function_arn(self) -> str:
        if self.probe_function_arn is None:
            raise SettingsError("PROBE_INFO_FUNCTION_ARN is not set")
        return self.probe_function_arn

    @property
    def self_heal_min_interval_seconds(self) -> float:
        return self.self_heal_min_interval_minutes * 60


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from an environment mapping; a missing or malformed variable is a `SettingsError`.

    Every value is text: numbers and booleans (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`) are
    read from it, around any blank space; the error names the first variable that does not fit."""
    try:
        return parse(Settings, {name: _trimmed(name, value) for name, value in environ.items()})
    except msgspec.ValidationError as error:
        raise SettingsError(f"invalid Lambda environment: {describe(error)}") from None


def _trimmed(name: str, value: str) -> str:
    if name in _READ_AS_BOOL:
        return _BOOL_WORDS.get(value.strip().lower(), value)
    return value.strip() if name in _READ_AS_NUMBER else value


# The variables read as a number or a boolean (an `Annotated` type's `__origin__` is the type it
# constrains), read as they always were: around blank space, booleans in any of the usual words.
_FIELDS = msgspec.structs.fields(Settings)  # resolves the annotations: once
_READ_AS_NUMBER = frozenset(
    setting.encode_name
    for setting in _FIELDS
    if getattr(setting.type, "__origin__", setting.type) in (int, float)
)
_READ_AS_BOOL = frozenset(setting.encode_name for setting in _FIELDS if setting.type is bool)
_BOOL_WORDS = {word: "true" for word in ("1", "on", "t", "true", "y", "yes")} | {
    word: "false" for word in ("0", "off", "f", "false", "n", "no")
}


@functools.cache
def get_settings() -> Settings:
    """The settings of this Lambda, read from `os.environ` on first use."""
    return load_settings(os.environ)


def reset_settings() -> None:
    """Forget the cached settings (the local twin runs every Lambda in one process)."""
    get_settings.cache_clear()
