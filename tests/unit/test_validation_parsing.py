"""Reading the file: bad input, includes, substitutions, positions, secrecy, summary and load_config."""

from __future__ import annotations

import builtins
import hashlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from controlplane import hocon_source, validation
from controlplane.validation import (
    MAX_CONFIG_BYTES,
    ConfigParseError,
    DeploymentContext,
    Finding,
    ValidationResult,
    load_config,
    validate_config,
)

SECRET = "cpt_do_not_leak_4f7a9c2e81b3"
AWS_LOCATION = """{
  id = "prl_aws"
  type = "aws"
  region = "eu-west-1"
  ami { type = certified }
  security-groups = ["sg-1"]
  subnets = ["subnet-1"]
  instance-type = "c7i.xlarge"
}"""
VALID = f'control-plane {{\n  token = "{SECRET}"\n  locations = [\n{AWS_LOCATION}\n  ]\n}}\n'


def conf(*root_lines: str, location: str = "") -> bytes:
    """VALID with `location` lines added to its location (from line 12) and `root_lines` added to
    control-plane after the locations (from line 14, or 15 when `location` is one line)."""
    body = AWS_LOCATION[: -len("}")] + (f"{location}\n" if location else "") + "}"
    lines = ["control-plane {", f'  token = "{SECRET}"', "  locations = [", body, "  ]", *root_lines, "}"]
    return ("\n".join(lines) + "\n").encode()


def only_error(result: ValidationResult) -> Finding:
    assert not result.valid
    assert len(result.errors) == 1, result.format_text()
    return result.errors[0]


def test_the_base_config_is_valid() -> None:
    result = validate_config(conf())
    assert result.valid and result.errors == [] and result.warnings == [], result.format_text()


# --- bad input ---------------------------------------------------------------------------------


def test_empty_file() -> None:
    error = only_error(validate_config(b""))
    assert error.message == "file is empty"
    assert validate_config(b"").summary is None


def test_binary_file_points_at_the_first_nul_byte() -> None:
    error = only_error(validate_config(b"control-plane {\n  token\x00 = 1\n}"))
    assert "binary" in error.message
    assert (error.line, error.column) == (2, 8)


def test_non_utf8_file_points_at_the_bad_byte() -> None:
    error = only_error(validate_config('a = "é"\nb = 1\nc = "'.encode() + b'\xff\xfe"\n'))
    assert "not UTF-8" in error.message
    assert (error.line, error.column) == (3, 6)


def test_utf16_file_is_named_as_such() -> None:
    assert only_error(validate_config(VALID.encode("utf-16"))).message == (
        "file is UTF-16 or UTF-32 text: save it as UTF-8"
    )


def test_utf8_byte_order_mark_is_accepted_and_columns_stay_right() -> None:
    result = validate_config(b"\xef\xbb\xbf" + conf(location="  spot = sometimes"))
    assert result.errors[0].path == "control-plane.locations[0].spot"
    assert result.errors[0].column == 3
    error = only_error(validate_config(b"\xef\xbb\xbfcontrol-plane = 3\n"))
    assert (error.line, error.column) == (1, 1)


def test_file_over_one_mib_is_rejected_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*_: Any, **__: Any) -> None:
        raise AssertionError("the file was scanned or parsed")

    monkeypatch.setattr(validation, "scan", must_not_run)
    monkeypatch.setattr(validation, "parse_resolved", must_not_run)
    error = only_error(validate_config(conf().ljust(MAX_CONFIG_BYTES + 1, b"#")))
    assert error.message == "file is larger than the 1 MiB limit"


def test_file_of_exactly_one_mib_is_parsed() -> None:
    data = conf().ljust(MAX_CONFIG_BYTES, b"#")
    assert validate_config(data).valid


def test_nesting_deeper_than_the_limit_is_rejected() -> None:
    depth = hocon_source.MAX_NESTING_DEPTH + 5
    error = only_error(validate_config(b"a = " + b"[" * depth + b"]" * depth))
    assert "nesting is deeper than" in error.message
    assert error.line == 1


