"""A small HTTP GET over urllib (stdlib): the /info probe and Gatling's API need nothing more."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes


class HttpUnreachable(Exception):
    """No HTTP answer at all: refused, timed out, DNS failure, TLS failure."""


HttpGet = Callable[[str, Mapping[str, str], float], HttpResponse]

_MAX_BODY = 4 * 1024 * 1024


def http_get(url: str, headers: Mapping[str, str], timeout: float) -> HttpResponse:
    """GET `url`; any HTTP status is an answer, no answer raises `HttpUnreachable` (without the headers)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            return HttpResponse(status=response.status, body=response.read(_MAX_BODY))
    except urllib.error.HTTPError as error:
        return HttpResponse(status=error.code, body=error.read(_MAX_BODY) if error.fp else b"")
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise HttpUnreachable(f"{type(reason).__name__}: {reason}") from None
