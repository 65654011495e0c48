"""Cached AWS client factories: created on first use, never at import time, reset by the twin.

boto3 honours `AWS_ENDPOINT_URL` by itself, so the same factories talk to the local twin.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

    from controlplane.settings import Settings

# How long Powertools keeps a secret's value before reading Secrets Manager again.
SECRET_MAX_AGE_SECONDS = 300
# Short timeouts: a handler that long-polls must notice a hung call well within its budget.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)


@functools.cache
def ecs_client() -> ECSClient:
    return boto3.client("ecs", config=_CONFIG)


@functools.cache
def s3_client() -> S3Client:
    return boto3.client("s3", config=_CONFIG)


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


@functools.cache
def sns_client() -> SNSClient:
    return boto3.client("sns", config=_CONFIG)


@functools.cache
def logs_client() -> CloudWatchLogsClient:
    return boto3.client("logs", config=_CONFIG)


@functools.cache
def sfn_client() -> SFNClient:
    return boto3.client("stepfunctions", config=_CONFIG)


@functools.cache
def lambda_client() -> LambdaClient:
    return boto3.client("lambda", config=_CONFIG)


@functools.cache
def secrets_client() -> SecretsManagerClient:
    return boto3.client("secretsmanager", config=_CONFIG)


@functools.cache
def secrets_provider() -> SecretsProvider:
    """Powertools' Secrets Manager provider (it caches values by `max_age`) on the cached client.

    Imported here: only the two functions that read the Gatling API token need it, and only with one."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=secrets_client())


def read_api_token(settings: Settings) -> str | None:
    """The Gatling API token from Secrets Manager, cached by Powertools; never logged or returned."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    from controlplane.errors import ApiTokenUnreadable

    if settings.gatling_api_token_secret_arn is None:
        return None
    try:
        value = secrets_provider().get(settings.gatling_api_token_secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as error:
        # Secrets Manager's own words (the denied action and resource); a value is never in them.
        raise ApiTokenUnreadable(f"the Gatling API token secret could not be read: {error}") from None
    token = str(value).strip()
    if not token:
        # Sent as it is, Gatling would answer 401 and the person would look for a revoked token.
        raise ApiTokenUnreadable("the Gatling API token secret is empty: put the token in it")
    return token


_FACTORIES = (
    ecs_client,
    s3_client,
    dynamodb_client,
    sns_client,
    logs_client,
    sfn_client,
    lambda_client,
    secrets_client,
    secrets_provider,
)


def reset_clients() -> None:
    """Forget every cached client and cached secret (the twin calls this between invocations)."""
    for factory in _FACTORIES:
        factory.cache_clear()
