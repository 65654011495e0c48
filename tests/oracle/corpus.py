"""The documents of the differential run: every file of the shared reference folders, Lightbend's
inline test snippets, and documents generated from a seed.

The generator writes HOCON across the spec's features (unquoted strings, path expressions, merging
and overriding, `+=`, self-references, optional substitutions set and unset, concatenation of
strings, arrays and objects, triple quotes, comments, separators, numbers, escapes and unicode, a
byte order mark, CRLF, includes of every form, null, deep nesting) and control-plane-shaped
documents with the values people write in them (URLs, ARNs, image names, JVM options, token
fallbacks). A share of the documents gets one mutation that often makes them invalid (a stray
brace, a raw tab in a string, a doubled comma...), so both verdicts are exercised.

Every document is read alone, as the container reads `/app/conf/control-plane.conf`: an include
of a relative name finds nothing.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

SEED = 20261201
GENERATED = 3_200

# The container's environment as the oracle gives it to both readers: the injected token and one
# more variable; every other name a document uses is unset.
TOKEN_VALUE = "cpt_oracle_token_value_0000"
ENVIRONMENT = {"CONTROL_PLANE_TOKEN": TOKEN_VALUE, "ORACLE_SET": "from-the-environment"}
UNSET = "ORACLE_UNSET"


@dataclass(frozen=True, slots=True)
class Document:
    name: str  # stable: `generated/0042`, `shared/reference/hocon-divergences/h1-....conf`
    data: bytes


def shared_directory() -> Path | None:
    """The shared reference folder: CPA_SHARED_DIR, else `shared` next to the clone."""
    candidates = [os.environ.get("CPA_SHARED_DIR", ""), str(Path(__file__).resolve().parents[3] / "shared")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "reference").is_dir():
            return Path(candidate)
    return None


_SHARED_FOLDERS = ("hocon-divergences", "lightbend-config-tests", "gatling-doc-examples")
_TEXT_SUFFIXES = (".conf", ".json", ".properties")


def shared_documents(shared: Path) -> Iterator[Document]:
    """Every text file of the shared folders, then each inline snippet of Lightbend's tests."""
    reference = shared / "reference"
    for folder in _SHARED_FOLDERS:
        for path in sorted((reference / folder).rglob("*")):
            if path.is_file() and path.suffix in _TEXT_SUFFIXES:
                yield Document(f"shared/{path.relative_to(shared).as_posix()}", path.read_bytes())
    snippets = json.loads((reference / "lightbend-config-tests" / "testutils-snippets.json").read_text())
    for index, snippet in enumerate(snippets["snippets"]):
        yield Document(f"shared/snippets/{index:03d}", snippet["text"].encode("utf-8", "surrogatepass"))


def generated_documents(count: int = GENERATED, seed: int = SEED) -> Iterator[Document]:
    """`count` documents; the same seed always gives the same bytes."""
    for index in range(count):
        rng = _Rng(seed * 100_003 + index)
        rng.clean = rng.random() < 0.5
        maker = _MAKERS[index % len(_MAKERS)]
        text = maker(rng)
        if not rng.clean and rng.random() < 0.3:
            text = _mutate(rng, text)
        data = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.05:
            data = data.replace(b"\n", b"\r\n")
        if rng.random() < 0.04:
            data = b"\xef\xbb\xbf" + data
        yield Document(f"generated/{index:04d}", data)


# --- pieces ------------------------------------------------------------------------------------

