"""Is the new control plane up? Two checks, retried until a deadline.

1. `GET http://<task private IP>:<server port>/info` answers 200: the process runs and its server
   listens. It does not prove the control plane reached Gatling or accepted its locations.
2. Only when a Gatling API token secret is configured: every location id of the deployed config is
   listed by `GET /v2/locations?type=private_location`. An id that was already listed before this
   deployment proves nothing new (Gatling keeps listing locations of a control plane that went down);
   a new id proves this control plane registered it.
Unreachable endpoints, 5xx and 429 are retried until the deadline. A refused API token (401/403) is
a problem of the monitoring, not of the control plane: with `/info` answering, the check ends "up"
with a `monitoring_problem` that is recorded and notified, and nothing is rolled back.

The task is re-resolved on every poll (`find_task`: the RUNNING task of our deployment whose
side-car exited 0), since ECS may replace it during the window. A probe that times out while ECS
says the task is RUNNING names the likely cause: the checker's security group rule.

Only the first check needs the VPC: `probe_info` runs in `ProbeInfoFunction` (attached to the VPC,
no AWS API call), and the functions outside the VPC call it through `invoked_probe` (docs/health.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from controlplane import clock
from controlplane.codec import describe, parse
from controlplane.errors import GatlingApiError, GatlingApiRefused
from controlplane.gatling_api import private_location_ids
from controlplane.http_client import HttpGet, HttpUnreachable
from controlplane.models import FailureReport, ProbeInfoInput, ProbeInfoResult, UpCheck
from controlplane.settings import Settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskTypeDef
    from mypy_boto3_lambda import LambdaClient

TIMED_OUT = "timed out"  # the words of a probe that got no answer before its timeout
SECURITY_GROUP_HINT = "the checker cannot reach the task: check the security group rule from the checker group on the server port"
ReadToken = Callable[[], str | None]
FindTask = Callable[[], "TaskTypeDef | None"]
"""The RUNNING task of our deployment whose side-car exited 0, as ECS describes it now; None if none."""
Probe = Callable[[str, int], str | None]
"""`probe(private_ip, port)`: None when `GET /info` answered 200, else what went wrong."""


def probe_info(private_ip: str, port: int, *, http_get: HttpGet, timeout: float) -> str | None:
    """None when `/info` answers 200, else what went wrong."""
    try:
        response = http_get(f"http://{private_ip}:{port}/info", {}, timeout)
    except HttpUnreachable as error:
        if "timeout" in str(error).lower() or "timed out" in str(error).lower():
            return f"GET /info on {private_ip}:{port} {TIMED_OUT} ({error})"
        return f"GET /info on {private_ip}:{port} got no answer ({error})"
    if response.status != 200:
        return f"GET /info on {private_ip}:{port} answered HTTP {response.status}"
    return None


def invoked_probe(function_arn: str, *, lambda_client: LambdaClient) -> Probe:
    """`probe_info` run by the probe function in the VPC (a synchronous invoke); a failed invoke is a
    failed probe with its reason, never an exception."""

    def probe(private_ip: str, port: int) -> str | None:
        where = f"GET /info on {private_ip}:{port}"
        try:
            # Parsed, not constructed: a struct's constructor checks no type or constraint.
            request = parse(ProbeInfoInput, {"private_ip": private_ip, "port": port})
        except msgspec.ValidationError as error:
            return f"{where} not sent: {describe(error)}"
        try:
            response = lambda_client.invoke(
                FunctionName=function_arn,
                InvocationType="RequestResponse",
                Payload=msgspec.json.encode(request),
            )
            body = response["Payload"].read()
        except ClientError as error:
            details = error.response.get("Error", {})
            reason = f"{details.get('Code', 'error')}: {details.get('Message', '')}"
            return f"{where}: the probe function could not be invoked ({reason})"
        except BotoCoreError as error:
            return f"{where}: the probe function could not be invoked ({type(error).__name__}: {error})"
        if response.get("FunctionError"):
            return f"{where}: the probe function failed ({_function_error(body)})"
        try:
            result = parse(ProbeInfoResult, body)
        except msgspec.DecodeError:  # not JSON, or not a probe result (its ValidationError)
            return f"{where}: the probe function answered something else than a probe result"
        return result.problem

    return probe


def _function_error(body: bytes) -> str:
    """`errorType: errorMessage` of the Lambda runtime's error payload."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "no error payload"
    if not isinstance(payload, dict):
        return "no error payload"
    return f"{payload.get('errorType', 'error')}: {payload.get('errorMessage', '')}"


