"""Which noncurrent object versions a bucket's lifecycle rules would expire at a given time.

moto stores a lifecycle configuration but never applies it. This applies the parts the stack uses,
as the S3 User Guide describes them ("Lifecycle configuration elements"): a rule applies to the
objects its filter selects (key prefix and every tag of `TagFilters` / `Filter.Tag` / `Filter.And`,
combined with AND); `NoncurrentVersionExpiration` deletes a noncurrent version once it has been
noncurrent for `NoncurrentDays` (counted from when the next newer version was written) and at least
`NewerNoncurrentVersions` newer noncurrent versions of the key exist. Anything else a rule says is
refused loudly, so a rule the twin cannot read is never taken for one that expires nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


class UnsupportedRule(ValueError):
    """A lifecycle rule uses a filter or an action this evaluator does not apply."""


@dataclass(frozen=True)
class Version:
    version_id: str
    key: str
    last_modified: datetime
    tags: Mapping[str, str]


def expired(rules: Sequence[Mapping[str, Any]], versions: Sequence[Version], *, now: datetime) -> set[str]:
    """The version ids the enabled rules would have expired by `now` (versions: every version of
    every key, any order; the newest of a key is its current one)."""
    by_key: dict[str, list[Version]] = {}
    for version in versions:
        by_key.setdefault(version.key, []).append(version)
    doomed: set[str] = set()
    for rule in rules:
        if rule.get("Status") != "Enabled" or "NoncurrentVersionExpiration" not in rule:
            continue
        prefix, tags = _filter(rule)
        action = rule["NoncurrentVersionExpiration"]
        unknown = set(action) - {"NoncurrentDays", "NewerNoncurrentVersions"}
        if unknown:
            raise UnsupportedRule(f"rule {rule.get('ID')}: {sorted(unknown)}")
        days = timedelta(days=int(action["NoncurrentDays"]))
        keep_newer = int(action.get("NewerNoncurrentVersions", 0))
        for key, items in by_key.items():
            if not key.startswith(prefix):
                continue
            newest_first = sorted(items, key=lambda item: item.last_modified, reverse=True)
            for position, version in enumerate(newest_first[1:], start=1):
                became_noncurrent = newest_first[position - 1].last_modified
                newer_noncurrent = position - 1
                if (
                    all(version.tags.get(name) == value for name, value in tags.items())
                    and now - became_noncurrent >= days
                    and newer_noncurrent >= keep_newer
                ):
                    doomed.add(version.version_id)
    return doomed


def _filter(rule: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(key prefix, tags) a rule selects, from S3's answer (`Filter`) or CloudFormation's (`TagFilters`)."""
    prefix = str(rule.get("Prefix", ""))
    tags = {str(t["Key"]): str(t["Value"]) for t in rule.get("TagFilters", [])}
    selected = rule.get("Filter") or {}
    conjunction = selected.get("And") or selected
    unknown = set(conjunction) - {"Prefix", "Tag", "Tags"}
    if unknown:
        raise UnsupportedRule(f"rule {rule.get('ID')}: filter {sorted(unknown)}")
    prefix = str(conjunction.get("Prefix", prefix))
    for tag in [conjunction["Tag"]] if "Tag" in conjunction else conjunction.get("Tags", []):
        tags[str(tag["Key"])] = str(tag["Value"])
    return prefix, tags