_WORDS = ["a", "b", "c", "foo", "bar", "x-y", "k_1", "node", "id", "list", "obj", "port", "host", "1", "true"]
_UNQUOTED = [
    "plain",
    "two words",
    "http://proxy:3128",
    "https://example.com/path",
    "arn:aws:iam::123456789012:role/gatling",
    "registry/lg:3.11",
    "-Dgatling.x=y",
    "-Xmx4G",
    "a/b",
    "a//b",
    "x:y",
    "x=y",
    "10s",
    "512MiB",
    "eu-west-1",
    "c7i.xlarge",
    "a.b.c",
    "foo bar baz",
    "a'b",
    "é",
    "日本",
    "a\u00a0b",
]
_UNQUOTED_BAD = ["a?b", "a!b", "a@b", "a*b", "a&b", "a^b", "a`b", "a+b", "a\\b", "a$b"]
_QUOTED = [
    '"quoted"',
    '"with space"',
    '"http://proxy:3128"',
    '"tab\\there"',
    '"new\\nline"',
    '"quote \\" inside"',
    '"back\\\\slash"',
    '"slash\\/"',
    '"\\u00e9t\\u00E9"',
    '"\\ud83d\\ude00"',
    '"\\b\\f\\r"',
    '""',
    '"日本語"',
    '"a" "b"',
    '"${not.a.subst}"',
]
_QUOTED_BAD = [
    '"bad \\q escape"',
    '"bad \\u12 escape"',
    '"raw\ttab"',
    '"raw\rcr"',
    '"raw\x01control"',
    '"unterminated',
]
_TRIPLE = [
    '"""triple"""',
    '"""with "quotes" inside"""',
    '"""multi\nline\ntext"""',
    '""""x""""',
    '"""a""""',
    '"""\\n stays"""',
    '"""tab\tinside"""',
]
_TRIPLE_BAD = ['"""unterminated']
_NUMBERS = [
    "0",
    "1",
    "-1",
    "42",
    "3.14",
    "-0.5",
    "1e3",
    "1E-2",
    "2.5e+3",
    "1.0",
    "20.0",
    "007",
    "0x10",
    ".5",
    "5.",
    "1e400",
    "-1e400",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "2147483648",
    "123456789012345678901234567890",
    "1.5.2",
    "1-2",
    "+1",
    "- 1",
    "1 2",
    "0.1e",
    "1_000",
    "NaN",
    "Infinity",
]
_LITERALS = ["true", "false", "yes", "no", "on", "off", "null", "True", "NULL", "nulls", "truex"]


class _Rng(random.Random):
    """A seeded generator that also says whether this document keeps to well-formed pieces."""

    clean = False


def _pick(rng: random.Random, good: list[str], bad: list[str]) -> str:
    """A good piece, or a bad one now and then (never in a clean document)."""
    if bad and not getattr(rng, "clean", False) and rng.random() < 0.15:
        return rng.choice(bad)
    return rng.choice(good)


def _key(rng: random.Random) -> str:
    roll = rng.random()
    if getattr(rng, "clean", False) and roll >= 0.8:
        roll = rng.random() * 0.8
    word = rng.choice(_WORDS)
    if roll < 0.55:
        return word
    if roll < 0.7:
        return ".".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 4)))
    if roll < 0.8:
        return rng.choice(
            ['"a.b"', '"with space"', '"" ', '"quoted"', '"日本"', '"a\\"b"', '"x".y', 'a."b.c"']
        )
    if roll < 0.86:
        return rng.choice(["a b", "a  b.c", '"a"b', 'a"b"', "a .b", "a. b", "a..b", ".a", "a.", "1.2", "-x"])
    if roll < 0.92:
        return rng.choice(
            ["a$b", "a?b", "a:b", "a=b", "a/b", "a#b", "a//b", "a@b", "a\\b", "include", "include.x"]
        )
    return word + rng.choice(["-1", "_2", "3"])


def _subst(rng: random.Random, paths: list[str]) -> str:
    optional = rng.random() < 0.5
    roll = rng.random()
    if roll < 0.35 and paths:
        name = rng.choice(paths)
    elif roll < 0.55:
        name = "ORACLE_SET"
    elif roll < 0.75:
        name = UNSET
    elif roll < 0.82:
        name = "CONTROL_PLANE_TOKEN"
    elif roll < 0.9:
        name = _pick(rng, ["missing.path", "a.b", '"a.b"', 'a."b"', " a "], ["a..b", "", "x[0]"])
    else:
        name = rng.choice(_WORDS)
    return "${" + ("?" if optional else "") + name + "}"


def _scalar(rng: random.Random, paths: list[str]) -> str:
    roll = rng.random()
    if roll < 0.25:
        return _pick(rng, _UNQUOTED, _UNQUOTED_BAD)
    if roll < 0.45:
        return _pick(rng, _QUOTED, _QUOTED_BAD)
    if roll < 0.52:
        return _pick(rng, _TRIPLE, _TRIPLE_BAD)
    if roll < 0.7:
        return rng.choice(_NUMBERS)
    if roll < 0.8:
        return rng.choice(_LITERALS)
    if roll < 0.92:
        return _subst(rng, paths)
    # a concatenation of two or three of the above
    parts = [
        rng.choice([*_UNQUOTED[:6], *_QUOTED[:5], *_NUMBERS[:6], _subst(rng, paths), _subst(rng, paths)])
        for _ in range(rng.randint(2, 3))
    ]
    glue = rng.choice([" ", "", "  "])
    return glue.join(parts)


