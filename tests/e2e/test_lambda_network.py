"""Which Lambda reaches what: the twin's VPC has no NAT gateway and no VPC endpoints, as the supported
public-subnet setup. A function attached to it has no public IP, so it reaches no AWS API and not
Gatling; a function outside it reaches no private address of the VPC (cpctl/twin/network.py).

Each defect is shown on a copy of template.yaml written beside it (CodeUri is relative), changed in
one place; the template as it is passes the same runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cpctl.twin.deployments import deploy_file, deploy_initial
from cpctl.twin.health_scenario import HealthRun, HealthWatch
from cpctl.twin.twin import LocalTwin, TwinOptions, builtin_config
from tests.conftest import TEMPLATE_PATH
from tests.e2e.conftest import WALL_TIMEOUT

VPC_CONFIG = """      VpcConfig:
        SubnetIds: !Ref SubnetIds
        SecurityGroupIds: [!GetAtt CheckerSecurityGroup.GroupId]
"""


def in_the_vpc(text: str, handler: str) -> str:
    """The template with the function of `handler` attached to the VPC."""
    line = f"      Handler: {handler}/app.lambda_handler\n"
    assert text.count(line) == 1, handler
    return text.replace(line, line + VPC_CONFIG)


def out_of_the_vpc(text: str) -> str:
    """The template with its one VPC-attached function (the probe) taken out of the VPC."""
    assert text.count(VPC_CONFIG) == 1
    return text.replace(VPC_CONFIG, "")


@contextmanager
def twin_of(text: str, tmp_path: Path) -> Iterator[LocalTwin]:
    template = TEMPLATE_PATH.parent / f".{tmp_path.name}-template.yaml"
    template.write_text(text, encoding="utf-8")
    try:
        with LocalTwin(TwinOptions(template=template)) as twin:
            yield twin
    finally:
        template.unlink()


def function_name(twin: LocalTwin, logical_id: str) -> str:
    return next(spec.function_name for spec in twin.functions().values() if spec.logical_id == logical_id)


def health_run_after_the_first_deploy(twin: LocalTwin) -> HealthRun:
    deploy_initial(twin, wall_timeout=WALL_TIMEOUT)
    watch = HealthWatch.attach(twin)
    try:
        return watch.run_check()
    finally:
        watch.close()


def test_the_health_check_in_the_vpc_reaches_no_aws_api(tmp_path: Path) -> None:
    text = in_the_vpc(TEMPLATE_PATH.read_text(encoding="utf-8"), "check_health")
    with twin_of(text, tmp_path) as twin:
        run = health_run_after_the_first_deploy(twin)
        assert run.error == "ConnectTimeoutError", run.result
        assert (
            run.result["errorMessage"]
            == 'Connect timeout on endpoint URL: "https://ecs.eu-west-1.amazonaws.com/"'
        )
        assert twin.network is not None
        refused = {(r.function_name, r.destination) for r in twin.network.refusals}
        assert (function_name(twin, "HealthCheckFunction"), "https://ecs.eu-west-1.amazonaws.com/") in refused


def test_the_up_check_in_the_vpc_cannot_invoke_the_probe_and_the_deployment_fails(tmp_path: Path) -> None:
    text = in_the_vpc(TEMPLATE_PATH.read_text(encoding="utf-8"), "await_control_plane_up")
    with twin_of(text, tmp_path) as twin:
        result = deploy_file(twin, builtin_config("initial"), wall_timeout=WALL_TIMEOUT)
        assert result.report.status == "FAILED"
        assert result.report.cause is not None
        assert (
            "the probe function could not be invoked (ConnectTimeoutError: Connect timeout on endpoint URL: "
            in (result.report.cause)
        )
        assert '"https://lambda.eu-west-1.amazonaws.com/' in result.report.cause


def test_a_probe_outside_the_vpc_cannot_reach_the_task(tmp_path: Path) -> None:
    text = out_of_the_vpc(TEMPLATE_PATH.read_text(encoding="utf-8"))
    with twin_of(text, tmp_path) as twin:
        result = deploy_file(twin, builtin_config("initial"), wall_timeout=WALL_TIMEOUT)
        assert result.report.status == "FAILED"
        probe = function_name(twin, "ProbeInfoFunction")
        assert result.report.cause is not None
        assert f"is a private address of the VPC and {probe} is not attached to it" in result.report.cause


def test_as_the_template_is_the_health_check_probes_the_task_through_the_probe_in_the_vpc() -> None:
    with LocalTwin() as twin:
        run = health_run_after_the_first_deploy(twin)
        assert run.error is None and run.healthy, run.result
        assert run.result["report"]["checks"]["info"]["detail"].endswith("answered 200")
        assert twin.network is not None and twin.network.refusals == []
        assert twin.lambdas is not None
        names = [invocation.function_name for invocation in twin.lambdas.invocations]
        health, probe = function_name(twin, "HealthCheckFunction"), function_name(twin, "ProbeInfoFunction")
        assert names[-2:] == [health, probe], "the probe runs inside the health check's invocation"
