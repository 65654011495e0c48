"""Every configuration example from Gatling's docs gets the verdict its content deserves.

The examples live in the project's shared reference folder, never copied into this repository:
`$CPA_SHARED_DIR/reference/gatling-doc-examples`, else `<repo>/../shared/reference/...`.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest
from controlplane.validation import DeploymentContext, ValidationResult, validate_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("CPA_SHARED_DIR", REPO_ROOT.parent / "shared"))
EXAMPLES_DIR = SHARED_DIR / "reference" / "gatling-doc-examples"
EXAMPLE_TOKEN = "cpt_example_c7oze5djp3u14a5xqjanh..."

pytestmark = pytest.mark.skipif(
    not EXAMPLES_DIR.is_dir(), reason=f"Gatling doc examples not found at {EXAMPLES_DIR} (set CPA_SHARED_DIR)"
)

# file -> (valid without a deployment context, the (path, message fragment) of every error and warning)
EXPECTED: dict[str, tuple[bool, list[tuple[str | None, str]], list[tuple[str | None, str]]]] = {
    "aws-configuration-doc.conf": (True, [], []),
    "azure-configuration-doc.conf": (True, [], []),
    "gcp-configuration-doc.conf": (True, [], []),
    "dedicated-configuration-doc.conf": (
        True,
        [],
        [
            ("control-plane.locations[0].ssh.private-key.path", "will not exist in the container"),
            ("control-plane.locations[0].hosts", "hosts is empty"),
        ],
    ),
    "kubernetes-configuration-doc.conf": (
        True,
        [],
        [(None, 'include "job.json": will be empty in the container')],
    ),
    # A template: the provider part is left as "# ...", so the location has no type.
    "introduction-generic-doc.conf": (
        False,
        [("control-plane.locations[0].type", "missing required key type")],
        [],
    ),
    # Proxy fragments: their locations hold only an id and the proxy settings.
    "network-proxy-dedicated-location-proxy-doc.conf": (
        False,
        [
            ("control-plane.locations[0].type", "missing required key type"),
            ("control-plane.locations[1].type", "missing required key type"),
        ],
        [],
    ),
    "network-proxy-shared-with-locations-doc.conf": (
        False,
        [("control-plane.locations[0].type", "missing required key type")],
        [],
    ),
    # Fragments of a control-plane block: no token and no location.
    "repository-aws-s3-fragment-doc.conf": (
        False,
        [
            ("control-plane.token", "missing required key token"),
            ("control-plane.locations", "missing required key"),
        ],
        [("control-plane.repository.bucket", "private packages bucket parameter")],
    ),
    "server-block-new-location-2025.20.6-doc.conf": (
        False,
        [
            ("control-plane.token", "missing required key token"),
            ("control-plane.locations", "missing required key locations"),
            ("control-plane.server.certificate.password", "${CERTIFICATE_PASSWORD} is neither defined"),
        ],
        [
            ("control-plane.server.certificate.path", "will not exist in the container"),
            ("control-plane.repository.bucket", "private packages bucket parameter"),
        ],
    ),
    # What Gatling's Terraform module renders: JSON objects, nulls, a trailing comma, bindAddress.
    "terraform-aws-module-rendered-DERIVED.conf": (
        True,
        [],
        [
            ("control-plane.token", "the deployment must inject the token secret"),
            ("control-plane.server.bindAddress", "unknown key bindAddress (did you mean bind-address?)"),
        ],
    ),
}


def validate_example(name: str, context: DeploymentContext | None = None) -> ValidationResult:
    return validate_config((EXAMPLES_DIR / name).read_bytes(), context=context, filename=name)


def test_every_example_has_an_expected_verdict() -> None:
    assert sorted(p.name for p in EXAMPLES_DIR.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_doc_example_verdict(name: str) -> None:
    valid, errors, warnings = EXPECTED[name]
    result = validate_example(name)
    assert result.valid is valid, result.format_text()
    for found, expected in ((result.errors, errors), (result.warnings, warnings)):
        assert len(found) == len(expected), result.format_text()
        for path, fragment in expected:
            assert any(f.path == path and fragment in f.message for f in found), (
                path,
                fragment,
                result.format_text(),
            )
        assert all(f.line is not None and f.column is not None for f in found)
    assert EXAMPLE_TOKEN not in msgspec.json.encode(result).decode() + result.format_text()


def test_terraform_rendering_is_clean_when_the_stack_injects_the_token() -> None:
    result = validate_example(
        "terraform-aws-module-rendered-DERIVED.conf", DeploymentContext(token_injected=True)
    )
    assert result.valid
    assert [w.path for w in result.warnings] == ["control-plane.server.bindAddress"]
    assert result.summary is not None
    assert [(s.id, s.type, s.region_or_zone) for s in result.summary.locations] == [
        ("prl_aws", "aws", "eu-west-1")
    ]


def test_terraform_rendering_fails_when_the_deployment_does_not_inject_the_token() -> None:
    result = validate_example("terraform-aws-module-rendered-DERIVED.conf", DeploymentContext())
    assert not result.valid
    assert [e.path for e in result.errors] == ["control-plane.token"]


def test_dedicated_example_fails_in_a_deployment_because_its_key_file_is_not_shipped() -> None:
    result = validate_example("dedicated-configuration-doc.conf", DeploymentContext())
    assert [e.path for e in result.errors] == ["control-plane.locations[0].ssh.private-key.path"]


@pytest.mark.parametrize("name", ["aws-configuration-doc.conf", "gcp-configuration-doc.conf"])
def test_summary_of_a_doc_example(name: str) -> None:
    result = validate_example(name)
    assert result.summary is not None
    assert result.summary.description == "my control plane description"
    [location] = result.summary.locations
    assert location.id == "prl_private_location_example"
    assert location.region_or_zone == ("eu-west-1" if name.startswith("aws") else "europe-west3-a")
