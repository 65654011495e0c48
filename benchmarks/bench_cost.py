"""What the automation costs and how fast it wakes: the monthly bill, cold starts, the artifact.

Run by `make bench`. Exits non-zero when a run fails or a target is missed:
- the bill: counted on the twin (one deploy, health checks every 5 simulated minutes) and scaled to a
  month of one deploy a day and a health check every 5 minutes, times the price table below: < $1;
- the artifact: `sam build` of template.yaml into a scratch folder: one copy of the dependencies,
  one dependency install, an upload at least 5x smaller than one copy per function;
- cold start: each handler's import, as `sam build` ships it (its code and the layer, with their
  bytecode; nothing may be written, as /var/task and /opt are read-only), against `import boto3` of
  the same layer on the same Python 3.13. The layer is built again for this machine's platform with
  the same dependencies/Makefile, since the shipped one holds arm64 binaries. Printed; the target is
  1.3x (the README's cost section says why it is not met and what bounds it).
"""

from __future__ import annotations

import collections
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from cpctl.twin.deployments import deploy_file, deploy_initial  # noqa: E402
from cpctl.twin.health_scenario import HealthWatch  # noqa: E402
from cpctl.twin.twin import LocalTwin, builtin_config  # noqa: E402
from tests.conftest import load_template  # noqa: E402

MONTH_HOURS = 730  # AWS's billing month
DEPLOYS_PER_MONTH = 30
HEALTH_RUNS_PER_MONTH = 30 * 24 * 12  # every 5 minutes
HEALTH_RUNS_MEASURED = 6
# Lambda bills each invocation's duration; the twin's clock gives the time a function waits (a long
# poll), not its compute. Assumed, conservatively: 1 s of compute per invocation, and every
# invocation a cold start with 1 s of billed INIT (Lambda bills INIT of managed runtimes since 2025).
COMPUTE_SECONDS = 1.0
INIT_SECONDS = 1.0
BILL_TARGET = 1.00
UPLOAD_TARGET = 5.0
COLD_START_TARGET = 1.3
FLOOR_ROWS = ("msgspec", "floor")


@dataclass(frozen=True)
class Price:
    usd: float
    per: float  # units the price is for
    source: str


# The page defines the billing units, but its per-region figures are drawn in the browser and the
# stored copy holds none: eu-west-1's $0.7068 / $0.1413 per million are unconfirmed (only us-east-1's
# $0.625 / $0.125 since the November 2024 cut appear, on third-party pages). Even doubled, DynamoDB
# stays under 3 cents a month here.
DYNAMODB_SOURCE = "https://aws.amazon.com/dynamodb/pricing/on-demand/ (eu-west-1 figures unconfirmed)"

# AWS list prices, Europe (Ireland) eu-west-1, without any free tier.
PRICES = {
    "lambda_gb_second": Price(0.0000133334, 1, "https://aws.amazon.com/lambda/pricing/ (Arm)"),
    "lambda_request": Price(0.20, 1_000_000, "https://aws.amazon.com/lambda/pricing/"),
    "sfn_transition": Price(0.025, 1_000, "https://aws.amazon.com/step-functions/pricing/ (Standard)"),
    "dynamodb_write": Price(0.7068, 1_000_000, DYNAMODB_SOURCE),
    "dynamodb_read": Price(0.1413, 1_000_000, DYNAMODB_SOURCE),
    "s3_get": Price(0.0004, 1_000, "https://aws.amazon.com/s3/pricing/ (GET, HEAD)"),
    "s3_list": Price(0.005, 1_000, "https://aws.amazon.com/s3/pricing/ (LIST)"),
    "custom_metric_month": Price(
        0.30, 1, "https://aws.amazon.com/cloudwatch/pricing/ (prorated by the hour it is sent)"
    ),
    "alarm_month": Price(0.10, 1, "https://aws.amazon.com/cloudwatch/pricing/ (standard resolution)"),
    "dashboard_month": Price(
        3.00, 1, "https://aws.amazon.com/cloudwatch/pricing/ (the first 3 of an account are free)"
    ),
    "logs_gb": Price(0.57, 1, "https://aws.amazon.com/cloudwatch/pricing/ (Logs, standard ingestion)"),
    "xray_trace": Price(5.00, 1_000_000, "https://aws.amazon.com/xray/pricing/ (traces recorded)"),
    "sns_publish": Price(0.50, 1_000_000, "https://aws.amazon.com/sns/pricing/"),
    "events_event": Price(
        1.00, 1_000_000, "https://aws.amazon.com/eventbridge/pricing/ (AWS service events are free)"
    ),
    "secrets_call": Price(0.05, 10_000, "https://aws.amazon.com/secrets-manager/pricing/"),
}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DYNAMODB_READS = {"GetItem", "Query"}


