"""What a resolved control-plane.conf must contain, as data plus the few rules data cannot say.

The key tables follow Gatling's private-location docs (the shared reference notes'
`gatling-facts.md`, and docs/validator.md). Values follow Lightbend's getters: a number
may be written as a numeric string, a boolean as `yes`/`on`; a JSON `null` on an optional key
means the key is absent. Values that come from the container's environment are unknown here and
are not checked.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from controlplane.deployment_context import (
    TOKEN_PREFIX,
    TOKEN_VARIABLE,
    DeploymentContext,
    is_environment_placeholder,
    show_placeholders,
)
from controlplane.hocon_source import KeyPath, Substitution, render_path

Severity = Literal["error", "warning"]
Kind = Literal[
    "string", "number", "boolean", "strings", "object", "map", "any", "enum", "java", "spot", "port"
]

LOCATION_ID = re.compile(r"prl_[0-9a-z_]{1,26}")
CONTAINER_CONFIG_PATH = "/app/conf/control-plane.conf"
DEFAULT_SERVER_PORT = 8080
_BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "on", "off"})
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Severity
    path: KeyPath
    message: str


@dataclass(frozen=True, slots=True)
class Key:
    kind: Kind
    required: bool = False
    values: tuple[str, ...] = ()  # enum values
    keys: Mapping[str, Key] = field(default_factory=dict)  # an object's own keys
    non_empty: bool = False  # lists that must hold at least one item


def _required(kind: Kind, **options: Any) -> Key:
    return Key(kind, required=True, **options)


STRING = Key("string")
NUMBER = Key("number")
BOOLEAN = Key("boolean")
STRINGS = Key("strings")
MAP = Key("map")
ANY = Key("any")
ENGINE = Key("enum", values=("classic", "javascript"))
IMAGE_TYPE = _required("enum", values=("certified", "custom"))

PROXY = Key(
    "object",
    keys={
        "proxy": Key(
            "object",
            keys={
                "forward": Key("object", keys={"url": STRING}),
                "http": Key(
                    "object",
                    keys={
                        "url": STRING,
                        "noproxy": STRING,
                        "credentials": Key("object", keys={"username": STRING, "password": STRING}),
                    },
                ),
                "truststore": Key("object", keys={"path": STRING}),
                "keystore": Key("object", keys={"path": STRING, "password": STRING}),
            },
        )
    },
)
SERVER = Key(
    "object",
    keys={
        "port": Key("port"),
        "bind-address": STRING,
        "certificate": Key("object", keys={"path": _required("string"), "password": STRING}),
    },
)
REPOSITORY_TYPES = ("aws", "azure", "gcp", "filesystem")
AWS_REPOSITORY_KEYS: Mapping[str, Key] = {
    "type": _required("enum", values=REPOSITORY_TYPES),
    "bucket": _required("string"),
    "path": STRING,
    "server-side-encryption": Key("enum", values=("AES256", "aws:fsx", "aws:kms", "aws:kms:dsse")),
    "endpoint-override": STRING,
    "cache": Key("object", keys={"enabled": BOOLEAN}),
    "upload": Key("object", keys={"directory": STRING}),
    "server": SERVER,  # the old place of the server block, still accepted
}
CONTROL_PLANE_KEYS: Mapping[str, Key] = {
    "token": ANY,  # checked by its own rule: it is a secret and has several sources
    "description": STRING,
    "locations": ANY,  # checked by the location rules
    "default": Key("object", keys={"locations": Key("object", keys={"system-properties": MAP})}),
    "server": SERVER,
    "repository": ANY,  # its keys depend on its type
    "enterprise-cloud": PROXY,
    "builder": ANY,  # only for the latest-builder image; not documented further
}

COMMON_LOCATION_KEYS: Mapping[str, Key] = {
    "id": ANY,  # checked by the id rule
    "type": ANY,  # checked by the type rule
    "description": STRING,
    "engine": ENGINE,
    "system-properties": MAP,
    "java-home": STRING,
    "jvm-options": STRINGS,
    "enterprise-cloud": PROXY,
    "executable-dir": STRING,
    "debug": Key("object", keys={"keep-load-generator-alive": BOOLEAN}),
}
CERTIFIED_OR_CUSTOM_IMAGE = _required(
    "object", keys={"type": IMAGE_TYPE, "java": Key("java"), "image": STRING}
)
LOCATION_KEYS: Mapping[str, Mapping[str, Key]] = {
    "aws": {
        **COMMON_LOCATION_KEYS,
        "region": _required("string"),
        "ami": _required("object", keys={"type": IMAGE_TYPE, "java": Key("java"), "id": STRING}),
        "security-groups": _required("strings", non_empty=True),
        "subnets": _required("strings", non_empty=True),
        "instance-type": _required("string"),
        "spot": Key("spot"),
        "auto-associate-public-ipv4": BOOLEAN,
        "elastic-ips": STRINGS,
        "iam-instance-profile": STRING,
        "profile-name": STRING,
        "tags": MAP,
        "tags-for": Key("object", keys={"instance": MAP, "volume": MAP, "network-interface": MAP}),
        "name-tag-prefix": STRING,
    },
    "kubernetes": {
        **COMMON_LOCATION_KEYS,
        "namespace": STRING,
        "context": STRING,
        "image": CERTIFIED_OR_CUSTOM_IMAGE,
        "job": ANY,
    },
    "azure": {
        **COMMON_LOCATION_KEYS,
        "region": _required("string"),
        "size": _required("string"),
        "image": CERTIFIED_OR_CUSTOM_IMAGE,
        "subscription": _required("string"),
        "network-id": _required("string"),
        "subnet-name": _required("string"),
        "associate-public-ip": BOOLEAN,
        "tags": MAP,
    },
    "gcp": {
        **COMMON_LOCATION_KEYS,
        "zone": _required("string"),
        "project": _required("string"),
        "instance-template": STRING,
        "machine": Key(
            "object",
            keys={
                "type": _required("string"),
                "preemptible": BOOLEAN,
                "engine": ENGINE,
                "image": _required(
                    "object",
                    keys={
                        "type": IMAGE_TYPE,
                        "java": Key("java"),
                        "project": STRING,
                        "id": STRING,
                        "family": STRING,
                    },
                ),
                "disk": _required("object", keys={"sizeGb": _required("number")}),
                "network-interface": Key(
                    "object",
                    keys={
                        "project": STRING,
                        "network": STRING,
                        "subnetwork": STRING,
                        "with-external-ip": BOOLEAN,
                    },
                ),
            },
        ),
    },
    "dedicated": {
        **COMMON_LOCATION_KEYS,
        "ssh": _required(
            "object",
            keys={
                "user": _required("string"),
                "private-key": _required("object", keys={"path": _required("string"), "password": STRING}),
                "port": Key("port"),
                "connection-timeout": STRING,
            },
        ),
        "hosts": _required("strings"),
        "working-directory": STRING,  # older name of executable-dir
    },
}
LOCATION_TYPES = tuple(LOCATION_KEYS)


def check_config(
    tree: Mapping[str, Any],
    *,
    context: DeploymentContext | None,
    substitutions: Iterable[Substitution] = (),
) -> list[Issue]:
    """Every rule of docs/validator.md applied to a resolved tree; `context=None` means "not known"."""
    checker = _Checker(context)
    checker.check(tree, [s for s in substitutions if s.key_path == ("control-plane", "token")])
    return checker.issues


def _normalized(name: str) -> str:
    """`instance_type`, `instanceType` and `Instance-Type` all read as `instance-type`."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name).lower().replace("_", "-")