def test_deep_but_sane_nesting_is_fine() -> None:
    nested = "job = " + "{ a = " * 20 + "1" + " }" * 20
    result = validate_config(conf(location="  type = kubernetes\n  image { type = certified }\n" + nested))
    assert result.errors == [], result.format_text()


def test_huge_arrays_are_rejected() -> None:
    items = ", ".join(["1"] * (hocon_source.MAX_ARRAY_ITEMS + 1))
    error = only_error(validate_config(f"a = [{items}]".encode()))
    assert "more than 10,000 items" in error.message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            b"".join(b"k%d = [1, 2, 3]\n" % i for i in range(41_000)),
            "more than 200,000 keys, values and brackets",
        ),
        (
            b'description = "' + b"x" * (hocon_source.MAX_TOKEN_LENGTH + 1) + b'"',
            "longer than 16,384 characters",
        ),
        (b"a = 1," + b" " * (hocon_source.MAX_BLANK_RUN + 1) + b"b = 2", "more than 10,000 blank characters"),
        (b"a = ${x" + b".y" * hocon_source.MAX_NESTING_DEPTH + b"}", "substitution path is deeper"),
        (b"a." * (hocon_source.MAX_NESTING_DEPTH + 1) + b"b = 1", "nesting is deeper"),
        (b"".join(b"k%d += 1\n" % (i % 100) for i in range(10_001)), "more than 10,000 `+=` in the file"),
    ],
    ids=["tokens", "long string", "blank run", "deep substitution", "deep dotted key", "appends"],
)
def test_inputs_that_would_stall_the_parser_are_refused_quickly(data: bytes, words: str) -> None:
    started = time.perf_counter()
    error = only_error(validate_config(data))
    assert words in error.message
    assert error.line is not None
    assert time.perf_counter() - started < 2


def test_whitespace_and_comments_do_not_stall_the_parser() -> None:
    data = conf(*["    # a comment line" + " " * 60] * 5_000, location=" " * 5_000 + "\n" * 2_000)
    started = time.perf_counter()
    assert validate_config(data).valid
    assert time.perf_counter() - started < 2


def test_many_redefinitions_of_a_big_object_are_refused_before_parsing() -> None:
    locations = ",\n".join(AWS_LOCATION.replace("prl_aws", f"prl_aws_{i}") for i in range(300))
    data = VALID.replace(AWS_LOCATION, locations) + "".join(
        f"control-plane.description = d{i}\n" for i in range(700)
    )
    started = time.perf_counter()
    error = only_error(validate_config(data.encode()))
    assert "redefines the same objects too often" in error.message
    assert time.perf_counter() - started < 2


def test_deeply_nested_redefinitions_are_refused_before_parsing() -> None:
    data = b"".join(b"a" + b".a" * 20 + b".x%d = 1\n" % i for i in range(30))
    started = time.perf_counter()
    assert "redefines the same objects too often" in only_error(validate_config(data)).message
    assert time.perf_counter() - started < 2


def test_a_few_redefinitions_are_fine() -> None:
    data = conf() + b"control-plane.locations += { id = prl_b, type = kubernetes, image.type = certified }\n"
    data += b"control-plane { description = again }\ncontrol-plane.server.port = 8080\n"
    result = validate_config(data)
    assert result.valid, result.format_text()
    assert result.summary is not None and [s.id for s in result.summary.locations] == ["prl_aws", "prl_b"]


def test_too_many_appends_to_one_list_are_refused() -> None:
    lines = b"".join(b"control-plane { locations += { id = prl_%d } }\n" % i for i in range(201))
    assert "more than 200 `+=` to control-plane.locations" in only_error(validate_config(lines)).message


def test_syntax_error_carries_the_parser_position() -> None:
    error = only_error(validate_config(b'control-plane {\n  token = "x"\n  locations = [ { id = "a" }\n}\n'))
    assert error.message.startswith("syntax error:")
    assert (error.line, error.column) == (4, 1)


def test_unterminated_string_is_a_syntax_error() -> None:
    error = only_error(validate_config(b'control-plane {\n  description = "abc\n}\n'))
    assert "not closed" in error.message
    assert error.line == 2


def test_array_at_the_root_is_an_error() -> None:
    assert "root must be an object" in only_error(validate_config(b"[1, 2]")).message


