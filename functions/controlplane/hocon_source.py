"""Turning the bytes of a control-plane.conf into a resolved tree, safely and with positions.

hocon-parser (import name `hocon`) does the HOCON work; docs/validator.md says why it was chosen.
Its public API reports positions only for syntax and substitution errors, so this module also runs
a light scanner over the text that maps every key path (`control-plane.locations[2].region`) to
the line and column of its key, finds include directives and collects secret literals. The scanner
is lenient: it never decides whether the text is valid HOCON (the parser does), it only takes notes.

Nothing here reads a file or a URL named by the config: include directives are blanked out of the
text before the parser sees it, and the parser also gets a file reader and a package resolver that
refuse, so a directive the scanner missed still reads nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import hocon

MAX_CONFIG_BYTES = 1024 * 1024
# Real configs nest about 8 levels (a Kubernetes job spec inside a location a few more); the cap
# keeps hostile input far from the interpreter's recursion limit inside the parser.
MAX_NESTING_DEPTH = 64
# Far above any real number of locations, hosts or subnets, far below what would stall a Lambda.
MAX_ARRAY_ITEMS = 10_000

# Keys whose literal values are secrets: never quoted in any output.
SECRET_KEYS = frozenset({"token", "password"})

PathSegment = str | int
KeyPath = tuple[PathSegment, ...]
IncludeKind = Literal["plain", "file", "url", "classpath", "package"]


@dataclass(frozen=True, slots=True)
class Position:
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
    """What the scanner noted about the text; `text` has its include directives blanked out."""

    text: str
    positions: dict[KeyPath, Position] = field(default_factory=dict)
    includes: list[Include] = field(default_factory=list)
    substitutions: list[Substitution] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

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


# Values of environment variables are unknown when validating: each one resolves to a placeholder
# made of private-use characters, which the rules recognise and skip and messages show as ${NAME}.
_PLACEHOLDER_OPEN, _PLACEHOLDER_CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile("\ue000([^\ue001]*)\ue001")


def environment_placeholder(name: str) -> str:
    """The value a validation gives to the container environment variable `name`."""
    return f"{_PLACEHOLDER_OPEN}{name}{_PLACEHOLDER_CLOSE}"


def is_environment_placeholder(value: object) -> bool:
    """True when `value` is or contains the value of an environment variable."""
    return isinstance(value, str) and _PLACEHOLDER_OPEN in value


def show_placeholders(text: str) -> str:
    """`text` with every placeholder written back as `${NAME}`."""
    return _PLACEHOLDER.sub(lambda match: "${" + match.group(1) + "}", text)


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
_TOKEN = re.compile(
    _SKIP
    + "(?:"
    + f"(?P<nl>\\n(?:{_SKIP}\\n)*)"
    + '|(?P<triple>"""[\\s\\S]*?(?:"""+|\\Z))'
    + '|(?P<str>"(?:[^"\\\\\\n]|\\\\.)*"?)'
    + "|(?P<subst>\\$\\{[^}\\n]*\\}?)"
    + "|(?P<open>\\{)|(?P<close>\\})|(?P<lbr>\\[)|(?P<rbr>\\])|(?P<comma>,)"
    + "|(?P<sep>[:=]|\\+=)"
    + '|(?P<word>(?:[^\\s$"{}\\[\\],:=+#`^?!@*&\\\\/]|/(?!/))+)'
    + "|(?P<other>[\\s\\S])"
    + "|(?P<end>\\Z)"
    + ")"
)
_SUBST_BODY = re.compile(r"\$\{(\??)\s*(.*?)\s*\}", re.DOTALL)
_VALUE_KINDS = frozenset({"str", "word", "triple"})


class _Frame:
    """One open `{...}` or `[...]` of the scan."""

    __slots__ = ("in_value", "is_array", "items", "key", "key_path", "open_dot", "path", "value_seen")

    def __init__(self, path: KeyPath, is_array: bool) -> None:
        self.path = path
        self.is_array = is_array
        self.items = 0  # arrays: elements seen so far
        self.in_value = False  # objects: after a key's separator; arrays: inside an element
        self.value_seen = False  # objects: a value token came after the separator
        self.key: list[str] = []  # objects: segments of the key being read
        self.open_dot = False  # objects: the key so far ends with a `.` separator
        self.key_path: KeyPath = path  # path of the field or element whose value is being read


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.result = SourceMap(text)
        self.array_lengths: dict[KeyPath, int] = {}
        self.blanks: list[tuple[int, int]] = []

    def scan(self) -> SourceMap:
        positions = self.result.positions
        stack: list[_Frame] = []
        frame = _Frame((), is_array=False)
        line, line_start = 1, 0
        key_position = Position(1, 1)
        key_end = -1  # end offset of the last key lexeme: `a"b"` is one key segment, `a "b"` too
        include: _IncludeDirective | None = None
        seen_first = False
        for match in _TOKEN.finditer(self.text):
            kind = match.lastgroup
            if kind == "nl":
                if include is not None:
                    self._finish_include(include)
                    include = None
                line += match.group(kind).count("\n")
                line_start = match.end()
                if frame.is_array or frame.value_seen:
                    frame.in_value = frame.value_seen = False
                continue
            if kind == "end" or kind is None:
                break
            start = match.start(kind)
            lexeme = match.group(kind)
            column = start - line_start + 1
            if kind == "triple" and "\n" in lexeme:
                line += lexeme.count("\n")
                line_start = start + lexeme.rfind("\n") + 1
            if not seen_first:
                seen_first = True
                if kind == "open":  # a braced root: this `{` opens the root object itself
                    stack.append(frame)
                    frame = _Frame((), is_array=False)
                    continue
            if include is not None:
                if include.open_parentheses > 0 or (kind != "comma" and kind != "close"):
                    include.tokens.append(lexeme)
                    include.end = match.end()
                    if kind == "word":
                        include.open_parentheses += lexeme.count("(") - lexeme.count(")")
                    continue
                self._finish_include(include)
                include = None
            if frame.is_array:
                if kind == "rbr":
                    self.array_lengths[frame.path] = frame.items
                    frame = stack.pop() if stack else frame
                    continue
                if kind == "comma":
                    frame.in_value = False
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
            else:
                if kind == "close":
                    frame = stack.pop() if stack else frame
                    continue
                if kind == "comma":
                    frame.in_value = frame.value_seen = False
                    frame.key = []
                    continue
                if not frame.in_value:
                    if kind == "word" or kind == "str":
                        if kind == "word" and lexeme == "include" and not frame.key:
                            include = _IncludeDirective(start, Position(line, column), match.end())
                            continue
                        if not frame.key:
                            key_position = Position(line, column)
                        self._add_key_token(frame, lexeme, kind == "word", start == key_end)
                        key_end = match.end()
                        continue
                    if kind == "rbr":
                        continue  # unbalanced: the parser reports it
                    self._finish_key(frame, key_position, append=lexeme == "+=")
                    if kind == "sep":
                        continue
                frame.value_seen = True
            value_path = frame.key_path
            if kind == "open" or kind == "lbr":
                stack.append(frame)
                if len(stack) > MAX_NESTING_DEPTH:
                    raise SourceError(
                        f"nesting is deeper than {MAX_NESTING_DEPTH} levels", Position(line, column)
                    )
                frame = _Frame(value_path, is_array=kind == "lbr")
            elif kind == "subst":
                body = _SUBST_BODY.fullmatch(lexeme)
                if body is not None:
                    self.result.substitutions.append(
                        Substitution(
                            body.group(2).replace('"', ""),
                            body.group(1) == "?",
                            value_path,
                            Position(line, column),
                        )
                    )
            elif kind in _VALUE_KINDS and value_path:
                last = value_path[-1]
                if isinstance(last, str) and last in SECRET_KEYS:
                    self.result.secrets.add(_unquote(lexeme) if kind == "str" else lexeme.strip('"'))
        if include is not None:
            self._finish_include(include)
        if self.blanks:
            self.result.text = self._blank_out()
        return self.result

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

    def _finish_key(self, frame: _Frame, position: Position, *, append: bool) -> None:
        segments = frame.key
        frame.key = []
        frame.open_dot = False
        frame.in_value = True
        frame.value_seen = False
        if not segments:  # a value with no key: the parser reports it
            frame.key_path = frame.path
            return
        positions = self.result.positions
        path = frame.path
        for segment in segments[:-1]:
            path = (*path, segment)
            positions.setdefault(path, position)
        path = (*path, segments[-1])
        positions[path] = position
        if append:  # `a += v` appends v as one more element of the array a
            index = self.array_lengths.get(path, 0)
            self.array_lengths[path] = index + 1
            path = (*path, index)
            positions[path] = position
        frame.key_path = path

    def _finish_include(self, include: _IncludeDirective) -> None:
        words = "".join(token for token in include.tokens if not token.startswith('"'))
        targets = [_unquote(token) for token in include.tokens if token.startswith('"')]
        kind: IncludeKind = "plain"
        if "url(" in words:
            kind = "url"
        elif "file(" in words:
            kind = "file"
        elif "classpath(" in words:
            kind = "classpath"
        elif "package(" in words:
            kind = "package"
        directive = " ".join(self.text[include.start : include.end].split())
        self.result.includes.append(
            Include(kind, "required" in words, ", ".join(targets), include.position, directive)
        )
        self.blanks.append((include.start, include.end))

    def _blank_out(self) -> str:
        """The text with every include directive replaced by spaces, so positions do not move."""
        pieces: list[str] = []
        cursor = 0
        for start, end in self.blanks:
            pieces.append(self.text[cursor:start])
            pieces.append(_NOT_NEWLINE.sub(" ", self.text[start:end]))
            cursor = end
        pieces.append(self.text[cursor:])
        return "".join(pieces)


_NOT_NEWLINE = re.compile(r"[^\n]")


@dataclass(slots=True)
class _IncludeDirective:
    start: int
    position: Position
    end: int
    tokens: list[str] = field(default_factory=list)
    open_parentheses: int = 0


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


def scan(text: str) -> SourceMap:
    """Positions, includes, substitutions and secrets of `text`; `SourceError` if it is too deep or wide."""
    return _Scanner(text).scan()


# --- parsing -----------------------------------------------------------------------------------


def _refuse_file(path: str) -> NoReturn:
    # Raised as "not found", which the parser treats like the container does: a plain include of a
    # missing file is empty, a required one is an error.
    raise FileNotFoundError(f"the validator never reads included files ({path})")


def _refuse_package(identifier: str, file: str, _including: str | None, _base: str | None) -> NoReturn:
    raise hocon.ResolveError(f'include package("{identifier}", "{file}") is never read', file, 0, 0)


def parse_resolved(text: str, environment: Mapping[str, str]) -> dict[str, Any]:
    """Parse `text` and resolve it against exactly `environment`, reading no file or URL.

    Raises `hocon.ParseError`, `hocon.ResolveError` or `hocon.ConfigError` (array at the root).
    """
    config = hocon.parse(
        text,
        env=dict(environment),
        read_file=_refuse_file,
        package_resolver=_refuse_package,
    )
    tree = config.to_object()
    if not isinstance(tree, dict):  # the Config API only builds objects; kept for the type checker
        raise hocon.ConfigError("document root is not an object", "")
    return tree
