"""Turning the bytes of a control-plane.conf into a resolved tree, as Lightbend Config reads it,
safely and with positions.

zig-hocon (import name `zig_hocon`) does the HOCON work; docs/validator.md says why it was chosen and
how the differential test against Lightbend Config keeps the two in step. Its public API reports
positions only for syntax and substitution errors, so this module also runs a scanner over the text
that maps every key path (`control-plane.locations[2].region`) to the line and column of its key,
finds include directives and collects secret literals. The scanner also notes the first thing
Lightbend Config refuses that the parser would read (a `+=` inside a list, a raw tab inside quotes,
an include directive off its grammar...) and the constructs the validator refuses on purpose.

Most configs need none of the scanner's work: `read_plain` recognises a plain document (one match
of a regular expression, a few counts) and has the parser read it as it is written; the validator
scans it only to place what its rules report.

Nothing here reads a file or a URL named by the config: include directives are removed from the
text before the parser sees it, and the parser is given no base directory, so a directive the
scanner missed is an error, never a read or a fetch.
"""

from __future__ import annotations

import gc
import itertools
import json
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, NoReturn

import zig_hocon

MAX_CONFIG_BYTES = 1024 * 1024
# Real configs nest about 8 levels (a Kubernetes job spec inside a location a few more); the cap
# keeps hostile input far from the interpreter's recursion limit inside the parser.
MAX_NESTING_DEPTH = 64
# Far above any real number of locations, hosts or subnets, far below what would stall a Lambda.
MAX_ARRAY_ITEMS = 10_000
# The parser's time grows with the number of tokens (about 15 us each) and, inside one string or one
# run of blanks, with the square of its length: these caps keep the worst 1 MiB file to a few
# seconds. A real config of 1 MiB has about 120,000 tokens, strings of a few hundred characters at
# most (paths, ids, descriptions) and no run of blanks longer than its indentation.
MAX_TOKENS = 200_000
MAX_TOKEN_LENGTH = 16_384
MAX_BLANK_RUN = 10_000
# Redefining an object (`a { x = 1 }` then `a.y = 2`, or `a += ...`) makes the parser keep a deep copy
# of its previous value, copies included, for self-references: many redefinitions of big or deeply
# nested objects cost a square or worse (1,000 lines of `control-plane.locations += {...}` take
# minutes). The scanner estimates that work in nodes copied, each weighing its depth (the parser
# rebuilds a node's full path as it copies it). Measured: 0.06 to 0.65 s of parsing per million.
MAX_MERGE_WORK = 8_000_000
# Each `a += v` wraps the previous value of `a` once more; the parser recurses through all of them.
MAX_APPENDS = 200
# In all, far above a real file's few `locations += {...}`: each costs the scan and the parser a
# copy of the list so far, and 65,000 of them take seconds.
MAX_TOTAL_APPENDS = 10_000

# Keys whose literal values are secrets: never quoted in any output.
SECRET_KEYS = frozenset({"token", "password"})

PathSegment = str | int
KeyPath = tuple[PathSegment, ...]
IncludeKind = Literal["plain", "file", "url", "classpath", "package"]


class Position(NamedTuple):
    """A 1-based line and column (a tuple: the scanner makes one per key, and a tuple is made fastest)."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceError(Exception):
    """The text cannot be turned into a tree: the message is safe to show (no secret inside)."""

    message: str
    position: Position | None = None


@dataclass(frozen=True, slots=True)
class Include:
    kind: IncludeKind
    required: bool
    target: str
    position: Position
    directive: str  # as written, whitespace collapsed


@dataclass(frozen=True, slots=True)
class Substitution:
    name: str
    optional: bool
    key_path: KeyPath
    position: Position


@dataclass(slots=True)
class SourceMap:
    """What the scanner noted about the text.

    `text` is what the parser gets: the same lines with include directives, comments, blank lines
    and indentation removed (all of it costs the parser time, none of it changes the config);
    `indents` says how many characters were removed at the start of each line.
    """

    text: str
    positions: dict[KeyPath, Position] = field(default_factory=dict)
    includes: list[Include] = field(default_factory=list)
    substitutions: list[Substitution] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    indents: dict[int, int] = field(default_factory=dict)
    # Substitutions right after a list or an object in a value (`[1] ${x}`).
    after_container: list[Position] = field(default_factory=list)
    # The first thing the control plane refuses, or a rule of the validator refuses, that the
    # scanner saw; the parser may still find an earlier error.
    violation: SourceError | None = None
    violation_starts: int = 0  # the line where the text it is about starts

    def original(self, line: int, column: int) -> Position:
        """Where a position the parser reports in `text` is in the original file."""
        return Position(line, column + self.indents.get(line, 0))

    def locate(self, path: KeyPath) -> Position | None:
        """Position of `path`'s key, else of its nearest ancestor that has one."""
        for end in range(len(path), 0, -1):
            position = self.positions.get(path[:end])
            if position is not None:
                return position
        return None


