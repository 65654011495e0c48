"""Where to connect for a task's private IP and port: identity on AWS, a loopback port in the local twin.

The up-check calls `resolve()` before connecting, so the twin can map a simulated task's private IP
to the port its fake control plane listens on, with `install_resolver`.
"""

from __future__ import annotations

from collections.abc import Callable

Resolver = Callable[[str, int], tuple[str, int]]


def _identity(private_ip: str, port: int) -> tuple[str, int]:
    return private_ip, port


_resolver: Resolver = _identity


def install_resolver(resolver: Resolver | None) -> None:
    """Replace the resolver (None restores the identity); production never calls this."""
    global _resolver
    _resolver = resolver or _identity


def resolve(private_ip: str, port: int) -> tuple[str, int]:
    """The host and port to connect to for `private_ip:port`."""
    return _resolver(private_ip, port)
