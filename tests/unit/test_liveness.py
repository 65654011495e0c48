"""Is it up? /info on the task's private IP, then Gatling's list of private locations, under a deadline."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import boto3
import pytest
import pytest_socket
from botocore.exceptions import ReadTimeoutError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from controlplane import endpoints
from controlplane.codec import dump
from controlplane.errors import ApiTokenUnreadable, GatlingApiError, GatlingApiRefused, GatlingApiUnavailable
from controlplane.gatling_api import private_location_ids
from controlplane.http_client import HttpResponse, HttpUnreachable, http_get
from controlplane.liveness import Probe, await_up, begin, invoked_probe, probe_info, task_private_ip
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


def probe_with(http: FakeHttp) -> Probe:
    """The probe function's logic run in-process, on the fake transport."""
    return lambda private_ip, port: probe_info(private_ip, port, http_get=http, timeout=3)


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
    read_token: Callable[[], str | None] | None = None,
    **env: str,
) -> UpCheck:
    settings = fakes.settings(**env)
    return await_up(
        previous or begin(settings),
        private_ip="10.0.1.23",
        location_ids=["prl_aws_one"] if locations is None else locations,
        settings=settings,
        probe=probe_with(http),
        http_get=http,
        read_token=read_token or (lambda: token),
    )


def unreadable_token() -> str | None:
    """What `aws_clients.read_api_token` raises when Secrets Manager refuses the read."""
    raise ApiTokenUnreadable(
        "the Gatling API token secret could not be read: AccessDeniedException: not authorized to perform: kms:Decrypt"
    )


def test_up_when_info_answers_200(clock: fakes.FakeClock) -> None:
    http = FakeHttp(info=[HttpUnreachable("refused"), 503, 503, 200])
    up = check(http)
    assert up.status == "up" and up.info_ok and not up.locations_checked
    assert clock.sleeps == [5.0, 5.0, 5.0]
    assert http.requests[0][0] == "http://10.0.1.23:8080/info"


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


def test_a_refused_token_is_a_monitoring_problem_not_a_failed_control_plane(clock: fakes.FakeClock) -> None:
    up = check(FakeHttp(info=[200], api=[401]), token=TOKEN)
    assert up.status == "up" and up.failure is None, "a control plane that answers /info is not rolled back"
    assert up.monitoring_problem is not None and "refused the API token (HTTP 401)" in up.monitoring_problem
    assert "GatlingApiTokenSecretArn" in up.monitoring_problem and not up.locations_checked
    assert clock.sleeps == []
    assert TOKEN not in json.dumps(dump(up))


def test_an_unreadable_token_is_a_monitoring_problem_not_a_failed_control_plane(
    clock: fakes.FakeClock,
) -> None:
    http = FakeHttp(info=[200])
    up = check(http, read_token=unreadable_token)
    assert up.status == "up" and up.failure is None, "a control plane that answers /info is not rolled back"
    assert up.monitoring_problem is not None and "kms:Decrypt" in up.monitoring_problem
    assert not up.locations_checked and not [url for url, _ in http.requests if "locations" in url]


def _task(arn: str, ip: str) -> dict[str, Any]:
    return {
        "taskArn": arn,
        "attachments": [
            {"type": "ElasticNetworkInterface", "details": [{"name": "privateIPv4Address", "value": ip}]}
        ],
    }


def following(http: FakeHttp, find_task: Any) -> UpCheck:
    """The up-check that asks ECS for the task on every poll."""
    settings = fakes.settings()
    return await_up(
        begin(settings),
        private_ip=None,
        location_ids=[],
        settings=settings,
        probe=probe_with(http),
        http_get=http,
        read_token=lambda: None,
        find_task=find_task,
    )


def test_the_task_is_re_resolved_on_every_poll(clock: fakes.FakeClock) -> None:
    http = FakeHttp(info=[HttpUnreachable("refused"), 200])
    # ECS replaces the task during the window: the first, then none for a moment, then its replacement.
    tasks = [_task("arn:task/old", "10.0.1.23"), None, _task("arn:task/new", "10.0.1.99")]
    up = following(http, lambda: tasks.pop(0) if len(tasks) > 1 else tasks[0])
    assert up.status == "up" and up.task_arn == "arn:task/new" and up.private_ip == "10.0.1.99"
    probed = [url for url, _ in http.requests]
    assert probed == ["http://10.0.1.23:8080/info", "http://10.0.1.99:8080/info"]


def test_a_timeout_to_a_running_task_names_the_security_group_rule(clock: fakes.FakeClock) -> None:
    http = FakeHttp(info=[HttpUnreachable("TimeoutError: timed out")])
    up = following(http, lambda: _task("arn:task/one", "10.0.1.23"))
    assert up.status == "failed" and up.failure is not None
    assert (
        "the checker cannot reach the task: check the security group rule from the checker group on the server port"
        in up.failure.reason
    )


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
        probe=probe_with(FakeHttp(info=[200])),
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