def test_cyclic_substitution_is_an_error() -> None:
    error = only_error(validate_config(b"a = ${b}\nb = ${a}\n"))
    assert "circular" in error.message


# --- includes ----------------------------------------------------------------------------------


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every attempt to open a file or a socket during the test, and refuse it."""
    attempts: list[str] = []

    def refuse_open(file: Any, *_: Any, **__: Any) -> Any:
        attempts.append(f"open {file}")
        raise PermissionError(file)

    def refuse_socket(*_: Any, **__: Any) -> Any:
        attempts.append("socket")
        raise PermissionError("socket")

    monkeypatch.setattr(builtins, "open", refuse_open)
    monkeypatch.setattr(socket, "socket", refuse_socket)
    return attempts


@pytest.mark.parametrize(
    ("directive", "words"),
    [
        ('include url("http://config.example.com/cp.conf")', "url(...) includes are not allowed"),
        ('include file("/etc/gatling/extra.conf")', "file(...) includes are not allowed"),
        ('include required("extra.conf")', "would not start"),
        ('include required(file("/etc/extra.conf"))', "would not start"),
        ('include classpath("extra.conf")', "classpath(...) includes are not allowed"),
    ],
)
def test_fetching_includes_are_errors_and_never_read(directive: str, words: str, no_io: list[str]) -> None:
    result = validate_config(conf(directive))
    error = only_error(result)
    assert words in error.message
    assert directive.split("(")[0] in error.message
    assert (error.line, error.column) == (14, 1)
    assert no_io == []


def test_plain_include_is_a_warning_and_reads_nothing(no_io: list[str]) -> None:
    result = validate_config(conf(location='  tags = { include "tags.conf" }'))
    assert result.valid
    [warning] = result.warnings
    assert warning.message.startswith('include "tags.conf": will be empty in the container')
    assert (warning.line, warning.column) == (12, 12)
    assert no_io == []


def test_include_errors_do_not_hide_the_rest_of_the_file() -> None:
    result = validate_config(conf('include url("http://x/y.conf")', location="  spot = sometimes"))
    assert [e.path for e in result.errors] == ["control-plane.locations[0].spot", None]


# --- substitutions -----------------------------------------------------------------------------


def test_self_references_inside_the_file_resolve() -> None:
    text = f"""shared {{ proxy {{ forward {{ url = "http://proxy" }} }} }}
