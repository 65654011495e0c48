"""The one settings model of every Lambda, read once from the environment the template sets."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from controlplane.deployment_context import DeploymentContext
from controlplane.errors import SettingsError

DEFAULT_GATLING_API_URL = "https://api.gatling.io/api/public"


class Settings(BaseModel):
    """What a handler needs to know about its stack; field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, defer_build=True)

    # Identity of the stack's resources (every function gets these through the template's Globals).
    cluster: str = Field(alias="CLUSTER_NAME", min_length=1)
    service: str = Field(alias="SERVICE_NAME", min_length=1)
    task_family: str = Field(alias="TASK_FAMILY", min_length=1)
    config_bucket: str = Field(alias="CONFIG_BUCKET", min_length=1)
    config_key: str = Field(alias="CONFIG_KEY", min_length=1)
    records_table: str = Field(alias="RECORDS_TABLE", min_length=1)
    # The stack's own task definition revision (Ref TaskDefinition): what pinned revisions copy.
    template_task_definition: str | None = Field(default=None, alias="TEMPLATE_TASK_DEFINITION")
    log_group: str | None = Field(default=None, alias="LOG_GROUP_NAME")
    topic_arn: str | None = Field(default=None, alias="NOTIFICATION_TOPIC_ARN")

    # Deadlines and polling.
    # Deadlines come in minutes, as the template's parameters do (CloudFormation cannot multiply).
    deployment_deadline_minutes: float = Field(default=15, alias="DEPLOYMENT_DEADLINE_MINUTES", gt=0)
    up_deadline_minutes: float = Field(default=5, alias="CONTROL_PLANE_UP_DEADLINE_MINUTES", gt=0)
    queue_wait_minutes: float = Field(default=30, alias="QUEUE_WAIT_MINUTES", ge=0)
    lock_lease_seconds: int = Field(default=7200, alias="LOCK_LEASE_SECONDS", ge=60)
    poll_interval_seconds: float = Field(default=5.0, alias="POLL_INTERVAL_SECONDS", gt=0)
    invocation_budget_seconds: float = Field(default=600.0, alias="INVOCATION_BUDGET_SECONDS", gt=0)
    http_timeout_seconds: float = Field(default=3.0, alias="HTTP_TIMEOUT_SECONDS", gt=0)
    keep_revisions: int = Field(default=10, alias="KEEP_REVISIONS", ge=1)
    # Tasks of our deployment that may stop after starting before the rollout is called failed.
    stopped_tasks_before_failing: int = Field(default=3, alias="STOPPED_TASKS_BEFORE_FAILING", ge=1)
    # ECS is eventually consistent: for this long after UpdateService, a DescribeServices that does not
    # list the new deployment yet means "in progress", not "vanished" (ECS API reference, "Request
    # eventual consistency"; the length is undocumented, a minute covers what is reported).
    consistency_grace_seconds: float = Field(default=60.0, alias="ECS_CONSISTENCY_GRACE_SECONDS", ge=0)

    # The control plane's /info port and Gatling's public API.
    server_port: int = Field(default=8080, alias="SERVER_PORT", ge=1, le=65535)
    gatling_api_url: str = Field(default=DEFAULT_GATLING_API_URL, alias="GATLING_API_URL")
    gatling_api_token_secret_arn: str | None = Field(default=None, alias="GATLING_API_TOKEN_SECRET_ARN")
    # The function in the VPC that probes /info for the functions outside it (docs/health.md).
    probe_function_arn: str | None = Field(default=None, alias="PROBE_INFO_FUNCTION_ARN")

    # What the stack gives the container, for the validator.
    token_injected: bool = Field(default=False, alias="CONTEXT_TOKEN_INJECTED")
    pass_role_configured: bool = Field(default=False, alias="CONTEXT_PASS_ROLE_CONFIGURED")
    elastic_ips_configured: bool = Field(default=False, alias="CONTEXT_ELASTIC_IPS_CONFIGURED")
    private_packages_bucket_configured: bool = Field(
        default=False, alias="CONTEXT_PRIVATE_PACKAGES_BUCKET_CONFIGURED"
    )

    # Load test runs and the bake (docs/workflow.md, "Load test runs" and "Bake").
    run_wait_minutes: float = Field(default=60, alias="RUN_WAIT_MINUTES", ge=0)
    run_wait_expiry: Literal["deploy", "skip"] = Field(default="skip", alias="RUN_WAIT_EXPIRY")
    # Each look at Gatling's runs lists them and reads each unfinished one: not every few seconds.
    run_check_interval_seconds: float = Field(default=60.0, alias="RUN_CHECK_INTERVAL_SECONDS", gt=0)
    bake_minutes: float = Field(default=5, alias="BAKE_MINUTES", ge=0)
    bake_check_interval_seconds: float = Field(default=30.0, alias="BAKE_CHECK_INTERVAL_SECONDS", gt=0)

    # Health checks and self-heal (docs/health.md).
    state_machine_arn: str | None = Field(default=None, alias="STATE_MACHINE_ARN")
    self_heal_after_failures: int = Field(default=3, alias="SELF_HEAL_AFTER_FAILURES", ge=1)
    self_heal_min_interval_minutes: float = Field(default=60, alias="SELF_HEAL_MIN_INTERVAL_MINUTES", ge=0)

    @property
    def waits_for_runs(self) -> bool:
        """Whether deployments look at Gatling's load test runs before a restart: a token and a wait."""
        return self.gatling_api_token_secret_arn is not None and self.run_wait_minutes > 0

    @property
    def bakes(self) -> bool:
        """Whether a new control plane is watched for `BakeMinutes` after it is up."""
        return self.bake_minutes > 0

    @field_validator(
        "log_group",
        "topic_arn",
        "gatling_api_token_secret_arn",
        "state_machine_arn",
        "probe_function_arn",
        "template_task_definition",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # CloudFormation cannot omit a variable conditionally without noise; "" means "not configured".
        return None if value == "" else value

    @field_validator("gatling_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

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
    """Settings from an environment mapping; a missing or malformed variable is a `SettingsError`."""
    try:
        return Settings.model_validate(dict(environ))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise SettingsError(f"invalid Lambda environment: {problems}") from None


@functools.cache
def get_settings() -> Settings:
    """The settings of this Lambda, read from `os.environ` on first use."""
    return load_settings(os.environ)


def reset_settings() -> None:
    """Forget the cached settings (the local twin runs every Lambda in one process)."""
    get_settings.cache_clear()
