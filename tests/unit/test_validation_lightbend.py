"""The validator reads a config as the control plane does: Lightbend Config's frozen verdicts on the
differential corpus (tests/oracle; `make oracle` runs the JVM itself, `make oracle-freeze` renews
these), then one test per class of document where a Python reader used to part from Lightbend."""

from __future__ import annotations

from collections import Counter

import pytest
from controlplane.validation import (
    ConfigParseError,
    DeploymentContext,
    load_config,
    read_config,
    validate_config,
)

from tests.oracle import corpus, differential, lightbend


@pytest.fixture(scope="module")
def golden() -> dict[str, dict[str, object]]:
    documents: dict[str, dict[str, object]] = differential.load_golden()["documents"]
    return documents


def test_the_golden_verdicts_are_of_this_corpus(golden: dict[str, dict[str, object]]) -> None:
    generated = {document.name: document for document in corpus.generated_documents()}
    assert len(generated) >= 3_000
    frozen = {name for name in golden if name.startswith("generated/")}
    assert frozen == set(generated), "the generator changed: run make oracle-freeze"
    stale = [name for name in frozen if golden[name]["sha256"] != differential.digest(generated[name].data)]
    assert not stale, f"the generator changed ({len(stale)} documents): run make oracle-freeze"


def test_the_validator_agrees_with_lightbend_on_every_frozen_document(
    golden: dict[str, dict[str, object]],
) -> None:
    documents = [document for document in differential.documents() if document.name in golden]
    comparisons = []
    for document in documents:
        frozen = golden[document.name]
        if frozen["sha256"] != differential.digest(document.data):
            continue  # a shared file that changed: make oracle judges it
        comparisons.append(
            differential.compare(document.name, frozen, differential.validator_verdict(document.data))
        )
    outcomes = Counter(comparison.outcome for comparison in comparisons)
    failing = [
        f"{c.outcome}: {c.name}: {c.detail[:200]}" for c in comparisons if c.outcome in differential.FAILING
    ]
    assert not failing, "\n".join(failing[:20])
    assert outcomes["same value"] > 1_000 and outcomes["both refuse, same line"] > 1_000


# --- one test per class: what Lightbend Config 1.4.1 does with each (make oracle shows it) ----------

ENVIRONMENT = {"CONTROL_PLANE_TOKEN": "cpt_from_the_secret"}


def control_plane(*lines: str) -> bytes:
    """A control-plane.conf whose line 3 onwards are `lines` (inside `control-plane { }`)."""
    body = "\n".join(f"  {line}" for line in lines)
    return f"control-plane {{\n  token = ${{?CONTROL_PLANE_TOKEN}}\n{body}\n  locations = []\n}}\n".encode()


def refusal_lines(data: bytes) -> list[int | None]:
    result, _ = read_config(data, environment=ENVIRONMENT)
    assert result.errors, "the validator reads what Lightbend Config refuses"
    return [error.line for error in result.errors]


REFUSED = [
    pytest.param(b"a = 1\nobj += { b += 1 }\n", 2, id="append-inside-the-value-of-an-append"),
    pytest.param(b"a = 1\ncontrol-plane..token = x\n", 2, id="path-with-two-dots"),
    pytest.param(control_plane("description = Gatling: the control plane"), 3, id="colon-in-unquoted-value"),
    pytest.param(control_plane("enterprise-cloud.proxy.url = http://proxy:3128"), 3, id="unquoted-url"),
    pytest.param(
        control_plane("iam-instance-profile = arn:aws:iam::123456789012:instance-profile/lg"),
        3,
        id="unquoted-arn",
    ),
    pytest.param(control_plane("image = registry/lg:3.11"), 3, id="unquoted-image-with-tag"),
    pytest.param(
        control_plane("jvm-options = [-Xmx4G, -Dgatling.x=y]"), 3, id="equals-in-unquoted-list-item"
    ),
    pytest.param(b"a = 1\n}\ncontrol-plane { token = x }\n", 2, id="stray-close-brace"),
    pytest.param(b"{ a = 1 }\ncontrol-plane { token = x }\n", 2, id="content-after-the-root-object"),
    pytest.param(
        control_plane("tags { a = 1 } { b = 2 }"), 3, id="object-field-concatenated-without-separator"
    ),
    pytest.param(control_plane('description = "one\ttwo"'), 3, id="raw-tab-in-quotes"),
    pytest.param(control_plane('description = "one\rtwo"'), 3, id="raw-carriage-return-in-quotes"),
    pytest.param(control_plane('description = "one \\q two"'), 3, id="escape-json-does-not-have"),
    pytest.param(control_plane("locations = [ { tags += a } ]"), 3, id="append-inside-a-list"),
    pytest.param(b"a = ${?UNSET_NAME}\na = ${a}x\n", 2, id="self-reference-after-undefined-optional"),
    pytest.param(control_plane("description = 1+"), 3, id="reserved-character"),
    pytest.param(
        control_plane('description = """never closed'), 6, id="triple-quote-not-closed-reported-at-the-end"
    ),
    pytest.param(b'include "x" "y"\na = 1\n', 1, id="include-with-two-names"),
]


@pytest.mark.parametrize(("data", "line"), REFUSED)
def test_the_validator_refuses_what_lightbend_refuses_at_its_line(data: bytes, line: int) -> None:
    assert line in refusal_lines(data)
    assert not validate_config(data).valid
    with pytest.raises(ConfigParseError):  # the twin's control plane refuses to start too
        load_config(data, environment=ENVIRONMENT)


