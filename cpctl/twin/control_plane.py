"""The fake control plane: what runs in the `control-plane` container of a simulated Fargate task.

It reads `/app/conf/control-plane.conf` (the bytes the side-car wrote into the task's folder) with
the project's own HOCON reader, against exactly the container's environment, and behaves like the
real process where the project relies on it:

- it refuses to start (exit 1, one ERROR line) without a token, with an unresolvable required
  substitution, a JKS keystore or certificate, or a keystore/truststore/certificate file that does
  not exist in the container (only the config is shipped);
- otherwise it registers its private locations with the (fake) Gatling Cloud using its token, logs
  the documented `Control plane '<cp>' failed to deploy private location '<prl>' ...` for a location
  it cannot deploy, and answers `GET /info` on a loopback port until it is stopped.

The real control plane's log lines are not documented apart from that failure text; the exception
names below follow Lightbend Config's (the library the JVM control plane reads HOCON with) and are
an approximation. Lines go to moto's CloudWatch Logs with simulated timestamps, in the stream the
awslogs driver would use. Neither the token nor any environment value is ever written.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from controlplane.deployment_context import TOKEN_VARIABLE
from controlplane.validation import ConfigParseError, load_config
from moto.logs.models import logs_backends

from cpctl.twin.gatling import FakeGatlingCloud
from cpctl.twin.loopback import serve_in_thread, shut_down

CONFIG_PATH = "/app/conf/control-plane.conf"
DEFAULT_SERVER_PORT = 8080
LOCATION_ID = re.compile(r"prl_[0-9a-z_]{1,26}")
LOCATION_TYPES = frozenset({"aws", "azure", "gcp", "kubernetes", "dedicated"})
# Keys the docs list as required for an AWS location (the only type the stack's task role serves).
AWS_LOCATION_KEYS = ("region", "ami", "security-groups", "subnets")
LOOPBACK_BIND_ADDRESSES = frozenset({"127.0.0.1", "localhost", "::1"})
EXIT_REFUSED = 1
EXIT_SIGTERM = 143


class ContainerLog:
    """One container's awslogs stream in moto's CloudWatch Logs, written with simulated timestamps."""

    def __init__(self, *, account_id: str, region: str, group: str, stream: str) -> None:
        self.account_id = account_id
        self.region = region
        self.group = group
        self.stream = stream

    @classmethod
    def for_container(
        cls, container: Mapping[str, Any], *, task_id: str, account_id: str, region: str
    ) -> ContainerLog | None:
        """The stream the awslogs driver writes for `container` of task `task_id`; None without awslogs."""
        configuration = container.get("logConfiguration") or {}
        if configuration.get("logDriver") != "awslogs":
            return None
        options = configuration.get("options") or {}
        group = options.get("awslogs-group")
        if not group:
            return None
        prefix = options.get("awslogs-stream-prefix")
        # Without a prefix the driver names the stream after the container id (not simulated).
        stream = f"{prefix}/{container['name']}/{task_id}" if prefix else f"{container['name']}/{task_id}"
        return cls(
            account_id=account_id, region=options.get("awslogs-region") or region, group=group, stream=stream
        )

    def group_exists(self) -> bool:
        return self.group in logs_backends[self.account_id][self.region].groups

    def write(self, at: float, message: str) -> None:
        backend = logs_backends[self.account_id][self.region]
        backend.ensure_log_stream(self.group, self.stream)
        # The stream-level call skips moto's "older than 14 days" check, which compares with the
        # wall clock and would drop every line stamped with the twin's simulated time.
        stream = backend.groups[self.group].streams[self.stream]
        stream.put_log_events([{"timestamp": int(at * 1000), "message": message}])


@dataclass(frozen=True, slots=True)
class _Location:
    id: str
    description: str | None
    engine: str


@dataclass(frozen=True, slots=True)
class _Settings:
    token: str = field(repr=False)  # a secret: never in a repr, so never in a log line
    description: str | None
    locations: tuple[_Location, ...]
    rejected: tuple[tuple[str, str], ...]  # (location id, reason) of locations it cannot deploy
    server_port: int
    bind_address: str


class StartRefused(Exception):
    """The control plane cannot start; the message is the ERROR line (never a secret)."""


class FakeControlPlane:
    """One control plane process, driven in simulated time by the simulated Fargate."""

    def __init__(
        self,
        *,
        name: str,
        config: bytes | None,
        environment: Mapping[str, str],
        gatling: FakeGatlingCloud,
        log: ContainerLog | None,
        container_files: Collection[str] = (CONFIG_PATH,),
    ) -> None:
        self.name = name
        self._config = config
        self._environment = dict(environment)
        self._gatling = gatling
        self._log = log
        self._files = frozenset(container_files)
        self._settings: _Settings | None = None
        self._server: _InfoServer | None = None
        self._thread: threading.Thread | None = None
        self.exit_code: int | None = None
        self.registered: list[str] = []

    # ---------------------------------------------------------------- lifecycle
    def start(self, at: float) -> bool:
        """Boot and come up at once (`boot` then `serve`); False when the process exited."""
        return self.boot(at) and self.serve(at)

    def boot(self, at: float) -> bool:
        """Read the config like the real process; False (exit 1, an ERROR line) when it refuses to start."""
        self._write(at, "INFO", f"Starting control plane, reading {CONFIG_PATH}")
        try:
            self._settings = self._read_settings()
        except StartRefused as refusal:
            self._exit(at, EXIT_REFUSED, str(refusal))
            return False
        self._write(at, "INFO", f"Configuration loaded: {len(self._settings.locations)} private location(s)")
        return True

    def serve(self, at: float) -> bool:
        """Register the locations with Gatling and answer `/info`; False when Gatling rejects the token."""
        settings = self._settings
        if settings is None or self.exit_code is not None:
            raise RuntimeError("serve() needs a successful boot()")
        for location_id, reason in settings.rejected:
            self._write(
                at,
                "ERROR",
                f"Control plane '{self.name}' failed to deploy private location '{location_id}': {reason}",
            )
        ids = [location.id for location in settings.locations]
        accepted = self._gatling.register(
            settings.token,
            ids,
            settings.description,
            descriptions={
                location.id: location.description for location in settings.locations if location.description
            },
            engines={location.id: location.engine for location in settings.locations},
            from_file=settings.token != self._environment.get(TOKEN_VARIABLE),
        )
        if not accepted:
            # Gatling answers 401 to an unknown token; the process gives up (assumption: the real
            # one's retry policy is undocumented, but it never comes up either way).
            self._exit(
                at,
                EXIT_REFUSED,
                f"Control plane '{self.name}' failed to authenticate with Gatling Enterprise: 401 Unauthorized (invalid control plane token)",
            )
            return False
        self.registered = ids
        for location_id in ids:
            self._write(at, "INFO", f"Private location '{location_id}' deployed")
        server = _InfoServer(("127.0.0.1", 0), _InfoHandler)
        self._server = server
        self._thread = serve_in_thread(server, f"control-plane-{self.name}")
        self._write(at, "INFO", f"Server listening on {settings.bind_address}:{settings.server_port}")
        return True

    def crash(self, at: float, message: str) -> None:
        """The process dies with `message` as its last ERROR line (exit 1)."""
        self._exit(at, EXIT_REFUSED, message)

    def stop(self, at: float) -> None:
        """SIGTERM: the control plane finishes in-flight work and exits 143."""
        if self.exit_code is not None:
            return
        self._write(at, "INFO", "Received SIGTERM, draining in-flight work before shutting down")
        self.close()
        self.exit_code = EXIT_SIGTERM

    def close(self) -> None:
        """Stop answering `/info` (no log line: the twin itself is shutting down)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        shut_down(server, thread)

    # ---------------------------------------------------------------- what the task's network sees
    @property
    def port(self) -> int | None:
        """The loopback port `/info` really listens on, while it does."""
        return self._server.server_address[1] if self._server is not None else None

    @property
    def server_port(self) -> int:
        """The port the config says the server listens on (`control-plane.server.port`)."""
        return self._settings.server_port if self._settings is not None else DEFAULT_SERVER_PORT

    @property
    def reachable(self) -> bool:
        """Whether `/info` answers on the task's private IP (not with a loopback bind address)."""
        settings = self._settings
        return (
            self._server is not None
            and settings is not None
            and settings.bind_address not in LOOPBACK_BIND_ADDRESSES
        )

    # ---------------------------------------------------------------- internals
    def _exit(self, at: float, code: int, message: str) -> None:
        self._write(at, "ERROR", message)
        self.close()
        self.exit_code = code

    def _write(self, at: float, level: str, message: str) -> None:
        if self._log is not None:
            self._log.write(at, f"{level:<5} {message}")

    def _read_settings(self) -> _Settings:
        if self._config is None:
            raise StartRefused(f"java.nio.file.NoSuchFileException: {CONFIG_PATH}")
        try:
            tree = load_config(self._config, environment=self._environment)
        except ConfigParseError as error:
            line = f"{error.line}: " if error.line else ""
            if error.message.startswith("could not resolve substitution"):
                name = error.message.partition(":")[2].strip()
                raise StartRefused(
                    "com.typesafe.config.ConfigException$UnresolvedSubstitution: "
                    f"{CONFIG_PATH}: {line}Could not resolve substitution to a value: {name}"
                ) from None
            raise StartRefused(
                f"com.typesafe.config.ConfigException$Parse: {CONFIG_PATH}: {line}{error.message}"
            ) from None
        root = tree.get("control-plane")
        if not isinstance(root, dict):
            raise StartRefused(_missing("control-plane"))
        token = root.get("token")
        if not isinstance(token, str) or not token.strip():
            raise StartRefused(_missing("control-plane.token"))
        self._check_stores(root)
        server = root.get("server")
        if not isinstance(server, dict):
            repository = root.get("repository")
            legacy = repository.get("server") if isinstance(repository, dict) else None
            server = legacy if isinstance(legacy, dict) else {}
        port = server.get("port", DEFAULT_SERVER_PORT)
        if not isinstance(port, int) or isinstance(port, bool):
            port = int(str(port)) if str(port).isdigit() else DEFAULT_SERVER_PORT
        locations, rejected = _locations(root.get("locations"))
        description = root.get("description")
        return _Settings(
            token=token,
            description=description if isinstance(description, str) else None,
            locations=tuple(locations),
            rejected=tuple(rejected),
            server_port=port,
            bind_address=str(server.get("bind-address", "0.0.0.0")),  # noqa: S104 - the documented default, simulated
        )

    def _check_stores(self, root: Mapping[str, Any]) -> None:
        """JKS keystores and files the container does not have stop the real process at start."""
        files: list[tuple[str, Any]] = []
        enterprise_cloud = root.get("enterprise-cloud")
        proxy = enterprise_cloud.get("proxy") if isinstance(enterprise_cloud, dict) else None
        if isinstance(proxy, dict):
            for store in ("keystore", "truststore"):
                block = proxy.get(store)
                if isinstance(block, dict):
                    files.append((store, block))
        server = root.get("server")
        if isinstance(server, dict) and isinstance(server.get("certificate"), dict):
            files.append(("certificate", server["certificate"]))
        for store, block in files:
            path = block.get("path")
            kind = str(block.get("type", ""))
            if store != "truststore" and (
                kind.upper() == "JKS"
                or (isinstance(path, str) and path.lower().endswith((".jks", ".keystore")))
            ):
                raise StartRefused(
                    f"java.security.KeyStoreException: {store} {path!s} is a JKS keystore; only PKCS#12 is supported"
                )
            if isinstance(path, str) and path not in self._files:
                raise StartRefused(f"java.nio.file.NoSuchFileException: {path}")


