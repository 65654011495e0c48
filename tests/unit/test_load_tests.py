"""No restart under a load test: Gatling's runs on the running config's locations, waited for cheaply."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest
from controlplane.codec import parse
from controlplane.errors import ApiTokenUnreadable, GatlingApiRefused
from controlplane.gatling_api import TERMINAL_RUN_STATUSES, active_runs
from controlplane.http_client import HttpResponse, HttpUnreachable
from controlplane.load_tests import await_load_tests
from controlplane.models import AwaitLoadTestsInput, LoadTestWait

from cpctl.twin.gatling import FakeGatlingCloud
from tests.unit import workflow_fakes as fakes

TOKEN = "gatling-api-token-SECRET"
BASE = "https://gatling.example/api/public"
ENV = {"GATLING_API_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbCdEf"}


@pytest.fixture
def clock() -> Iterator[fakes.FakeClock]:
    with fakes.fake_clock() as fake:
        yield fake


@pytest.fixture
def gatling(clock: fakes.FakeClock) -> FakeGatlingCloud:
    fake = FakeGatlingCloud(TOKEN, "cpt_unused")
    fake.now = clock.now
    return fake


class Transport:
    """`http_get` onto the fake Gatling Cloud's request handler (no socket), recording each URL."""

    def __init__(self, gatling: FakeGatlingCloud, *, failures: list[Any] | None = None) -> None:
        self.gatling, self.failures, self.urls = gatling, failures or [], []

    def __call__(self, url: str, headers: Mapping[str, str], timeout: float) -> HttpResponse:
        self.urls.append(url)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return HttpResponse(failure, b"")
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        status, body = self.gatling.handle("GET", target, headers.get("Authorization"))
        return HttpResponse(status, json.dumps(body).encode())


def state(**request: Any) -> AwaitLoadTestsInput:
    payload = fakes.event("await_load_tests.json")
    if request:
        payload["request"] = {"source": "manual", "reason": "by hand", **request}
    return parse(AwaitLoadTestsInput, payload)


def wait(
    transport: Transport,
    *,
    locations: list[str] | None = None,
    previous: LoadTestWait | None = None,
    notes: list[tuple[str, str]] | None = None,
    request: dict[str, Any] | None = None,
    read_token: Any = None,
    **env: str,
) -> LoadTestWait:
    settings = fakes.settings(**{**ENV, "GATLING_API_URL": BASE, **env})
    current = state(**(request or {}))
    if previous is not None:
        current = msgspec.structs.replace(current, load_tests=previous)
    sent = notes if notes is not None else []
    return await_load_tests(
        current,
        settings=settings,
        running_locations=lambda: ["prl_one", "prl_two"] if locations is None else locations,
        http_get=transport,
        read_token=read_token or (lambda: TOKEN),
        notify=lambda subject, message: sent.append((subject, message)),
    )


def test_a_run_on_a_location_of_the_running_config_is_waited_for_until_it_ends(
    clock: fakes.FakeClock, gatling: FakeGatlingCloud
) -> None:
    gatling.start_run(["prl_two", "prl_elsewhere"], duration=300)
    notes: list[tuple[str, str]] = []
    transport = Transport(gatling)

    done = wait(transport, notes=notes)

    assert done.status == "clear" and done.invocations == 1
    assert done.waited_seconds == 300 and clock.sleeps == [60.0] * 5
    # One look a minute: a list of runs plus the details of each unfinished one.
    assert transport.urls[0].startswith(f"{BASE}/v2/runs?updated-at_gt=")
    assert transport.urls[1] == f"{BASE}/v2/runs/run_twin_0001"
    # Notified once on waiting, once on going on.
    assert [subject for subject, _ in notes] == [
        f"[{fakes.CLUSTER}] deployment waits for a load test, version 3HL4kqtJlcpXroDT",
        "deployment goes on, version 3HL4kqtJlcpXroDT",
    ]
    assert "run_twin_0001" in notes[0][1] and "prl_two" in notes[0][1] and TOKEN not in str(notes)


def test_a_run_elsewhere_or_a_finished_one_is_not_in_the_way(
    clock: fakes.FakeClock, gatling: FakeGatlingCloud
) -> None:
    gatling.start_run(["prl_elsewhere"], duration=None)
    ended = gatling.start_run(["prl_one"], duration=None)
    gatling.end_run(ended, "manually_stopped")
    notes: list[tuple[str, str]] = []

    done = wait(Transport(gatling), notes=notes)

    assert done.status == "clear" and clock.sleeps == [] and notes == []
    assert done.detail == "0 unfinished run(s) on the control plane's locations, 1 elsewhere"


