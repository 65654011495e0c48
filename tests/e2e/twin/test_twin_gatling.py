"""The fake Gatling Cloud over real HTTP on loopback: the wiring the unit tests cannot see."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cpctl.twin.gatling import FakeGatlingCloud

API_TOKEN = "api_token_for_http_tests"
CP_TOKEN = "cpt_token_for_http_tests"


@pytest.fixture
def gatling() -> Iterator[FakeGatlingCloud]:
    fake = FakeGatlingCloud(API_TOKEN, CP_TOKEN)
    fake.start()
    CONTEXT[0] = fake.client_context()
    try:
        yield fake
    finally:
        fake.stop()


CONTEXT: list[Any] = [None]  # the running fake's client TLS context


def get(url: str, authorization: str | None = None) -> tuple[int, dict[str, Any], str]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5, context=CONTEXT[0]) as response:
            return int(response.status), json.loads(response.read()), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read()), error.headers["Content-Type"]


def test_serves_the_public_api_on_loopback(gatling: FakeGatlingCloud) -> None:
    # https, as the real API (the template refuses any other GatlingApiUrl).
    assert gatling.url.startswith("https://127.0.0.1:") and gatling.url.endswith("/api/public")
    gatling.register(CP_TOKEN, ["prl_http"], "over https")

    status, body, content_type = get(f"{gatling.url}/v2/locations?type=private_location", API_TOKEN)

    assert (status, content_type) == (200, "application/json")
    assert body["data"][0]["_id"] == "prl_http"
    assert get(f"{gatling.url}/v2/locations?type=private_location", f"Bearer {API_TOKEN}")[0] == 401
    assert get(f"{gatling.url}/v2/locations?type=private_location")[0] == 401
    assert get(f"{gatling.url}/v2/info")[0] == 200
    assert [(item.method, item.status) for item in gatling.requests] == [
        ("GET", 200),
        ("GET", 401),
        ("GET", 401),
        ("GET", 200),
    ]
    assert API_TOKEN not in repr(gatling.requests)


def test_flaky_503_carries_retry_after(gatling: FakeGatlingCloud) -> None:
    gatling.flaky = True
    request = urllib.request.Request(f"{gatling.url}/v2/info")
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(request, timeout=5, context=gatling.client_context())
    assert failure.value.code == 503 and failure.value.headers["Retry-After"] == "1"
    assert get(f"{gatling.url}/v2/info")[0] == 200


def test_stop_frees_the_port(gatling: FakeGatlingCloud) -> None:
    url = gatling.url
    context = gatling.client_context()
    gatling.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/v2/info", timeout=5, context=context)