control-plane {{
  token = "{SECRET}"
  common-tags {{ team = perf }}
  locations = [ {{ id = prl_a, type = aws, region = r, ami.type = certified, security-groups = [sg], subnets = [s]
    instance-type = t, enterprise-cloud = ${{shared}}, tags = ${{control-plane.common-tags}} }} ]
}}
"""
    result = validate_config(text.encode())
    assert result.errors == []
    assert [w.path for w in result.warnings] == ["control-plane.common-tags"]  # unknown, yet a valid source
    location = load_config(text.encode(), environment={})["control-plane"]["locations"][0]
    assert location["tags"] == {"team": "perf"}
    assert location["enterprise-cloud"] == {"proxy": {"forward": {"url": "http://proxy"}}}


def test_required_substitution_missing_from_the_container_is_an_error_with_its_position() -> None:
    result = validate_config(
        conf('server.certificate { path = "/app/conf/control-plane.conf", password = ${CERT_PASS} }')
    )
    error = only_error(result)
    assert "${CERT_PASS}" in error.message and "refuse to start" in error.message
    assert error.path == "control-plane.server.certificate.password"
    assert (error.line, error.column) == (14, 72)


def test_required_substitution_set_in_the_container_environment_resolves() -> None:
    data = conf('server.certificate { path = "/app/conf/control-plane.conf", password = ${CERT_PASS} }')
    assert validate_config(data, context=DeploymentContext(container_env=("CERT_PASS",))).valid


def test_every_missing_required_substitution_is_reported() -> None:
    result = validate_config(
        conf("description = ${A}", "server.bind-address = ${B}", location="  region = ${C}")
    )
    assert sorted(e.message.split()[0] for e in result.errors) == ["${A}", "${B}", "${C}"]


def test_a_missing_variable_used_many_times_is_one_error_found_in_one_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parses: list[str] = []
    real_parse = validation.parse_resolved
    monkeypatch.setattr(
        validation, "parse_resolved", lambda text, env: parses.append(text) or real_parse(text, env)
    )
    result = validate_config(conf(*[f"k{i} = ${{SUBNET}}" for i in range(30)], "t = ${OTHER}"))
    assert [e.message.split()[0] for e in result.errors] == ["${SUBNET}", "${OTHER}"]
    assert result.errors[0].message.endswith("(and 29 more uses)")
    assert result.errors[0].path == "control-plane.k0"
    assert len(parses) == 1


def test_a_missing_path_inside_the_file_is_reported_too() -> None:
    result = validate_config(conf("description = ${control-plane.nope}"))
    error = only_error(result)
    assert error.message.startswith("${control-plane.nope} is neither defined in the file")
    assert (error.line, error.column, error.path) == (14, 15, "control-plane.description")


def test_substitutions_never_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERT_PASS", "from-the-laptop")
    monkeypatch.setenv("CONTROL_PLANE_TOKEN", "cpt_from_the_laptop")
    result = validate_config(conf("description = ${CERT_PASS}", "token = ${?CONTROL_PLANE_TOKEN}"))
    assert "${CERT_PASS}" in only_error(result).message
    assert "from_the_laptop" not in msgspec.json.encode(result).decode()
    tree = load_config(b"a = ${?CERT_PASS}\nb = 1", environment={})
    assert tree == {"b": 1}


def test_optional_substitution_missing_from_the_container_leaves_the_key_absent() -> None:
    result = validate_config(conf(location="  profile-name = ${?AWS_PROFILE_NAME}"))
    assert result.valid and result.warnings == []


def test_values_from_the_environment_are_not_type_checked() -> None:
    context = DeploymentContext(container_env=("SPOT", "PORT"))
    result = validate_config(conf("server.port = ${PORT}", location="  spot = ${SPOT}"), context=context)
    assert result.valid, result.format_text()


# --- positions ---------------------------------------------------------------------------------


def test_a_wrong_value_points_at_its_key() -> None:
    error = only_error(validate_config(conf(location="      spot = sometimes")))
    assert (error.line, error.column, error.path) == (12, 7, "control-plane.locations[0].spot")


def test_positions_of_list_items_and_later_locations() -> None:
    second = AWS_LOCATION.replace("prl_aws", "prl_two").replace('"sg-1"', '"sg-1", ["nested"]')
    text = VALID.replace(f"{AWS_LOCATION}\n", f"{AWS_LOCATION},\n{second}\n")
    error = only_error(validate_config(text.encode()))
    assert error.path == "control-plane.locations[1].security-groups[1]"
    assert (error.line, error.column) == (18, 30)


def test_missing_key_points_at_its_object() -> None:
    error = only_error(validate_config(VALID.replace('  region = "eu-west-1"\n', "").encode()))
    assert (error.line, error.column, error.path) == (4, 1, "control-plane.locations[0].region")


def test_dotted_quoted_and_appended_keys_are_located() -> None:
    text = VALID + 'control-plane.locations += { id = "prl_x", "type" = aws, region = 1, ami.type = gold }\n'
    result = validate_config(text.encode())
    ami = next(e for e in result.errors if e.path == "control-plane.locations[1].ami.type")
    assert (ami.line, ami.column) == (15, 70)
    missing = next(e for e in result.errors if e.path == "control-plane.locations[1].subnets")
    assert (missing.line, missing.column) == (15, 1)


def test_json_style_config_is_located_too() -> None:
    text = f'control-plane {{ "token": "{SECRET}",\n "locations": [ {{"id":"prl_j","type":"aws","region":"r",\n"ami":{{"type":"x"}}}} ] }}'
    result = validate_config(text.encode())
    ami = next(e for e in result.errors if e.path == "control-plane.locations[0].ami.type")
    assert (ami.line, ami.column) == (3, 8)


# --- secrecy -----------------------------------------------------------------------------------


def all_output(result: ValidationResult) -> str:
    return msgspec.json.encode(result).decode() + result.format_text()


@pytest.mark.parametrize(
    "text",
    [
        f'control-plane {{\n  token = "{SECRET}"\n  description = "{SECRET}"\n  locations = [ {{ id = "{SECRET}", type = "{SECRET}" }} ]\n}}',
        f'control-plane {{ token = "{SECRET}" }} "{SECRET}"',
        f'control-plane {{ token = "{SECRET}", locations = [ {{ include url("{SECRET}") }} ] }}',
        f'control-plane {{ token = "{SECRET}"\n server.certificate.path = "/{SECRET}.jks" }}',
        f'control-plane {{ token = "{SECRET}", locations = [ {{ id = prl_a, type = aws, spot = "{SECRET}" }} ] }}',
        f'control-plane {{ token = "{SECRET}" ',
        f"control-plane {{ token = {SECRET} }}\ncontrol-plane.token = {{ a = ${{{SECRET}}} }}",
    ],
)
def test_the_token_never_appears_in_any_output(text: str) -> None:
    for context in (None, DeploymentContext(token_injected=True)):
        result = validate_config(text.encode(), context=context)
        assert SECRET not in all_output(result)
        assert SECRET[4:] not in all_output(result)


def test_a_token_without_the_cpt_prefix_is_redacted_from_quoted_values() -> None:
    secret = "s3cr3t-t0k3n-value"
    text = f'control-plane {{ token = "{secret}"\n locations = [ {{ id = "{secret}", type = aws, engine = "{secret}" }} ] }}'
    result = validate_config(text.encode())
    assert not result.valid
    assert secret not in all_output(result)
    assert any('"***"' in e.message for e in result.errors)


def test_a_token_pasted_where_it_does_not_belong_is_redacted_by_its_shape() -> None:
    text = 'control-plane { token = ${?CONTROL_PLANE_TOKEN}, locations = [ { id = "cpt_pasted_by_mistake_123" } ] }'
    result = validate_config(text.encode())
    assert any(e.path == "control-plane.locations[0].id" for e in result.errors)
    assert "pasted_by_mistake" not in all_output(result)


def test_a_token_taken_from_another_key_is_redacted_too() -> None:
    text = 'shared.t = "s3cr3t-value-99"\ncontrol-plane { token = ${shared.t}, locations = [ { id = ${shared.t} } ] }'
    result = validate_config(text.encode())
    assert any(e.path == "control-plane.locations[0].id" for e in result.errors)
    assert "s3cr3t-value-99" not in all_output(result)


@pytest.mark.parametrize("written", ['"s3cr3t\\u0041value"', '"""s3cr3tAvalue"""', '"s3cr3t" "Avalue"'])
def test_tokens_written_in_other_forms_are_redacted(written: str) -> None:
    text = f'control-plane {{ token = {written}\n locations = [ {{ id = "s3cr3tAvalue", type = "s3cr3tAvalue" }} ] }}'
    result = validate_config(text.encode())
    assert not result.valid
    assert "s3cr3tAvalue" not in all_output(result)


def test_passwords_are_not_quoted_either() -> None:
    text = 'control-plane.server.certificate { path = "/a.p12", password = "hunter2-long-password" }\n'
    result = validate_config(text.encode() + b'control-plane.description = "hunter2-long-password"\n')
    assert "hunter2" not in all_output(result)


# --- summary -----------------------------------------------------------------------------------


def test_summary_lists_locations_with_their_region_or_zone_and_hashes_the_raw_bytes() -> None:
    gcp = "{ id = prl_gcp, type = gcp, zone = europe-west3-a, project = p, instance-template = t }"
    k8s = "{ id = prl_k8s, type = kubernetes, image { type = certified } }"
    text = VALID.replace(f"{AWS_LOCATION}\n", f"{AWS_LOCATION}, {gcp}, {k8s}\n").replace(
        "  locations", '  description = "perf team"\n  locations'
    )
    result = validate_config(text.encode())
    assert result.valid, result.format_text()
    assert result.summary is not None
    assert result.summary.description == "perf team"
    assert [(s.id, s.type, s.region_or_zone) for s in result.summary.locations] == [
        ("prl_aws", "aws", "eu-west-1"),
        ("prl_gcp", "gcp", "europe-west3-a"),
        ("prl_k8s", "kubernetes", None),
    ]
    assert result.summary.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert "token" not in msgspec.json.encode(result.summary).decode()


def test_summary_is_absent_when_the_file_cannot_be_parsed() -> None:
    assert validate_config(b"control-plane {").summary is None


# --- formats -----------------------------------------------------------------------------------


def test_compiler_style_lines_and_verdict() -> None:
    result = validate_config(conf("bogus-key = 1", location="  spot = sometimes"), filename="cp.conf")
    assert result.format_text().splitlines() == [
        'cp.conf:12:3: error: spot is "sometimes"; allowed values: true, false or "preferred" '
        "[control-plane.locations[0].spot]",
        "cp.conf:15:1: warning: unknown key bogus-key [control-plane.bogus-key]",
        "cp.conf: invalid (1 error, 1 warning)",
    ]
    assert validate_config(conf(), filename="cp.conf").verdict() == "cp.conf: valid"


def test_findings_without_a_position_have_no_line_in_text_and_null_in_json() -> None:
    result = validate_config(b"", filename="cp.conf")
    assert result.format_lines() == ["cp.conf: error: file is empty"]
    assert json.loads(msgspec.json.encode(result).decode())["errors"] == [
        {"line": None, "column": None, "path": None, "message": "file is empty"}
    ]


# --- load_config -------------------------------------------------------------------------------


def test_load_config_resolves_against_exactly_the_given_environment() -> None:
    data = b"control-plane { token = ${?CONTROL_PLANE_TOKEN}, port = ${PORT}, x = ${?MISSING} }\nshared = 1"
    tree = load_config(data, environment={"CONTROL_PLANE_TOKEN": "cpt_t", "PORT": "8080"})
    assert tree == {"control-plane": {"token": "cpt_t", "port": "8080"}, "shared": 1}


def test_load_config_raises_with_a_position() -> None:
    with pytest.raises(ConfigParseError) as raised:
        load_config(b"a = 1\nb = ${NOT_SET}\n", environment={})
    assert (raised.value.line, raised.value.column) == (2, 5)
    with pytest.raises(ConfigParseError) as raised:
        load_config(b"a = [\n", environment={})
    assert raised.value.line == 1  # where Lightbend Config reports it


def test_load_config_treats_includes_like_the_container(no_io: list[str]) -> None:
    assert load_config(b'a { include "job.json" }\nb = 1', environment={}) == {"a": {}, "b": 1}
    with pytest.raises(ConfigParseError):
        load_config(b'include required("job.json")', environment={})
    with pytest.raises(ConfigParseError):
        load_config(b'include url("http://example.com/x.conf")', environment={})
    assert no_io == []


def test_load_config_rejects_bad_bytes() -> None:
    with pytest.raises(ConfigParseError, match="not UTF-8"):
        load_config(b"a = \xff", environment={})


def test_include_package_is_a_syntax_error_as_for_lightbend(no_io: list[str]) -> None:
    error = only_error(validate_config(conf('include package("acme", "extra.conf")')))
    assert error.message.startswith("syntax error: include directive expects")
    assert error.line == 14
    assert no_io == []


def test_the_parser_never_reads_a_file_or_fetches_a_url(tmp_path: Path) -> None:
    """The parser itself, handed include directives the scanner would have removed: each is refused
    as an include it has no folder for, before any file is opened or any connection tried (a fetch
    of port 9 would fail as refused, a read would return the file; its native code bypasses
    Python's I/O, so the error's name is the proof)."""
    secret = tmp_path / "secret.conf"
    secret.write_text("leaked = 1\n")
    directives = [
        f'include file("{secret}")',
        f'include "{secret}"',
        f'include required(file("{secret}"))',
        'include url("http://127.0.0.1:9/x.conf")',
        'include "http://127.0.0.1:9/y.conf"',
        'include required(url("https://127.0.0.1:9/z.conf"))',
    ]
    for directive in directives:
        with pytest.raises(hocon_source.ParseFailure) as refused:
            hocon_source.parse_resolved(f"{directive}\na = 1\n", {})
        assert refused.value.name == "IncludeNeedsFile", directive