def _value(rng: random.Random, depth: int, paths: list[str]) -> str:
    roll = rng.random()
    if depth > 4 or roll < 0.55:
        return _scalar(rng, paths)
    if roll < 0.72:
        return _object(rng, depth + 1, paths, braces=True)
    if roll < 0.88:
        return _array(rng, depth + 1, paths)
    # concatenation of arrays or objects, possibly with substitutions
    if rng.random() < 0.5:
        parts = [
            _array(rng, depth + 1, paths) if rng.random() < 0.7 else _subst(rng, paths) for _ in range(2)
        ]
    else:
        parts = [
            _object(rng, depth + 1, paths, braces=True) if rng.random() < 0.7 else _subst(rng, paths)
            for _ in range(2)
        ]
    if not getattr(rng, "clean", False) and rng.random() < 0.1:  # an array with an object: not concatenable
        parts[1] = _object(rng, depth + 1, paths, braces=True)
    return rng.choice([" ", ""]).join(parts)


def _separator(rng: random.Random, value: str) -> str:
    roll = rng.random()
    if value.startswith("{") and roll < 0.4:
        return rng.choice([" ", ""])
    if roll < 0.55:
        return rng.choice([" = ", "=", " =", "= "])
    if roll < 0.92:
        return rng.choice([": ", ":", " : "])
    return rng.choice([" += ", "+=", " "])


def _comment(rng: random.Random) -> str:
    return rng.choice(["# comment", "// comment", "#", "//", "# a = 1", "// } ]", "#\t tab"])


def _object(rng: random.Random, depth: int, paths: list[str], *, braces: bool) -> str:
    fields = []
    for _ in range(rng.randint(0 if braces else 1, 5)):
        roll = rng.random()
        if roll < (0.03 if getattr(rng, "clean", False) else 0.06):
            fields.append(_include(rng))
            continue
        if roll < 0.1:
            fields.append(_comment(rng))
            continue
        key = _key(rng)
        value = _value(rng, depth, paths)
        line = key + _separator(rng, value) + value
        if rng.random() < 0.12:
            line += " " + _comment(rng)
        fields.append(line)
        if depth <= 1 and "$" not in key and '"' not in key:
            paths.append(key.strip())
    ending = rng.choice(["\n", "\n", ",\n", ", ", ",", "\n\n"])
    body = ending.join(fields)
    if rng.random() < 0.1:
        body += rng.choice([",", ",\n", "\n,"])  # a trailing comma
    if not braces:
        return body + "\n"
    indent = rng.choice(["", "\n", " ", "\n  "])
    return "{" + indent + body + indent + "}"


def _array(rng: random.Random, depth: int, paths: list[str]) -> str:
    items = [_value(rng, depth, paths) for _ in range(rng.randint(0, 4))]
    if not getattr(rng, "clean", False) and rng.random() < 0.05:
        items.append(rng.choice(["a += 1", 'include "x"']))
    body = rng.choice([", ", ",", "\n", ",\n"]).join(items)
    if rng.random() < 0.1:
        body += ","
    return "[" + body + "]"


def _include(rng: random.Random) -> str:
    name = rng.choice(
        ['"missing.conf"', '"sub/missing"', '"missing.json"', '"missing.properties"', '"reference.conf"']
    )
    forms = [
        f"include {name}",
        f"include file({name})",
        f"include classpath({name})",
        'include url("http://127.0.0.1:9/none.conf")',
        f"include required({name})",
        f"include required(file({name}))",
        f"include required(classpath({name}))",
        f"include {name}, a = 1",
        f"include {name}\n, a = 1",
        f"include\n{name}",
        f"include({name})",
        f"include file ( {name} )",
        f"include {name} {name}",
        "include",
        'include "a" "b"',
        f'include package("pkg", {name})',
    ]
    return rng.choice(forms)


# --- document makers ---------------------------------------------------------------------------


def _spec_document(rng: random.Random) -> str:
    paths: list[str] = []
    head = _comment(rng) + "\n" if rng.random() < 0.3 else ""
    body = _object(rng, 0, paths, braces=False)
    if rng.random() < 0.15:
        return head + "{\n" + body + "}\n"
    return head + body