# ---------------------------------------------------------------- counting on the twin


@dataclass
class Counts:
    invocations: collections.Counter[str]  # logical id -> invocations
    billed_gb_seconds: float
    calls: collections.Counter[str]  # "dynamodb:PutItem" -> calls
    transitions: int
    log_bytes: int
    metrics: set[tuple[str, str]]  # (metric name, dimensions) sent since the previous count
    seen: frozenset[str]  # the EMF documents read so far

    def minus(self, other: Counts) -> Counts:
        return Counts(
            self.invocations - other.invocations,
            self.billed_gb_seconds - other.billed_gb_seconds,
            self.calls - other.calls,
            self.transitions - other.transitions,
            self.log_bytes - other.log_bytes,
            self.metrics,
            self.seen,
        )


def count(twin: LocalTwin, transitions: int, since: Counts | None = None) -> Counts:
    specs = {spec.function_name: spec for spec in twin.functions().values()}
    invocations: collections.Counter[str] = collections.Counter()
    gb_seconds = 0.0
    assert twin.lambdas is not None
    for item in twin.lambdas.invocations:
        spec = specs[item.function_name]
        invocations[spec.logical_id] += 1
        waited = max(item.ended - item.started, 0.0)
        gb_seconds += (waited + COMPUTE_SECONDS + INIT_SECONDS) * spec.memory_size / 1024
    calls = collections.Counter(record.operation for record in twin.authorizer.records)
    groups = {spec.log_group_name for spec in specs.values()}
    log_bytes = 0
    metrics: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for group, messages in twin.log_events().items():
        if group not in groups:
            continue
        for message in messages:
            log_bytes += len(message.encode()) + 26  # CloudWatch Logs bills 26 bytes of metadata per event
            if message.startswith('{"_aws"'):
                seen.add(message)
                if since is None or message not in since.seen:
                    metrics |= emf_metrics(message)
    return Counts(invocations, gb_seconds, calls, transitions, log_bytes, metrics, frozenset(seen))


def emf_metrics(message: str) -> set[tuple[str, str]]:
    """The custom metrics (name, dimension values) one EMF document defines; each is billed."""
    try:
        document = json.loads(message)
    except ValueError:
        return set()
    if not isinstance(document, dict) or "_aws" not in document:
        return set()
    found = set()
    for directive in document["_aws"].get("CloudWatchMetrics", []):
        for dimensions in directive.get("Dimensions", []):
            key = ",".join(f"{name}={document.get(name)}" for name in sorted(dimensions))
            for metric in directive.get("Metrics", []):
                found.add((f"{directive.get('Namespace')}/{metric['Name']}", key))
    return found


def run_twin() -> tuple[Counts, Counts, int]:
    """(one deploy, the mean of one health run, the health runs counted)."""
    with LocalTwin() as twin:
        deploy_initial(twin)
        twin.wait_until_idle()
        before = count(twin, 0)
        result = deploy_file(twin, builtin_config("changed"))
        assert result.report.status == "SUCCEEDED", result.report.cause
        twin.wait_until_idle()
        deploy = count(twin, result.report.transitions, before).minus(before)
        watch = HealthWatch.attach(twin)
        try:
            start = count(twin, 0)
            for _ in range(HEALTH_RUNS_MEASURED):
                run = watch.run_check()
                assert run.error is None and run.result.get("healthy") is not False, run.result
                watch.advance_to_next_run()
            health = count(twin, 0, start).minus(start)
        finally:
            watch.close()
    return deploy, health, HEALTH_RUNS_MEASURED


# ---------------------------------------------------------------- the bill


