"""Property-based: whatever bytes arrive, the validator answers with a verdict and keeps the token secret."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest
from controlplane import hocon_source
from controlplane.validation import DeploymentContext, ValidationResult, validate_config
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = (
    Path(os.environ.get("CPA_SHARED_DIR", REPO_ROOT.parent / "shared")) / "reference" / "gatling-doc-examples"
)

INLINE_SEEDS = [
    b"""control-plane {
  token = "cpt_seed_token_value"
  token = ${?CONTROL_PLANE_TOKEN}
  description = "seed"
  server { port = 8080, certificate { path = "/c.p12", password = ${?CERT} } }
  locations = [
    { id = "prl_a", type = aws, region = eu-west-1, ami { type = custom, id = ami-1 },
      security-groups = [sg-1], subnets = [s-1, s-2], instance-type = c7i.xlarge, spot = preferred,
      elastic-ips = ["203.0.113.3"], auto-associate-public-ipv4 = false, tags { a = b } }
    { id = "prl_g", type = gcp, zone = z, project = p,
      machine { type = t, image { type = certified, java = 25 }, disk { sizeGb = 20 } } }
    { id = "prl_d", type = dedicated, ssh { user = u, private-key { path = "/k" } }, hosts = [h1] }
  ]
  locations += { id = "prl_k", type = kubernetes, image { type = certified }, job = { include "job.json" } }
}
""",
    b'control-plane { token = ${?CONTROL_PLANE_TOKEN}, locations = [ {"id":"prl_j","type":"azure",'
    b'"region":"r","size":"s","image":{"type":"custom","image":null},"subscription":"x","network-id":"n",'
    b'"subnet-name":"d","tags":null}, ] }\nshared = { a = ${control-plane.locations} }\n',
    b'a.b.c = 1\na { b { d = ${a.b.c} } }\n"q.k" = """multi\nline"""\narr = [1, 2] [3]\n',
]
SEEDS = INLINE_SEEDS + (
    [path.read_bytes() for path in sorted(EXAMPLES_DIR.iterdir())] if EXAMPLES_DIR.is_dir() else []
)
FRAGMENTS = [
    b"{", b"}", b"[", b"]", b'"', b'"""', b"${", b"${?", b"}", b"=", b":", b"+=", b",", b"\n", b"#", b"//",
    b"include ", b'include "x"', b"include url(", b"required(", b"null", b"\\", b".", b"\x00", b"\xff",
    b"\xef\xbb\xbf", b"\r\n", b"\t", b"prl_", b"cpt_", b"token = ", b"locations = [", b"type = aws",
    b"\\u0000", b"\\ud800", b"1e999", b"-", b"\xe2\x80\xa8", b"a = 1", b' x.y = "z"', b"\n k = v,", b'"q" : w',
    b"include = 1",
]  # fmt: skip
CONTEXTS = [None, DeploymentContext(), DeploymentContext(token_injected=True, container_env=("CERT",))]


@st.composite
def mutated_configs(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate", "bytes"]))
        if operation == "insert":
            data[at:at] = draw(st.sampled_from(FRAGMENTS))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif operation == "replace":
            data[at : at + 1] = draw(st.sampled_from(FRAGMENTS))
        elif operation == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 200))]
        elif operation == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def assert_is_a_verdict(result: ValidationResult) -> None:
    assert isinstance(result, ValidationResult)
    assert result.valid == (not result.errors)
    for finding in [*result.errors, *result.warnings]:
        assert finding.line is None or finding.line >= 1
        assert finding.column is None or finding.column >= 1
        assert finding.message
    json.loads(msgspec.json.encode(result).decode())
    result.format_text().encode("utf-8")  # printable: no lone surrogate reaches the output


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs(), st.sampled_from(CONTEXTS))
def test_mutated_configs_get_a_verdict(data: bytes, context: DeploymentContext | None) -> None:
    assert_is_a_verdict(validate_config(data, context=context))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_get_a_verdict(data: bytes) -> None:
    assert_is_a_verdict(validate_config(data))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet='{}[]"=:+,.$?#/\\\n \tabcinlude-_0129', max_size=300))
def test_random_hocon_like_text_gets_a_verdict(text: str) -> None:
    assert_is_a_verdict(validate_config(text.encode()))