def begin(settings: Settings) -> UpCheck:
    started = clock.utcnow()
    return UpCheck(started_at=started, deadline=started + timedelta(seconds=settings.up_deadline_seconds))


def await_up(
    check: UpCheck,
    *,
    private_ip: str | None,
    location_ids: list[str],
    settings: Settings,
    probe: Probe,
    http_get: HttpGet,
    read_token: ReadToken,
    find_task: FindTask | None = None,
) -> UpCheck:
    """Poll both checks until they pass, one fails for good, the deadline passes or the budget is spent."""
    budget_end = clock.now() + settings.invocation_budget_seconds
    deadline = check.deadline.timestamp()
    invocations = check.invocations + 1
    task_arn = check.task_arn
    address = check.private_ip or private_ip
    if address is None and find_task is None:
        return _failed(check, invocations, "the new task has no private IP address to probe", check.info_ok)
    while True:
        info_problem: str | None
        if find_task is not None:
            try:
                task = find_task()
            except (ClientError, BotoCoreError) as error:
                # ECS could not be asked: probe the task last known instead of failing the check.
                logger.warning("task lookup failed", extra={"error": str(error)})
            else:
                task_arn = str(task.get("taskArn")) if task is not None else None
                address = task_private_ip(task) if task is not None else None
        if address is None:
            info_problem = (
                "ECS shows no RUNNING task of the deployment with a successful side-car right now "
                "(it may be replacing the task)"
            )
        else:
            info_problem = probe(address, settings.server_port)
            if info_problem is not None and TIMED_OUT in info_problem and find_task is not None:
                info_problem = f"{info_problem}; ECS says the task is RUNNING, so {SECURITY_GROUP_HINT}"
        problem = info_problem
        missing: list[str] = []
        checked = False
        monitoring = None
        if info_problem is None:
            try:
                missing, checked = _missing_locations(
                    location_ids, settings=settings, http_get=http_get, read_token=read_token
                )
            except GatlingApiRefused as error:
                monitoring = (
                    f"{error}: the locations were not checked; fix the GatlingApiTokenSecretArn secret "
                    "(the control plane answers /info and stays deployed)"
                )
            except GatlingApiError as error:
                problem = str(error)
            else:
                problem = f"Gatling does not list location(s) {', '.join(missing)} yet" if missing else None
        update = {
            "invocations": invocations,
            "info_ok": info_problem is None,
            "locations_checked": checked,
            "missing_locations": missing,
            "last_problem": problem,
            "task_arn": task_arn,
            "private_ip": address,
            "monitoring_problem": monitoring,
        }
        if problem is None:
            if monitoring is not None:
                logger.warning("control plane is up; its monitoring is not", extra={"problem": monitoring})
            else:
                logger.info("control plane is up", extra={"locations_checked": checked})
            return msgspec.structs.replace(check, **update, status="up", finished_at=clock.utcnow())
        now = clock.now()
        if now >= deadline:
            waited = int((check.deadline - check.started_at).total_seconds())
            return _failed(
                msgspec.structs.replace(check, **update),
                invocations,
                f"the control plane was not up within {waited} s: {problem}",
                info_problem is None,
            )
        if now + settings.poll_interval_seconds > budget_end:
            return msgspec.structs.replace(check, **update)
        clock.sleep(min(settings.poll_interval_seconds, deadline - now))


def task_private_ip(task: TaskTypeDef) -> str | None:
    """The task's private IPv4 address from its elastic network interface attachment."""
    for attachment in task.get("attachments", []):
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        for detail in attachment.get("details", []):
            value = detail.get("value")
            if detail.get("name") == "privateIPv4Address" and isinstance(value, str) and value:
                return value
    return None


def _missing_locations(
    location_ids: list[str], *, settings: Settings, http_get: HttpGet, read_token: ReadToken
) -> tuple[list[str], bool]:
    """Location ids of the config that Gatling does not list; (missing, whether the check ran)."""
    if not location_ids:
        return [], False
    token = read_token()
    if token is None:
        return [], False
    listed = private_location_ids(
        settings.gatling_api_url, token, http_get=http_get, timeout=settings.http_timeout_seconds
    )
    return sorted(set(location_ids) - listed), True


def _failed(check: UpCheck, invocations: int, reason: str, info_ok: bool) -> UpCheck:
    logger.warning("control plane is not up", extra={"reason": reason})
    return msgspec.structs.replace(
        check,
        status="failed",
        invocations=invocations,
        info_ok=info_ok,
        finished_at=clock.utcnow(),
        last_problem=reason,
        failure=FailureReport(phase="control_plane_up", reason=reason),
    )