def cost(price: str, units: float) -> float:
    item = PRICES[price]
    return item.usd * units / item.per


def bill(deploy: Counts, health: Counts, runs: int) -> tuple[list[tuple[str, str, float]], float, float]:
    """(lines: what, count per month, $ per month; total; dashboards' $ if beyond the free 3)."""
    per_run = 1 / runs

    def monthly(field: str, *keys: str) -> float:
        d = getattr(deploy, field)
        h = getattr(health, field)
        if keys:
            return sum(d[k] for k in keys) * DEPLOYS_PER_MONTH + sum(h[k] for k in keys) * per_run * (
                HEALTH_RUNS_PER_MONTH
            )
        return d * DEPLOYS_PER_MONTH + h * per_run * HEALTH_RUNS_PER_MONTH

    lines: list[tuple[str, str, float]] = []
    requests = (
        sum(deploy.invocations.values()) * DEPLOYS_PER_MONTH
        + sum(health.invocations.values()) * per_run * HEALTH_RUNS_PER_MONTH
    )
    gb_s = monthly("billed_gb_seconds")
    lines.append(("Lambda requests", f"{requests:,.0f}", cost("lambda_request", requests)))
    lines.append(
        ("Lambda duration (arm64, INIT included)", f"{gb_s:,.0f} GB-s", cost("lambda_gb_second", gb_s))
    )
    transitions = deploy.transitions * DEPLOYS_PER_MONTH
    lines.append(("Step Functions transitions", f"{transitions:,}", cost("sfn_transition", transitions)))
    writes = monthly("calls", *(f"dynamodb:{op}" for op in DYNAMODB_WRITES))
    reads = monthly("calls", *(f"dynamodb:{op}" for op in DYNAMODB_READS))
    lines.append(
        ("DynamoDB writes (on demand, 1 WRU each)", f"{writes:,.0f}", cost("dynamodb_write", writes))
    )
    lines.append(("DynamoDB reads (on demand)", f"{reads:,.0f}", cost("dynamodb_read", reads)))
    gets = monthly("calls", "s3:GetObject", "s3:HeadObject", "s3:GetObjectVersion")
    lists = monthly("calls", "s3:ListObjectVersions", "s3:ListBucketVersions")
    lines.append(("S3 GET/HEAD", f"{gets:,.0f}", cost("s3_get", gets)))
    lines.append(("S3 LIST", f"{lists:,.0f}", cost("s3_list", lists)))
    publishes = monthly("calls", "sns:Publish")
    lines.append(("SNS publishes", f"{publishes:,.0f}", cost("sns_publish", publishes)))
    secrets = monthly("calls", "secretsmanager:GetSecretValue")
    lines.append(
        (
            "Secrets Manager calls (Gatling API token, optional)",
            f"{secrets:,.0f}",
            cost("secrets_call", secrets),
        )
    )
    # Every health run and every deploy starts one trace (Tracing: Active samples the first request of
    # each second); counted as one trace per invocation, an upper bound.
    lines.append(("X-Ray traces (upper bound)", f"{requests:,.0f}", cost("xray_trace", requests)))
    schedule = HEALTH_RUNS_PER_MONTH
    lines.append(("EventBridge schedule events", f"{schedule:,}", cost("events_event", schedule)))
    log_gb = monthly("log_bytes") / 1024**3
    lines.append(("CloudWatch Logs ingestion", f"{log_gb * 1024:,.0f} MB", cost("logs_gb", log_gb)))
    # A custom metric costs $0.30 a month when data arrives every hour, prorated by the hours it does.
    health_metrics = health.metrics
    deploy_metrics = deploy.metrics - health_metrics
    hours = len(health_metrics) * MONTH_HOURS + len(deploy_metrics) * DEPLOYS_PER_MONTH
    names = ", ".join(sorted({name.split("/", 1)[1] for name, _ in health_metrics | deploy_metrics}))
    lines.append(
        (
            f"Custom metrics ({names})",
            f"{len(health_metrics)} hourly, {len(deploy_metrics)} daily",
            cost("custom_metric_month", hours / MONTH_HOURS),
        )
    )
    resources = load_template()["Resources"]
    alarms = sum(1 for item in resources.values() if item["Type"] == "AWS::CloudWatch::Alarm")
    lines.append(("CloudWatch alarms", str(alarms), cost("alarm_month", alarms)))
    dashboards = sum(1 for item in resources.values() if item["Type"] == "AWS::CloudWatch::Dashboard")
    total = sum(line[2] for line in lines)
    return lines, total, cost("dashboard_month", dashboards)