def test_a_status_the_client_does_not_know_counts_as_running(clock: fakes.FakeClock) -> None:
    runs = {"data": [{"_id": "r1", "_status": "reticulating", "_updatedAt": "2026-11-29T16:00:00Z"}]}
    details = {"data": {"_configuration": {"distribution": {"loadGenerators": [{"locationId": "prl_one"}]}}}}

    def http(url: str, headers: Mapping[str, str], timeout: float) -> HttpResponse:
        return HttpResponse(200, json.dumps(details if "/runs/" in url else runs).encode())

    [run] = active_runs(BASE, TOKEN, updated_since=fakes.START, http_get=http, timeout=3)
    assert (run.run_id, run.status, run.location_ids) == ("r1", "reticulating", frozenset({"prl_one"}))
    assert "successful" in TERMINAL_RUN_STATUSES and "stop_requested" not in TERMINAL_RUN_STATUSES


def test_gatling_not_answering_counts_as_a_run_in_the_way(
    clock: fakes.FakeClock, gatling: FakeGatlingCloud
) -> None:
    transport = Transport(gatling, failures=[503, HttpUnreachable("timed out")])
    done = wait(transport)
    assert done.status == "clear" and done.waited_seconds == 120
    refused = Transport(gatling, failures=[401])
    with pytest.raises(GatlingApiRefused):
        active_runs(BASE, TOKEN, updated_since=fakes.START, http_get=refused, timeout=3)


def test_past_run_wait_minutes_it_gives_up_or_deploys_as_told(
    clock: fakes.FakeClock, gatling: FakeGatlingCloud
) -> None:
    gatling.start_run(["prl_one"], duration=None)
    notes: list[tuple[str, str]] = []
    skipped = wait(Transport(gatling), notes=notes, RUN_WAIT_MINUTES="5", RUN_WAIT_EXPIRY="skip")
    assert skipped.status == "gave_up" and skipped.waited_seconds == 300
    assert "RunWaitExpiry is skip" in skipped.detail and "run_twin_0001" in skipped.detail
    assert len(notes) == 1, "the outcome's notification says the rest"

    notes.clear()
    deployed = wait(Transport(gatling), notes=notes, RUN_WAIT_MINUTES="5", RUN_WAIT_EXPIRY="deploy")
    assert deployed.status == "expired" and len(notes) == 2


def test_a_long_wait_costs_one_invocation_per_budget(
    clock: fakes.FakeClock, gatling: FakeGatlingCloud
) -> None:
    gatling.start_run(["prl_one"], duration=30 * 60)
    notes: list[tuple[str, str]] = []
    current: LoadTestWait | None = None
    invocations = 0
    while current is None or current.status == "waiting":
        current = wait(Transport(gatling), previous=current, notes=notes)
        invocations += 1
    assert current.status == "clear" and invocations == current.invocations == 3
    assert len(notes) == 2, "one notification when waiting starts, one when it goes on"


@pytest.mark.parametrize(
    ("request_fields", "env", "says"),
    [
        ({"force": True}, {}, "the request says force"),
        ({"force": True, "reason": "self-heal"}, {}, "self-heal of a control plane that does not answer"),
        ({}, {"RUN_WAIT_MINUTES": "0"}, "RunWaitMinutes is 0"),
        ({}, {"GATLING_API_TOKEN_SECRET_ARN": ""}, "no Gatling API token"),
    ],
)
def test_what_does_not_wait_at_all(
    clock: fakes.FakeClock,
    gatling: FakeGatlingCloud,
    request_fields: dict[str, Any],
    env: dict[str, str],
    says: str,
) -> None:
    gatling.start_run(["prl_one"], duration=None)
    transport = Transport(gatling)
    done = wait(transport, request=request_fields, **env)
    assert done.status == "not_needed" and says in done.detail
    assert transport.urls == [], "Gatling is not even asked"


def test_nothing_deployed_yet_means_nothing_to_wait_for(
    clock: fakes.FakeClock, gatling: FakeGatlingCloud
) -> None:
    settings = fakes.settings(**ENV)
    done = await_load_tests(
        state(),
        settings=settings,
        running_locations=lambda: None,
        http_get=Transport(gatling),
        read_token=lambda: TOKEN,
        notify=lambda subject, message: None,
    )
    assert done.status == "not_needed" and "no control plane was deployed yet" in done.detail


def test_an_upload_cannot_force() -> None:
    payload = fakes.event("await_load_tests.json")
    payload["request"]["force"] = True
    with pytest.raises(ValueError, match="cannot force"):
        parse(AwaitLoadTestsInput, payload)


def test_a_token_that_cannot_be_read_means_gatling_cannot_tell_and_the_deployment_waits(
    clock: fakes.FakeClock, gatling: FakeGatlingCloud
) -> None:
    def unreadable() -> str | None:
        raise ApiTokenUnreadable("the Gatling API token secret could not be read: AccessDeniedException")

    waited = wait(Transport(gatling), read_token=unreadable)
    # Unknown is running: no restart until Gatling can say that no run is in the way.
    assert waited.status == "waiting", waited
    assert "Gatling cannot tell" in waited.detail and "could not be read" in waited.detail
