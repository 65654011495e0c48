"""A fake Gatling Enterprise Cloud: the public API operations the workflow reads, on loopback.

`GET /api/public/v2/locations`, `GET /api/public/v2/info`, `GET /api/public/v2/runs` and
`GET /api/public/v2/runs/{runId}` answer as Gatling's OpenAPI spec defines them (`LocationReadAll`,
`InfoRead`, `RunReadAll`, `RunReadOne`). Locations appear when a fake control plane registers them
with its control plane token, and stay listed after it stops, as on the real service. Runs are
started by the twin (`start_run`, the `run-in-progress` and `run-never-ends` faults) on locations,
and end after their duration (or never), on the twin's clock (`now`).

The API token goes raw in the `Authorization` header (no `Bearer`); anything else is a 401 with the
spec's error body. `/v2/info` needs no authentication. With `flaky` set, every other request (the
first included) answers 503, so a client without retries fails deterministically.
"""

from __future__ import annotations

import json
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from controlplane.deployment_context import TOKEN_PREFIX

from cpctl.twin.loopback import serve_in_thread, shut_down

API_PREFIX = "/api/public"
LOCATION_TYPES = ("private_location", "managed_location")
ARTIFACT_FORMATS = ("jvm", "js")

# The `InfoRead` example of the OpenAPI spec.
INFO_BODY: dict[str, Any] = {
    "data": {
        "versions": {
            "java": {"maximum": "25"},
            "plugins": {
                name: {"minimum": "1.0.0"}
                for name in (
                    "maven",
                    "sbt",
                    "gradle",
                    "npm",
                    "bamboo",
                    "jenkins",
                    "teamCity",
                    "githubAction",
                    "ciScript",
                )
            },
        }
    }
}