def render_path(path: KeyPath) -> str:
    """`("control-plane", "locations", 2, "region")` -> `control-plane.locations[2].region`."""
    rendered = ""
    for segment in path:
        if isinstance(segment, int):
            rendered += f"[{segment}]"
        else:
            text = segment if _PLAIN_KEY.fullmatch(segment) else _quote_key(segment)
            rendered = f"{rendered}.{text}" if rendered else text
    return rendered


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _quote_key(segment: str) -> str:
    escaped = segment.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def decode_source(data: bytes) -> str:
    """The UTF-8 text of `data`, or `SourceError` for input no parser should be handed."""
    if len(data) > MAX_CONFIG_BYTES:
        raise SourceError(f"file is larger than the {MAX_CONFIG_BYTES // (1024 * 1024)} MiB limit")
    if not data:
        raise SourceError("file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError("file is UTF-16 or UTF-32 text: save it as UTF-8", Position(1, 1))
    nul = data.find(b"\x00")
    if nul >= 0:
        raise SourceError("file is binary, not text (it contains a NUL byte)", _byte_position(data, nul))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError(
            "file is not UTF-8 text (binary data or another encoding)", _byte_position(data, error.start)
        ) from None
    # The parser drops a leading byte order mark too; dropping it here keeps columns in step.
    return text.removeprefix("\ufeff")


def _byte_position(data: bytes, offset: int) -> Position:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return Position(data.count(b"\n", 0, offset) + 1, column)


# --- the scanner -------------------------------------------------------------------------------

_WS = "[ \\t\\r\\f\\v\\x1c-\\x1f\\xa0\\ufeff\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
# Whitespace and comments before a token. Possessive (Python 3.11+) so a failed match never
# backtracks into it; every token pattern below also matches its unterminated form (a string
# without its closing quote runs to the end of its line), so no position is scanned twice and the
# scan stays linear whatever the input.
_SKIP = f"(?:{_WS}+|#[^\\n]*|//[^\\n]*)*+"
# The commonest line, `key = "value"` or `a.b = 42`, in one match (about half the scan's time).
_FIELD = (
    '(?P<field>(?P<field_key>[A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)*|"[^"\\\\\\x00-\\x1f]*")[ \\t]*[:=][ \\t]*'
    '(?P<field_value>"[^"\\\\\\x00-\\x1f]*"|[A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)*)(?=[ \\t]*(?:[\\n,}#]|//|\\Z)))|'
)
# A quoted string with no escape and no control character, of a length far inside the limit.
_PLAIN_STRING = '"[^"\\\\\\x00-\\x1f]{0,1000}"'
_PLAIN_STRINGS = re.compile(_PLAIN_STRING)
# A field of one segment and a plain value, inside an object written on one line.
_INLINE_FIELD = (
    '(?:[A-Za-z0-9_-]{1,1000}|"[^"\\\\\\x00-\\x1f]{0,1000}")[ \\t]{0,64}[:=][ \\t]{0,64}'
    f"(?:{_PLAIN_STRING}|[A-Za-z0-9_-]{{1,1000}}(?:\\.[A-Za-z0-9_-]{{1,1000}})*)"
)
_INLINE_FIELDS = re.compile(
    '(?P<key>[A-Za-z0-9_-]+|"[^"]*")[ \t]*[:=][ \t]*(?P<value>"[^"]*"|[A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)*)'
)
# The line before a list or an object, `key = [` or `key {`, in one match (the blanks are bounded so the
# limit on runs of blanks is judged token by token).
_OPENER = (
    '(?P<opener>(?P<opener_key>[A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)*|"[^"\\\\\\x00-\\x1f]*")[ \\t]{0,64}'
    "(?P<opener_sep>[:=][ \\t]{0,64})?(?P<opener_bracket>[\\[{])"
    # and when it is a list of plain strings on one line, the list (`subnets = ["a", "b"]`)
    f"(?:(?<=\\[)(?P<opener_strings>[ \\t]{{0,64}}{_PLAIN_STRING}(?:[ \\t]{{0,64}},[ \\t]{{0,64}}{_PLAIN_STRING})*"
    "[ \\t]{0,64}\\]))?"
    # or an object of plain fields on one line, the object (`tags { team = "perf", cost = 12 }`)
    f"(?:(?<=\\{{)(?P<opener_fields>[ \\t]{{0,64}}{_INLINE_FIELD}(?:[ \\t]{{0,64}},[ \\t]{{0,64}}{_INLINE_FIELD})*"
    "[ \\t]{0,64}\\}))?)|"
)
# The line ends before a token, in the same match as the token: one match fewer per line.
_LINE_ENDS = f"(?:(?P<nl>\\n(?:{_SKIP}\\n)*){_SKIP})?"
_TOKENS = (
    "(?:"
    + '(?P<triple>"""[\\s\\S]*?(?:"""+|\\Z))'
    + '|(?P<str>"(?:[^"\\\\\\n]|\\\\.)*"?)'
    + "|(?P<subst>\\$\\{[^}\\n]*\\}?)"
    + "|(?P<open>\\{)|(?P<close>\\})|(?P<lbr>\\[)|(?P<rbr>\\])|(?P<comma>,)"
    + "|(?P<sep>[:=]|\\+=)"
    # a number's exponent may have a `+` (`2.5e+3`), which elsewhere only `+=` has
    + '|(?P<word>(?:-?[0-9][0-9.]*[eE]\\+(?=[0-9]))?(?:[^\\s$"{}\\[\\],:=+#`^?!@*&\\\\/]|/(?!/))+)'
    + "|(?P<other>[\\s\\S])"
    + "|(?P<end>\\Z)"
    + ")"
)
_TOKEN = re.compile(_SKIP + _LINE_ENDS + "(?:" + _FIELD + _OPENER + _TOKENS + ")")
# Token by token, with none of the fast paths (`_FIELD`, `_OPENER`).
_TOKEN_WITHOUT_FIELD = re.compile(_SKIP + _LINE_ENDS + _TOKENS)
_SUBST_BODY = re.compile(r"\$\{(\??)\s*(.*?)\s*\}", re.DOTALL)
_VALUE_KINDS = frozenset({"str", "word", "triple"})


class _Frame:
    """One open `{...}` or `[...]` of the scan."""

    __slots__ = (
        "after_container",
        "appending",
        "holds_keys",
        "in_value",
        "is_array",
        "items",
        "key",
        "key_path",
        "no_separator",
        "open_dot",
        "path",
        "subst_seen",
        "value_seen",
    )

    def __init__(self, path: KeyPath, is_array: bool) -> None:
        self.path = path
        self.is_array = is_array
        self.items = 0  # arrays: elements seen so far
        self.in_value = False  # objects: after a key's separator; arrays: inside an element
        self.value_seen = False  # objects: a value token came after the separator
        self.key: list[str] = []  # objects: segments of the key being read
        self.open_dot = False  # objects: the key so far ends with a `.` separator
        self.key_path: KeyPath = path  # path of the field or element whose value is being read
        self.no_separator = False  # objects: the value is an object written `key { ... }`
        self.appending = False  # objects: the value is that of `key += ...`, an element of a list
        self.holds_keys = False  # objects: its path is in the scanner's `object_paths`
        self.subst_seen = False  # objects: the value being read has a substitution
        # A list or an object just closed in this value: 1, or 2 after `key { ... }`.
        self.after_container = 0


class _Scanner:
    def __init__(self, text: str, environment: Collection[str] | None) -> None:
        self.text = text
        self.environment = environment
        self.result = SourceMap(text)
        # Keys whose value Lightbend Config keeps as a stack of earlier values if an object follows:
        # a value referring to itself (`a = ${a} x`, `a += x`), or joining a substitution to a list
        # or an object (`a = ${b} [1]`); where, in which field, and which of the two.
        self.self_references: dict[KeyPath, tuple[Position, int, str]] = {}
        self.fields = 0
        # `${?X}` written against another piece of a value (`8080${?X}`), for the environment to judge.
        self.joined_optionals: list[tuple[int, int, str]] = []
        self.array_lengths: dict[KeyPath, int] = {}
        self.appends: dict[KeyPath, int] = {}
        self.total_appends = 0
        self.assignments: list[KeyPath] = []  # every key and array element, in parser order
        self.object_paths: set[KeyPath] = set()  # paths known to hold an object
        self.redefines_objects = False
        # (start, end, replacement) of the text handed to the parser, in text order: include
        # directives, comments, trailing blanks, blank lines and indentation removed (the parser
        # piles up every blank between two tokens, at a cost that grows with the square of the pile).
        self.edits: list[tuple[int, int, str]] = []

    def scan(self) -> SourceMap:
        # One flat loop over the tokens: a method call per token would cost more than the scan.
        positions = self.result.positions
        stack: list[_Frame] = []
        frame = _Frame((), is_array=False)
        line, line_start = 1, 0
        key_position = Position(1, 1)
        key_end = -1  # end offset of the last key lexeme: `a"b"` is one key segment, `a "b"` too
        key_lexeme = ""
        first_piece = False  # the value token being read is the first piece of its field
        listed: list[int] | None = None  # offsets of the strings of a list read with its opener
        inline: list[re.Match[str]] | None = None  # the fields of an object read with its opener
        include: _IncludeDirective | None = None
        include_ended = False  # an include directive ended at the last line end
        seen_first = False
        tokens = 0
        indents = self.result.indents
        text = self.text
        text_length = len(text)
        matches: Iterator[re.Match[str]] = _TOKEN.finditer(text)
        while True:
            replay: tuple[int, int] | None = None
            for match in matches:
                kind = match.lastgroup
                skip_start = match.start()  # where the blanks and comments before the token start
                newlines_end = match.end("nl")
                if newlines_end >= 0:  # line ends before the token
                    if include is not None and include.state == "done":
                        self._finish_include(include, line)
                        include_ended = True
                        include = None
                    newlines_start = match.start("nl")
                    newlines = (
                        1
                        if newlines_end - newlines_start == 1
                        else text.count("\n", newlines_start, newlines_end)
                    )
                    if newlines_end - skip_start != newlines:  # comments or blanks to drop
                        self.edits.append((skip_start, newlines_end, "\n" * newlines))
                    line += newlines
                    line_start = skip_start = newlines_end
                    if frame.is_array or frame.value_seen:
                        frame.in_value = frame.value_seen = False
                        frame.after_container = 0
                if kind == "end" or kind is None:
                    if skip_start < text_length:
                        continue  # the end of a replayed field (below), not of the text
                    if include is not None:
                        if include.state != "done":
                            self._note(
                                SourceError(
                                    "syntax error: the include directive is not complete", Position(line, 1)
                                )
                            )
                        else:
                            self._finish_include(include, line)
                            include_ended = True
                        include = None
                    if match.end() != skip_start:  # comments or blanks to drop
                        self.edits.append((skip_start, match.end(), ""))
                    break
                start = match.start(kind)
                # An opener's size is its key's: the blanks around its separator are bounded.
                lexeme = match.group(kind if kind != "opener" else "opener_key")
                column = start - line_start + 1
                tokens += 1
                if (
                    tokens > MAX_TOKENS
                    or start - skip_start > MAX_BLANK_RUN
                    or len(lexeme) > MAX_TOKEN_LENGTH
                ):
                    self._refuse_size(tokens, lexeme, Position(line, column))
                if column > 1 and skip_start == line_start:  # indentation: the parser has no use for it
                    self.edits.append((line_start, start, ""))
                    indents[line] = column - 1
                if kind == "triple" and "\n" in lexeme:
                    line += lexeme.count("\n")
                    line_start = start + lexeme.rfind("\n") + 1
                if include_ended:
                    include_ended = False
                    if (
                        kind == "comma"
                    ):  # Lightbend takes a comma on a later line as the directive's separator
                        self.edits.append((start, match.end(), " "))
                        continue
                if not seen_first:
                    seen_first = True
                    if kind == "open":  # a braced root: this `{` opens the root object itself
                        stack.append(frame)
                        frame = _Frame((), is_array=False)
                        continue
                if kind == "opener":
                    # `key = [` or `key {`: the key, as for a field, then the bracket as a token of its own.
                    opener_key = lexeme
                    bracket = match.start("opener_bracket")
                    with_separator = match.start("opener_sep") >= 0
                    fits = not (frame.is_array or frame.in_value or frame.key or include is not None)
                    fits = fits and opener_key != "include" and not opener_key.startswith("include.")
                    extra_tokens = 1 + with_separator  # the separator and the bracket
                    strings_start = match.start("opener_strings")
                    fields_start = match.start("opener_fields")
                    if strings_start >= 0:  # and each string, the commas and the `]`
                        strings = _PLAIN_STRINGS.finditer(text, strings_start, match.end())
                        listed = [string.start() for string in strings]
                        extra_tokens += 2 * len(listed)
                        fits = fits and len(listed) <= MAX_ARRAY_ITEMS
                    elif fields_start >= 0:  # and each field's three tokens, the commas and the `}`
                        inline = list(_INLINE_FIELDS.finditer(text, fields_start, match.end()))
                        extra_tokens += 4 * len(inline)
                        fits = fits and all(
                            entry.group("key") != "include"
                            and entry.end() - entry.start() <= MAX_TOKEN_LENGTH
                            for entry in inline
                        )
                    if not fits or tokens + extra_tokens > MAX_TOKENS:
                        listed = inline = None
                        tokens -= 1  # counted again, token by token
                        replay = (start, bracket)
                        break
                    self._finish_written_key(frame, opener_key, Position(line, column))
                    frame.no_separator = not with_separator
                    tokens += extra_tokens
                    start = bracket
                    lexeme = text[bracket]
                    kind = "open" if lexeme == "{" else "lbr"
                    column = bracket - line_start + 1
                if kind == "field":
                    field_key = match.group("field_key")
                    plain = not (frame.is_array or frame.in_value or frame.key or include is not None)
                    if not plain or field_key == "include" or field_key.startswith("include."):
                        replay = (start, match.end())  # not a plain field here: token by token
                        break
                    self._finish_written_key(frame, field_key, Position(line, column))
                    frame.value_seen = True
                    tokens += 2  # the parser sees three: key, separator, value
                    value = match.group("field_value")
                    if (
                        value[0] in _NUMBER_START
                        and not (value.isdigit() and (value[0] != "0" or len(value) == 1))
                        and _is_lightbend_only_number(value)
                    ):
                        self._note(
                            _number_violation(
                                value, Position(line, match.start("field_value") - line_start + 1)
                            )
                        )
                    if frame.key_path[-1] in SECRET_KEYS:
                        self.result.secrets.add(value[1:-1] if value[0] == '"' else value)
                    continue
                if include is not None:
                    if include.state != "done":
                        try:
                            include.feed(kind, lexeme, Position(line, column))
                        except SourceError as violation:
                            self._note(violation)
                            include = None
                        else:
                            include.end = match.end()
                        continue
                    if kind == "comma":  # the directive's separator: the parser is given neither
                        include.end = match.end()
                        self._finish_include(include, line)
                        include = None
                        continue
                    if kind != "close" or not stack:
                        self._note(
                            SourceError(
                                f"syntax error: expecting a comma or a new line after an include directive, not {lexeme!r}",
                                Position(line, column),
                            )
                        )
                    else:
                        self._finish_include(include, line)
                    include = None
                if frame.is_array:
                    first_piece = False
                    if kind == "rbr":
                        self.array_lengths[frame.path] = frame.items
                        if stack:
                            frame = stack.pop()
                            frame.after_container = 2 if frame.no_separator and not frame.is_array else 1
                        continue
                    if kind == "comma":
                        frame.in_value = False
                        frame.after_container = 0
                        continue
                    if kind == "close":
                        continue  # unbalanced: the parser reports it
                    if not frame.in_value:
                        frame.in_value = True
                        frame.items += 1
                        if frame.items > MAX_ARRAY_ITEMS:
                            raise SourceError(
                                f"array has more than {MAX_ARRAY_ITEMS:,} items", Position(line, column)
                            )
                        frame.key_path = (*frame.path, frame.items - 1)
                        positions[frame.key_path] = Position(line, column)
                        self.assignments.append(frame.key_path)
                else:
                    if kind == "close":
                        if stack:
                            frame = stack.pop()
                            frame.after_container = 2 if frame.no_separator and not frame.is_array else 1
                        continue
                    if kind == "comma":
                        frame.in_value = frame.value_seen = False
                        frame.after_container = 0
                        frame.key = []
                        continue
                    if not frame.in_value:
                        if kind == "word" or kind == "str":
                            if kind == "word" and lexeme == "include" and not frame.key:
                                include = _IncludeDirective(start, Position(line, column), match.end())
                                continue
                            if not frame.key:
                                key_position = Position(line, column)
                                if kind == "word" and lexeme.startswith("include."):
                                    # a key for Lightbend, a directive for the parser: quoted, it is a key to both
                                    self.edits.append((start, start + len("include"), '"include"'))
                            self._add_key_token(frame, lexeme, kind == "word", start == key_end)
                            key_end = match.end()
                            key_lexeme = lexeme
                            continue
                        if kind == "rbr":
                            continue  # unbalanced: the parser reports it
                        if lexeme == "+=":
                            self._check_append(
                                key_lexeme if start == key_end else "", stack, Position(line, column)
                            )
                        self._finish_key(frame, key_position, append=lexeme == "+=")
                        frame.no_separator = kind != "sep"
                        if kind == "sep":
                            continue
                    first_piece = not frame.value_seen
                    frame.value_seen = True
                if frame.after_container:
                    if frame.after_container == 2:
                        self._note(
                            SourceError(
                                f"syntax error: expecting a comma or a new line after `key {{ ... }}`, not {lexeme!r}",
                                Position(line, column),
                            )
                        )
                    elif kind == "word":
                        self._note(
                            SourceError(
                                f"text after a list or an object: the control plane ignores {lexeme!r} here; "
                                "quote it, or put it on a line of its own",
                                Position(line, column),
                            )
                        )
                    if kind == "subst":
                        self.result.after_container.append(Position(line, column))
                        if not frame.is_array:
                            self.self_references.setdefault(
                                frame.key_path, (Position(line, column), self.fields, _JOINS_A_SUBSTITUTION)
                            )
                    frame.after_container = 0
                if kind == "word":
                    if (
                        lexeme[0] in _NUMBER_START
                        and not (lexeme.isdigit() and (lexeme[0] != "0" or len(lexeme) == 1))
                        and _is_lightbend_only_number(lexeme)
                    ):
                        self._note(_number_violation(lexeme, Position(line, column)))
                elif kind == "str":
                    if lexeme[-1] != '"' or len(lexeme) < 2 or "\\" in lexeme or not lexeme.isprintable():
                        problem = _string_violation(lexeme, Position(line, column))
                        if problem is not None:
                            self._note(problem)
                elif kind != "open" and kind != "lbr":
                    self._check_lexeme(kind, lexeme, line, Position(line, column))
                value_path = frame.key_path
                if kind == "open" or kind == "lbr":
                    if kind == "open" and self.self_references:
                        self._check_object_after_self_reference(value_path, Position(line, column))
                    if frame.subst_seen and not first_piece and not frame.is_array:
                        self.self_references.setdefault(
                            value_path, (Position(line, column), self.fields, _JOINS_A_SUBSTITUTION)
                        )
                    stack.append(frame)
                    if len(stack) > MAX_NESTING_DEPTH:
                        raise SourceError(
                            f"nesting is deeper than {MAX_NESTING_DEPTH} levels", Position(line, column)
                        )
                    if listed is not None:  # the plain strings of an opener, and the list's end
                        self._read_listed_strings(value_path, listed, line, line_start)
                        listed = None
                        stack.pop()
                        frame.after_container = 2 if frame.no_separator else 1
                    elif inline is not None:  # the fields of an opener, and the object's end
                        self._read_inline_fields(value_path, inline, line, line_start)
                        inline = None
                        stack.pop()
                        frame.after_container = 2 if frame.no_separator else 1
                    else:
                        frame = _Frame(value_path, is_array=kind == "lbr")
                elif kind == "subst":
                    if lexeme.count(".") >= MAX_NESTING_DEPTH:
                        raise SourceError(
                            f"substitution path is deeper than {MAX_NESTING_DEPTH} levels",
                            Position(line, column),
                        )
                    if first_piece and self.self_references:
                        self._check_object_after_self_reference(value_path, Position(line, column))
                    frame.subst_seen = True
                    body = _SUBST_BODY.fullmatch(lexeme)
                    if body is not None:
                        if all(isinstance(part, str) for part in value_path) and body.group(2) == ".".join(
                            str(part) for part in value_path
                        ):
                            self.self_references.setdefault(
                                value_path, (Position(line, column), self.fields, "refers to itself")
                            )
                        if body.group(1) == "?" and (
                            self.text[start - 1] not in _BEFORE_A_FIRST_PIECE
                            or _joins_next(self.text, match.end())
                        ):
                            self.joined_optionals.append((start, match.end(), body.group(2)))
                    if body is not None:
                        self.result.substitutions.append(
                            Substitution(
                                body.group(2),
                                body.group(1) == "?",
                                value_path,
                                Position(line, column),
                            )
                        )
                if kind in _VALUE_KINDS and value_path:
                    last = value_path[-1]
                    if isinstance(last, str) and last in SECRET_KEYS:
                        self.result.secrets.add(_unquote(lexeme) if kind == "str" else lexeme.strip('"'))
            if replay is None:
                break
            matches = itertools.chain(
                _TOKEN_WITHOUT_FIELD.finditer(self.text, *replay), _TOKEN.finditer(self.text, replay[1])
            )
        if self.redefines_objects and _merge_work(self.assignments, MAX_MERGE_WORK) > MAX_MERGE_WORK:
            raise SourceError(
                "the file redefines the same objects too often to be checked in time: write each object "
                "once (one `locations = [...]` list rather than many `locations += {...}` lines)"
            )
        if self.joined_optionals and self.environment is not None:
            self._drop_vanishing_optionals(self.environment)
        if self.edits:
            self.result.text = self._edited_text()
        return self.result

    def _drop_vanishing_optionals(self, environment: Collection[str]) -> None:
        """Remove each `${?X}` joined to another piece that nothing sets (neither the file nor the
        environment): Lightbend Config then reads the other pieces as if it were not written
        (`8080${?X}` is the number 8080), where the parser would make a string of them."""
        positions = self.result.positions
        substituted = [s.key_path for s in self.result.substitutions if s.key_path]
        vanishing = []
        for start, end, name in self.joined_optionals:
            path = tuple(name.split("."))
            if name in environment or '"' in name or path in positions:
                continue
            if any(path[: len(target)] == target for target in substituted):
                continue  # a substitution may give the file that path
            vanishing.append((start, end))
        for index, (start, end) in enumerate(vanishing):
            # Of a run of them that is a whole value (`a = ${?X}${?Y}`), one stays: the value is unset.
            run_start = start
            for earlier_start, earlier_end in reversed(vanishing[:index]):
                if earlier_end != run_start:
                    break
                run_start = earlier_start
            last_of_run = index + 1 == len(vanishing) or vanishing[index + 1][0] != end
            whole_value = self.text[run_start - 1] in _BEFORE_A_FIRST_PIECE and not _joins_next(
                self.text, end
            )
            if not (last_of_run and whole_value):
                self.edits.append((start, end, ""))
        self.edits.sort()

    def _refuse_size(self, tokens: int, lexeme: str, position: Position) -> NoReturn:
        if tokens > MAX_TOKENS:
            raise SourceError(f"file has more than {MAX_TOKENS:,} keys, values and brackets", position)
        if len(lexeme) > MAX_TOKEN_LENGTH:
            raise SourceError(f"a key or value is longer than {MAX_TOKEN_LENGTH:,} characters", position)
        raise SourceError(f"more than {MAX_BLANK_RUN:,} blank characters in a row", position)

    def _add_key_token(self, frame: _Frame, token: str, unquoted: bool, adjacent: bool) -> None:
        """Split a key token the way HOCON does: `a.b` is two segments, `"a.b"` one, `a."b"` two."""
        pieces = token.split(".") if unquoted else [_unquote(token)]
        first = pieces[0]
        if first or not unquoted:
            if frame.key and not frame.open_dot:
                frame.key[-1] += first if adjacent else f" {first}"
            else:
                frame.key.append(first)
        frame.key.extend(piece for piece in pieces[1:] if piece)
        frame.open_dot = len(pieces) > 1 and not pieces[-1]

    def _read_listed_strings(self, path: KeyPath, offsets: list[int], line: int, line_start: int) -> None:
        """The elements of a list of plain strings written on one line after its opener."""
        positions = self.result.positions
        assignments = self.assignments
        for index, offset in enumerate(offsets):
            element = (*path, index)
            positions[element] = Position(line, offset - line_start + 1)
            assignments.append(element)
        self.array_lengths[path] = len(offsets)

    def _read_inline_fields(
        self, path: KeyPath, fields: list[re.Match[str]], line: int, line_start: int
    ) -> None:
        """The fields of an object written on one line after its opener, each read as a plain field is
        (`_finish_written_key`, then its value)."""
        positions = self.result.positions
        object_paths = self.object_paths
        object_paths.add(path)
        for found in fields:
            key = found.group("key")
            position = Position(line, found.start() - line_start + 1)
            self.fields += 1
            if len(path) >= MAX_NESTING_DEPTH:
                raise SourceError(f"nesting is deeper than {MAX_NESTING_DEPTH} levels", position)
            field = (*path, key[1:-1] if key[0] == '"' else key)
            known = len(positions)
            positions[field] = position
            if len(positions) == known and field in object_paths:  # the path had a position already
                self.redefines_objects = True
            self.assignments.append(field)
            value = found.group("value")
            if (
                value[0] in _NUMBER_START
                and not (value.isdigit() and (value[0] != "0" or len(value) == 1))
                and _is_lightbend_only_number(value)
            ):
                self._note(_number_violation(value, Position(line, found.start("value") - line_start + 1)))
            if field[-1] in SECRET_KEYS:
                self.result.secrets.add(value[1:-1] if value[0] == '"' else value)

    def _finish_written_key(self, frame: _Frame, written: str, position: Position) -> None:
        """`_finish_key` for a key read in one match (`a`, `a.b` or `"a.b"`), not an append, while
        `frame.key` is empty: what most fields are; a key of one segment in fewer steps."""
        if written[0] == '"':
            segment = written[1:-1]
        elif "." in written:
            frame.key = written.split(".")
            self._finish_key(frame, position, append=False)
            return
        else:
            segment = written
        frame.open_dot = frame.value_seen = frame.appending = frame.subst_seen = False
        frame.in_value = True
        self.fields += 1
        parent = frame.path
        if len(parent) >= MAX_NESTING_DEPTH:
            raise SourceError(f"nesting is deeper than {MAX_NESTING_DEPTH} levels", position)
        if not frame.holds_keys:
            frame.holds_keys = True
            self.object_paths.add(parent)
        path = (*parent, segment)
        positions = self.result.positions
        known = len(positions)
        positions[path] = position
        if len(positions) == known and path in self.object_paths:  # the path had a position already
            self.redefines_objects = True
        self.assignments.append(path)
        frame.key_path = path

    def _finish_key(self, frame: _Frame, position: Position, *, append: bool) -> None:
        segments = frame.key
        frame.key = []
        frame.open_dot = False
        frame.in_value = True
        frame.value_seen = False
        frame.appending = append
        frame.subst_seen = False
        self.fields += 1
        if not segments:  # a value with no key: the parser reports it
            frame.key_path = frame.path
            return
        if len(frame.path) + len(segments) > MAX_NESTING_DEPTH:
            raise SourceError(f"nesting is deeper than {MAX_NESTING_DEPTH} levels", position)
        positions = self.result.positions
        assignments = self.assignments
        path = frame.path
        self.object_paths.add(path)
        for segment in segments[:-1]:
            path = (*path, segment)
            if self.self_references:
                self._check_object_after_self_reference(path, position)
            if positions.setdefault(path, position) is not position:
                self.redefines_objects = True
            assignments.append(path)
            self.object_paths.add(path)
        path = (*path, segments[-1])
        if path in positions and (append or path in self.object_paths):
            self.redefines_objects = True
        positions[path] = position
        assignments.append(path)
        if append:  # `a += v` appends v as one more element of the array a
            self.self_references.setdefault(path, (position, self.fields, "refers to itself"))
            index = self.array_lengths.get(path, 0)
            appends = self.appends[path] = self.appends.get(path, 0) + 1
            self.total_appends += 1
            if self.total_appends > MAX_TOTAL_APPENDS:
                raise SourceError(
                    f"more than {MAX_TOTAL_APPENDS:,} `+=` in the file: write lists instead", position
                )
            if appends > MAX_APPENDS:
                raise SourceError(
                    f"more than {MAX_APPENDS} `+=` to {render_path(path)}: write one list instead", position
                )
            self.array_lengths[path] = index + 1
            path = (*path, index)
            positions[path] = position
            assignments.append(path)
        frame.key_path = path

    def _note(self, violation: SourceError, starts: int | None = None) -> None:
        """Keep the first thing found that the control plane would refuse (or that a rule refuses),
        and scan on: the parser may find an earlier error, which is the one to report."""
        if self.result.violation is None:
            self.result.violation = violation
            self.result.violation_starts = starts or (violation.position.line if violation.position else 0)

    def _check_append(self, key_lexeme: str, stack: list[_Frame], position: Position) -> None:
        """Note a `+=` Lightbend Config refuses: after a key it reads as a number, or inside a list."""
        if key_lexeme and key_lexeme[0] in _NUMBER_START and _NUMBER_CHARACTERS.fullmatch(key_lexeme):
            # Lightbend reads `1+` as one number token, and `+` cannot be in one.
            self._note(SourceError(f"syntax error: `{key_lexeme}+=`: quote the key", position))
        if stack and any(enclosing.is_array or enclosing.appending for enclosing in stack):
            self._note(
                SourceError(
                    "syntax error: `+=` does not work inside a list, nor inside the value of another `+=` "
                    "(the control plane refuses it): "
                    "move it out of the list and refer to it with ${...}",
                    position,
                )
            )

    def _check_lexeme(self, kind: str | None, lexeme: str, line: int, position: Position) -> None:
        """Note what Lightbend's tokenizer refuses in a substitution, a triple-quoted string or a
        character no token takes."""
        if kind == "other":
            self._note(_character_violation(lexeme, position))
        elif kind == "subst" and not lexeme.endswith("}"):
            self._note(SourceError("syntax error: `${` is not closed with `}`", position))
        elif kind == "triple" and (len(lexeme) < 6 or not lexeme.endswith('"""')):
            # Lightbend reports it where the text ends; the string starts `line` lines before.
            end_line = self.text.count("\n") + 1
            self._note(
                SourceError("syntax error: a triple-quoted string is not closed", Position(end_line, 1)),
                starts=line - lexeme.count("\n"),
            )

    def _check_object_after_self_reference(self, path: KeyPath, position: Position) -> None:
        earlier = self.self_references.get(path)
        if earlier is not None and earlier[1] != self.fields:
            self._note(
                SourceError(
                    f"{render_path(path)} {earlier[2]} (line {earlier[0].line}) and is then given an object or "
                    "a substitution: how the control plane merges them depends on the earlier values' types; write "
                    "its final value once",
                    position,
                )
            )

    def _finish_include(self, include: _IncludeDirective, line: int) -> None:
        directive = " ".join(self.text[include.start : include.end].split()).removesuffix(",").rstrip()
        self.result.includes.append(
            Include(include.kind, include.required, ", ".join(include.targets), include.position, directive)
        )
        # The directive becomes blanks of the same shape (its lines and the columns after it stay),
        # in place of the edits made inside it; lines it spans keep their indentation.
        while self.edits and self.edits[-1][0] >= include.start:
            self.edits.pop()
        for spanned in range(include.position.line + 1, line + 1):
            self.result.indents.pop(spanned, None)
        region = self.text[include.start : include.end]
        self.edits.append((include.start, include.end, re.sub("[^\n]", " ", region)))

    def _edited_text(self) -> str:
        """The text for the parser: every line keeps its number, every token its column."""
        pieces: list[str] = []
        cursor = 0
        for start, end, replacement in self.edits:
            pieces.append(self.text[cursor:start])
            pieces.append(replacement)
            cursor = end
        pieces.append(self.text[cursor:])
        return "".join(pieces)


_INCLUDE_KINDS: tuple[IncludeKind, ...] = ("url", "file", "classpath")


@dataclass(slots=True)
class _IncludeDirective:
    """An include directive being read, token by token, to the grammar Lightbend Config accepts:
    `include "x"`, `include file("x")` (or `url(`, `classpath(`), `include required(...)` of either,
    with blanks and new lines allowed between the tokens and none before an open parenthesis."""

    start: int
    position: Position
    end: int
    kind: IncludeKind = "plain"
    required: bool = False
    state: Literal["start", "resource", "string", "close", "close_required", "done"] = "start"
    targets: list[str] = field(default_factory=list)

    def feed(self, kind: str | None, lexeme: str, position: Position) -> None:
        if kind == "str" or kind == "triple":
            if self.state in ("start", "resource"):
                self.state = "close_required" if self.required else "done"
            elif self.state == "string":
                self.state = "close"
            else:
                self._refuse(lexeme, position)
            self.targets.append(_unquote(lexeme) if kind == "str" else lexeme[3:-3])
            return
        if kind != "word":
            self._refuse(lexeme, position)
        rest = lexeme
        while rest:
            if self.state == "start" and rest.startswith("required("):
                self.required, self.state, rest = True, "resource", rest[len("required(") :]
            elif self.state in ("start", "resource"):
                found = next((name for name in _INCLUDE_KINDS if rest.startswith(f"{name}(")), None)
                if found is None or rest != f"{found}(":
                    self._refuse(lexeme, position)
                self.kind, self.state, rest = found, "string", ""
            elif self.state == "close" and rest.startswith(")"):
                self.state, rest = ("close_required" if self.required else "done"), rest[1:]
            elif self.state == "close_required" and rest == ")":
                self.state, rest = "done", ""
            else:
                self._refuse(lexeme, position)

    def _refuse(self, lexeme: str, position: Position) -> NoReturn:
        expected = {
            "start": 'a quoted file name, file("..."), url("..."), classpath("...") or required(...)',
            "resource": 'a quoted file name, file("..."), url("...") or classpath("...")',
            "string": "a quoted file name",
            "close": "`)`",
            "close_required": "`)`",
            "done": "a comma or a new line",
        }[self.state]
        raise SourceError(f"syntax error: include directive expects {expected}, not {lexeme!r}", position)


# In a quoted string Lightbend Config refuses a raw control character (a tab too) and any escape
# but JSON's; both stop the reading at the string.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f]")
_JSON_ESCAPE = re.compile(r'\\(?:[\\"/bfnrt]|u[0-9a-fA-F]{4})')


def _string_violation(lexeme: str, position: Position) -> SourceError | None:
    """What Lightbend Config refuses in the quoted string `lexeme`, if anything."""
    if len(lexeme) < 2 or not lexeme.endswith('"'):
        return SourceError("syntax error: a quoted string is not closed on its line", position)
    body = lexeme[1:-1]
    if "\\" in body and "\\" in _JSON_ESCAPE.sub("", body):
        return SourceError("syntax error: invalid escape in a quoted string (JSON's escapes only)", position)
    bad = _CONTROL_CHARACTER.search(body)
    if bad is None:
        return None
    shown = {"\t": "a tab", "\r": "a carriage return"}.get(
        bad.group(), f"control character {ord(bad.group()):#04x}"
    )
    return SourceError(
        f"syntax error: {shown} inside a quoted string: write it as an escape (\\t, \\r, \\u00XX)", position
    )


_RESERVED_MEANING = {"$": "`$` not followed by `{`", "+": "`+` not followed by `=`"}


def _character_violation(character: str, position: Position) -> SourceError:
    what = _RESERVED_MEANING.get(character, f"reserved character {character!r}")
    return SourceError(f"syntax error: {what} outside quotes (quote the value)", position)


_JOINS_A_SUBSTITUTION = "joins a substitution to a list or an object"
_NUMBER_START = frozenset("-0123456789")
_NUMBER_CHARACTERS = re.compile(r"[-0-9][-0-9eE.]*")
# What Lightbend Config reads as a number, and the subset (JSON's) that the parser reads as one too.
_LIGHTBEND_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _is_lightbend_only_number(word: str) -> bool:
    """True for an unquoted `word` that Lightbend reads as a number and the parser as text (`007`, `5.`)."""
    if _JSON_NUMBER.fullmatch(word) or not _LIGHTBEND_NUMBER.fullmatch(word):
        return False
    if any(mark in word for mark in ".eE"):
        return True
    return int(word) in _LONG_RANGE  # a longer integer is text for both


def _number_violation(word: str, position: Position) -> SourceError:
    return SourceError(
        f"unquoted number {word!r} is not written as JSON writes numbers: the control plane reads it as "
        f"{float(word) if any(mark in word for mark in '.eE') else int(word)!r}; write that, or quote it",
        position,
    )


class _Node:
    """A key of the merge-work model: `weight` is what a deep copy of it costs."""

    __slots__ = ("children", "priors", "weight")

    def __init__(self, depth: int = 0) -> None:
        self.children: dict[PathSegment, _Node] = {}
        self.priors: dict[PathSegment, int] = {}
        self.weight = depth


def _merge_work(assignments: list[KeyPath], limit: int) -> int:
    """What the parser would spend keeping the previous values of redefined keys, counted up to just
    past `limit` (see MAX_MERGE_WORK).

    Replays every assignment on a tree of weights. Redefining a key walks and copies everything
    under it, previous copies included, at a cost per node that grows with the node's depth (its
    full path is rebuilt): a node weighs its depth, and a copy weighs on every enclosing object.
    """
    root = _Node()
    work = 0
    for path in assignments:
        chain = [root]
        node = root
        for depth, segment in enumerate(path[:-1], start=1):
            child = node.children.get(segment)
            if child is None:
                child = node.children[segment] = _Node(depth)
                for enclosing in chain:
                    enclosing.weight += depth
            chain.append(child)
            node = child
        last = path[-1]
        target = node.children.get(last)
        if target is None:
            target = node.children[last] = _Node(len(path))
            growth = target.weight
        else:
            work += target.weight
            if work > limit:
                return work
            growth = target.weight - node.priors.get(last, 0)
            node.priors[last] = target.weight
        for enclosing in chain:
            enclosing.weight += growth
    return work


def _unquote(token: str) -> str:
    body = token[1:-1] if len(token) >= 2 else token
    if "\\" not in body:
        return body
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", _unescape, body)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}


def _unescape(match: re.Match[str]) -> str:
    escape = match.group(1)
    if escape.startswith("u") and len(escape) == 5:
        return chr(int(escape[1:], 16))
    return _ESCAPES.get(escape, escape)


def scan(text: str, environment: Collection[str] | None = None) -> SourceMap:
    """Positions, includes, substitutions and secrets of `text`; `SourceError` if it is too deep or wide.

    With the names of the container's `environment`, the text for the parser also leaves out the
    optional substitutions that vanish there and would change the type of what they are joined to.
    """
    return _Scanner(text, environment).scan()


def _joins_next(text: str, offset: int) -> bool:
    """True when a value piece starts right at `offset` (no blank, separator or comment before it)."""
    following = text[offset : offset + 2]
    return bool(following) and following[0] not in _PIECE_BOUNDARIES and following != "//"


# What can stand right before the first piece of a value: a separator, an opening bracket, a blank.
_BEFORE_A_FIRST_PIECE = frozenset(" \t\r\n\f\v,:=[{")
_PIECE_BOUNDARIES = frozenset(" \t\r\n,}]#\f\v")


# --- parsing -----------------------------------------------------------------------------------


@contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a config is parsed and checked.

    Parsing allocates a few hundred thousand small objects and no cycles that outlive it; the
    collector would scan the growing heap again and again (a quarter of the time at 1,000
    locations, and time that grows faster than the file). Reference counting still frees memory.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
class ParseFailure(Exception):
    """The parser refused the text: `kind` says whether it is the syntax, a substitution or the root."""

    kind: Literal["syntax", "substitution", "cycle", "root"]
    message: str
    position: Position | None = None
    name: str = ""  # the parser's name for the error (`UnsupportedConcatenation`)


# The parser names its errors (`UnexpectedToken`); these read better in a finding.
_FAILURE_WORDS = {
    "Unresolved": "could not resolve substitution",
    "SubstitutionCycle": "circular substitution: these values refer to each other",
    "UnsupportedConcatenation": "these values cannot be concatenated (a list or an object next to another kind)",
    "UnexpectedToken": "unexpected token",
    "InvalidEscape": "invalid escape in a quoted string",
    "IncludeNeedsFile": "include directive is never read",
    "UnsupportedInclude": "include directive is never read",
}
# Lightbend Config keeps an integer that does not fit in 64 bits as the text it was written as.
_LONG_RANGE = range(-(2**63), 2**63)


def _failure_text(name: str | None) -> str:
    if not name:
        return "the HOCON parser refused the file"
    return _FAILURE_WORDS.get(name) or re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def parse_resolved(text: str, environment: Mapping[str, str]) -> dict[str, Any]:
    """Parse `text` and resolve it against exactly `environment`, reading no file or URL.

    zig-hocon is given no base directory, so any include directive left in the text is an error,
    never a read or a fetch. Raises `ParseFailure`.
    """
    return _parse_to_json(text, environment)[0]


def _parse_to_json(text: str, environment: Mapping[str, str]) -> tuple[dict[str, Any], bytes]:
    """`parse_resolved`, and the parser's JSON of the tree."""
    try:
        config = zig_hocon.ConfigFactory.parse_string(text, env=dict(environment))
        written = config.to_json()
        tree: object = json.loads(written, parse_int=_lightbend_integer)
    except zig_hocon.ConfigSubstitutionException as error:
        position = Position(error.line, max(error.column or 1, 1)) if error.line else None
        kind: Literal["substitution", "cycle"] = "substitution" if error.name == "Unresolved" else "cycle"
        raise ParseFailure(kind, _failure_text(error.name), position, error.name or "") from None
    except zig_hocon.ConfigException as error:
        position = Position(error.line, max(error.column or 1, 1)) if error.line else None
        raise ParseFailure("syntax", _failure_text(error.name), position, error.name or "") from None
    if not isinstance(tree, dict):
        raise ParseFailure("root", "the file's root must be an object, not a list", Position(1, 1))
    return tree, written


def _lightbend_integer(written: str) -> int | str:
    """An integer of the parser's JSON as Lightbend Config reads it: beyond 64 bits, its text."""
    value = int(written)
    return value if len(written) < 19 or value in _LONG_RANGE else str(value)


# --- plain documents: read as they are written ------------------------------------------------

# What one match of `_PLAIN_DOCUMENT` recognises is a document the scanner would hand to the parser
# with only its comments, blank lines and indentation removed, noting nothing and reaching no limit
# (docs/validator.md, "Speed"): keys of one segment, never `include`; values that are a quoted
# string with no escape, control character or `{`, a number as JSON writes it (at most 18 digits
# before the point), an unquoted word of letters, digits, `_`, `-` and `.` that starts with a letter
# or `_`, a whole `${NAME}` or `${?NAME}`, or a list or an object of them; each value alone, then a
# comma, a line end or the closing bracket; spaces as the only blanks; at most
# `_PLAIN_DEPTH` levels of brackets and MAX_ARRAY_ITEMS items in each. Every loop is possessive
# or bounded, so the match is linear. `read_plain` checks what a match cannot. (An optional part is
# written `(?:x|)`, which the engine runs faster than `(?:x)?`.)
_PLAIN_DEPTH = 12
_P_BLANKS = "[ ]{0,64}+"
_P_COMMENT = "(?:#|//)[^\\x00-\\x1f]*+"
# Blanks, comments and line ends between two tokens (runs of blanks are judged apart).
_P_LINE_ENDS = f"[ ]*+(?:(?=[#/\\n])(?:{_P_COMMENT}|)\\n[ ]*+)*+"
_P_KEY = '(?:(?!include(?![A-Za-z0-9_-]))[A-Za-z0-9_-]{1,1024}+|"[^"\\\\\\x00-\\x1f{]{1,1024}+")'
_P_LEAF = (
    '(?:"[^"\\\\\\x00-\\x1f{]{0,4096}+"'
    "|-?(?:0|[1-9][0-9]{0,17}+)(?:\\.[0-9]{1,64}+|)(?:[eE]-?[0-9]{1,3}+|)"
    "|[A-Za-z_][A-Za-z0-9_.-]{0,1023}+"
    "|\\$\\{\\??[A-Za-z_][A-Za-z0-9_]{0,255}+\\})"
)


def _plain_items(value: str, last: str) -> str:
    """Items of a body (a key, then a separator, or none before a `{`; then `value`), each followed by
    a comma, a line end, or, for the last one, what `last` allows."""
    item = f"(?:{_P_KEY}{_P_BLANKS}(?:[:=]{_P_BLANKS}|(?=\\{{))|){value}"
    # (a bare line end first: the commonest)
    end = f"(?:\\n{_P_LINE_ENDS}|[ ]*+(?:{_P_COMMENT}|)\\n{_P_LINE_ENDS}|{_P_BLANKS},{_P_LINE_ENDS}|{last})"
    return f"(?:{item}{end})"


def _plain_document() -> re.Pattern[str]:
    value = _P_LEAF
    for _ in range(_PLAIN_DEPTH):  # a list or an object holds values one level less deep
        items = _plain_items(value, f"{_P_BLANKS}(?=[\\]}}])")
        value = f"(?:{_P_LEAF}|[\\[{{]{_P_LINE_ENDS}{items}{{0,{MAX_ARRAY_ITEMS}}}+[\\]}}])"
    nested = _plain_items(value, f"{_P_BLANKS}(?=\\}})")
    top = _plain_items(value, f"[ ]*+(?:{_P_COMMENT})?\\Z")
    return re.compile(
        f"{_P_LINE_ENDS}(?:\\{{{_P_LINE_ENDS}{nested}*+\\}}{_P_LINE_ENDS}[ ]*+(?:{_P_COMMENT})?|{top}*+)\\Z"
    )


# Compiled when first used: compiling takes about 30 ms, which no import should pay.
_plain_pattern: list[re.Pattern[str]] = []
_TOO_MANY_BLANKS = " " * (MAX_BLANK_RUN + 1)
_PLAIN_BRACED_ROOT = re.compile(f"{_P_LINE_ENDS}\\{{")
# In a plain document: every `{` that opens an object (strings and comments skipped), then the end.
_PLAIN_OPENERS = re.compile('(?:"[^"\\n]*+"|(?:#|//)[^\\n]*+|\\$\\{|[^"#/{$\\n]++|[/$\\n])*+(\\{|\\Z)')
# Every byte but those `read_plain` counts: brackets, commas, line ends, the marks of comments and
# substitutions, and quotes (so that a `$` in a string never seems to be followed by a `{`).
_NOT_A_MARK = bytes(byte for byte in range(256) if chr(byte) not in '{}[],\n#/$"')
_PLAIN_SUBSTITUTION = re.compile(r"\$\{(\??)([A-Za-z_][A-Za-z0-9_]*)\}")
_UNQUOTED_KEY = re.compile(r"[A-Za-z0-9_-]+")
_PLAIN_SECRET = re.compile(r'"?[ ]*[:=][ ]*(?:"([^"\n]*)"|([A-Za-z0-9_.-]+))')
_PLAIN_JSON_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_JSON_OBJECT_KEYS = re.compile(rb'"([^"\\]*)":\{')
# A key (1,024 characters, quoted), the blanks around its separator (64 each) and the separator.
_PLAIN_FIELD_BEFORE_VALUE = 1_200


@dataclass(frozen=True, slots=True)
class PlainRead:
    """The resolved tree of a plain document, and the values written after a `token` or `password`
    key (each with how many times it is written so): every secret literal the scanner would note,
    and maybe more."""

    tree: dict[str, Any]
    secrets: dict[str, int]


def read_plain(text: str, environment: Mapping[str, str]) -> PlainRead | None:
    """The tree of `text` when it is a plain document, parsed as it is written; None for any other
    document, and when the parser refuses it: `scan` judges those, and places what it reports.

    Beyond the match: no more tokens than MAX_TOKENS (an upper bound from counted characters); no
    object redefined (the parser's JSON has as many objects as the text has `{`, and no key an unset
    optional substitution is given holds an object), so the merge work is never estimated; no
    substitution whose name is a key of the file (a self-reference, or a value from the file).
    """
    if not _plain_pattern:
        _plain_pattern.append(_plain_document())
    if _plain_pattern[0].match(text) is None or _TOO_MANY_BLANKS in text:
        return None
    if any("{" in value for value in environment.values()):
        return None  # the objects are counted by their `{`
    # The characters that count, alone: one pass in C, then counts of a short text.
    marks = text.encode().translate(None, _NOT_A_MARK)
    opening, substitutions = marks.count(b"{"), marks.count(b"${")
    if len(text) > MAX_TOKENS:
        count = marks.count
        closing, commas = count(b"}") + count(b"]"), count(b",")
        items = commas + count(b"\n") + closing + 1  # each ends with one of them, or the end
        if 3 * items + opening + count(b"[") + closing + commas > MAX_TOKENS:
            return None
    try:
        tree, written = _parse_to_json(text, environment)
    except ParseFailure:
        return None
    if b"#" in marks or b"//" in marks:  # perhaps comments, which may hold a `{`
        objects = _PLAIN_OPENERS.findall(text).count("{")
    else:  # strings hold no `{`: each one is an object's or a substitution's (a `"` is kept between)
        objects = opening - substitutions
    if _PLAIN_BRACED_ROOT.match(text) is None:
        objects += 1  # the root
    if written.count(b"{") != objects:
        return None  # objects merged or replaced: the scanner estimates that work
    if substitutions and not _plain_substitutions(text, tree, written, environment, substitutions):
        return None
    secrets: dict[str, int] = {}
    for word in SECRET_KEYS:
        start = text.find(word)
        while start >= 0:
            found = _PLAIN_SECRET.match(text, start + len(word))
            if found is not None:
                value = found.group(1) if found.group(1) is not None else found.group(2)
                secrets[value] = secrets.get(value, 0) + 1
            start = text.find(word, start + 1)
    return PlainRead(tree, secrets)


def _plain_substitutions(
    text: str, tree: dict[str, Any], written: bytes, environment: Mapping[str, str], most: int
) -> bool:
    """True when no substitution of a plain document is one the scanner notes, or one the file may
    resolve: neither a self-reference nor a name of the file's own keys, nor an unset optional one
    given to a key that holds an object (the earlier value stays: a redefinition).

    Looks at every `${` that reads as a substitution (`most` of them at most), some perhaps in
    comments, which only makes it stricter; each in constant time, so many on one line stay linear."""
    holding_objects: set[bytes] | None = None  # the keys that hold an object in the JSON
    start = text.find("${")
    while start >= 0 and most > 0:
        most -= 1
        substitution = _PLAIN_SUBSTITUTION.match(text, start)
        if substitution is not None:
            optional, name = substitution.groups()
            if name in tree:
                return False
            written_key = _key_before(text, start)
            if written_key == name:
                return False  # a self-reference
            if written_key is not None and optional and name not in environment:
                if holding_objects is None:  # every `":{` of the JSON is a key's: its strings hold no `{`
                    holding_objects = set(_JSON_OBJECT_KEYS.findall(written))
                if not _PLAIN_JSON_KEY.fullmatch(written_key) or written_key.encode() in holding_objects:
                    return False
        start = text.find("${", start + 2) if most else -1
    return True


def _key_before(text: str, start: int) -> str | None:
    """The key of the field whose value starts at `start`, when a key and a separator are right before
    it (looked for in the few characters a plain field's key, blanks and separator take)."""
    before = text[max(0, start - _PLAIN_FIELD_BEFORE_VALUE) : start].rstrip(" ")
    if not before.endswith(("=", ":")):
        return None
    before = before[:-1].rstrip(" ")
    if before.endswith('"'):
        opening = before.rfind('"', 0, len(before) - 1)
        key = before[opening + 1 : -1]
        return key if opening >= 0 and "\n" not in key else None
    found = _UNQUOTED_KEY.match(before[::-1])  # read backwards from the separator
    return found.group()[::-1] if found is not None else None
