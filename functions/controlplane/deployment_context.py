"""What the validator knows about the container a config will run in, and how it stands for the
values of environment variables, with no HOCON parser loaded.

The settings of every Lambda build a `DeploymentContext`; the scanner, the rules and the
validator share the placeholders, and everything that redacts shares the token's shape. Keeping these here, away from `validation` and the parser,
gives the modules that use them one direction of import.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

TOKEN_VARIABLE = "CONTROL_PLANE_TOKEN"  # noqa: S105 - a variable name, not a secret
# Control plane tokens start with this (their full format is not documented).
TOKEN_PREFIX = "cpt_"  # noqa: S105 - a prefix, not a secret
# A word with the shape of a control plane token: whatever holds one is redacted with this pattern.
TOKEN_LIKE = re.compile(TOKEN_PREFIX + r"[A-Za-z0-9._~+/=-]+")

# Values of environment variables are unknown when validating: each one resolves to a placeholder
# made of private-use characters, which the rules recognise and skip and messages show as ${NAME}.
_PLACEHOLDER_OPEN, _PLACEHOLDER_CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile("\ue000([^\ue001]*)\ue001")


def environment_placeholder(name: str) -> str:
    """The value a validation gives to the container environment variable `name`."""
    return f"{_PLACEHOLDER_OPEN}{name}{_PLACEHOLDER_CLOSE}"


def is_environment_placeholder(value: object) -> bool:
    """True when `value` is or contains the value of an environment variable."""
    return isinstance(value, str) and _PLACEHOLDER_OPEN in value


def hide_token_like(text: str, hidden: str = "***") -> str:
    """`text` with every token-shaped word replaced by the prefix and `hidden` (`cpt_***`)."""
    return TOKEN_LIKE.sub(TOKEN_PREFIX + hidden, text) if TOKEN_PREFIX in text else text


def show_placeholders(text: str) -> str:
    """`text` with every placeholder written back as `${NAME}`."""
    return _PLACEHOLDER.sub(lambda match: "${" + match.group(1) + "}", text)


class DeploymentContext(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the stack gives the container; known in the workflow, optional on the CLI."""

    token_injected: bool = False
    pass_role_configured: bool = False
    elastic_ips_configured: bool = False
    private_packages_bucket_configured: bool = False
    server_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8080
    container_env: tuple[str, ...] = ()

    def environment(self) -> dict[str, str]:
        """The container's environment variables, each with a placeholder value."""
        names = [*self.container_env, *([TOKEN_VARIABLE] if self.token_injected else [])]
        return {name: environment_placeholder(name) for name in names}
