"""Validation of the exact object version, and finding the version before another."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from controlplane.config_versions import (
    EXPENDABLE,
    KEEP,
    RETENTION_TAG,
    mark_retention,
    validate_version,
    versions_before,
)
from controlplane.models import ConfigObject
from controlplane.validation import MAX_CONFIG_BYTES
from moto import mock_aws

from tests.unit import workflow_fakes as fakes


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in fakes.ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("s3", region_name=fakes.REGION)


def target(version: str) -> ConfigObject:
    return ConfigObject(bucket=fakes.BUCKET, key=fakes.KEY, version_id=version)


def test_the_exact_version_is_validated_not_the_latest(s3: Any) -> None:
    valid, invalid = fakes.create_config_bucket(s3, [fakes.VALID_CONFIG, fakes.INVALID_CONFIG])
    report, config = validate_version(target(valid), s3=s3, settings=fakes.settings())
    assert report.valid and config is not None
    assert config.version_id == valid
    assert config.sha256 == hashlib.sha256(fakes.VALID_CONFIG).hexdigest()
    assert config.location_ids == ["prl_aws_one"]
    assert config.description == "unit test control plane"
    report, config = validate_version(target(invalid), s3=s3, settings=fakes.settings())
    assert not report.valid and config is None


def test_an_invalid_config_reports_every_error_with_its_line(s3: Any) -> None:
    (invalid,) = fakes.create_config_bucket(s3, [fakes.INVALID_CONFIG])
    report, _ = validate_version(target(invalid), s3=s3, settings=fakes.settings())
    assert len(report.errors) >= 5
    assert all(error.line == 4 for error in report.errors)
    assert any("BAD" in error.message for error in report.errors)


def test_the_stack_context_reaches_the_validator(s3: Any) -> None:
    """The token is a required substitution: valid only when the stack injects the token secret."""
    config = fakes.VALID_CONFIG.replace(b"${?CONTROL_PLANE_TOKEN}", b"${CONTROL_PLANE_TOKEN}")
    (version,) = fakes.create_config_bucket(s3, [config])
    with_secret, _ = validate_version(
        target(version), s3=s3, settings=fakes.settings(CONTEXT_TOKEN_INJECTED="true")
    )
    without, _ = validate_version(
        target(version), s3=s3, settings=fakes.settings(CONTEXT_TOKEN_INJECTED="false")
    )
    assert with_secret.valid and not without.valid


def test_an_oversized_object_is_rejected_without_reading_it_all(s3: Any) -> None:
    (version,) = fakes.create_config_bucket(s3, [b"#" * (MAX_CONFIG_BYTES + 10)])
    report, config = validate_version(target(version), s3=s3, settings=fakes.settings())
    assert not report.valid and config is None
    assert "MiB" in report.errors[0].message


def test_the_version_before_another(s3: Any) -> None:
    first, second, third = fakes.create_config_bucket(s3, [b"1", b"2", b"3"])
    assert versions_before(fakes.BUCKET, fakes.KEY, third, s3=s3) == [second, first]
    assert versions_before(fakes.BUCKET, fakes.KEY, second, s3=s3) == [first]
    assert versions_before(fakes.BUCKET, fakes.KEY, first, s3=s3) == []
    assert versions_before(fakes.BUCKET, fakes.KEY, "unknown", s3=s3) == []


def test_retention_tags_keep_the_last_good_version_and_free_the_others() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="cfg-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket="cfg-bucket", VersioningConfiguration={"Status": "Enabled"})
        ids = [
            s3.put_object(Bucket="cfg-bucket", Key="k", Body=str(n).encode())["VersionId"] for n in range(3)
        ]
        mark_retention("cfg-bucket", "k", keep=ids[1], expendable=[ids[0], ids[1], ids[2]], s3=s3)
        tags = [
            s3.get_object_tagging(Bucket="cfg-bucket", Key="k", VersionId=version)["TagSet"]
            for version in ids
        ]
    assert tags == [
        [{"Key": RETENTION_TAG, "Value": EXPENDABLE}],
        [{"Key": RETENTION_TAG, "Value": KEEP}],
        [{"Key": RETENTION_TAG, "Value": EXPENDABLE}],
    ]
