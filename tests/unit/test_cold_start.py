"""What each handler loads at cold start: never the HOCON parser, X-Ray SDK or Powertools' event models.

The cold-start time itself is measured by `make bench` (benchmarks/bench_cost.py), not here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
HANDLERS = sorted(path.parent.name for path in FUNCTIONS.glob("*/app.py"))


def loaded_after(script: str) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", f"import sys\n{script}\nprint(' '.join(sys.modules))"],
        cwd=FUNCTIONS,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(completed.stdout.split())


def test_every_handler_is_covered() -> None:
    assert len(HANDLERS) >= 11 and "check_health" in HANDLERS and "validate_config" in HANDLERS


@pytest.mark.parametrize("handler", HANDLERS)
def test_handler_cold_start_leaves_heavy_modules_out(handler: str) -> None:
    modules = loaded_after(f"import {handler}.app")
    assert f"{handler}.app" in modules
    # The validator: only a health check with a Gatling API token, and the validation step, read a config.
    assert "zig_hocon" not in modules
    assert "controlplane.validation" not in modules
    # Tracing is Lambda's own (Tracing: Active); the X-Ray SDK is not shipped.
    assert not {name for name in modules if name.startswith("aws_xray_sdk")}
    # Powertools' parser package builds the models of every event source it knows.
    assert "aws_lambda_powertools.utilities.parser" not in modules
    # The payloads are msgspec structs: pydantic's import alone was 0.25x to 0.4x of boto3's.
    assert "pydantic" not in modules
    assert "msgspec" in modules


def test_the_health_check_loads_the_validator_when_it_reads_a_config() -> None:
    script = """
import io
import check_health.app
from controlplane.health import deployed_location_ids
from controlplane.settings import load_settings

class S3:
    def get_object(self, **_):
        return {"Body": io.BytesIO(b'control-plane { token = "t", locations = [{ id = "prl_a", type = "aws", region = "eu-west-1", ami { type = "certified" }, security-groups = ["sg-1"], instance-type = "c7i.xlarge", subnets = ["subnet-1"] }] }')}

names = dict(CLUSTER_NAME="c", SERVICE_NAME="s", TASK_FAMILY="f", CONFIG_BUCKET="b", CONFIG_KEY="k", RECORDS_TABLE="t")
assert "zig_hocon" not in sys.modules
print(deployed_location_ids("v1", s3=S3(), settings=load_settings(names)))
"""
    modules = loaded_after(script)
    assert "zig_hocon" in modules
    assert "['prl_a']" in " ".join(modules)
