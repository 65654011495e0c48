"""Reading and writing the workflow's payloads, records and settings (all `msgspec.Struct`s).

`parse` validates like the models always have: lax about a value's form, as a JSON number given as
a string or a datetime as epoch seconds (`strict=False`), strict about what it must be (types,
constraints, unknown fields of a payload, each class's `__post_init__` rule). `dump` writes a struct
as JSON-ready values: every field, None included; datetimes in RFC 3339, UTC written `Z`.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

Struct = TypeVar("Struct", bound=msgspec.Struct)

# msgspec ends a message with where it went wrong: `Expected `int`, got `str` - at `$.request.size``.
_AT = re.compile(r"^(?P<message>.*) - at `\$\.?(?P<path>[^`]*)`$", re.DOTALL)


def parse(model: type[Struct], data: object) -> Struct:
    """`data` (a mapping, or JSON text) validated into `model`; msgspec's ValidationError when it does
    not fit."""
    if isinstance(data, str | bytes):
        return msgspec.json.decode(data, type=model, strict=False)
    return msgspec.convert(data, model, strict=False)


def dump(value: msgspec.Struct) -> dict[str, Any]:
    """The struct as JSON-ready builtins (what a handler returns and the ASL passes on)."""
    built: dict[str, Any] = msgspec.to_builtins(value)
    return built


def describe(error: msgspec.ValidationError) -> str:
    """`request.size: Expected `int` >= 0, got `-1``: the field first, when msgspec names one."""
    text = str(error)
    match = _AT.match(text)
    if match is None or not match.group("path"):
        return text.removesuffix(" - at `$`")
    return f"{match.group('path')}: {match.group('message')}"
