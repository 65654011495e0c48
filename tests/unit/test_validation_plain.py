"""The validator's two ways of reading a file agree: a plain document (hocon_source.read_plain), read
as it is written with no scan, gets exactly the report the scan and the rules give it, on every
document of the differential corpus, in each deployment context."""

from __future__ import annotations

import pytest
from controlplane import validation
from controlplane.hocon_source import SourceError, decode_source, read_plain, scan
from controlplane.validation import DeploymentContext

from benchmarks import bench_validate
from tests.oracle import corpus, differential

CONTEXTS = {
    "no context": None,
    "the oracle's container": DeploymentContext(token_injected=True, container_env=("ORACLE_SET",)),
    "a full stack": DeploymentContext(
        token_injected=True, pass_role_configured=True, elastic_ips_configured=True, server_port=8080
    ),
}


@pytest.fixture(scope="module")
def documents() -> list[corpus.Document]:
    return differential.documents()


def _text(data: bytes) -> str | None:
    try:
        return decode_source(data)
    except SourceError:
        return None


@pytest.mark.parametrize("context", list(CONTEXTS.values()), ids=list(CONTEXTS))
def test_a_plain_document_reads_as_the_scan_reads_it(
    documents: list[corpus.Document], context: DeploymentContext | None
) -> None:
    environment = context.environment() if context is not None else {}
    plain_documents = 0
    for document in documents:
        text = _text(document.data)
        plain = read_plain(text, environment) if text is not None else None
        if plain is None:
            continue
        plain_documents += 1
        report = validation._Report("control-plane.conf")
        read = validation._read(document.data, dict(environment), context, report, as_container=False)
        assert read is not None, f"{document.name}: the scan refuses a plain document: {report.findings}"
        assert not report.findings, f"{document.name}: {report.findings}"
        assert read[1] == plain.tree, document.name
        assert scan(text, environment).secrets <= set(plain.secrets), document.name
    assert plain_documents >= 150


@pytest.mark.parametrize("context", list(CONTEXTS.values()), ids=list(CONTEXTS))
def test_every_verdict_is_the_scanned_one(
    documents: list[corpus.Document], context: DeploymentContext | None
) -> None:
    """validate_config (which takes the plain way where it can) and the scan alone give the same
    report on every document: valid, each error and warning with its position, the summary."""
    unscanned = 0
    for document in documents:
        scanned = validation._validate_scanned(document.data, context, "control-plane.conf")
        plain = validation._validate_plain(document.data, context, "control-plane.conf")
        if plain is not None:
            unscanned += 1
            assert plain == scanned, document.name
        assert validation.validate_config(document.data, context=context) == scanned, document.name
    assert unscanned >= 150


@pytest.mark.parametrize("locations", [1, 10, 100])
@pytest.mark.parametrize("context", list(CONTEXTS.values()), ids=list(CONTEXTS))
def test_the_benchmarks_configs_are_plain_and_get_the_scanned_verdict(
    locations: int, context: DeploymentContext | None
) -> None:
    data = bench_validate.generate(locations)
    scanned = validation._validate_scanned(data, context, "control-plane.conf")
    assert validation._validate_plain(data, context, "control-plane.conf") == scanned
    assert validation.validate_config(data, context=context) == scanned


def test_a_plain_document_with_no_finding_is_never_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*_: object) -> None:
        raise AssertionError("the file was scanned")

    monkeypatch.setattr(validation, "scan", must_not_run)
    result = validation.validate_config(bench_validate.generate(10), context=CONTEXTS["a full stack"])
    assert result.valid and not result.warnings and result.summary is not None


def test_the_findings_on_a_plain_document_are_placed_by_one_scan_and_one_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scans: list[str] = []
    real_scan = validation.scan
    monkeypatch.setattr(validation, "scan", lambda text, env: scans.append(text) or real_scan(text, env))
    monkeypatch.setattr(validation, "parse_resolved", lambda *_: pytest.fail("parsed twice"))
    data = bench_validate.generate(3).replace(b'engine = "classic"', b'engine = "turbo"', 1)
    result = validation.validate_config(data)  # no context: iam-instance-profile is a warning too
    assert len(scans) == 1
    assert [(e.line, e.column, e.path) for e in result.errors] == [
        (11, 7, "control-plane.locations[0].engine")
    ]
    assert len(result.warnings) == 3