def _overrides_document(rng: random.Random) -> str:
    """The same keys defined again: merging, overriding, `+=`, self-references, optional fallbacks."""
    key = rng.choice(["a", "a.b", "obj", "list", "path"])
    lines = []
    for _ in range(rng.randint(2, 6)):
        roll = rng.random()
        if roll < 0.2:
            value = f"{{ {rng.choice(_WORDS)} = {rng.choice(_NUMBERS[:8])} }}"
        elif roll < 0.35:
            value = f"[{rng.choice(_NUMBERS[:5])}, {rng.choice(_QUOTED[:3])}]"
        elif roll < 0.55:
            value = "${?" + rng.choice([UNSET, UNSET, "ORACLE_SET", key]) + "}"
        elif roll < 0.7:
            value = (
                "${"
                + key
                + "}"
                + rng.choice([" x", ":/extra", " [9]", " { z = 1 }", "", "${?" + UNSET + "}"])
            )
        elif roll < 0.8:
            value = "${" + rng.choice(["?", ""]) + key + "}"
        else:
            value = rng.choice(_NUMBERS[:6] + _QUOTED[:4] + _UNQUOTED[:3] + ["null"])
        separator = " += " if rng.random() < 0.15 else rng.choice([" = ", ": ", " "])
        if separator == " " and not value.startswith("{"):
            separator = " = "
        lines.append(f"{key}{separator}{value}")
        if rng.random() < 0.2:
            lines.append(f"{key}.y = {rng.choice(_NUMBERS[:4])}")
    return "\n".join(lines) + "\n"


def _deep_document(rng: random.Random) -> str:
    depth = rng.choice([5, 20, 40, 63, 64, 65, 70, 100])
    style = rng.random()
    if style < 0.4:
        return "a." * depth + "x = 1\n"
    if style < 0.8:
        return "a { " * depth + "x = 1" + " }" * depth + "\n"
    return "a = " + "[" * depth + "1" + "]" * depth + "\n"


