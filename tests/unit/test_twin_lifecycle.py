"""The twin's reading of S3 lifecycle rules: which noncurrent versions expire, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cpctl.twin.lifecycle import UnsupportedRule, Version, expired
from tests.conftest import load_template

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def history(*tags: str) -> list[Version]:
    """One version a day, oldest first, each tagged retention=<tag> ("" for none); the last is current."""
    return [
        Version(f"v{n}", "control-plane.conf", T0 + timedelta(days=n), {"retention": tag} if tag else {})
        for n, tag in enumerate(tags)
    ]


def template_rules() -> list[dict[str, object]]:
    bucket = load_template()["Resources"]["ConfigBucket"]["Properties"]
    return list(bucket["LifecycleConfiguration"]["Rules"])


def test_the_stacks_rule_expires_only_expendable_versions_past_their_days_and_count() -> None:
    rules = template_rules()
    versions = history(*(["expendable"] * 60), "keep", "", "expendable")
    late = T0 + timedelta(days=2000)
    gone = expired(rules, versions, now=late)
    # A version with 50 newer noncurrent versions (v12..v61 for v11) may go: v0..v11; never v60 (keep)
    # nor v61 (untagged), however old.
    assert gone == {f"v{n}" for n in range(12)}
    assert expired(rules, versions, now=T0 + timedelta(days=300)) == set(), "not yet 365 days noncurrent"


def test_a_kept_or_untagged_version_never_expires() -> None:
    rules = [
        {
            "ID": "r",
            "Status": "Enabled",
            "TagFilters": [{"Key": "retention", "Value": "expendable"}],
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        }
    ]
    versions = history("keep", "", "expendable", "expendable")
    assert expired(rules, versions, now=T0 + timedelta(days=30)) == {"v2"}


def test_a_rule_it_cannot_read_is_refused() -> None:
    rules = [
        {
            "ID": "r",
            "Status": "Enabled",
            "Filter": {"ObjectSizeGreaterThan": 10},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        }
    ]
    with pytest.raises(UnsupportedRule):
        expired(rules, history("", ""), now=T0)