# ---------------------------------------------------------------- build, artifact, cold start


def python313() -> str:
    for candidate in [
        shutil.which("python3.13"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13"))),
    ]:
        if not candidate:
            continue
        probe = subprocess.run([candidate, "-c", ""], capture_output=True, check=False)  # noqa: S603 - a Python found here
        if probe.returncode == 0:
            return candidate
    raise SystemExit("bench_cost needs python3.13 (the Lambda runtime's Python): pyenv install 3.13")


def sam_build(python: str, build_dir: Path) -> str:
    env = dict(os.environ, PATH=f"{Path(python).parent}:{os.environ['PATH']}", SAM_CLI_TELEMETRY="0")
    completed = subprocess.run(  # noqa: S603 - the environment's own sam
        [str(REPO / ".venv/bin/sam"), "build", "--build-dir", str(build_dir), "--no-cached"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"sam build failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    return completed.stdout + completed.stderr


def zipped_size(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.tell()


def missing_bytecode(folder: Path) -> int:
    missing = 0
    for source in folder.rglob("*.py"):
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        missing += not compiled.is_file()
    return missing


def import_seconds(python: str, paths: list[str], module: str) -> float:
    code = (
        f"import sys; sys.path[:0] = {paths!r}; import time; started = time.process_time(); "
        f"import {module}; print(time.process_time() - started)"
    )
    # -I: none of this machine's site-packages or environment; -B: write no bytecode, as in Lambda.
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
    completed = subprocess.run(  # noqa: S603 - the Python found above
        [python, "-I", "-B", "-c", code], capture_output=True, text=True, env=env, cwd="/", check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"import {module} failed:\n{completed.stderr[-2000:]}")
    return float(completed.stdout)


def cold_starts(python: str, build_dir: Path, scratch: Path) -> dict[str, tuple[str, float, float]]:
    """Logical id -> (handler module, CPU seconds of its import, ratio to import boto3)."""
    layer = scratch / "host-layer"
    subprocess.run(  # noqa: S603 - make, as `make build` runs it
        [  # noqa: S607
            "make",
            "--silent",
            "-C",
            str(REPO / "dependencies"),
            "build-DependenciesLayer",
            f"ARTIFACTS_DIR={layer}",
            "PLATFORM=manylinux2014_x86_64",
            f"PYTHON={python}",
        ],
        check=True,
        capture_output=True,
    )
    site = str(layer / "python")
    template = load_template()
    handlers = {
        logical_id: str(item["Properties"]["Handler"]).rsplit(".", 1)[0].replace("/", ".")
        for logical_id, item in template["Resources"].items()
        if item["Type"] == "AWS::Serverless::Function"
    }
    samples: dict[str, list[float]] = collections.defaultdict(list)
    # What every handler pays before its own code (the SDK, the payloads' validator, the JSON
    # logger): the bound its ratio cannot go under.
    floors = {
        "msgspec": ("boto3 + msgspec", "boto3, msgspec"),
        "floor": ("boto3 + msgspec + Powertools' Logger", "boto3, msgspec, aws_lambda_powertools.logging"),
    }
    # Interleaved rounds, the minimum of each: this machine is shared, the least disturbed run counts.
    for _ in range(9):
        samples["boto3"].append(import_seconds(python, [site], "boto3"))
        for name, (_, modules) in floors.items():
            samples[name].append(import_seconds(python, [site], modules))
        for logical_id, module in handlers.items():
            samples[logical_id].append(import_seconds(python, [str(build_dir / logical_id), site], module))
    baseline = min(samples["boto3"])
    result = {"boto3": ("boto3", baseline, 1.0)}
    for name, (label, _) in floors.items():
        result[name] = (label, min(samples[name]), min(samples[name]) / baseline)
    for logical_id, module in handlers.items():
        seconds = min(samples[logical_id])
        result[logical_id] = (module, seconds, seconds / baseline)
    return result


def main() -> int:
    failures = []
    deploy, health, runs = run_twin()
    lines, total, dashboards = bill(deploy, health, runs)
    print("Monthly bill of the automation (eu-west-1 list prices, no free tier):")
    print("  one deploy a day, a health check every 5 minutes; the Fargate task itself is not included")
    for what, units, usd in lines:
        print(f"  {what:58} {units:>22}  ${usd:7.3f}")
    print(f"  {'total':58} {'':>22}  ${total:7.3f}   (target < ${BILL_TARGET:.2f})")
    if dashboards:
        print(
            f"  dashboards: $0 within an account's first 3, else +${dashboards:.2f} (total ${total + dashboards:.2f})"
        )
    print("  prices: " + "; ".join(sorted({price.source for price in PRICES.values()})))
    print(
        f"  counted on the twin: one deploy ({deploy.transitions} transitions, {sum(deploy.invocations.values())} invocations),"
    )
    print(
        f"  {runs} health runs ({sum(health.invocations.values()) / runs:.1f} invocations and {sum(health.calls.values()) / runs:.1f} AWS calls each)"
    )
    if total >= BILL_TARGET:
        failures.append(f"bill ${total:.2f} >= ${BILL_TARGET:.2f}")

    python = python313()
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        scratch = Path(tmp)
        build_dir = scratch / "build"
        output = sam_build(python, build_dir)
        resolves = output.count("ResolveDependencies") + output.count("-m pip install")
        artifacts = sorted(path for path in build_dir.iterdir() if path.is_dir())
        sizes = {path.name: zipped_size(path) for path in artifacts}
        with_sdk = [path.name for path in artifacts if list(path.glob("**/botocore/__init__.py"))]
        layer = sizes.get("DependenciesLayer", 0)
        functions = {name: size for name, size in sizes.items() if name != "DependenciesLayer"}
        upload = sum(sizes.values())
        one_copy_each = sum(layer + size for size in functions.values())
        print("\nArtifact (sam build of template.yaml):")
        print(f"  dependency installs in sam build: {resolves}  (target 1)")
        print(f"  copies of the dependencies: {len(with_sdk)} ({', '.join(with_sdk)})  (target 1)")
        print(
            f"  upload: {upload / 2**20:.1f} MiB zipped = layer {layer / 2**20:.1f} MiB + {len(functions)} functions "
            f"of {max(functions.values()) / 2**10:.0f} KiB at most"
        )
        print(
            f"  one copy per function would upload {one_copy_each / 2**20:.1f} MiB: {one_copy_each / upload:.1f}x "
            f"more  (target >= {UPLOAD_TARGET:.0f}x)"
        )
        missing = sum(missing_bytecode(path) for path in artifacts)
        print(f"  Python files shipped without bytecode: {missing}")
        if resolves != 1:
            failures.append(f"{resolves} dependency installs")
        if len(with_sdk) != 1:
            failures.append(f"{len(with_sdk)} copies of the dependencies")
        if one_copy_each / upload < UPLOAD_TARGET:
            failures.append(f"upload only {one_copy_each / upload:.1f}x smaller")
        if missing:
            failures.append(f"{missing} files without bytecode")

        starts = cold_starts(python, build_dir, scratch)
        load = " ".join(f"{value:.2f}" for value in os.getloadavg())
        print(
            "\nCold start: CPU time of the handler's import as shipped, against import boto3 (Python 3.13;"
            f" load average {load}):"
        )
        for name, (module, seconds, ratio) in starts.items():
            print(f"  {name:30} {module:36} {seconds * 1000:6.0f} ms  {ratio:4.2f}x")
        worst = max(ratio for name, (_, _, ratio) in starts.items() if name not in ("boto3", *FLOOR_ROWS))
        print(
            f"  worst handler {worst:.2f}x (target {COLD_START_TARGET}x; the floor row is what any handler "
            "with msgspec payloads and Powertools' logging costs: README, cost section)"
        )
        if worst > COLD_START_TARGET:
            failures.append(f"a handler's import {worst:.2f}x import boto3")
    if failures:
        print("\nMISSED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
