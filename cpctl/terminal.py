"""How `cpctl` writes for people and for scripts, the same in every command.

- One output flag: `--output text|json` (`--json` is kept as its alias).
- Colour only when the stream is a terminal and `NO_COLOR` is unset or empty (https://no-color.org).
- Text for a terminal wraps to its width, continuation lines indented under the value column;
  text for a pipe or a file stays one line per record, so `grep` and scripts see whole lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import textwrap
from typing import TextIO

GREEN, RED, YELLOW, BOLD = "32", "31", "33", "1"


def add_output_argument(parser: argparse.ArgumentParser, *, alias: str | None = "--json") -> None:
    """`--output text|json`, and `alias` (today's flag) meaning `--output json`."""
    parser.add_argument(
        "--output", choices=("text", "json"), default="text", help="text for people, json for scripts"
    )
    if alias:
        parser.add_argument(alias, dest="output", action="store_const", const="json", help="--output json")


def wants_json(args: argparse.Namespace) -> bool:
    return getattr(args, "output", "text") == "json"


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def colour_on(stream: TextIO) -> bool:
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


def paint(stream: TextIO, text: str, code: str) -> str:
    """`text` in colour `code` when `stream` takes colour; else `text` as it is."""
    return f"\033[{code}m{text}\033[0m" if colour_on(stream) else text


def width_of(stream: TextIO) -> int | None:
    """The terminal's width, or None when `stream` is no terminal (no wrapping then)."""
    if not is_terminal(stream):
        return None
    return shutil.get_terminal_size(fallback=(100, 24)).columns


def wrap(text: str, width: int | None) -> str:
    """Every line of `text` longer than `width` folded, its continuation indented under the value
    column (after the label's run of spaces) or two spaces deeper than the line; ids and URLs too
    long for a line are broken rather than left to overflow."""
    if width is None:
        return text
    lines: list[str] = []
    for line in text.split("\n"):
        if _visible_length(line) <= width:
            lines.append(line)
            continue
        indent = _value_column(line)
        lines.extend(
            textwrap.wrap(
                line,
                width=width,
                subsequent_indent=" " * indent,
                break_long_words=True,
                break_on_hyphens=False,
                drop_whitespace=True,
                replace_whitespace=False,
            )
            or [line]
        )
    return "\n".join(lines)


def write(stream: TextIO, text: str) -> None:
    """`text` and a newline, wrapped when `stream` is a terminal, flushed (followers print live)."""
    stream.write(wrap(text, width_of(stream)) + "\n")
    stream.flush()


def _value_column(line: str) -> int:
    leading = len(line) - len(line.lstrip(" "))
    gap = line.find("  ", leading)
    if 0 < gap < 40:
        value = len(line) - len(line[gap:].lstrip(" "))
        if value < 40:
            return value
    return min(leading + 2, 20)


def _visible_length(line: str) -> int:
    length, escape = 0, False
    for char in line:
        if char == "\033":
            escape = True
        elif escape:
            escape = char != "m"
        else:
            length += 1
    return length
