"""The differential run: Lightbend Config and the validator's reading path on the same documents.

    python -m tests.oracle.differential            # run Lightbend, compare, print the counts
    python -m tests.oracle.differential --freeze   # ... and write Lightbend's verdicts to GOLDEN
    python -m tests.oracle.differential --golden   # compare with the frozen verdicts (no JVM)

Exits 1 when a document is valid for the validator and refused by Lightbend, when the two read
different values, when the validator refuses a document Lightbend reads by no documented rule, or
when both refuse it but at different lines.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.validation import read_config

from tests.oracle import corpus, lightbend

GOLDEN = Path(__file__).with_name("lightbend-verdicts.json.gz")

# Where the validator refuses what Lightbend reads on purpose (docs/validator.md, "Where the
# validator is stricter than the control plane"): each rule by the start of its message.
DELIBERATE_RULES: dict[str, re.Pattern[str]] = {
    "input limit": re.compile(
        r"file is (larger|binary|not UTF-8|UTF-16|empty)|nesting is deeper|array has more|"
        r"substitution path is deeper|file has more than|a key or value is longer|blank characters in a row|"
        r"more than [\d,]+ `\+=`|redefines the same objects"
    ),
    "include not followed": re.compile(
        r"^include .*(includes are not allowed|only control-plane.conf is shipped)"
    ),
    "ambiguous text": re.compile(r"^(text after a list|unquoted number)"),
    "self-reference then object": re.compile(
        r"(refers to itself|joins a substitution to a list or an object) \(line \d+\) and is then given an object"
    ),
    "unset required substitution": re.compile(
        r"is neither defined in the file nor set in the container's environment"
    ),
}

OUTCOMES = (
    "same value",
    "both refuse, same line",
    "deliberate refusal",
    "valid but refused",
    "value differs",
    "accidental refusal",
    "both refuse, other line",
)
FAILING = ("valid but refused", "value differs", "accidental refusal")


@dataclass(frozen=True, slots=True)
class Comparison:
    name: str
    outcome: str
    detail: str


def validator_verdict(data: bytes) -> dict[str, Any]:
    """The validator's reading of `data` in the oracle's environment, as Lightbend's verdicts are."""
    result, tree = read_config(data, environment=corpus.ENVIRONMENT)
    if result.errors or tree is None:
        first = result.errors[0]
        lines = sorted({error.line or -1 for error in result.errors})
        return {"ok": False, "line": first.line or -1, "lines": lines, "message": first.message}
    return {"ok": True, "value": tree}


