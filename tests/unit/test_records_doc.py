"""docs/records.md and the models of the records table name the same attributes."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

import msgspec
import pytest
from controlplane.records import (
    TTL_ATTRIBUTE,
    DeploymentRecord,
    HealAction,
    HealthState,
    LastGood,
    StoppedTask,
)

from tests.conftest import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "records.md").read_text()


def table_after(heading: str) -> list[list[str]]:
    """The cells of each row of the first table after `heading` (without the header row)."""
    lines = DOC[DOC.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def names(cell: str) -> list[str]:
    """The backquoted attribute names of a cell, leaving out what parentheses explain."""
    while True:
        shorter = re.sub(r"\([^()]*\)", "", cell)
        if shorter == cell:
            break
        cell = shorter
    return re.findall(r"`([a-z_][a-z0-9_]*)`", cell)


def model_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The model an attribute holds (`X | None` -> X), if it holds one."""
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, msgspec.Struct)), None)


def annotation_of(model: type[msgspec.Struct], name: str) -> Any:
    return next(field.type for field in msgspec.structs.fields(model) if field.name == name)


def test_the_deployment_record_table_lists_the_attributes_of_the_model() -> None:
    rows = table_after("### A deployment record")
    documented = [name for row in rows for name in names(row[0])]
    assert len(documented) == len(set(documented)), "each attribute once"
    assert set(documented) == set(DeploymentRecord.__struct_fields__)


def test_each_documented_map_lists_the_attributes_of_its_model() -> None:
    checked = []
    for row in table_after("### A deployment record"):
        (name,) = names(row[0]) if len(names(row[0])) == 1 else (None,)
        if name is None or "map:" not in row[1]:
            continue
        model = model_of(annotation_of(DeploymentRecord, name))
        if model is None:
            continue  # a map of names to values (phase_seconds)
        assert set(names(row[1].split("map:", 1)[1])) == set(model.__struct_fields__), name
        checked.append(name)
    assert sorted(checked) == ["bake", "failure", "load_tests", "rollback"]


def test_the_health_state_row_lists_the_attributes_of_the_model() -> None:
    (row,) = [row for row in table_after("## Health checks, heal actions") if row[0] == "`HEALTH_STATE`"]
    assert set(names(row[3])) == set(HealthState.__struct_fields__)


@pytest.mark.parametrize(
    ("heading", "sk", "fields", "beside"),
    [
        ("## Item kinds", "`LAST_GOOD`", {f.name for f in dataclasses.fields(LastGood)}, set()),
        (
            "## Health checks, heal actions",
            "`HEAL#<at>#<execution name>`",
            set(HealAction.__struct_fields__),
            {TTL_ATTRIBUTE},
        ),
        (
            "## Health checks, heal actions",
            "`STOPPED#<stopped at>#<task id>`",
            set(StoppedTask.__struct_fields__),
            {"event_id", "recorded_at", TTL_ATTRIBUTE},
        ),
    ],
)
def test_each_item_kind_with_a_model_lists_its_attributes(
    heading: str, sk: str, fields: set[str], beside: set[str]
) -> None:
    """The attributes of the item are those of its model, and those the store writes beside them."""
    (row,) = [row for row in table_after(heading) if row[0] == sk]
    assert set(names(row[3])) == fields | beside
