"""Where to connect for a host and port: identity on AWS; in the local twin, its simulated network.

`http_client.http_get` calls `resolve()` before every connection, so the twin can map a simulated
task's private IP to the loopback port its fake control plane listens on, and refuse (raise
`OSError`, as a connection timeout does) what the calling function's network cannot reach, with
`install_resolver`.
"""

from __future__ import annotations

from collections.abc import Callable

Resolver = Callable[[str, int], tuple[str, int]]


def _identity(host: str, port: int) -> tuple[str, int]:
    return host, port


_resolver: Resolver = _identity


def install_resolver(resolver: Resolver | None) -> None:
    """Replace the resolver (None restores the identity); production never calls this."""
    global _resolver
    _resolver = resolver or _identity


def resolve(host: str, port: int) -> tuple[str, int]:
    """The host and port to connect to for `host:port`."""
    return _resolver(host, port)
