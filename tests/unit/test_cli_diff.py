"""`cpctl diff` without a stack: how two configs compare, and that no secret survives either view."""

from __future__ import annotations

import json

import pytest

from cpctl.diff_cmd import Side, compare, format_report, redact_text
from cpctl.twin.twin import builtin_config

SECRET = "cpt_unit_diff_5e6f7a8b9c0d"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (f'token = "{SECRET}"', 'token = "***"'),
        (f"token: {SECRET}", "token: ***"),
        ('"password" = "hunter2-long"', '"password" = "***"'),
        ('api-token = "abcdefgh"', 'api-token = "***"'),
        (f'description = "was {SECRET}"', 'description = "was cpt_***"'),
        ("token = ${?CONTROL_PLANE_TOKEN}", "token = ${?CONTROL_PLANE_TOKEN}"),
    ],
)
def test_redact_text(line: str, shown: str) -> None:
    assert redact_text(f"control-plane {{\n  {line}\n}}\n") == f"control-plane {{\n  {shown}\n}}\n"


def test_a_secret_the_scanner_knows_is_hidden_wherever_it_appears() -> None:
    text = 'control-plane { token = "s3cr3t-value" }\n# the old one was s3cr3t-value\n'
    assert "s3cr3t-value" not in redact_text(text)


def test_keys_of_a_changed_location_and_a_removed_one() -> None:
    changed = builtin_config("changed")
    edited = changed.replace(b'"c7i.xlarge"', b'"c7i.2xlarge"', 1).replace(
        b"prl_twin_eu_central_1", b"prl_other"
    )
    report = compare(Side("changed", changed, "v1"), Side("edited", edited))
    assert report["locations"] == {
        "added": ["prl_other"],
        "removed": ["prl_twin_eu_central_1"],
        "changed": ["prl_twin_eu_west_1"],
    }
    assert report["keys"]["changed"] == [
        {
            "key": "control-plane.locations[prl_twin_eu_west_1].instance-type",
            "from": "c7i.xlarge",
            "to": "c7i.2xlarge",
        }
    ]
    text = format_report(report)
    assert "  - control-plane.locations[prl_twin_eu_central_1] (a whole location)" in text
    assert "Keys: 1 added, 1 removed, 1 changed" in text


def test_a_file_that_does_not_parse_still_gets_its_text_diff() -> None:
    broken = builtin_config("initial") + f'\ncontrol-plane.token = "{SECRET}"\n{{{{'.encode()
    report = compare(Side("running", builtin_config("initial"), "v1"), Side("broken.conf", broken))
    assert report["keys"] is None
    assert report["problem"].startswith("the keys cannot be compared: broken.conf does not parse: ")
    assert '+control-plane.token = "***"' in report["unified_diff"]
    assert SECRET not in json.dumps(report) + format_report(report)


def test_identical_configs() -> None:
    data = builtin_config("initial")
    report = compare(Side("running", data, "v1"), Side("file", data))
    assert report["identical"] and format_report(report) == "No difference.\n  --- running\n  +++ file"
