"""The config's versions in S3: fetch one exact version and validate it; find the version before another."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from controlplane import clock
from controlplane.models import MAX_FINDINGS, ConfigObject, ConfigRef, ValidationReport
from controlplane.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Without s3:ListBucket on the bucket (no function of the stack has it), S3 answers a GetObject or
# HeadObject of a key that does not exist with 403 AccessDenied, not 404 (Amazon S3 API Reference,
# GetObject and HeadObject, "Permissions"). A HEAD answer has no body: botocore names it "403".
DENIED_CODES = frozenset({"403", "AccessDenied", "Forbidden"})
MISSING_OR_DENIED = "without s3:ListBucket S3 answers 403 for a missing key too: it was deleted, or this function may not read it"


def no_config_uploaded(bucket: str, key: str) -> str:
    """What a health check or a manual redeploy says before the first upload."""
    return f"no config uploaded yet to s3://{bucket}/{key}"


def read_version(bucket: str, key: str, version_id: str, *, s3: S3Client) -> bytes:
    """The bytes of one version, at most one byte more than the validator's limit (it reports the excess)."""
    # Imported here: the HOCON parser stays off the cold start of Lambdas that never validate.
    from controlplane.validation import MAX_CONFIG_BYTES

    response = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)
    with response["Body"] as body:
        return body.read(MAX_CONFIG_BYTES + 1)


def validate_version(
    target: ConfigObject, *, s3: S3Client, settings: Settings
) -> tuple[ValidationReport, ConfigRef | None]:
    """Validate exactly `target.version_id` against the stack's deployment context."""
    from controlplane.validation import validate_config

    data = read_version(target.bucket, target.key, target.version_id, s3=s3)
    result = validate_config(data, context=settings.deployment_context(), filename=target.key)
    kept = MAX_FINDINGS
    report = ValidationReport(
        valid=result.valid,
        errors=result.errors[:kept],
        warnings=result.warnings[: max(kept - len(result.errors), 0)],
        omitted_findings=max(len(result.errors) + len(result.warnings) - kept, 0),
        validated_at=clock.utcnow(),
    )
    if not result.valid:
        return report, None
    summary = result.summary
    config = ConfigRef(
        bucket=target.bucket,
        key=target.key,
        version_id=target.version_id,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        sequencer=target.sequencer,
        description=summary.description if summary else None,
        location_ids=[location.id for location in summary.locations] if summary else [],
    )
    return report, config


def newer_versions(bucket: str, key: str, version_id: str, *, s3: S3Client) -> list[str]:
    """The versions of `key` written after `version_id`, newest first (delete markers skipped): S3 is
    strongly consistent and lists a key's versions newest first, so this is the bucket's own order."""
    ordered = _versions_newest_first(bucket, key, s3=s3)
    return ordered[: ordered.index(version_id)] if version_id in ordered else []


def _versions_newest_first(bucket: str, key: str, *, s3: S3Client) -> list[str]:
    ordered: list[str] = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        ordered.extend(
            entry["VersionId"]
            for entry in page.get("Versions", [])
            if entry.get("Key") == key and "VersionId" in entry
        )
    return ordered


def versions_before(bucket: str, key: str, version_id: str, *, s3: S3Client) -> list[str]:
    """The versions of `key` written before `version_id`, newest first (delete markers skipped)."""
    ordered = _versions_newest_first(bucket, key, s3=s3)
    return ordered[ordered.index(version_id) + 1 :] if version_id in ordered else []


# The bucket's lifecycle rule expires only noncurrent versions tagged RETENTION_TAG=EXPENDABLE
# (template.yaml, ConfigBucket): S3 applies a rule with a tag filter only to objects that carry the
# tag (S3 User Guide, "Lifecycle configuration elements", Filter). The version the last good revision
# pins is tagged KEEP, so no expiration can delete what a replacement task would fetch.
RETENTION_TAG = "retention"
KEEP = "keep"
EXPENDABLE = "expendable"


def mark_retention(bucket: str, key: str, *, keep: str | None, expendable: list[str], s3: S3Client) -> None:
    """Tag `keep` as the version to keep and each of `expendable` (other than it) as free to expire.

    A version left untagged (its tagging failed, or no deployment ever decided it) never expires: the
    safe side. PutObjectTagging of a version replaces that version's tag set and creates no version.
    """
    marks = [(keep, KEEP)] if keep else []
    marks += [(version, EXPENDABLE) for version in dict.fromkeys(expendable) if version and version != keep]
    for version_id, value in marks:
        s3.put_object_tagging(
            Bucket=bucket,
            Key=key,
            VersionId=version_id,
            Tagging={"TagSet": [{"Key": RETENTION_TAG, "Value": value}]},
        )
