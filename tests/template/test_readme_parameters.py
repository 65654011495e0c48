"""The README's parameter tables are the template's parameters, each with the template's default."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import REPO_ROOT

# A table row naming one parameter, or two sharing a row ("`TaskCpu` / `TaskMemory` | `256` / `512`").
ROW = re.compile(r"^\| (`[A-Z][A-Za-z]+`(?: / `[A-Z][A-Za-z]+`)*) \| ([^|]+) \|", re.M)


def readme_defaults() -> dict[str, str]:
    documented: dict[str, str] = {}
    for names, values in ROW.findall((REPO_ROOT / "README.md").read_text()):
        keys = [name.strip("` ") for name in names.split(" / ")]
        shown = [value.strip() for value in values.split(" / ")] if len(keys) > 1 else [values.strip()]
        documented.update(zip(keys, shown, strict=True))
    return documented


def shown(default: Any) -> str:
    """A default as the README writes it: empty, (required), or the value in backticks."""
    if default is None:
        return "(required)"
    if default == "":
        return "empty"
    return f"`{default}`"


def test_every_parameter_is_in_the_readme_with_the_template_s_default(template: dict[str, Any]) -> None:
    documented = readme_defaults()
    for name, parameter in template["Parameters"].items():
        assert name in documented, f"README.md's parameter tables lack {name}"
        assert documented[name] == shown(parameter.get("Default")), (
            f"README.md says {name} defaults to {documented[name]}; template.yaml says {parameter.get('Default')!r}"
        )
