"""Is it up? /info on the task's private IP, then Gatling's list of private locations, under a deadline."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import pytest_socket
from controlplane import endpoints
from controlplane.errors import GatlingApiError, GatlingApiRefused, GatlingApiUnavailable
from controlplane.gatling_api import private_location_ids
from controlplane.http_client import HttpResponse, HttpUnreachable, http_get
from controlplane.liveness import await_up, begin
from controlplane.models import UpCheck

from tests.unit import workflow_fakes as fakes

TOKEN = "gatling-api-token-SECRET"
LOCATIONS = json.dumps(
    {"data": [{"_type": "private_location", "_id": "prl_aws_one"}, {"_id": "prl_other"}]}
).encode()


class FakeHttp:
    """Answers by URL: a list of answers per kind of URL (an exception is raised, a response returned)."""

    def __init__(self, info: list[Any], api: list[Any] | None = None) -> None:
        self.info, self.api = info, api or []
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, headers: Mapping[str, str], timeout: float) -> HttpResponse:
        self.requests.append((url, dict(headers)))
        answers = self.info if url.endswith("/info") else self.api
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return (
            answer
            if isinstance(answer, HttpResponse)
            else HttpResponse(answer, LOCATIONS if answer == 200 else b"")
        )


@pytest.fixture
def clock() -> Iterator[fakes.FakeClock]:
    with fakes.fake_clock() as fake:
        yield fake


def check(
    http: FakeHttp,
    *,
    locations: list[str] | None = None,
    token: str | None = None,
    previous: UpCheck | None = None,
    **env: str,
) -> UpCheck:
    settings = fakes.settings(**env)
    return await_up(
        previous or begin(settings),
        private_ip="10.0.1.23",
        location_ids=["prl_aws_one"] if locations is None else locations,
        settings=settings,
        http_get=http,
        read_token=lambda: token,
    )


def test_up_when_info_answers_200(clock: fakes.FakeClock) -> None:
    http = FakeHttp(info=[HttpUnreachable("refused"), 503, 503, 200])
    up = check(http)
    assert up.status == "up" and up.info_ok and not up.locations_checked
    assert clock.sleeps == [5.0, 5.0, 5.0]
    assert http.requests[0][0] == "http://10.0.1.23:8080/info"


def test_the_probe_connects_where_the_resolver_says(clock: fakes.FakeClock) -> None:
    http = FakeHttp(info=[200])
    endpoints.install_resolver(lambda ip, port: ("127.0.0.1", 18080))
    try:
        check(http, SERVER_PORT="9090")
    finally:
        endpoints.install_resolver(None)
    assert http.requests[0][0] == "http://127.0.0.1:18080/info"


def test_not_up_within_the_deadline_fails_with_the_last_problem(clock: fakes.FakeClock) -> None:
    up = check(FakeHttp(info=[503]))
    assert up.status == "failed" and up.failure is not None
    assert up.failure.phase == "control_plane_up"
    assert "not up within 300 s" in up.failure.reason and "HTTP 503" in up.failure.reason
    assert up.finished_at is not None and (up.finished_at - up.started_at).total_seconds() == 300


def test_a_wait_longer_than_the_budget_resumes_where_it_stopped(clock: fakes.FakeClock) -> None:
    first = check(FakeHttp(info=[503]), INVOCATION_BUDGET_SECONDS="60")
    assert (first.status, first.invocations) == ("checking", 1)
    second = check(FakeHttp(info=[200]), previous=first, INVOCATION_BUDGET_SECONDS="60")
    assert (second.status, second.invocations, second.started_at) == ("up", 2, first.started_at)


def test_with_a_token_every_location_must_be_listed_by_gatling(clock: fakes.FakeClock) -> None:
    http = FakeHttp(info=[200], api=[500, HttpUnreachable("timed out"), 200])
    up = check(http, token=TOKEN, GATLING_API_URL="https://gatling.example/api/public")
    assert up.status == "up" and up.locations_checked
    api_calls = [(url, headers) for url, headers in http.requests if "locations" in url]
    assert len(api_calls) == 3, "5xx and timeouts are retried within the deadline"
    url, headers = api_calls[0]
    assert url == "https://gatling.example/api/public/v2/locations?type=private_location"
    assert headers["Authorization"] == TOKEN, "the raw token, no Bearer"


def test_a_location_gatling_never_lists_fails_the_check(clock: fakes.FakeClock) -> None:
    up = check(FakeHttp(info=[200], api=[200]), locations=["prl_aws_one", "prl_new"], token=TOKEN)
    assert up.status == "failed" and up.failure is not None
    assert up.missing_locations == ["prl_new"] and "prl_new" in up.failure.reason


def test_a_refused_token_fails_at_once_and_the_token_stays_secret(clock: fakes.FakeClock) -> None:
    up = check(FakeHttp(info=[200], api=[401]), token=TOKEN)
    assert up.status == "failed" and up.failure is not None and "refused the API token" in up.failure.reason
    assert clock.sleeps == []
    assert TOKEN not in json.dumps(up.model_dump(mode="json"))


def test_without_a_token_or_locations_the_api_is_not_called(clock: fakes.FakeClock) -> None:
    http = FakeHttp(info=[200], api=[500])
    assert check(http, token=None).status == "up"
    assert check(http, token=TOKEN, locations=[]).status == "up"
    assert not any("locations" in url for url, _ in http.requests)


def test_a_task_without_a_private_ip_fails(clock: fakes.FakeClock) -> None:
    settings = fakes.settings()
    up = await_up(
        begin(settings),
        private_ip=None,
        location_ids=[],
        settings=settings,
        http_get=FakeHttp(info=[200]),
        read_token=lambda: None,
    )
    assert up.status == "failed"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (HttpResponse(503, b""), GatlingApiUnavailable),
        (HttpResponse(429, b""), GatlingApiUnavailable),
        (HttpResponse(403, b""), GatlingApiRefused),
        (HttpResponse(404, b""), GatlingApiError),
        (HttpResponse(200, b"not json"), GatlingApiError),
    ],
)
def test_gatling_api_errors(answer: HttpResponse, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        private_location_ids("https://g/api/public", TOKEN, http_get=lambda u, h, t: answer, timeout=1)
    assert TOKEN not in str(raised.value)


def test_gatling_api_lists_ids() -> None:
    ids = private_location_ids(
        "https://g/api/public/", TOKEN, http_get=lambda u, h, t: HttpResponse(200, LOCATIONS), timeout=1
    )
    assert ids == {"prl_aws_one", "prl_other"}


class _Info(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/info" else 404
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args: Any) -> None:
        pass


def test_the_urllib_transport_on_loopback() -> None:
    """The real transport, against a real server on 127.0.0.1 (the only host tests may reach)."""
    pytest_socket.enable_socket()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Info)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        assert http_get(f"http://127.0.0.1:{port}/info", {}, 2).status == 200
        assert http_get(f"http://127.0.0.1:{port}/other", {}, 2).status == 404
        server.shutdown()
        server.server_close()
        with pytest.raises(HttpUnreachable):
            http_get(f"http://127.0.0.1:{port}/info", {}, 1)
    finally:
        server.server_close()
    with pytest.raises(ValueError, match="not an http"):
        http_get("file:///etc/passwd", {}, 1)