# A real account also lists Gatling's managed locations; a client that forgets the
# `type=private_location` filter sees them. (Ids and names are made up: the format is not documented.)
MANAGED_LOCATIONS: tuple[dict[str, Any], ...] = (
    {
        "_type": "managed_location",
        "_id": "mgd_aws_eu_west_3",
        "_name": "Paris",
        "_capabilities": {"artifactFormats": ["jvm", "js"]},
    },
    {
        "_type": "managed_location",
        "_id": "mgd_aws_us_east_1",
        "_name": "N. Virginia",
        "_capabilities": {"artifactFormats": ["jvm", "js"]},
    },
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the fake received: never a header value, so never a token."""

    method: str
    path: str
    status: int


@dataclass(frozen=True, slots=True)
class _Location:
    id: str
    description: str | None
    artifact_formats: tuple[str, ...]

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "_type": "private_location",
            "_id": self.id,
            "_capabilities": {"artifactFormats": list(self.artifact_formats)},
        }
        description = (self.description or "").strip()
        if description:  # the spec: "Non-empty trimmed string", and optional
            item["_description"] = description
        return item


# A run's status while it starts, then while it injects, then when it ends by itself. The spec does
# not enumerate `_status`; these are values a public Gatling client knows (docs/workflow.md).
RUN_STARTING_STATUS = "deploying"
RUN_RUNNING_STATUS = "injecting"
RUN_ENDED_STATUS = "successful"
RUN_STARTING_SECONDS = 60.0
# GET /v2/runs without updated-at_gt: "the Runs updated since the provided timestamp (default: 24h)".
RUNS_DEFAULT_WINDOW = timedelta(hours=24)


@dataclass(slots=True)
class _FakeRun:
    id: str
    test_id: str
    incremental_id: int
    title: str
    location_ids: tuple[str, ...]
    started_at: float
    ends_at: float | None  # None: never ends by itself
    ended_status: str = RUN_ENDED_STATUS

    def status(self, now: float) -> str:
        if self.ends_at is not None and now >= self.ends_at:
            return self.ended_status
        return RUN_STARTING_STATUS if now < self.started_at + RUN_STARTING_SECONDS else RUN_RUNNING_STATUS

    def updated_at(self, now: float) -> float:
        if self.ends_at is not None and now >= self.ends_at:
            return self.ends_at
        return (
            self.started_at
            if now < self.started_at + RUN_STARTING_SECONDS
            else self.started_at + RUN_STARTING_SECONDS
        )

    def item(self, now: float) -> dict[str, Any]:
        return {
            "_type": "run",
            "_id": self.id,
            "title": self.title,
            "_status": self.status(now),
            "_updatedAt": _iso(self.updated_at(now)),
            "_configuration": {"testId": self.test_id, "incrementalId": self.incremental_id},
        }

    def details(self, now: float) -> dict[str, Any]:
        ended = self.ends_at is not None and now >= self.ends_at
        share = 100 // max(len(self.location_ids), 1)
        return {
            **{key: value for key, value in self.item(now).items() if key != "_configuration"},
            "_creditsUsed": 0,
            "_result": {"assertions": []},
            "_runtime": {
                "timeline": {
                    "inject": {
                        "startedAt": _iso(self.started_at + RUN_STARTING_SECONDS),
                        "endedAt": _iso(self.ends_at) if ended and self.ends_at is not None else None,
                    }
                }
            },
            "_configuration": {
                "testId": self.test_id,
                "incrementalId": self.incremental_id,
                "simulation": "twin.LoadSimulation",
                "systemProperties": {},
                "environmentVariables": {},
                "meaningfulTimeWindow": {"rampUpSeconds": 0, "rampDownSeconds": 0},
                "stopCriteria": [],
                "source": {"type": "packaged"},
                "distribution": {
                    "loadGenerators": [
                        {"locationId": location, "instance": {"count": 1}, "loadPercentage": share}
                        for location in self.location_ids
                    ]
                },
            },
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


class FakeGatlingCloud:
    """Gatling's public API on 127.0.0.1, fed in-process by fake control planes."""

    def __init__(self, api_token: str, control_plane_token: str) -> None:
        self._api_token = api_token
        self._control_plane_token = control_plane_token
        self._lock = threading.Lock()
        self._locations: dict[str, _Location] = {}
        self._requests: list[RequestRecord] = []
        self._flaky_count = 0
        self.flaky = False
        # A literal `cpt_...` token in a deployed file stands for a token of the user's own
        # organisation, which the twin cannot check: the fake takes it, unless the `token-rejected`
        # fault makes it a revoked or wrong one.
        self.file_tokens_rejected = False
        self._runs: dict[str, _FakeRun] = {}
        self.now: Callable[[], float] = time.time  # the twin sets its simulated clock
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ca_dir: tempfile.TemporaryDirectory[str] | None = None
        self.ca_path = Path()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Serve on an ephemeral loopback port in a daemon thread."""
        if self._server is not None:
            return
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        # https, as the real API is (the template refuses any other GatlingApiUrl): a CA made for
        # this fake only, which the twin's processes trust through SSL_CERT_FILE (ca_path).
        authority = trustme.CA()
        certificate = authority.issue_cert("127.0.0.1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._ca_dir = tempfile.TemporaryDirectory(prefix="fake-gatling-ca-")
        self.ca_path = Path(self._ca_dir.name) / "ca.pem"
        authority.cert_pem.write_to_path(str(self.ca_path))
        self._server = server
        self._thread = serve_in_thread(server, "fake-gatling-cloud")

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        shut_down(server, thread)
        if self._ca_dir is not None:
            self._ca_dir.cleanup()
            self._ca_dir = None

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this fake's certificate (for callers outside the twin)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    @property
    def url(self) -> str:
        """Base URL of the public API, like `https://api.gatling.io/api/public`."""
        if self._server is None:
            raise RuntimeError("the fake Gatling Cloud is not started")
        return f"https://127.0.0.1:{self._server.server_address[1]}{API_PREFIX}"

    # ---------------------------------------------------------------- what control planes do
    def register(
        self,
        control_plane_token: str,
        location_ids: Sequence[str],
        description: str | None,
        *,
        descriptions: Mapping[str, str] | None = None,
        engines: Mapping[str, str] | None = None,
        from_file: bool = False,
    ) -> bool:
        """Register a control plane's locations; False (nothing registered) when the token is wrong.

        The twin's own token (the stack's secret) is always right. A token written in the config
        (`from_file`) is taken as the user's when it has the `cpt_` shape of a control plane token,
        unless `file_tokens_rejected`.

        `description` is used for every location unless `descriptions` has one for its id;
        `engines` (`classic`/`javascript` per id) decide the artifact format a location accepts.
        """
        if control_plane_token != self._control_plane_token and not (
            from_file and control_plane_token.startswith(TOKEN_PREFIX) and not self.file_tokens_rejected
        ):
            return False
        with self._lock:
            for location_id in location_ids:
                engine = (engines or {}).get(location_id, "classic")
                formats = ("js",) if engine == "javascript" else ("jvm",)
                own = (descriptions or {}).get(location_id)
                self._locations[location_id] = _Location(location_id, own or description, formats)
        return True

    def location_ids(self) -> list[str]:
        """Ids of every private location ever registered, in registration order."""
        with self._lock:
            return list(self._locations)

    def start_run(
        self, location_ids: Sequence[str], *, duration: float | None, title: str = "twin load test"
    ) -> str:
        """Start a run on `location_ids` now, ending after `duration` seconds (None: never); its id."""
        with self._lock:
            number = len(self._runs) + 1
            run = _FakeRun(
                id=f"run_twin_{number:04d}",
                test_id="tst_twin_load",
                incremental_id=number,
                title=title,
                location_ids=tuple(location_ids),
                started_at=self.now(),
                ends_at=None if duration is None else self.now() + duration,
            )
            self._runs[run.id] = run
        return run.id

    def end_run(self, run_id: str, status: str = "manually_stopped") -> None:
        """End a run now (as the API's stop action would), with `status`."""
        with self._lock:
            run = self._runs[run_id]
            run.ends_at, run.ended_status = self.now(), status

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    # ---------------------------------------------------------------- HTTP
    def handle(self, method: str, target: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """Answer one request (`target` is the path with its query string) and record it."""
        split = urlsplit(target)
        path = split.path
        status, body = self._route(method, path, parse_qs(split.query, keep_blank_values=True), authorization)
        with self._lock:
            self._requests.append(RequestRecord(method, target, status))
        return status, body

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        if self.flaky:
            with self._lock:
                turn = self._flaky_count
                self._flaky_count += 1
            if turn % 2 == 0:
                return 503, _error("ServiceUnavailable", "Service temporarily unavailable, retry later")
        run_prefix = f"{API_PREFIX}/v2/runs/"
        is_run = path.startswith(run_prefix) and "/" not in path[len(run_prefix) :] and path != run_prefix
        if (
            path not in (f"{API_PREFIX}/v2/locations", f"{API_PREFIX}/v2/info", f"{API_PREFIX}/v2/runs")
            and not is_run
        ):
            return 404, _error("NotFound", f"No route for {path}")
        if method != "GET":
            return 405, _error("MethodNotAllowed", f"{method} is not allowed on {path}")
        if path.endswith("/v2/info"):
            return 200, INFO_BODY
        if authorization != self._api_token:
            return 401, _error("Unauthorized", "Invalid or missing API token")
        if is_run:
            return self._read_run(path[len(run_prefix) :])
        if path.endswith("/v2/runs"):
            return self._list_runs(query)
        return self._list_locations(query)

    def _list_runs(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        now = self.now()
        since_text = _single(query, "updated-at_gt")
        since = now - RUNS_DEFAULT_WINDOW.total_seconds() if since_text is None else _parse_time(since_text)
        if since is None:
            return 400, _error(
                "BadRequest", f"Invalid value for query parameter 'updated-at_gt': {since_text}"
            )
        limit_text = _single(query, "limit")
        if limit_text is not None and (not limit_text.isdigit() or int(limit_text) < 1):
            return 400, _error("BadRequest", f"Invalid value for query parameter 'limit': {limit_text}")
        test_ids = query.get("test-id")
        with self._lock:
            runs = [run for run in self._runs.values() if run.updated_at(now) > since]
        if test_ids:
            runs = [run for run in runs if run.test_id in test_ids]
        runs.sort(key=lambda run: run.updated_at(now), reverse=True)
        if limit_text is not None:
            runs = runs[: int(limit_text)]
        echoed = {name: values[-1] for name, values in query.items() if values}
        return 200, {
            "data": [run.item(now) for run in runs],
            "metadata": {"requestTime": _iso(now), "query": echoed},
            "relatedResources": {},
        }

    def _read_run(self, run_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            return 404, _error("NotFound", f"Run {run_id} not found")
        return 200, {"data": run.details(self.now()), "relatedResources": {}}

    def _list_locations(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        kind = _single(query, "type")
        artifact_format = _single(query, "artifact-format")
        if kind is not None and kind not in LOCATION_TYPES:
            return 400, _error("BadRequest", f"Invalid value for query parameter 'type': {kind}")
        if artifact_format is not None and artifact_format not in ARTIFACT_FORMATS:
            return 400, _error(
                "BadRequest", f"Invalid value for query parameter 'artifact-format': {artifact_format}"
            )
        with self._lock:
            items = [location.item() for location in self._locations.values()]
        items += [dict(location) for location in MANAGED_LOCATIONS]
        if kind is not None:
            items = [item for item in items if item["_type"] == kind]
        if artifact_format is not None:
            items = [item for item in items if artifact_format in item["_capabilities"]["artifactFormats"]]
        return 200, {"data": items}


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeGatlingCloud


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, body = self.server.owner.handle(self.command, self.path, self.headers.get("Authorization"))
        payload = json.dumps(body).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is `FakeGatlingCloud.requests`, and `make local` has its own output."""
