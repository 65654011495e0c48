"""Gatling Enterprise's public API, as far as the up-check needs it: the private locations it knows.

`GET {base}/v2/locations?type=private_location` with `Authorization: <api token>` (raw, no Bearer)
answers `{"data": [{"_id": "prl_...", ...}, ...]}`. The token never appears in an error message.
"""

from __future__ import annotations

import json

from controlplane.errors import GatlingApiError, GatlingApiRefused, GatlingApiUnavailable
from controlplane.http_client import HttpGet, HttpUnreachable


def private_location_ids(base_url: str, token: str, *, http_get: HttpGet, timeout: float) -> set[str]:
    """The ids of every private location Gatling lists for this API token."""
    url = f"{base_url.rstrip('/')}/v2/locations?type=private_location"
    try:
        response = http_get(url, {"Authorization": token, "Accept": "application/json"}, timeout)
    except HttpUnreachable as error:
        raise GatlingApiUnavailable(f"Gatling API unreachable: {error}") from None
    if response.status in (401, 403):
        raise GatlingApiRefused(f"Gatling API refused the API token (HTTP {response.status})")
    if response.status == 429 or response.status >= 500:
        raise GatlingApiUnavailable(f"Gatling API answered HTTP {response.status}")
    if response.status != 200:
        raise GatlingApiError(f"Gatling API answered HTTP {response.status} to the locations request")
    try:
        entries = json.loads(response.body)["data"]
        return {str(entry["_id"]) for entry in entries if isinstance(entry, dict) and "_id" in entry}
    except (ValueError, KeyError, TypeError):
        raise GatlingApiError("Gatling API answered the locations request with an unexpected body") from None
