"""Before a deployment restarts the control plane: wait until no load test run uses its locations.

A run's load generators are managed through the control plane of their location; restarting it
under a run risks the run. So a deployment whose control plane is up first asks Gatling
(`gatling_api.active_runs`) whether a run that has not ended uses a location id of the *running*
config (the last good version), and waits while one does, up to `RunWaitMinutes`; then it deploys
anyway or gives up, as `RunWaitExpiry` says. It does not wait when the feature is off (no API token,
or `RunWaitMinutes` 0), when the request says `force`, when it is a self-heal of a control plane that
does not answer (nothing can run through it), or when nothing was deployed yet.

The wait long-polls like the queue (docs/workflow.md, "Waiting"): one look every
`RUN_CHECK_INTERVAL_SECONDS`, returning `waiting` when the invocation's budget is spent, so a wait
of 30 minutes costs a handful of state transitions. Gatling not answering counts as a run in the way
(unknown is running). One notification when the wait starts, one when the deployment goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import msgspec

from controlplane import clock
from controlplane.errors import GatlingApiError, GatlingApiRefused
from controlplane.gatling_api import ActiveRun, active_runs
from controlplane.healing import SELF_HEAL_REASON
from controlplane.http_client import HttpGet
from controlplane.models import AwaitLoadTestsInput, LoadTestWait
from controlplane.settings import Settings
from controlplane.telemetry import logger

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

# Runs not updated for this long are not listed (the API's own default window is 24 hours too).
RUN_LOOKBACK = timedelta(hours=24)

ReadToken = Callable[[], str | None]
RunningLocations = Callable[[], list[str] | None]
"""The location ids of the running config; None when no config was deployed yet."""
Notify = Callable[[str, str], None]
"""`notify(subject, message)`."""


def begin(state: AwaitLoadTestsInput, settings: Settings) -> LoadTestWait:
    started = clock.utcnow()
    return LoadTestWait(
        status="waiting",
        detail="looking for load test runs",
        started_at=started,
        deadline=started + timedelta(seconds=settings.run_wait_seconds),
    )


def why_not_wait(state: AwaitLoadTestsInput, settings: Settings) -> str | None:
    """Why this deployment does not wait at all, or None when it looks at the runs."""
    if settings.gatling_api_token_secret_arn is None:
        return "no Gatling API token (GatlingApiTokenSecretArn): load test runs are not checked"
    if settings.run_wait_minutes == 0:
        return "RunWaitMinutes is 0: load test runs are not checked"
    if state.request.force and state.request.reason == SELF_HEAL_REASON:
        return "a self-heal of a control plane that does not answer /info: no run can be using it"
    if state.request.force:
        return "the request says force: deploying without waiting for load test runs"
    return None


def await_load_tests(
    state: AwaitLoadTestsInput,
    *,
    settings: Settings,
    running_locations: RunningLocations,
    http_get: HttpGet,
    read_token: ReadToken,
    notify: Notify,
) -> LoadTestWait:
    """Look at the runs until none is in the way, the deadline passes or the budget is spent."""
    wait = state.load_tests or begin(state, settings)
    invocations = wait.invocations + 1
    skip = why_not_wait(state, settings)
    if skip is not None:
        return _done(wait, invocations, "not_needed", skip)
    if not wait.location_ids:
        locations = running_locations()
        if locations is None:
            return _done(
                wait, invocations, "not_needed", "no control plane was deployed yet: nothing to wait for"
            )
        if not locations:
            return _done(wait, invocations, "not_needed", "the running config defines no location")
        wait = msgspec.structs.replace(wait, location_ids=sorted(locations))
    try:
        if read_token() is None:
            return _done(
                wait, invocations, "not_needed", "no Gatling API token: load test runs are not checked"
            )
    except GatlingApiRefused:
        pass  # set but unreadable: each look below says Gatling cannot tell, and unknown is running
    budget_end = clock.now() + settings.invocation_budget_seconds
    deadline = wait.deadline.timestamp()
    wanted = set(wait.location_ids)
    while True:
        in_the_way, detail = _look(wanted, read_token, settings=settings, http_get=http_get)
        now = clock.now()
        waited = round(now - wait.started_at.timestamp(), 3)
        wait = msgspec.structs.replace(
            wait, runs=in_the_way, detail=detail, waited_seconds=waited, invocations=invocations
        )
        if not in_the_way:
            if wait.notified:
                notify(*_going_on(state, wait, f"no load test run uses its locations any more ({detail})"))
            return _done(wait, invocations, "clear", detail)
        if not wait.notified:
            notify(*_waiting(state, wait, settings))
            wait = msgspec.structs.replace(wait, notified=True)
            logger.info("waiting for load test runs", extra={"runs": in_the_way})
        if now >= deadline:
            minutes = f"{settings.run_wait_minutes:g}"
            if settings.run_wait_expiry == "deploy":
                why = f"waited RunWaitMinutes ({minutes} min) and RunWaitExpiry is deploy: deploying anyway"
                notify(*_going_on(state, wait, why))
                return _done(
                    wait, invocations, "expired", f"{why}; still in the way: {'; '.join(in_the_way)}"
                )
            why = (
                f"waited RunWaitMinutes ({minutes} min) and RunWaitExpiry is skip: not deployed; "
                f"still in the way: {'; '.join(in_the_way)}"
            )
            return _done(wait, invocations, "gave_up", why)
        if now + settings.run_check_interval_seconds > budget_end:
            return wait
        clock.sleep(min(settings.run_check_interval_seconds, max(deadline - now, 0.001)))


def _look(
    wanted: set[str], read_token: ReadToken, *, settings: Settings, http_get: HttpGet
) -> tuple[list[str], str]:
    """(the runs in the way, described; one line about what was seen)."""
    try:
        token = read_token()
        if token is None:  # the secret was checked before the first look; it cannot go away
            raise GatlingApiRefused("no Gatling API token")
        runs = active_runs(
            settings.gatling_api_url,
            token,
            updated_since=clock.utcnow() - RUN_LOOKBACK,
            http_get=http_get,
            timeout=settings.http_timeout_seconds,
        )
    except GatlingApiError as error:
        # Unknown is running: a restart is only safe when Gatling says no run is in the way.
        return [f"Gatling cannot tell ({error})"], f"Gatling cannot tell whether a run is in the way: {error}"
    using = [run for run in runs if run.location_ids & wanted]
    return [_describe(run, wanted) for run in using], _seen(runs, using)


def _describe(run: ActiveRun, wanted: set[str]) -> str:
    return f"{run.describe()} (uses {', '.join(sorted(run.location_ids & wanted))})"


def _seen(runs: list[ActiveRun], using: list[ActiveRun]) -> str:
    if not runs:
        return "Gatling reports no unfinished run"
    others = len(runs) - len(using)
    text = f"{len(using)} unfinished run(s) on the control plane's locations"
    return text + (f", {others} elsewhere" if others else "")


def _done(
    wait: LoadTestWait,
    invocations: int,
    status: Literal["clear", "not_needed", "expired", "gave_up"],
    detail: str,
) -> LoadTestWait:
    logger.info("load test wait ended", extra={"status": status, "detail": detail})
    return msgspec.structs.replace(
        wait, status=status, detail=detail, invocations=invocations, finished_at=clock.utcnow()
    )


def _waiting(state: AwaitLoadTestsInput, wait: LoadTestWait, settings: Settings) -> tuple[str, str]:
    version = state.config.version_id
    lines = [
        f"Deployment of config version {version} waits for load test runs on the control plane's locations "
        f"({', '.join(wait.location_ids)}) before it restarts the control plane.",
        f"In the way: {'; '.join(wait.runs)}",
        f"It waits up to RunWaitMinutes ({settings.run_wait_minutes:g} min), then "
        + (
            "deploys anyway (RunWaitExpiry deploy)."
            if settings.run_wait_expiry == "deploy"
            else "gives up (RunWaitExpiry skip)."
        ),
        'A manual request with "force": true deploys at once.',
        f"Execution: {state.execution.id}",
    ]
    return _subject(settings, "waits for a load test", version), "\n".join(lines)


def _going_on(state: AwaitLoadTestsInput, wait: LoadTestWait, why: str) -> tuple[str, str]:
    version = state.config.version_id
    lines = [
        f"Deployment of config version {version} goes on after {wait.waited_seconds:.0f} s: {why}.",
        f"Execution: {state.execution.id}",
    ]
    return f"deployment goes on, version {version[:16]}", "\n".join(lines)


def _subject(settings: Settings, what: str, version: str) -> str:
    return f"[{settings.service}] deployment {what}, version {version[:16]}"


def publisher(*, sns: SNSClient, topic_arn: str, service: str) -> Notify:
    """`notify` on the stack's topic; the subject is ASCII and under 100 characters, as SNS requires."""

    def notify(subject: str, message: str) -> None:
        if not subject.startswith("["):
            subject = f"[{service}] {subject}"
        text = subject.encode("ascii", errors="replace").decode("ascii")[:99]
        sns.publish(
            TopicArn=topic_arn,
            Subject=text,
            Message=message,
            MessageAttributes={"phase": {"DataType": "String", "StringValue": "load_test_wait"}},
        )

    return notify
