"""One settings model read once; cached client factories; the endpoint resolver the twin replaces."""

from __future__ import annotations

import pytest
from controlplane import aws_clients, endpoints
from controlplane.errors import SettingsError
from controlplane.settings import get_settings, load_settings, reset_settings

from tests.unit import workflow_fakes as fakes


def test_settings_come_from_the_environment_names_the_template_sets() -> None:
    settings = fakes.settings(
        GATLING_API_URL="https://api.example.test/api/public/", DEPLOYMENT_DEADLINE_MINUTES="2"
    )
    assert (settings.cluster, settings.config_bucket, settings.records_table) == (
        fakes.CLUSTER,
        fakes.BUCKET,
        fakes.TABLE,
    )
    assert settings.gatling_api_url == "https://api.example.test/api/public"
    assert settings.deployment_deadline_seconds == 120
    assert settings.deployment_context().token_injected is True


def test_empty_optional_settings_mean_not_configured() -> None:
    settings = fakes.settings(GATLING_API_TOKEN_SECRET_ARN="", NOTIFICATION_TOPIC_ARN="")
    assert settings.gatling_api_token_secret_arn is None
    with pytest.raises(SettingsError, match="NOTIFICATION_TOPIC_ARN"):
        settings.require_topic_arn()


def test_a_missing_setting_is_named() -> None:
    environ = dict(fakes.ENV)
    del environ["RECORDS_TABLE"]
    with pytest.raises(SettingsError, match="RECORDS_TABLE"):
        load_settings(environ)


@pytest.mark.parametrize(
    ("variable", "text", "attribute", "value"),
    [
        ("SERVER_PORT", " 8443 ", "server_port", 8443),
        ("DEPLOYMENT_DEADLINE_MINUTES", "7.5", "deployment_deadline_minutes", 7.5),
        ("KEEP_REVISIONS", "1.0", "keep_revisions", 1),
        ("CONTEXT_ELASTIC_IPS_CONFIGURED", "true", "elastic_ips_configured", True),
        ("CONTEXT_ELASTIC_IPS_CONFIGURED", "False", "elastic_ips_configured", False),
        ("CONTEXT_ELASTIC_IPS_CONFIGURED", "1", "elastic_ips_configured", True),
        ("CONTEXT_ELASTIC_IPS_CONFIGURED", " yes ", "elastic_ips_configured", True),
        ("CONTEXT_ELASTIC_IPS_CONFIGURED", "off", "elastic_ips_configured", False),
        ("CLUSTER_NAME", " c ", "cluster", " c "),  # names are taken as written
    ],
)
def test_numbers_and_booleans_are_read_from_text(
    variable: str, text: str, attribute: str, value: object
) -> None:
    assert getattr(load_settings({**fakes.ENV, variable: text}), attribute) == value


@pytest.mark.parametrize(
    ("variable", "text", "message"),
    [
        ("SERVER_PORT", "0", "SERVER_PORT: Expected `int` >= 1"),
        ("SERVER_PORT", "eighty", "SERVER_PORT: Expected `int`, got `str`"),
        ("LOCK_LEASE_SECONDS", "59", "LOCK_LEASE_SECONDS: Expected `int` >= 60"),
        ("KEEP_REVISIONS", "1.5", "KEEP_REVISIONS: Expected `int`, got `str`"),
        ("CONTEXT_TOKEN_INJECTED", "perhaps", "CONTEXT_TOKEN_INJECTED: Expected `bool`, got `str`"),
        ("RUN_WAIT_EXPIRY", "never", "RUN_WAIT_EXPIRY: Invalid enum value 'never'"),
        ("CLUSTER_NAME", "", "CLUSTER_NAME: Expected `str` of length >= 1"),
    ],
)
def test_a_malformed_setting_is_named_with_what_it_should_be(variable: str, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({**fakes.ENV, variable: text})
    assert str(refused.value) == f"invalid Lambda environment: {message}"


def test_settings_are_read_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in fakes.ENV.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    first = get_settings()
    monkeypatch.setenv("CLUSTER_NAME", "other")
    assert get_settings() is first
    reset_settings()
    assert get_settings().cluster == "other"
    reset_settings()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, fakes.ENV[name])


@pytest.mark.usefixtures("aws_env")
def test_clients_are_cached_until_reset() -> None:
    aws_clients.reset_clients()
    ecs = aws_clients.ecs_client()
    assert aws_clients.ecs_client() is ecs
    provider = aws_clients.secrets_provider()
    aws_clients.reset_clients()
    assert aws_clients.ecs_client() is not ecs
    assert aws_clients.secrets_provider() is not provider
    aws_clients.reset_clients()


@pytest.mark.usefixtures("aws_env")
def test_clients_follow_aws_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    aws_clients.reset_clients()
    assert aws_clients.s3_client().meta.endpoint_url == "http://127.0.0.1:5999"
    aws_clients.reset_clients()


def test_the_resolver_is_identity_until_the_twin_installs_one() -> None:
    assert endpoints.resolve("10.0.1.23", 8080) == ("10.0.1.23", 8080)
    endpoints.install_resolver(lambda ip, port: ("127.0.0.1", 40000 + port))
    try:
        assert endpoints.resolve("10.0.1.23", 8080) == ("127.0.0.1", 48080)
    finally:
        endpoints.install_resolver(None)
    assert endpoints.resolve("10.0.1.23", 8080) == ("10.0.1.23", 8080)


@pytest.mark.usefixtures("aws_env")
def test_a_token_secret_that_cannot_be_read_is_a_broken_check_in_words_without_a_value() -> None:
    from controlplane.errors import ApiTokenUnreadable, GatlingApiRefused
    from moto import mock_aws

    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gatling-api-token-AbCdEf"
    settings = fakes.settings(GATLING_API_TOKEN_SECRET_ARN=missing)
    aws_clients.reset_clients()
    with mock_aws(), pytest.raises(ApiTokenUnreadable) as unreadable:
        aws_clients.read_api_token(settings)
    assert isinstance(unreadable.value, GatlingApiRefused), "the checks treat it as a refused token"
    assert str(unreadable.value).startswith("the Gatling API token secret could not be read: ")
    assert "ResourceNotFoundException" in str(unreadable.value)
    aws_clients.reset_clients()


@pytest.mark.usefixtures("aws_env")
def test_an_empty_token_secret_is_a_broken_check_that_says_so() -> None:
    import boto3
    from controlplane.errors import ApiTokenUnreadable
    from moto import mock_aws

    aws_clients.reset_clients()
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        arn = secrets.create_secret(Name="gatling-api-token", SecretString="  \n")["ARN"]
        settings = fakes.settings(GATLING_API_TOKEN_SECRET_ARN=arn)
        with pytest.raises(ApiTokenUnreadable, match=r"^the Gatling API token secret is empty"):
            aws_clients.read_api_token(settings)
    aws_clients.reset_clients()
