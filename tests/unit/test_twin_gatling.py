"""The fake Gatling Cloud's answers, as its OpenAPI spec defines them (no socket: `handle` directly)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cpctl.twin.gatling import INFO_BODY, FakeGatlingCloud

API_TOKEN = "api_token_for_tests"
CP_TOKEN = "cpt_token_for_tests"
# Gatling's spec lives in the project's shared reference folder, like the doc examples.
SHARED_DIR = Path(os.environ.get("CPA_SHARED_DIR", Path(__file__).resolve().parents[2].parent / "shared"))
SPEC = SHARED_DIR / "reference" / "gatling-enterprise-openapi.json"


@pytest.fixture
def gatling() -> FakeGatlingCloud:
    fake = FakeGatlingCloud(API_TOKEN, CP_TOKEN)
    assert fake.register(
        CP_TOKEN, ["prl_one", "prl_two"], "eu control plane", engines={"prl_two": "javascript"}
    )
    return fake


def test_locations_need_the_raw_api_token(gatling: FakeGatlingCloud) -> None:
    target = "/api/public/v2/locations?type=private_location"
    assert gatling.handle("GET", target, None)[0] == 401
    assert gatling.handle("GET", target, f"Bearer {API_TOKEN}")[0] == 401
    assert gatling.handle("GET", target, CP_TOKEN)[0] == 401
    status, body = gatling.handle("GET", target, API_TOKEN)
    assert status == 200
    assert body == {
        "data": [
            {
                "_type": "private_location",
                "_id": "prl_one",
                "_description": "eu control plane",
                "_capabilities": {"artifactFormats": ["jvm"]},
            },
            {
                "_type": "private_location",
                "_id": "prl_two",
                "_description": "eu control plane",
                "_capabilities": {"artifactFormats": ["js"]},
            },
        ]
    }
    unauthorized = gatling.handle("GET", target, None)[1]
    assert set(unauthorized) == {"code", "message"}


def test_type_and_artifact_format_filters(gatling: FakeGatlingCloud) -> None:
    everything = gatling.handle("GET", "/api/public/v2/locations", API_TOKEN)[1]["data"]
    assert {item["_type"] for item in everything} == {"private_location", "managed_location"}
    managed = gatling.handle("GET", "/api/public/v2/locations?type=managed_location", API_TOKEN)[1]["data"]
    assert managed and all(item["_type"] == "managed_location" and item["_name"] for item in managed)
    js = gatling.handle("GET", "/api/public/v2/locations?type=private_location&artifact-format=js", API_TOKEN)
    assert [item["_id"] for item in js[1]["data"]] == ["prl_two"]
    assert gatling.handle("GET", "/api/public/v2/locations?type=public", API_TOKEN)[0] == 400


@pytest.mark.skipif(
    not SPEC.is_file(), reason=f"Gatling's OpenAPI spec not found at {SPEC} (set CPA_SHARED_DIR)"
)
def test_responses_match_the_openapi_schemas(gatling: FakeGatlingCloud) -> None:
    spec = json.loads(SPEC.read_text())
    schemas: dict[str, Any] = spec["components"]["schemas"]
    private = schemas["PrivateLocationItemResponse"]
    for item in gatling.handle("GET", "/api/public/v2/locations?type=private_location", API_TOKEN)[1]["data"]:
        assert set(private["required"]) <= set(item) <= set(private["properties"])
        assert set(item["_capabilities"]) == set(schemas["LocationCapabilitiesDto"]["required"])
    managed = schemas["ManagedLocationItemResponse"]
    for item in gatling.handle("GET", "/api/public/v2/locations?type=managed_location", API_TOKEN)[1]["data"]:
        assert set(managed["required"]) <= set(item) <= set(managed["properties"])
    info = spec["paths"]["/v2/info"]["get"]["responses"]["200"]["content"]["application/json"]
    assert info["examples"]["Example server information"]["value"] == INFO_BODY
    assert set(spec["paths"]) >= {"/v2/locations", "/v2/info"}


def test_info_needs_no_authentication(gatling: FakeGatlingCloud) -> None:
    assert gatling.handle("GET", "/api/public/v2/info", None) == (200, INFO_BODY)


def test_unknown_routes_and_methods(gatling: FakeGatlingCloud) -> None:
    assert gatling.handle("GET", "/api/public/v2/simulations", API_TOKEN)[0] == 404
    assert gatling.handle("POST", "/api/public/v2/locations", API_TOKEN)[0] == 405


def test_a_wrong_control_plane_token_registers_nothing(gatling: FakeGatlingCloud) -> None:
    assert gatling.register("cpt_someone_else", ["prl_intruder"], None) is False
    assert gatling.location_ids() == ["prl_one", "prl_two"]


def test_a_token_written_in_the_users_file_is_one_of_their_organisation(gatling: FakeGatlingCloud) -> None:
    # Not the twin's token, but a `cpt_` token found in a deployed config: the user's own.
    assert gatling.register("cpt_users_own_token", ["prl_users"], None, from_file=True) is True
    assert "prl_users" in gatling.location_ids()
    # Only the shape of a control plane token passes, and only from a file.
    assert gatling.register("not_a_token", ["prl_shapeless"], None, from_file=True) is False
    assert gatling.register("cpt_users_own_token", ["prl_not_from_file"], None) is False
    assert "prl_shapeless" not in gatling.location_ids()


def test_the_token_rejected_fault_makes_a_file_token_a_revoked_one(gatling: FakeGatlingCloud) -> None:
    gatling.file_tokens_rejected = True
    assert gatling.register("cpt_users_revoked_token", ["prl_revoked"], None, from_file=True) is False
    assert gatling.register(CP_TOKEN, ["prl_secret"], None) is True  # the stack's secret still works
    assert "prl_revoked" not in gatling.location_ids()


def test_locations_stay_listed_and_re_registration_updates_them(gatling: FakeGatlingCloud) -> None:
    assert gatling.register(CP_TOKEN, ["prl_two", "prl_three"], "  ")
    assert gatling.location_ids() == ["prl_one", "prl_two", "prl_three"]
    items = {
        item["_id"]: item for item in gatling.handle("GET", "/api/public/v2/locations", API_TOKEN)[1]["data"]
    }
    assert "_description" not in items["prl_three"], "a blank description is left out, not sent empty"
    assert items["prl_two"]["_capabilities"] == {"artifactFormats": ["jvm"]}


def test_flaky_answers_503_to_every_other_request(gatling: FakeGatlingCloud) -> None:
    gatling.flaky = True
    statuses = [gatling.handle("GET", "/api/public/v2/info", None)[0] for _ in range(6)]
    assert statuses == [503, 200, 503, 200, 503, 200]
    gatling.flaky = False
    assert gatling.handle("GET", "/api/public/v2/info", None)[0] == 200


def test_the_request_log_never_holds_a_header_value(gatling: FakeGatlingCloud) -> None:
    gatling.handle("GET", "/api/public/v2/locations?type=private_location", API_TOKEN)
    gatling.handle("GET", "/api/public/v2/locations", "wrong")
    records = gatling.requests
    assert [(item.method, item.path, item.status) for item in records] == [
        ("GET", "/api/public/v2/locations?type=private_location", 200),
        ("GET", "/api/public/v2/locations", 401),
    ]
    assert API_TOKEN not in repr(records) and "wrong" not in repr(records)


def test_url_needs_a_started_server() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeGatlingCloud(API_TOKEN, CP_TOKEN).url


# ---------------------------------------------------------------- runs


class Clock:
    def __init__(self) -> None:
        self.time = 1_796_000_000.0

    def now(self) -> float:
        return self.time


def test_runs_start_end_and_are_listed_by_update_time(gatling: FakeGatlingCloud) -> None:
    clock = Clock()
    gatling.now = clock.now
    short = gatling.start_run(["prl_one"], duration=600)
    endless = gatling.start_run(["prl_two", "prl_one"], duration=None)
    assert gatling.handle("GET", "/api/public/v2/runs", None)[0] == 401

    listed = gatling.handle("GET", "/api/public/v2/runs", API_TOKEN)[1]["data"]
    assert {item["_id"]: item["_status"] for item in listed} == {short: "deploying", endless: "deploying"}
    clock.time += 120
    details = gatling.handle("GET", f"/api/public/v2/runs/{endless}", API_TOKEN)[1]["data"]
    assert details["_status"] == "injecting"
    generators = details["_configuration"]["distribution"]["loadGenerators"]
    assert [g["locationId"] for g in generators] == ["prl_two", "prl_one"]

    clock.time += 600
    statuses = {
        i["_id"]: i["_status"] for i in gatling.handle("GET", "/api/public/v2/runs", API_TOKEN)[1]["data"]
    }
    assert statuses == {short: "successful", endless: "injecting"}
    gatling.end_run(endless)
    assert gatling.handle("GET", f"/api/public/v2/runs/{endless}", API_TOKEN)[1]["data"]["_status"] == (
        "manually_stopped"
    )
    # updated-at_gt filters on _updatedAt; the default window is 24 hours.
    later = "2026-12-01T00:00:00Z"
    assert gatling.handle("GET", f"/api/public/v2/runs?updated-at_gt={later}", API_TOKEN)[1]["data"] == []
    clock.time += 25 * 3600
    assert gatling.handle("GET", "/api/public/v2/runs", API_TOKEN)[1]["data"] == []
    assert gatling.handle("GET", "/api/public/v2/runs?updated-at_gt=yesterday", API_TOKEN)[0] == 400
    assert gatling.handle("GET", "/api/public/v2/runs?limit=0", API_TOKEN)[0] == 400
    assert gatling.handle("GET", "/api/public/v2/runs/run_unknown", API_TOKEN)[0] == 404


def _conforms(value: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str) -> None:
    """`value` has what `schema` requires and nothing it does not define (objects, arrays, refs)."""
    if "$ref" in schema:
        _conforms(value, schemas[schema["$ref"].rsplit("/", 1)[-1]], schemas, where)
        return
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            part = schemas[part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
            if "enum" in part:
                assert value in part["enum"], where
                return
        if not merged["properties"]:
            return
        schema = merged
    if value is None:
        assert schema.get("nullable"), f"{where} is null"
        return
    if schema.get("type") == "object" and "properties" in schema:
        assert isinstance(value, dict), where
        assert set(schema.get("required", [])) <= set(value), (
            f"{where} lacks {set(schema['required']) - set(value)}"
        )
        assert set(value) <= set(schema["properties"]), (
            f"{where} has {set(value) - set(schema['properties'])}"
        )
        for key, item in value.items():
            _conforms(item, schema["properties"][key], schemas, f"{where}.{key}")
    elif schema.get("type") == "array":
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            _conforms(item, schema["items"], schemas, f"{where}[{index}]")
    elif schema.get("type") == "string":
        assert isinstance(value, str), where
        if "enum" in schema:
            assert value in schema["enum"], where
    elif schema.get("type") == "integer":
        assert isinstance(value, int), where


@pytest.mark.skipif(
    not SPEC.is_file(), reason=f"Gatling's OpenAPI spec not found at {SPEC} (set CPA_SHARED_DIR)"
)
def test_run_responses_match_the_openapi_schemas(gatling: FakeGatlingCloud) -> None:
    schemas: dict[str, Any] = json.loads(SPEC.read_text())["components"]["schemas"]
    clock = Clock()
    gatling.now = clock.now
    run = gatling.start_run(["prl_one"], duration=60)
    clock.time += 120
    listed = gatling.handle("GET", "/api/public/v2/runs?limit=5", API_TOKEN)[1]
    _conforms(listed, schemas["RunReadAllResponse"], schemas, "RunReadAll")
    one = gatling.handle("GET", f"/api/public/v2/runs/{run}", API_TOKEN)[1]
    _conforms(one, schemas["RunReadOneResponse"], schemas, "RunReadOne")
    assert listed["metadata"]["query"] == {"limit": "5"}