def _control_plane_document(rng: random.Random) -> str:
    token = rng.choice(
        [
            'token = "cpt_literal_value_000"',
            "token = ${?CONTROL_PLANE_TOKEN}",
            'token = "cpt_literal"\n    token = ${?CONTROL_PLANE_TOKEN}',
            "token = ${CONTROL_PLANE_TOKEN}",
            f'token = "cpt_fallback"\n    token = ${{?{UNSET}}}\n    token = ${{?{UNSET}}}',
            f"token = ${{?CONTROL_PLANE_TOKEN}}\n    token = ${{?{UNSET}}}\n    token = ${{?{UNSET}}}",
            f"token = ${{?{UNSET}}}",
            f"token = ${{{UNSET}}}",
            "token = cpt_unquoted",
            "token = ${?ORACLE_SET}",
        ]
    )
    proxy_url = rng.choice(
        ['"http://proxy:3128"', "http://proxy:3128", '"https://proxy.example.com"', "proxy.example.com"]
    )
    image = rng.choice(
        ['"registry/lg:3.11"', "registry/lg:3.11", '"gatlingcorp/classic-openjdk:latest"', "gatlingcorp/lg"]
    )
    arn = rng.choice(
        [
            '"arn:aws:iam::123456789012:instance-profile/gatling"',
            "arn:aws:iam::123456789012:instance-profile/gatling",
            '"gatling-load-generator"',
            "gatling-load-generator",
        ]
    )
    jvm = rng.choice(
        [
            '["-Xmx4G", "-Dgatling.x=y"]',
            "[-Xmx4G, -Dgatling.x=y]",
            '["-Xmx4G"]',
            "[-Xmx4G, -Xms512M]",
            "[]",
            '["-Dx=y"] ["-Dz=1"]',
        ]
    )
    locations = []
    for index in range(rng.randint(1, 3)):
        kind = rng.choice(["aws", "aws", "kubernetes", "azure", "gcp", "dedicated"])
        fields = [f'id = "prl_{kind}_{index}"', f'type = "{kind}"']
        if kind == "aws":
            fields += [
                rng.choice(['region = "eu-west-1"', "region = eu-west-1", "region: us-east-1"]),
                "ami { type = certified, java = latest }",
                rng.choice(
                    [
                        'security-groups = ["sg-0123"]',
                        "security-groups = [sg-0123]",
                        'security-groups: ["sg-1", "sg-2"]',
                    ]
                ),
                rng.choice(['instance-type = "c7i.xlarge"', "instance-type = c7i.xlarge"]),
                rng.choice(['subnets = ["subnet-1"]', "subnets = [subnet-1, subnet-2]"]),
                f"iam-instance-profile = {arn}",
                rng.choice(["spot = false", "spot = preferred", "spot: true", ""]),
            ]
        elif kind in ("kubernetes", "azure"):
            fields += [f"image {{ type = custom, image = {image} }}"]
            if kind == "azure":
                fields += [
                    "region = westeurope",
                    'size = "Standard_A4_v2"',
                    "subscription = 00000000-0000-0000-0000-000000000000",
                    'network-id = "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/z"',
                    "subnet-name = default",
                ]
        elif kind == "gcp":
            fields += [
                'zone = "europe-west3-a"',
                "project = my-project",
                'machine { type = "c3-highcpu-4", image { type = certified }, disk { sizeGb = 20 } }',
            ]
        else:
            fields += [
                'ssh { user = "gatling", private-key.path = "/app/conf/key" }',
                'hosts = ["1.2.3.4", "host.example.com"]',
            ]
        fields += [
            f"jvm-options = {jvm}",
            rng.choice(
                ['system-properties { "gatling.a" = "1" }', "system-properties { gatling.a = 1 }", ""]
            ),
        ]
        if rng.random() < 0.3:
            fields.append(f"enterprise-cloud.proxy.url = {proxy_url}")
        separator = rng.choice(["\n      ", ", ", ",\n      "])
        locations.append("{\n      " + separator.join(f for f in fields if f) + "\n    }")
    extras = []
    if rng.random() < 0.3:
        extras.append(f"enterprise-cloud {{ proxy {{ url = {proxy_url} }} }}")
    if rng.random() < 0.2:
        extras.append('repository { type = aws, bucket = "my-bucket", path = "results" }')
    if rng.random() < 0.2:
        extras.append("server { port = 8080, bindAddress = 0.0.0.0 }")
    if rng.random() < 0.2:
        extras.append('description = "Gatling control plane: ${?ORACLE_SET}"')
    body = "\n    ".join([token, *extras])
    text = (
        "control-plane {\n    "
        + body
        + "\n    locations = [\n    "
        + ",\n    ".join(locations)
        + "\n    ]\n}\n"
    )
    if rng.random() < 0.25:
        text = (
            rng.choice(
                [
                    "location-defaults { engine = classic }\n",
                    f"shared.token = ${{?{UNSET}}}\n",
                    'include "extra.conf"\n',
                    "// generated by terraform\n",
                ]
            )
            + text
        )
    return text


_MAKERS: list[Callable[[random.Random], str]] = [
    _spec_document,
    _spec_document,
    _spec_document,
    _overrides_document,
    _control_plane_document,
    _control_plane_document,
    _deep_document,
]


def _mutate(rng: random.Random, text: str) -> str:
    """One edit that often breaks the document, at a random line."""
    lines = text.split("\n")
    at = rng.randrange(len(lines))
    mutation = rng.choice(
        [
            "}",
            "]",
            "{",
            "[",
            ",,",
            "a = 1 }",
            "x = ",
            "= 1",
            "+= 2",
            'q = "raw\ttab"',
            'q = "raw\rcr"',
            "q = ${",
            "q = ${unclosed",
            "q = ${?}",
            "q = $",
            "q = ${missing.key}",
            "loop = ${loop}",
            "c1 = ${c2}\nc2 = ${c1}",
            "q = [1] [2]",
            "q = [1] {a = 1}",
            "q = {a = 1} [1]",
            "q = [1] tail",
            "q = { a = 1 } tail",
            "q { x = 1 } { y = 2 }",
            "q = [ { b += 1 } ]",
            '"q"r = 1',
            'q."r".s = 1',
            "q = 1e400",
            "q = \\u0041",
            "q = a\\tb",
            "q = \u0000nul",
            'q = """never closed',
            "{ q = 1 }",
            "q = 1 // comment } ]",
            "q = http://x // y",
        ]
    )
    lines.insert(at, mutation)
    return "\n".join(lines)