def _missing(key: str) -> str:
    return f"com.typesafe.config.ConfigException$Missing: {CONFIG_PATH}: No configuration setting found for key '{key}'"


def _locations(value: Any) -> tuple[list[_Location], list[tuple[str, str]]]:
    """The locations the control plane deploys, and (id, reason) for those it cannot."""
    accepted: list[_Location] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, location in enumerate(value if isinstance(value, list) else []):
        if not isinstance(location, dict):
            rejected.append((f"locations[{index}]", "a location must be an object"))
            continue
        location_id = str(location.get("id", f"locations[{index}]"))
        reason = _location_problem(location, location_id, seen)
        seen.add(location_id)
        if reason is not None:
            rejected.append((location_id, reason))
            continue
        description = location.get("description")
        accepted.append(
            _Location(
                location_id,
                description if isinstance(description, str) else None,
                str(location.get("engine", "classic")),
            )
        )
    return accepted, rejected


def _location_problem(location: Mapping[str, Any], location_id: str, seen: Collection[str]) -> str | None:
    if not LOCATION_ID.fullmatch(location_id):
        return "invalid id (prl_ then at most 26 of 0-9, a-z and _)"
    if location_id in seen:
        return "duplicate id"
    kind = location.get("type")
    if kind not in LOCATION_TYPES:
        return f"unknown type {kind!s}"
    if kind == "aws":
        for key in AWS_LOCATION_KEYS:
            if location.get(key) in (None, "", []):
                return f"missing required key '{key}'"
    return None


class _InfoServer(ThreadingHTTPServer):
    daemon_threads = True


class _InfoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        found = self.path.split("?", 1)[0] == "/info"
        # The real body is undocumented; HTTP 200 is what the workflow takes as "alive".
        payload = json.dumps({"status": "UP"} if found else {"error": "not found"}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the process's own log is the CloudWatch stream."""