def near_miss(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` was probably meant to be, if one is close enough."""
    options = [c for c in candidates if c != name]
    wanted = _normalized(name)
    for option in options:
        if _normalized(option) == wanted:
            return option
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.8)
    return close[0] if close else None


def show(value: Any, limit: int = 60) -> str:
    """A value for a message: quoted, escaped, shortened; placeholders shown as `${NAME}`."""
    if isinstance(value, str):
        text = show_placeholders(value)
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, int | float):
        return str(value)
    elif isinstance(value, list):
        return "a list"
    elif isinstance(value, dict):
        return "an object"
    else:
        return "null"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and _NUMBER.fullmatch(value.strip()) is not None


def _as_number(value: Any) -> float:
    return float(value.strip()) if isinstance(value, str) else float(value)


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "on"))


def _key_name(path: KeyPath) -> str:
    """How a message names the key at `path`: its last segment, or the whole path for a list item."""
    return render_path(path[-1:]) if isinstance(path[-1], str) else render_path(path)


def _is_fine(value: Any, key: Key) -> bool:
    """True when `value` is what `key` wants: `_Checker.check_value` then has nothing to say (asked
    first, as it is the common case, so a valid file makes no message and no key path)."""
    if is_environment_placeholder(value):
        return True  # comes from the container's environment: unknown here
    kind = key.kind
    if kind == "string":
        return not isinstance(value, list | dict)
    if kind == "any":
        return True
    if kind == "object":
        return isinstance(value, dict) and _object_is_fine(value, key.keys)
    if kind == "map":
        return isinstance(value, dict)
    if kind == "number":
        return _is_number(value)
    if kind == "boolean":
        return isinstance(value, bool) or (isinstance(value, str) and value.lower() in _BOOLEAN_WORDS)
    if kind == "strings":
        return (
            isinstance(value, list)
            and (bool(value) or not key.non_empty)
            and not any(item is None or isinstance(item, list | dict) for item in value)
        )
    if kind == "enum":
        return value in key.values
    if kind == "java":
        return value == "latest" or (_is_number(value) and float(_as_number(value)).is_integer())
    if kind == "spot":
        return isinstance(value, bool) or value in ("preferred", "true", "false")
    return _is_number(value) and _as_number(value) in range(1, 65536)  # a port


# The required keys of each table of keys, found once (keyed by the table's id; the table is kept).
class _Table(NamedTuple):
    """What `_object_is_fine` needs to know of a table of keys, found once."""

    keys: Mapping[str, Key]  # kept, so that its id stays its own
    required: frozenset[str]
    # For each shape of object met (its keys and the types of their values, in order): the keys
    # whose values must still be looked at, or None when the shape alone has something to say.
    plans: dict[tuple[tuple[str, ...], tuple[type, ...]], tuple[tuple[str, Key], ...] | None]
    # The shape met last and its plan: the objects of a list are mostly of one shape, and comparing
    # two shapes costs less than finding one in `plans`.
    last: list[Any]


_tables: dict[int, _Table] = {}
# Types whose every value satisfies a kind (None: an absent optional key).
_FINE_BY_TYPE: Mapping[type, frozenset[str]] = {
    str: frozenset({"string", "any"}),
    bool: frozenset({"boolean", "spot", "string", "any"}),
    dict: frozenset({"map", "any"}),
}
_MAX_PLANS = 64  # shapes remembered per table: a real file has a few


def _table(keys: Mapping[str, Key]) -> _Table:
    table = _tables.get(id(keys))
    if table is None:
        required = frozenset(name for name, key in keys.items() if key.required)
        table = _tables[id(keys)] = _Table(keys, required, {}, [(), (), None])
    return table


def _plan(
    table: _Table, names: tuple[str, ...], kinds: tuple[type, ...]
) -> tuple[tuple[str, Key], ...] | None:
    """The keys of an object of that shape whose values decide whether it is fine (None: it is not)."""
    if not table.required <= set(names):
        return None  # a required key is missing
    left = []
    for name, kind_of_item in zip(names, kinds, strict=True):
        key = table.keys.get(name)
        if key is None:
            return None  # an unknown key
        if kind_of_item is type(None):
            if key.required:
                return None
        elif key.kind not in _FINE_BY_TYPE.get(kind_of_item, ()):
            left.append((name, key))
    return tuple(left)


def _object_is_fine(value: Mapping[str, Any], keys: Mapping[str, Key]) -> bool:
    """True when `_Checker.check_object` has nothing to say about `value`: its shape is judged once
    for all objects of that shape, then the values its shape cannot vouch for, the commonest by their
    exact type, any other by `_is_fine`."""
    table = _table(keys)
    names, kinds = tuple(value), tuple(map(type, value.values()))
    last = table.last
    if names == last[0] and kinds == last[1]:
        plan = last[2]
    else:
        plans = table.plans
        try:
            plan = plans[names, kinds]
        except KeyError:
            plan = _plan(table, names, kinds)
            if len(plans) < _MAX_PLANS:
                plans[names, kinds] = plan
        table.last[:] = (names, kinds, plan)
    if plan is None:
        return False
    for name, key in plan:
        item = value[name]
        kind = key.kind
        kind_of_item = type(item)
        if kind_of_item is str:
            if kind == "enum" and item in key.values:
                continue
        elif kind_of_item is dict:
            if kind == "object" and _object_is_fine(item, key.keys):
                continue
        elif kind_of_item is list and kind == "strings" and item:
            for element in item:
                if type(element) is not str:
                    break
            else:
                continue
        if not _is_fine(item, key):
            return False
    return True


class _Checker:
    def __init__(self, context: DeploymentContext | None) -> None:
        self.context = context
        self.issues: list[Issue] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.issues.append(Issue("error", path, message))

    def warning(self, path: KeyPath, message: str) -> None:
        self.issues.append(Issue("warning", path, message))

    def deployment(self, path: KeyPath, message: str) -> None:
        """A finding that depends on the deployment: an error when the context is known."""
        self.issues.append(Issue("error" if self.context is not None else "warning", path, message))

    # --- the document --------------------------------------------------------------------------

    def check(self, tree: Mapping[str, Any], token_sources: list[Substitution]) -> None:
        if not tree:
            self.error((), "file has no settings (it is empty or only comments)")
            return
        root = tree.get("control-plane")
        if not isinstance(root, dict):
            if root is None:
                self.missing((), "control-plane", tree, "root object")
            else:
                self.error(("control-plane",), f"control-plane must be an object, not {_type_name(root)}")
            return
        path: KeyPath = ("control-plane",)
        self.check_object(root, CONTROL_PLANE_KEYS, path)
        self.check_token(root, token_sources)
        self.check_locations(root.get("locations"), root)
        self.check_server(root)
        self.check_repository(root.get("repository"))
        self.check_proxy_files(root.get("enterprise-cloud"), (*path, "enterprise-cloud"))

    def missing(self, parent: KeyPath, name: str, siblings: Mapping[str, Any], what: str = "key") -> None:
        message = f"missing required {what} {name}"
        guess = near_miss(name, siblings)
        if guess is not None:
            message += f" (found {guess}: a misspelling?)"
        self.error((*parent, name), message)

    # --- generic shape checks ------------------------------------------------------------------

    def check_object(self, value: Mapping[str, Any], keys: Mapping[str, Key], path: KeyPath) -> None:
        if _object_is_fine(value, keys):
            return
        for name, key in keys.items():
            item = value.get(name)
            if item is None:
                if key.required:
                    self.missing(path, name, value)
            else:
                self.check_value(item, key, (*path, name))
        for name in value:
            if name not in keys:
                guess = near_miss(name, keys)
                hint = f" (did you mean {guess}?)" if guess is not None else ""
                self.warning((*path, name), f"unknown key {render_path((name,))}{hint}")

    def check_value(self, value: Any, key: Key, path: KeyPath) -> None:
        if _is_fine(value, key):
            return
        kind = key.kind
        if kind == "object":
            if isinstance(value, dict):
                self.check_object(value, key.keys, path)
            else:
                self.error(path, f"{_key_name(path)} must be an object, not {_type_name(value)}")
        elif kind == "map":
            self.error(path, f"{_key_name(path)} must be an object, not {_type_name(value)}")
        elif kind == "string":
            self.error(path, f"{_key_name(path)} must be a string, not {_type_name(value)}")
        elif kind == "number":
            self.error(path, f"{_key_name(path)} must be a number, not {_type_name(value)}")
        elif kind == "boolean":
            self.error(path, f"{_key_name(path)} must be true or false, not {show(value)}")
        elif kind == "strings":
            self.check_strings(value, key, path)
        elif kind == "enum":
            allowed = ", ".join(key.values)
            self.error(path, f"{_key_name(path)} is {show(value)}; allowed values: {allowed}")
        elif kind == "java":
            self.error(
                path,
                f"{_key_name(path)} is {show(value)}; allowed values: latest or a Java version such as 25",
            )
        elif kind == "spot":
            self.error(
                path, f'{_key_name(path)} is {show(value)}; allowed values: true, false or "preferred"'
            )
        else:  # a port
            self.error(path, f"{_key_name(path)} must be a port number from 1 to 65535, not {show(value)}")

    def check_strings(self, value: Any, key: Key, path: KeyPath) -> None:
        if not isinstance(value, list):
            self.error(path, f"{_key_name(path)} must be a list, not {_type_name(value)}")
            return
        if key.non_empty and not value:
            self.error(path, f"{_key_name(path)} must list at least one item")
        for index, item in enumerate(value):
            if item is None or isinstance(item, list | dict):
                self.error((*path, index), f"{_key_name(path)} must hold strings, not {_type_name(item)}")

    # --- the token -----------------------------------------------------------------------------

    def check_token(self, root: Mapping[str, Any], sources: list[Substitution]) -> None:
        path: KeyPath = ("control-plane", "token")
        token = root.get("token")
        context = self.context
        injected = context is not None and context.token_injected
        if token is None:
            from_variable = [s for s in sources if s.name == TOKEN_VARIABLE]
            if from_variable and context is None:
                self.warning(
                    path,
                    f"the token comes only from ${{?{TOKEN_VARIABLE}}}: the deployment must inject the "
                    "token secret (set the stack's token secret parameter)",
                )
            elif from_variable:
                self.error(
                    path,
                    f"the token comes only from ${{?{TOKEN_VARIABLE}}} but this deployment does not inject "
                    "the token secret: the control plane would start without a token",
                )
            elif sources:
                names = ", ".join(f"${{?{s.name}}}" for s in sources)
                self.error(path, f"the token is missing: {names} is not in the container's environment")
            else:
                self.missing(("control-plane",), "token", root)
            return
        if is_environment_placeholder(token):
            return
        if not isinstance(token, str) or not token.strip():
            self.error(path, f"token must be a non-empty string, not {_type_name(token)}")
            return
        if not token.startswith(TOKEN_PREFIX):
            self.warning(path, f"token does not start with {TOKEN_PREFIX}, as control plane tokens do")
        if injected:
            self.warning(
                path,
                f"the token is a literal in the file, so the injected {TOKEN_VARIABLE} secret is "
                f"ignored: write token = ${{?{TOKEN_VARIABLE}}} after it",
            )

    # --- locations -----------------------------------------------------------------------------

    def check_locations(self, locations: Any, root: Mapping[str, Any]) -> None:
        path: KeyPath = ("control-plane", "locations")
        if locations is None:
            self.missing(("control-plane",), "locations", root)
            return
        if not isinstance(locations, list):
            self.error(path, f"locations must be a list, not {_type_name(locations)}")
            return
        if not locations:
            self.error(path, "locations is empty: a control plane needs at least one location")
        ids: dict[str, int] = {}
        for index, location in enumerate(locations):
            if isinstance(location, dict):
                self.check_location(location, index, ids)
            else:
                self.error((*path, index), f"a location must be an object, not {_type_name(location)}")

    def check_location(self, location: Mapping[str, Any], index: int, ids: dict[str, int]) -> None:
        path: KeyPath = ("control-plane", "locations", index)
        self.check_location_id(location, index, ids)
        kind = location.get("type")
        keys = LOCATION_KEYS.get(kind) if isinstance(kind, str) else None
        if keys is None:
            if kind is None:
                self.missing(path, "type", location)
            elif not is_environment_placeholder(kind):
                self.error(
                    (*path, "type"), f"type is {show(kind)}; allowed values: {', '.join(LOCATION_TYPES)}"
                )
            for name, key in COMMON_LOCATION_KEYS.items():
                item = location.get(name)
                if item is not None:
                    self.check_value(item, key, (*path, name))
            return
        self.check_object(location, keys, path)
        if kind == "aws":
            self.check_aws(location, path)
        elif kind == "gcp":
            self.check_gcp(location, path)
        elif kind == "dedicated":
            self.check_dedicated(location, path)
        else:
            self.check_custom_image(location.get("image"), (*path, "image"), "image")

    def check_location_id(self, location: Mapping[str, Any], index: int, ids: dict[str, int]) -> None:
        path: KeyPath = ("control-plane", "locations", index)
        location_id = location.get("id")
        if location_id is None:
            self.missing(path, "id", location)
            return
        if is_environment_placeholder(location_id):
            return
        if not isinstance(location_id, str) or LOCATION_ID.fullmatch(location_id) is None:
            self.error(
                (*path, "id"),
                f"id {show(location_id)} must be prl_ followed by 1 to 26 of 0-9, a-z and _ "
                "(30 characters at most)",
            )
            return
        first = ids.setdefault(location_id, index)
        if first != index:
            self.error((*path, "id"), f"id {show(location_id)} is already used by locations[{first}]")

    def check_custom_image(self, image: Any, path: KeyPath, needed: str) -> None:
        if isinstance(image, dict) and image.get("type") == "custom" and image.get(needed) is None:
            self.error((*path, needed), f"a custom image needs {needed}")

    def check_aws(self, location: Mapping[str, Any], path: KeyPath) -> None:
        ami = location.get("ami")
        if isinstance(ami, dict) and ami.get("type") == "custom" and ami.get("id") is None:
            self.error((*path, "ami", "id"), "ami.type = custom needs ami.id (the AMI to launch)")
        elastic_ips = location.get("elastic-ips")
        public_ipv4 = location.get("auto-associate-public-ipv4")
        if isinstance(elastic_ips, list) and elastic_ips:
            if _is_true(public_ipv4):
                self.error(
                    (*path, "elastic-ips"),
                    "elastic-ips cannot be used with auto-associate-public-ipv4 = true: set it to false",
                )
            elif public_ipv4 is None:
                self.warning(
                    (*path, "elastic-ips"),
                    "elastic-ips is not compatible with auto-associate-public-ipv4, which defaults to true: "
                    "set auto-associate-public-ipv4 = false",
                )
            if self.context is None or not self.context.elastic_ips_configured:
                self.deployment(
                    (*path, "elastic-ips"),
                    "elastic-ips need ec2:AssociateAddress permissions: deploy the stack with the "
                    "elastic IP parameter set",
                )
        profile = location.get("iam-instance-profile")
        wants_pass_role = (
            isinstance(profile, str) and profile.strip() and not is_environment_placeholder(profile)
        )
        if wants_pass_role and (self.context is None or not self.context.pass_role_configured):
            self.deployment(
                (*path, "iam-instance-profile"),
                "iam-instance-profile needs iam:PassRole on the profile's role: deploy the stack with "
                "the PassRole parameter set",
            )

    def check_gcp(self, location: Mapping[str, Any], path: KeyPath) -> None:
        has_template = location.get("instance-template") is not None
        machine = location.get("machine")
        if has_template == (machine is not None):
            which = "both" if has_template else "neither"
            self.error(path, f"a gcp location needs exactly one of instance-template or machine, not {which}")
        if not isinstance(machine, dict):
            return
        image = machine.get("image")
        image = image if isinstance(image, dict) else {}
        if image.get("type") == "custom" and image.get("id") is None and image.get("family") is None:
            self.error((*path, "machine", "image"), "a custom image needs id or family")
        disk = machine.get("disk")
        size = disk.get("sizeGb") if isinstance(disk, dict) else None
        if _is_number(size) and _as_number(size) < 20:
            self.error(
                (*path, "machine", "disk", "sizeGb"), f"sizeGb is {show(size)}; GCP disks need at least 20"
            )

    def check_dedicated(self, location: Mapping[str, Any], path: KeyPath) -> None:
        hosts = location.get("hosts")
        if isinstance(hosts, list) and not hosts:
            self.warning((*path, "hosts"), "hosts is empty: this location cannot run any load generator")
        if location.get("working-directory") is not None:
            self.warning(
                (*path, "working-directory"), "working-directory is the older name of executable-dir"
            )
        ssh = location.get("ssh")
        key = ssh.get("private-key") if isinstance(ssh, dict) else None
        if isinstance(key, dict):
            self.check_container_file(key.get("path"), (*path, "ssh", "private-key", "path"))

    # --- server, repository and files the container must have ------------------------------------

    def check_server(self, root: Mapping[str, Any]) -> None:
        server = root.get("server")
        path: KeyPath = ("control-plane", "server")
        repository = root.get("repository")
        if server is None and isinstance(repository, dict) and isinstance(repository.get("server"), dict):
            server, path = repository["server"], ("control-plane", "repository", "server")
        if not isinstance(server, dict):
            server = {}
        port = server.get("port", DEFAULT_SERVER_PORT)
        expected = self.context.server_port if self.context is not None else DEFAULT_SERVER_PORT
        if _is_number(port) and _as_number(port) != expected:
            where = "the task exposes" if self.context is not None else "the stack exposes by default"
            self.deployment(
                (*path, "port"),
                f"server.port is {show(port)} but {where} port {expected}: the health check would fail "
                "(set the stack's server port parameter to match)",
            )
        certificate = server.get("certificate")
        if isinstance(certificate, dict):
            certificate_path = certificate.get("path")
            self.check_container_file(certificate_path, (*path, "certificate", "path"))
            self.check_not_jks(certificate_path, (*path, "certificate", "path"), "the server certificate")

    def check_repository(self, repository: Any) -> None:
        path: KeyPath = ("control-plane", "repository")
        if repository is None:
            return
        if not isinstance(repository, dict):
            self.error(path, f"repository must be an object, not {_type_name(repository)}")
            return
        kind = repository.get("type")
        if kind is None:
            self.missing(path, "type", repository)
        elif kind not in REPOSITORY_TYPES:
            self.check_value(kind, AWS_REPOSITORY_KEYS["type"], (*path, "type"))
        if kind != "aws":
            return  # the keys of the other repository types are not documented well enough to check
        self.check_object(repository, AWS_REPOSITORY_KEYS, path)
        if self.context is None or not self.context.private_packages_bucket_configured:
            self.deployment(
                (*path, "bucket"),
                "private packages on S3 need the task role to reach the bucket: deploy the stack with the "
                "private packages bucket parameter set",
            )

    def check_proxy_files(self, enterprise_cloud: Any, path: KeyPath) -> None:
        proxy = enterprise_cloud.get("proxy") if isinstance(enterprise_cloud, dict) else None
        if not isinstance(proxy, dict):
            return
        for store in ("truststore", "keystore"):
            block = proxy.get(store)
            if isinstance(block, dict):
                self.check_container_file(block.get("path"), (*path, "proxy", store, "path"))
        keystore = proxy.get("keystore")
        if isinstance(keystore, dict):
            self.check_not_jks(keystore.get("path"), (*path, "proxy", "keystore", "path"), "the keystore")

    def check_container_file(self, file: Any, path: KeyPath) -> None:
        if not isinstance(file, str) or not file.strip() or is_environment_placeholder(file):
            return
        if file not in (CONTAINER_CONFIG_PATH, "control-plane.conf"):
            self.deployment(
                path,
                f"{show(file)} will not exist in the container: only {CONTAINER_CONFIG_PATH} is shipped",
            )

    def check_not_jks(self, file: Any, path: KeyPath, what: str) -> None:
        if isinstance(file, str) and file.lower().endswith((".jks", ".keystore")):
            self.deployment(
                path, f"{what} is a JKS file: the control plane refuses to start with it (use PKCS#12)"
            )
