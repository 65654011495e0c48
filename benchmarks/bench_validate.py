"""Validation time of generated control-plane.conf files against a bare parse of the same file.

Run: .venv/bin/python benchmarks/bench_validate.py [--strict] [--wall]

Targets: validating 1,000 AWS locations takes at most 1.5x a bare parse of the same text, by
hocon-parser (the pure-Python parser the target was set against) and by zig-hocon (the parser the
validator reads with: both ratios are shown and judged), 10x the locations take at most 12x the
time, and every hostile input at the 1 MiB cap is answered within 2 s. Times are the best of
several runs of the process's CPU time: on a machine shared with other work a run is paused while
others get the cores, and the longer the run the more often, so wall-time minima grow faster than
the work does (--wall measures wall time instead). Ratios compare runs of one process.
--strict exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

# The Lambda task root, as in the tests (pyproject: pythonpath = ["functions", "."]).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

import hocon
import zig_hocon
from controlplane.hocon_source import MAX_CONFIG_BYTES
from controlplane.validation import DeploymentContext, validate_config

SIZES = (10, 100, 1_000)
RATIO_TARGET = 1.5
SCALING_TARGET = 12.0
WORST_CASE_TARGET = 2.0  # seconds, for any input up to the 1 MiB cap
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


def best_times(
    runs: int, *actions: Callable[[], object], clock: Callable[[], float] = time.process_time
) -> list[float]:
    """The best time of each action over `runs` rounds; a round runs each action once, in turn, so a
    busy moment of the machine weighs on all of them alike."""
    best = [float("inf")] * len(actions)
    for _ in range(runs):
        for index, action in enumerate(actions):
            # Each starts with no garbage of the one before (validate_config pauses the cycle collector
            # while it works): a collection the previous action's objects are due is not charged here.
            gc.collect()
            started = clock()
            action()
            best[index] = min(best[index], clock() - started)
    return best


def worst_cases() -> dict[str, bytes]:
    """Inputs at the 1 MiB cap that push the scanner's and the parser's costs: each just inside a
    limit of docs/validator.md (the `+=` one past it), so each is read, not refused at once; the last
    is a plain document."""
    cap = MAX_CONFIG_BYTES
    locations = generate(1_600)
    long_strings = "".join(f'k{i} = "{"x" * 16_000}"\n' for i in range(cap // 16_010))
    tokens = "".join(f"k{i} = [{', '.join(['1'] * 9_000)}]\n" for i in range(11))
    blanks = "".join(f"k{i} = 1{' ' * 9_990}\n" for i in range(cap // 10_000))
    nested = "".join("a { " * 63 + f"x{i} = 1" + " }" * 63 + "\n" for i in range(1_400))
    redefined = "".join(f"a.b.c{i % 50}.d = {i}\n" for i in range(cap // 20))
    appends = "".join(f"k{i % 5_000} += {i}\n" for i in range(cap // 16))
    # a plain document (read without the scan) whose substitutions are all on one line
    one_line = "a = [" + ", ".join(["{ k = ${?UNSET} }"] * 9_000) + "]\n"
    texts = {
        "1,600 AWS locations": locations,
        "64 strings of 16,000 characters": long_strings.encode(),
        "198,000 tokens in lists": tokens.encode(),
        "runs of 9,990 blanks": blanks.encode(),
        "objects nested 63 deep": nested.encode(),
        "keys redefined 50,000 times": redefined.encode(),
        "65,000 += appends": appends.encode(),
        "9,000 substitutions on one line": one_line.encode(),
    }
    return {name: data[: data.rfind(b"\n", 0, cap) + 1] for name, data in texts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--wall", action="store_true", help="measure wall time, not CPU time")
    args = parser.parse_args()
    clock = time.perf_counter if args.wall else time.process_time
    print(f"times: best of {RUNS} runs, {'wall' if args.wall else 'CPU'} time")

    rows = []
    for locations in SIZES:
        data = generate(locations)
        result = validate_config(data, context=CONTEXT)
        if not result.valid:
            raise SystemExit(f"the generated config is invalid:\n{result.format_text()}")
        text = data.decode()
        parse, zig_parse, validate = best_times(
            RUNS,
            lambda: hocon.parse(text, env={}),  # noqa: B023 - called within this iteration
            lambda: zig_hocon.ConfigFactory.parse_string(text, env={}).as_dict(),  # noqa: B023
            lambda: validate_config(data, context=CONTEXT),  # noqa: B023
            clock=clock,
        )
        rows.append((locations, len(data), parse, zig_parse, validate))

    print("locations     size  hocon-parser  zig-hocon  validate  ratio  x time for 10x  ratio to zig-hocon")
    previous = None
    for locations, size, parse, zig_parse, validate in rows:
        scaling = f"{validate / previous:.1f}x" if previous else "-"
        print(
            f"{locations:>9,}  {size / 1024:>5.0f}KB  {parse:>11.3f}s  {zig_parse:>8.3f}s  {validate:>7.3f}s  "
            f"{validate / parse:>4.2f}x  {scaling:>14}  {validate / zig_parse:>17.2f}x"
        )
        previous = validate

    ratio = rows[-1][4] / rows[-1][2]
    scalings = [rows[i + 1][4] / rows[i][4] for i in range(len(rows) - 1)]
    ratio_ok = ratio <= RATIO_TARGET
    scaling_ok = all(s <= SCALING_TARGET for s in scalings)
    zig_ratio = rows[-1][4] / rows[-1][3]
    zig_ratio_ok = zig_ratio <= RATIO_TARGET
    print(
        f"target: 1,000 locations within {RATIO_TARGET}x a bare hocon-parser parse: {ratio:.2f}x, {_verdict(ratio_ok)}"
    )
    print(
        f"target: 1,000 locations within {RATIO_TARGET}x a bare zig-hocon parse: {zig_ratio:.2f}x, "
        f"{_verdict(zig_ratio_ok)} (zig-hocon parses {rows[-1][2] / rows[-1][3]:.0f}x faster than hocon-parser)"
    )
    print(
        f"target: 10x the locations within {SCALING_TARGET:.0f}x the time: "
        f"{', '.join(f'{s:.1f}x' for s in scalings)}, {_verdict(scaling_ok)}"
    )
    worst_ok = True
    for name, data in worst_cases().items():
        (seconds,) = best_times(1, lambda: validate_config(data, context=CONTEXT), clock=clock)  # noqa: B023
        result = validate_config(data, context=CONTEXT)
        verdict = f"first error: {result.errors[0].message}" if result.errors else "valid"
        worst_ok = worst_ok and seconds <= WORST_CASE_TARGET
        print(f"  {name:<34} {len(data) / 1024:>6.0f}KB  {seconds:>6.2f}s  {verdict[:70]}")
    print(f"target: every input up to the 1 MiB cap within {WORST_CASE_TARGET:.0f} s: {_verdict(worst_ok)}")
    return 1 if args.strict and not (ratio_ok and zig_ratio_ok and scaling_ok and worst_ok) else 0


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