SECRET_PLACES = [
    'description = "{t}"',
    'server.certificate.path = "/{t}.jks"',
    'server.port = "{t}"',
    'repository {{ type = "{t}" }}',
    'unknown-key = "{t}"',
    'locations += {{ id = "{t}", type = "{t}", region = "{t}", engine = "{t}", spot = "{t}" }}',
    'locations += {{ include url("https://{t}") }}',
    'broken = "{t}',
    'x = ${{{t}}}',
    '"{t}" = 1',
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    token=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_-.", min_size=8, max_size=40),
    with_prefix=st.booleans(),
    places=st.lists(st.sampled_from(SECRET_PLACES), max_size=4),
    context=st.sampled_from(CONTEXTS),
)
def test_the_token_never_reaches_any_output(
    token: str, with_prefix: bool, places: list[str], context: DeploymentContext | None
) -> None:
    token = f"cpt_{token}" if with_prefix else token

    def output(secret: str) -> str:
        lines = [f'token = "{secret}"', "locations = [ { id = prl_a, type = aws, region = r } ]"]
        lines += [place.format(t=secret) for place in places]
        data = ("control-plane {\n" + "\n".join(lines) + "\n}\n").encode()
        result = validate_config(data, context=context)
        assert_is_a_verdict(result)
        return msgspec.json.encode(result).decode() + result.format_text()

    # A token that is a piece of the validator's own words ("descript" in "description") is no leak.
    sentinel = ("cpt_" if with_prefix else "") + "XYZXYZXYZ"
    assume(token not in output(sentinel))
    assert token not in output(token)


def scan_both_ways(text: str) -> tuple[object, object]:
    """The scan with its one-match fast paths (plain fields, `key = [` and `key {` with a list of
    plain strings after them), and token by token."""

    def snapshot() -> object:
        try:
            source = hocon_source.scan(text)
        except hocon_source.SourceError as error:
            return error
        return (
            source.text,
            source.positions,
            source.includes,
            source.substitutions,
            source.secrets,
            source.indents,
            source.after_container,
            source.violation,
            source.violation_starts,
        )

    fast = snapshot()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hocon_source, "_TOKEN", hocon_source._TOKEN_WITHOUT_FIELD)
        slow = snapshot()
    return fast, slow


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_the_fast_path_for_plain_fields_notes_exactly_what_token_by_token_scanning_does(data: bytes) -> None:
    fast, slow = scan_both_ways(data.decode("utf-8", errors="replace"))
    assert fast == slow


FIELD_CASES = [
    *[seed.decode("utf-8", errors="replace") for seed in SEEDS],
    'a.b.c = 1\n"q.k" = x\n  server.port: 8080, token = "t0ken"\nx { y.z = w }\nl = [ { i.d = 1 } ]\n',
    'a b = 1\nc = d e\nf = "g" "h"\ninclude = 1\nk = 1e+5\nm = ${x}\n"n" = """o"""\n',
    # openers and lists of plain strings read with them, and what they must leave token by token
    'a = ["x", "y"]\nb { c = 1 }\n"q" : [ "z" ] d\nk [ "a" ]\nl = ["m",]\nn = [ ]\no.p = [ "r" ] [ "s" ]\n',
    'x { include = ["a"] }\ninclude.y = [ "b" ]\nz = [ "c" ] { }\nw = { v = [ "u", "t" ], s { } }\nr = [["q"]]\n',
    'list = [ "a" , "b" ]   \n  # c\n\n  obj\t=\t{\n  }\narr = [ "a\tb" ]\ne = [ "\\n" ]\n',
    # objects of plain fields on one line, read with their opener
    'a { b = "c", d = 007, "e.f" : g.h }\ni = { token = "t0ken" } j\nk { include = 1 }\nl { m.n = 1, o = 2 }\n',
    'p { q = 1, q = { r = 1 } }\ns = [ { t = 1 } ]\nu { v = 1 } { w = 2 }\nx { y = 1, }\nz { "" = 5.0 }\n',
]


@pytest.mark.parametrize("text", FIELD_CASES, ids=[f"case-{i}" for i in range(len(FIELD_CASES))])
def test_the_fast_path_for_plain_fields_on_known_cases(text: str) -> None:
    fast, slow = scan_both_ways(text)
    assert fast == slow


@pytest.mark.parametrize(
    "line",
    ['a { b = 1, "c" = "d" }\n', 'k = ["a", "b"]\n', "o = {\n"],
    ids=["object-on-one-line", "list-of-strings", "opener"],
)
def test_the_fast_paths_count_tokens_as_token_by_token_scanning_does(line: str) -> None:
    # Enough lines to pass the token limit: both scans refuse at the same token. (A plain field
    # counts its three tokens at once, so past the limit it is refused at the token after it.)
    text = line * (hocon_source.MAX_TOKENS // line.count(" ") + 7)
    fast, slow = scan_both_ways(text)
    assert isinstance(fast, hocon_source.SourceError)
    assert fast == slow
