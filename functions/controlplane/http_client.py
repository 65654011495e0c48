"""A small HTTP GET over urllib (stdlib): the /info probe and Gatling's API need nothing more."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from controlplane import endpoints


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
    try:
        request = urllib.request.Request(_resolved(url), headers=dict(headers), method="GET")  # noqa: S310 - scheme checked above
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            return HttpResponse(status=response.status, body=response.read(_MAX_BODY))
    except urllib.error.HTTPError as error:
        return HttpResponse(status=error.code, body=error.read(_MAX_BODY) if error.fp else b"")
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise HttpUnreachable(f"{type(reason).__name__}: {reason}") from None


def _resolved(url: str) -> str:
    """`url` with its host and port as `endpoints.resolve` says (unchanged on AWS)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    resolved_host, resolved_port = endpoints.resolve(host, port)
    if (resolved_host, resolved_port) == (host, port):
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{resolved_host}:{resolved_port}"))