READ = [
    pytest.param(b'include "extra.conf"\n, a = 1\n', {"a": 1}, id="include-then-comma-on-the-next-line"),
    pytest.param(b"include.a = 1\n", {"include": {"a": 1}}, id="key-starting-with-include-dot"),
    pytest.param(
        b"a = 1\na = ${?UNSET_ONE}${?UNSET_TWO}\n", {"a": 1}, id="two-joined-unset-optionals-as-a-value"
    ),
    pytest.param(
        b"a.b = 1\nc = 5${?a.x}\n", {"a": {"b": 1}, "c": 5}, id="unset-path-of-the-file-joined-to-a-number"
    ),
    pytest.param(b'"a"b = 1\n', {"ab": 1}, id="key-quoted-then-unquoted"),
    pytest.param(
        b"a = { x = 1 }\na = ${a} { x = ${a.x}2 }\n", {"a": {"x": "12"}}, id="self-reference-in-object"
    ),
    pytest.param(b"a = 1e400\n", {"a": float("inf")}, id="number-beyond-double-range"),
    pytest.param(b'include "extra.conf", a = 1\n', {"a": 1}, id="include-then-comma"),
    pytest.param(b'{ include\n"extra.conf"\n  a = 1 }\n', {"a": 1}, id="include-then-newline-then-name"),
    pytest.param(
        b"a = 3\na = ${?UNSET_ONE}\na = ${?UNSET_TWO}\n",
        {"a": 3},
        id="two-undefined-optionals-keep-the-value",
    ),
    pytest.param(
        b"a = { x = 1 }\na = ${?UNSET_ONE}\na.y = 2\n",
        {"a": {"x": 1, "y": 2}},
        id="undefined-optional-between-objects",
    ),
    pytest.param(
        b"a = 9223372036854775808\n", {"a": "9223372036854775808"}, id="integer-beyond-64-bits-is-text"
    ),
    pytest.param(b"a = 1.0\nb = 1e3\n", {"a": 1, "b": 1000}, id="integral-doubles"),
    pytest.param(b"port = 8080${?UNSET_ONE}\n", {"port": 8080}, id="vanishing-optional-keeps-the-number"),
    pytest.param(b"a = 2.5e+3\n", {"a": 2500}, id="exponent-with-plus"),
    pytest.param(
        b'a = [1]\n"include" = 2\nb = [ include ]\n',
        {"a": [1], "include": 2, "b": ["include"]},
        id="include-as-key-or-value",
    ),
]


@pytest.mark.parametrize(("data", "lightbend"), READ)
def test_the_validator_reads_what_lightbend_reads(data: bytes, lightbend: dict[str, object]) -> None:
    result, tree = read_config(data, environment=ENVIRONMENT)
    assert result.errors == []
    assert differential.canonical(tree) == differential.canonical(lightbend)
    assert differential.canonical(load_config(data, environment=ENVIRONMENT)) == differential.canonical(
        lightbend
    )


def test_a_token_fallback_chain_with_two_unset_variables_is_valid() -> None:
    data = (
        b"control-plane {\n  token = ${?CONTROL_PLANE_TOKEN}\n  token = ${?GATLING_TOKEN}\n  token = ${?LEGACY_TOKEN}\n"
        b'  locations = [{ id = "prl_k8s", type = "kubernetes", image { type = certified } }]\n}\n'
    )
    result = validate_config(data, context=DeploymentContext(token_injected=True))
    assert result.valid, result.format_text()
    assert load_config(data, environment=ENVIRONMENT)["control-plane"]["token"] == "cpt_from_the_secret"


STRICTER = [
    pytest.param(
        b"b = x\na = [1] ${b}\na.c = 1\n",
        "joins a substitution to a list",
        id="substitution-after-a-list-then-an-object",
    ),
    pytest.param(b"a = [1] foo\n", "text after a list or an object", id="text-after-a-list"),
    pytest.param(b"a = { x = 1 } foo\n", "text after a list or an object", id="text-after-an-object"),
    pytest.param(
        b"b = x\na = [1] ${b}\n", "text after a list or an object", id="substituted-text-after-a-list"
    ),
    pytest.param(b"a = 007\n", "unquoted number '007'", id="number-json-does-not-write"),
    pytest.param(("a." * 300 + "b = 1\n").encode(), "nesting is deeper", id="path-of-300-keys"),
    pytest.param(
        b'include classpath("x.conf")\na = 1\n',
        "classpath(...) includes are not allowed",
        id="classpath-include",
    ),
    pytest.param(b"a = [1]\na += 2\na.x = 1\n", "refers to itself", id="self-reference-then-object"),
]


@pytest.mark.parametrize(("data", "words"), STRICTER)
def test_the_validator_refuses_some_of_what_lightbend_reads_by_a_documented_rule(
    data: bytes, words: str
) -> None:
    result, _ = read_config(data, environment=ENVIRONMENT)
    assert words in result.errors[0].message
    assert any(pattern.search(result.errors[0].message) for pattern in differential.DELIBERATE_RULES.values())


def test_these_classes_are_what_lightbend_does() -> None:
    """The expectations above, checked against Lightbend Config itself where a JVM is at hand."""
    reference = lightbend.find_reference()
    if reference is None:
        pytest.skip("no java, javac and Lightbend Config jar here (make oracle says how to get them)")
    cases = [(p.values[0], ("refuses", p.values[1])) for p in REFUSED]
    cases += [(p.values[0], ("reads", differential.canonical(p.values[1]))) for p in READ]
    cases += [(p.values[0], ("reads", None)) for p in STRICTER]
    verdicts = lightbend.read_all(reference, [data for data, _ in cases], ENVIRONMENT)
    for (data, (expected, detail)), verdict in zip(cases, verdicts, strict=True):
        if expected == "refuses":
            assert (verdict["ok"], verdict["line"]) == (False, detail), data
        else:
            assert verdict["ok"], (data, verdict)
            if detail is not None:
                assert differential.canonical(verdict["value"]) == detail, data
