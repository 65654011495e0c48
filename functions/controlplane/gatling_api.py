"""Gatling Enterprise's public API, as far as the workflow needs it: private locations and runs.

`GET {base}/v2/locations?type=private_location` with `Authorization: <api token>` (raw, no Bearer)
answers `{"data": [{"_id": "prl_...", ...}, ...]}`. `GET {base}/v2/runs?updated-at_gt=...` answers
the runs updated since then (`RunReadAll`: `_id`, `_status`, `_updatedAt`), and
`GET {base}/v2/runs/{runId}` one run (`RunReadOne`) whose `_configuration.distribution.loadGenerators`
name the locations of its load generators. The token never appears in an error message.

The spec does not enumerate `_status` (docs/workflow.md, "Load test runs"): a status is terminal
only when it is one of `TERMINAL_RUN_STATUSES`; any other, unknown ones included, counts as running.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controlplane.errors import GatlingApiError, GatlingApiRefused, GatlingApiUnavailable
from controlplane.http_client import HttpGet, HttpUnreachable

# The run statuses that end a run. Gatling's documentation names none of these strings (the spec says
# only "Run status"); they are the values a public Gatling Enterprise client enumerates, each kept
# only where the documentation describes that way of ending: a run that finished (with or without
# assertions), was stopped (the API's stop action, a stop criterion, an automatic stop), or did not
# get to inject (build, deployment, phase timeouts, a broken run, the licence). Unconfirmed:
# docs/workflow.md says so. Anything else (building, deploying, injecting, stop_requested, a status
# this list does not know) is running.
TERMINAL_RUN_STATUSES = frozenset(
    {
        "successful",
        "assertions_successful",
        "assertions_failed",
        "manually_stopped",
        "automatically_stopped",
        "stop_criteria_triggered",
        "timeout",
        "build_failed",
        "deployment_failed",
        "broken",
        "invalid_license",
    }
)


@dataclass(frozen=True)
class ActiveRun:
    """A run Gatling does not report as ended, and the locations of its load generators."""

    run_id: str
    status: str
    title: str | None
    location_ids: frozenset[str]

    def describe(self) -> str:
        title = f" ({self.title})" if self.title else ""
        return f"run {self.run_id}{title}, {self.status}, on {', '.join(sorted(self.location_ids)) or 'no location'}"


def private_location_ids(base_url: str, token: str, *, http_get: HttpGet, timeout: float) -> set[str]:
    """The ids of every private location Gatling lists for this API token."""
    entries = _data(
        _get(
            f"{base_url.rstrip('/')}/v2/locations?type=private_location",
            token,
            http_get,
            timeout,
            "locations",
        ),
        "locations",
    )
    if not isinstance(entries, list):
        raise GatlingApiError("Gatling API answered the locations request with an unexpected body")
    return {str(entry["_id"]) for entry in entries if isinstance(entry, dict) and "_id" in entry}


def active_runs(
    base_url: str, token: str, *, updated_since: datetime, http_get: HttpGet, timeout: float
) -> list[ActiveRun]:
    """The runs updated since `updated_since` that have not ended, each with its locations."""
    query = urllib.parse.urlencode({"updated-at_gt": updated_since.isoformat().replace("+00:00", "Z")})
    items = _data(_get(f"{base_url.rstrip('/')}/v2/runs?{query}", token, http_get, timeout, "runs"), "runs")
    if not isinstance(items, list):
        raise GatlingApiError("Gatling API answered the runs request with an unexpected body")
    found: list[ActiveRun] = []
    for item in items:
        if not isinstance(item, dict) or "_id" not in item:
            continue
        status = str(item.get("_status", ""))
        if status in TERMINAL_RUN_STATUSES:
            continue
        run_id = str(item["_id"])
        url = f"{base_url.rstrip('/')}/v2/runs/{urllib.parse.quote(run_id, safe='')}"
        details = _data(_get(url, token, http_get, timeout, "run"), "run")
        found.append(
            ActiveRun(
                run_id=run_id,
                status=status or "no status",
                title=str(item["title"]) if item.get("title") else None,
                location_ids=_locations_of(details),
            )
        )
    return found


def _locations_of(details: Any) -> frozenset[str]:
    try:
        generators = details["_configuration"]["distribution"]["loadGenerators"]
        return frozenset(
            str(g["locationId"]) for g in generators if isinstance(g, dict) and "locationId" in g
        )
    except (KeyError, TypeError):
        raise GatlingApiError("Gatling API answered the run request without its distribution") from None


def _get(url: str, token: str, http_get: HttpGet, timeout: float, what: str) -> bytes:
    try:
        response = http_get(url, {"Authorization": token, "Accept": "application/json"}, timeout)
    except HttpUnreachable as error:
        raise GatlingApiUnavailable(f"Gatling API unreachable: {error}") from None
    if response.status in (401, 403):
        raise GatlingApiRefused(f"Gatling API refused the API token (HTTP {response.status})")
    if response.status == 429 or response.status >= 500:
        raise GatlingApiUnavailable(f"Gatling API answered HTTP {response.status}")
    if response.status != 200:
        raise GatlingApiError(f"Gatling API answered HTTP {response.status} to the {what} request")
    return response.body


def _data(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)["data"]
    except (ValueError, KeyError, TypeError):
        raise GatlingApiError(f"Gatling API answered the {what} request with an unexpected body") from None
