"""Shared fixtures: the repository's own template, decoded once."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


def load_template() -> dict[str, Any]:
    """Decode template.yaml with cfn-lint's decoder, which understands the short intrinsic tags (a
    copy of its own for each caller: the file is decoded once per test process)."""
    return copy.deepcopy(_decoded_template())


@functools.cache
def _decoded_template() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE_PATH))
    assert not matches, f"template.yaml does not decode: {matches}"
    assert template is not None
    return dict(template)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])
