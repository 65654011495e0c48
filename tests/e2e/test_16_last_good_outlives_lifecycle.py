"""Scenario 16: the lifecycle rule never expires the config version the last good revision pins.

The bucket's rule expires only noncurrent versions tagged `retention=expendable`; Record outcome
tags the last good version `keep`, and a version it decided otherwise (rejected, replaced as last
good) `expendable`. The rule is read back from the twin's bucket, as CloudFormation created it, and
applied by `cpctl.twin.lifecycle` with its version count at its worst (no newer versions needed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cpctl.twin.lifecycle import Version, expired
from cpctl.twin.twin import LocalTwin

from .conftest import Baseline, changed_config, deploy, records_of_kind
from .test_02_invalid_config import INVALID


def versions(twin: LocalTwin) -> list[Version]:
    s3 = twin.client("s3")
    listed = s3.list_object_versions(Bucket=twin.bucket, Prefix=twin.config_key)["Versions"]
    return [
        Version(
            item["VersionId"],
            item["Key"],
            item["LastModified"],
            {
                tag["Key"]: tag["Value"]
                for tag in s3.get_object_tagging(
                    Bucket=twin.bucket, Key=item["Key"], VersionId=item["VersionId"]
                )["TagSet"]
            },
        )
        for item in listed
    ]


def test_only_versions_decided_otherwise_can_expire_never_the_last_good_one(
    twin: LocalTwin, baseline: Baseline
) -> None:
    rejected = deploy(twin, INVALID)
    assert rejected.report.error == "ConfigRejected"
    deployed = deploy(twin, changed_config())
    assert deployed.report.status == "SUCCEEDED", deployed.report.cause
    (good,) = records_of_kind(twin, "last_good")
    assert good["version_id"] == deployed.version_id

    tags = {version.version_id: version.tags.get("retention") for version in versions(twin)}
    assert tags == {
        baseline.version_id: "expendable",
        rejected.version_id: "expendable",
        deployed.version_id: "keep",
    }
    rules = twin.client("s3").get_bucket_lifecycle_configuration(Bucket=twin.bucket)["Rules"]
    worst = [
        {
            **rule,
            "NoncurrentVersionExpiration": {
                **rule["NoncurrentVersionExpiration"],
                "NewerNoncurrentVersions": 0,
            },
        }
        if "NoncurrentVersionExpiration" in rule
        else rule
        for rule in rules
    ]
    later = datetime.now(UTC) + timedelta(days=400)
    assert expired(worst, versions(twin), now=later) == {baseline.version_id, rejected.version_id}
    # The last good version is now also noncurrent (a newer rejected upload): still kept.
    again = deploy(twin, INVALID)
    assert again.report.error == "ConfigRejected"
    assert deployed.version_id not in expired(worst, versions(twin), now=later + timedelta(days=400))
