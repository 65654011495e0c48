"""Validation time of generated control-plane.conf files against a bare parse of the same file.

Run: .venv/bin/python benchmarks/bench_validate.py [--strict]

Targets (issue 3): validating 1,000 AWS locations takes at most 1.5x a bare hocon-parser parse of
the same text, and 10x the locations take at most 12x the time. Times are the best of several runs
(the minimum is the least noisy estimate on a shared machine); ratios compare runs of one process.
validate_config pauses the cycle collector while it works: the last column compares it with a
parse that does the same, which is the validator's own overhead.
--strict exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

# The Lambda task root, as in the tests (pyproject: pythonpath = ["functions", "."]).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

import hocon
from controlplane.hocon_source import garbage_collection_paused
from controlplane.validation import DeploymentContext, validate_config

SIZES = (10, 100, 1_000)
RATIO_TARGET = 1.5
SCALING_TARGET = 12.0
# The same number of runs for every size: the best of more runs is a luckier minimum, which would
# bias the ratio between sizes.
RUNS = 7
CONTEXT = DeploymentContext(token_injected=True, pass_role_configured=True)

LOCATION = """    {{
      id = "prl_aws_{index}"
      description = "Private location on AWS number {index}"
      type = "aws"
      region = "eu-west-1"
      engine = "classic"
      ami {{ type = "certified", java = "latest" }}
      security-groups = ["sg-0123456789abcdef0"]
      instance-type = "c7i.xlarge"
      spot = false
      subnets = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
      auto-associate-public-ipv4 = true
      iam-instance-profile = "gatling-load-generator"
      tags {{ Team = "performance", CostCenter = "1234" }}
      system-properties {{ "gatling.http.connectTimeout" = "60000" }}
      jvm-options = ["-Xmx4G", "-Xms512M"]
    }}"""


def generate(locations: int) -> bytes:
    """A config with `locations` AWS locations, about 600 bytes each."""
    body = ",\n".join(LOCATION.format(index=index) for index in range(locations))
    return (
        "control-plane {\n"
        '  token = "cpt_benchmark_token_0000000000"\n'
        "  token = ${?CONTROL_PLANE_TOKEN}\n"
        '  description = "generated for the benchmark"\n'
        f"  locations = [\n{body}\n  ]\n}}\n"
    ).encode()


def best_times(runs: int, *actions: Callable[[], object]) -> list[float]:
    """The best time of each action over `runs` rounds; a round runs each action once, in turn, so a
    busy moment of the machine weighs on all of them alike."""
    best = [float("inf")] * len(actions)
    for _ in range(runs):
        for index, action in enumerate(actions):
            started = time.perf_counter()
            action()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def _paused(action: Callable[[], object]) -> None:
    """`action` with the cycle collector paused, as validate_config runs the parser."""
    with garbage_collection_paused():
        action()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    rows = []
    for locations in SIZES:
        data = generate(locations)
        result = validate_config(data, context=CONTEXT)
        if not result.valid:
            raise SystemExit(f"the generated config is invalid:\n{result.format_text()}")
        text = data.decode()
        parse, paused_parse, validate = best_times(
            RUNS,
            lambda: hocon.parse(text, env={}),  # noqa: B023 - called within this iteration
            lambda: _paused(lambda: hocon.parse(text, env={})),  # noqa: B023
            lambda: validate_config(data, context=CONTEXT),  # noqa: B023
        )
        rows.append((locations, len(data), parse, paused_parse, validate))

    print("locations     size  bare parse  validate   ratio  x time for 10x  ratio to a parse without gc")
    previous = None
    for locations, size, parse, paused_parse, validate in rows:
        scaling = f"{validate / previous:.1f}x" if previous else "-"
        print(
            f"{locations:>9,}  {size / 1024:>5.0f}KB  {parse:>9.3f}s  {validate:>7.3f}s  {validate / parse:>5.2f}x  "
            f"{scaling:>14}  {validate / paused_parse:>26.2f}x"
        )
        previous = validate

    ratio = rows[-1][4] / rows[-1][2]
    scalings = [rows[i + 1][4] / rows[i][4] for i in range(len(rows) - 1)]
    ratio_ok = ratio <= RATIO_TARGET
    scaling_ok = all(s <= SCALING_TARGET for s in scalings)
    print(f"target: 1,000 locations within {RATIO_TARGET}x a bare parse: {ratio:.2f}x, {_verdict(ratio_ok)}")
    print(
        f"target: 10x the locations within {SCALING_TARGET:.0f}x the time: "
        f"{', '.join(f'{s:.1f}x' for s in scalings)}, {_verdict(scaling_ok)}"
    )
    return 1 if args.strict and not (ratio_ok and scaling_ok) else 0


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