def test_the_transport_connects_where_the_resolver_says() -> None:
    """The twin maps a task's private IP to a loopback port; a resolver's OSError is no answer."""
    pytest_socket.enable_socket()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Info)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    asked: list[tuple[str, int]] = []

    def resolve(host: str, wanted: int) -> tuple[str, int]:
        asked.append((host, wanted))
        if host == "10.0.1.23":
            return "127.0.0.1", port
        raise TimeoutError("timed out")

    endpoints.install_resolver(resolve)
    try:
        assert http_get("http://10.0.1.23:9090/info", {}, 2).status == 200
        with pytest.raises(HttpUnreachable, match="TimeoutError: timed out"):
            http_get("https://api.gatling.io/api/public/v2/locations", {}, 2)
    finally:
        endpoints.install_resolver(None)
        server.shutdown()
        server.server_close()
    assert asked == [("10.0.1.23", 9090), ("api.gatling.io", 443)]


# ---------------------------------------------------------------- the probe function, invoked from outside the VPC

PROBE_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:cp-probe-info"


def stubbed_lambda() -> tuple[Any, Stubber]:
    client = boto3.client(
        "lambda", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return client, Stubber(client)


def invoke_answer(payload: dict[str, Any], function_error: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "StatusCode": 200,
        "Payload": StreamingBody(io.BytesIO(json.dumps(payload).encode()), len(json.dumps(payload))),
    }
    if function_error:
        answer["FunctionError"] = function_error
    return answer


def test_the_invoked_probe_sends_the_address_and_reads_the_result() -> None:
    client, stubber = stubbed_lambda()
    expected = {
        "FunctionName": PROBE_ARN,
        "InvocationType": "RequestResponse",
        "Payload": json.dumps({"private_ip": "10.0.1.23", "port": 8080}, separators=(",", ":")).encode(),
    }
    stubber.add_response("invoke", invoke_answer({"answered": True, "problem": None}), expected)
    problem = "GET /info on 10.0.1.23:8080 answered HTTP 503"
    stubber.add_response("invoke", invoke_answer({"answered": False, "problem": problem}), expected)
    with stubber:
        probe = invoked_probe(PROBE_ARN, lambda_client=client)
        assert probe("10.0.1.23", 8080) is None
        assert probe("10.0.1.23", 8080) == problem
    stubber.assert_no_pending_responses()


def test_a_probe_function_that_times_out_is_a_failed_probe_with_the_reason() -> None:
    client, stubber = stubbed_lambda()
    error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 10.00 seconds"}
    stubber.add_response("invoke", invoke_answer(error, function_error="Unhandled"))
    with stubber:
        problem = invoked_probe(PROBE_ARN, lambda_client=client)("10.0.1.23", 8080)
    assert problem == (
        "GET /info on 10.0.1.23:8080: the probe function failed "
        "(Sandbox.Timedout: Task timed out after 10.00 seconds)"
    )


def test_an_invoke_the_service_refuses_is_a_failed_probe_with_the_reason() -> None:
    client, stubber = stubbed_lambda()
    stubber.add_client_error(
        "invoke", "AccessDeniedException", "not authorized to perform lambda:InvokeFunction", 403
    )
    with stubber:
        problem = invoked_probe(PROBE_ARN, lambda_client=client)("10.0.1.23", 8080)
    assert problem is not None and "could not be invoked (AccessDeniedException: not authorized" in problem


def test_an_invoke_without_an_answer_is_a_failed_probe_with_the_reason() -> None:
    class Unreachable:
        def invoke(self, **kwargs: Any) -> Any:
            raise ReadTimeoutError(endpoint_url="https://lambda.eu-west-1.amazonaws.com/")

    problem = invoked_probe(PROBE_ARN, lambda_client=Unreachable())("10.0.1.23", 8080)  # type: ignore[arg-type]
    assert (
        problem is not None
        and "could not be invoked (ReadTimeoutError: Read timeout on endpoint URL" in problem
    )


def test_an_address_that_is_not_one_is_never_sent_to_the_probe() -> None:
    class Refuses:
        def invoke(self, **kwargs: Any) -> Any:
            raise AssertionError("the probe was invoked")

    problem = invoked_probe(PROBE_ARN, lambda_client=Refuses())("None", 8080)  # type: ignore[arg-type]
    assert problem is not None and problem.startswith("GET /info on None:8080 not sent: private_ip: ")
    task: Any = {
        "attachments": [{"type": "ElasticNetworkInterface", "details": [{"name": "privateIPv4Address"}]}]
    }
    assert task_private_ip(task) is None, "a detail without a value is no address"


def test_a_probe_answer_of_another_shape_is_a_failed_probe() -> None:
    client, stubber = stubbed_lambda()
    stubber.add_response("invoke", invoke_answer({"statusCode": 200}))
    with stubber:
        problem = invoked_probe(PROBE_ARN, lambda_client=client)("10.0.1.23", 8080)
    assert problem is not None and "answered something else than a probe result" in problem
