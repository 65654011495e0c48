"""The twin's speed against a baseline commit, side by side in one run: `make local` and the e2e suite.

The baseline is the commit before the twin learned to check IAM on every call, CloudFormation's
lifecycle and ECS's documented behaviour (`BASELINE`); the target is at most 1.5x its wall time for
both. The baseline is checked out into a temporary git worktree with an environment of its own lock
(`make install` there), and the two trees run alternately (`make local` by rounds, the e2e suite file by file), so that
load on the machine falls on both.

Run by `make bench`. Set BENCH_BASELINE_E2E=0 to time `make local` only (the e2e suite takes minutes
per tree). Exits non-zero only if a run fails, not on a missed target (the table says so).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = "cb08fea"  # main before the twin's IAM, lifecycle and ECS fidelity work
TARGET = 1.5
LOCAL_RUNS = 3


def run(tree: Path, *command: str) -> float:
    """Wall seconds of `command` in `tree`; raises when it fails."""
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    done = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True, check=False)  # noqa: S603 - make and pytest of the trees
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise SystemExit(f"{' '.join(command)} failed in {tree} (exit {done.returncode}):\n{tail}")
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="cpa-baseline-") as scratch:
        baseline = Path(scratch) / "tree"
        subprocess.run(  # noqa: S603
            ["git", "worktree", "add", "--detach", "--quiet", str(baseline), BASELINE],  # noqa: S607 - git on PATH
            cwd=REPO,
            check=True,
        )
        try:
            print(f"baseline {BASELINE}: installing its locked environment ...", flush=True)
            run(baseline, "make", "install")
            # main's `make install` compiles the environment's bytecode (PYTHONDONTWRITEBYTECODE is set
            # here, so nothing compiles on the fly); the baseline's did not yet: compile it the same way.
            run(baseline, ".venv/bin/python", "-m", "compileall", "-q", "-j", "0", ".venv/lib")
            trees = {"baseline": baseline, "main": REPO}
            local: dict[str, list[float]] = {name: [] for name in trees}
            for attempt in range(LOCAL_RUNS):
                for name, tree in trees.items():
                    local[name].append(run(tree, "make", "local"))
                print(f"make local, round {attempt + 1} of {LOCAL_RUNS} done", flush=True)
            rows = [("make local (best of 3)", min(local["baseline"]), min(local["main"]))]
            if os.environ.get("BENCH_BASELINE_E2E", "1") != "0":
                # The scenario files both trees have: the same user-visible scenarios, old and new twin.
                common = sorted(
                    str(path.relative_to(baseline))
                    for path in (baseline / "tests" / "e2e").rglob("test_*.py")
                    if (REPO / path.relative_to(baseline)).exists()
                )
                # File by file, the two trees in turn, so that a change of load falls on both.
                e2e = dict.fromkeys(trees, 0.0)
                for index, scenario in enumerate(common, 1):
                    for name, tree in trees.items():
                        e2e[name] += run(tree, ".venv/bin/pytest", "-q", "-p", "no:cacheprovider", scenario)
                    print(f"e2e scenario {index} of {len(common)} done: {scenario}", flush=True)
                rows.append((f"e2e scenarios ({len(common)} files both have)", e2e["baseline"], e2e["main"]))
        finally:
            subprocess.run(  # noqa: S603
                ["git", "worktree", "remove", "--force", str(baseline)],  # noqa: S607 - git on PATH
                cwd=REPO,
                check=False,
            )
    print(f"\n| run | baseline {BASELINE} | main | ratio | target |")
    print("|---|---|---|---|---|")
    for label, old, new in rows:
        ratio = new / old
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"| {label} | {old:.1f} s | {new:.1f} s | {ratio:.2f}x | <= {TARGET}x {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