def canonical(value: Any) -> Any:
    """`value` with integral doubles as ints (Lightbend writes `1.0` as 1) and keys sorted."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def compare(name: str, reference: Mapping[str, Any], mine: Mapping[str, Any]) -> Comparison:
    if reference["ok"] and mine["ok"]:
        if canonical(reference["value"]) == canonical(mine["value"]):
            return Comparison(name, "same value", "")
        return Comparison(
            name, "value differs", f"lightbend {reference['value']!r} validator {mine['value']!r}"
        )
    if reference["ok"]:
        rule = next(
            (rule for rule, pattern in DELIBERATE_RULES.items() if pattern.search(mine["message"])), None
        )
        if rule is not None:
            return Comparison(name, "deliberate refusal", rule)
        return Comparison(name, "accidental refusal", f"line {mine['line']}: {mine['message']}")
    if mine["ok"]:
        return Comparison(name, "valid but refused", f"line {reference['line']}: {reference['message']}")
    # -1: Lightbend gave no line (a crash of 1.3.1); the validator may report more than one error.
    if reference["line"] == -1 or reference["line"] in mine.get("lines", [mine["line"]]):
        return Comparison(name, "both refuse, same line", "")
    return Comparison(
        name,
        "both refuse, other line",
        f"lightbend line {reference['line']}: {reference['message']} / validator line {mine['line']}: {mine['message']}",
    )


def documents() -> list[corpus.Document]:
    shared = corpus.shared_directory()
    found = list(corpus.shared_documents(shared)) if shared is not None else []
    return found + list(corpus.generated_documents())


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_golden() -> dict[str, Any]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as file:
        golden: dict[str, Any] = json.load(
            file, parse_constant=lambda name: float(name.lower().replace("infinity", "inf"))
        )
    return golden


def freeze(version: str, docs: Iterable[corpus.Document], verdicts: Iterable[dict[str, Any]]) -> None:
    entries = {}
    for document, verdict in zip(docs, verdicts, strict=True):
        frozen = {"sha256": digest(document.data), "ok": verdict["ok"]}
        frozen.update(
            {"value": verdict["value"]}
            if verdict["ok"]
            else {"line": verdict["line"], "message": verdict["message"]}
        )
        entries[document.name] = frozen
    golden = {
        "lightbend_config": version,
        "seed": corpus.SEED,
        "environment": corpus.ENVIRONMENT,
        "documents": entries,
    }
    with gzip.GzipFile(GOLDEN, "wb", mtime=0) as file:
        file.write(
            json.dumps(golden, sort_keys=True, ensure_ascii=False, indent=0).encode("utf-8", "surrogatepass")
        )


def report(comparisons: list[Comparison], out: Any = sys.stdout, show_lines: int = 0) -> bool:
    """Print the counts and every failing comparison; True when none fails."""
    counts = Counter(comparison.outcome for comparison in comparisons)
    generated = sum(1 for comparison in comparisons if comparison.name.startswith("generated/"))
    print(
        f"documents: {len(comparisons)} ({generated} generated, {len(comparisons) - generated} shared)",
        file=out,
    )
    for outcome in OUTCOMES:
        print(f"  {outcome:<26} {counts.get(outcome, 0):>6}", file=out)
    rules = Counter(c.detail for c in comparisons if c.outcome == "deliberate refusal")
    for rule, count in sorted(rules.items()):
        print(f"    deliberate: {rule:<20} {count:>6}", file=out)
    failing = [comparison for comparison in comparisons if comparison.outcome in FAILING]
    shown = failing + [c for c in comparisons if c.outcome == "both refuse, other line"][:show_lines]
    for comparison in shown[: int(os.environ.get("ORACLE_SHOW", "60"))]:
        print(f"{comparison.outcome}: {comparison.name}: {comparison.detail[:300]}", file=out)
    return not failing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--freeze", action="store_true", help="write Lightbend's verdicts to the golden file")
    mode.add_argument("--golden", action="store_true", help="compare with the golden file, without a JVM")
    parser.add_argument(
        "--show-lines", type=int, default=0, metavar="N", help="also show N refusals at another line"
    )
    arguments = parser.parse_args(argv)
    docs = documents()
    if arguments.golden:
        golden = load_golden()["documents"]
        docs = [document for document in docs if document.name in golden]
        verdicts = [golden[document.name] for document in docs]
        stale = [d.name for d, v in zip(docs, verdicts, strict=True) if v["sha256"] != digest(d.data)]
        if stale:
            print(
                f"the golden file is stale for {len(stale)} documents (first: {stale[0]}): run make oracle-freeze"
            )
            return 1
        print("reference: frozen Lightbend Config verdicts")
    else:
        reference = lightbend.find_reference()
        if reference is None:
            print("the oracle needs java, javac and a Lightbend Config jar (see docs/validator.md)")
            return 1
        print(f"reference: Lightbend Config {reference.version} ({reference.jar})")
        verdicts = lightbend.read_all(reference, [document.data for document in docs], corpus.ENVIRONMENT)
        if arguments.freeze:
            freeze(reference.version, docs, verdicts)
    comparisons = [
        compare(document.name, verdict, validator_verdict(document.data))
        for document, verdict in zip(docs, verdicts, strict=True)
    ]
    return 0 if report(comparisons, show_lines=arguments.show_lines) else 1


if __name__ == "__main__":
    sys.exit(main())
