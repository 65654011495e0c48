"""The twin's Lambda service: each function's handler runs in this process, with its environment.

moto (with `"lambda": {"use_docker": False}`) stores functions but answers every invoke with a
canned payload. `LambdaRouter.install()` replaces that answer: an invoke of a function the twin
provisioned from template.yaml imports the module named by its `Handler` from its `CodeUri` folder
(once, like a warm container), sets the function's environment variables for the duration, and
calls the handler with the event and a Powertools-compatible context. The rest follows the Lambda
service: an exception becomes `FunctionError: Unhandled` with the Python runtime's error payload
(so Step Functions names the error after the exception class), the function's `Timeout` is a
deadline on the simulated clock (`Sandbox.Timedout`), what the handler prints goes to its log
group `/aws/lambda/<name>` and not to the terminal, and asynchronous invokes (EventBridge targets)
run on their own thread with the service's two retries.

All functions share one `os.environ` (and the domain package's caches), so handlers run one at a
time under a `ClockMutex`; a handler that sleeps on the clock (a long poll) gives the mutex and its
environment away until it wakes, so a waiting Lambda never blocks the others. A synchronous invoke
made by a handler runs the invoked handler inline, in the same thread (the caller holds the mutex
and waits for the answer), and gives the caller its environment and fresh domain caches back.
The router knows which function's code runs in each thread (`current()`), so the twin's network
(cpctl/twin/network.py) can refuse what that function could not reach on AWS.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cpctl.twin.capture import Capture, StdStreams
from cpctl.twin.clock import ClockStopped, DeadlineExceeded, SimulatedClock

LOG = logging.getLogger(__name__)

# What AWS waits between the attempts of an asynchronous invocation that failed.
ASYNC_RETRY_DELAYS = (60.0, 120.0)


class LambdaTimedOut(DeadlineExceeded):
    """The function's Timeout was reached."""


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Lambda::Function of the template, as the twin runs it."""

    logical_id: str
    function_name: str
    arn: str
    handler: str  # "validate_config.app.lambda_handler" or "validate_config/app.lambda_handler"
    code_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    timeout: int = 3
    memory_size: int = 128
    runtime: str = "python3.13"
    log_group: str = ""  # LoggingConfig.LogGroup, else /aws/lambda/<name>
    role_arn: str = ""  # the execution role its AWS calls are authorized under
    in_vpc: bool = False  # VpcConfig with subnets: attached to the VPC, no public IP (network.py)

    @property
    def module_name(self) -> str:
        return self.handler.rsplit(".", 1)[0].replace("/", ".")

    @property
    def function_attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.function_name}"


@dataclass
class Invocation:
    """One invocation, for the report and the captures."""

    function_name: str
    request_id: str
    started: float  # simulated
    ended: float = 0.0
    error_type: str | None = None
    asynchronous: bool = False


class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers use."""

    def __init__(self, spec: FunctionSpec, request_id: str, clock: SimulatedClock, deadline: float) -> None:
        self.function_name = spec.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_size
        self.aws_request_id = request_id
        self.log_group_name = spec.log_group_name
        self.log_stream_name = f"2026/01/01/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._clock = clock
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.now()) * 1000))


class _ServiceError(Exception):
    """A Lambda *service* error (the invoke call itself fails), as the lambda-transient fault makes."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class LambdaRouter:
    """Routes moto's Lambda invokes to the handlers of the template's functions."""

    def __init__(
        self,
        *,
        clock: SimulatedClock,
        capture: Capture,
        streams: StdStreams,
        region: str,
        write_log: Callable[[FunctionSpec, str, list[str]], None] | None = None,
    ) -> None:
        self._clock = clock
        self._capture = capture
        self._streams = streams
        self._region = region
        self._write_log = write_log
        self._functions: dict[str, FunctionSpec] = {}
        self._modules: dict[str, ModuleType] = {}
        self._mutex = clock.mutex()
        self._transient: set[str] | None = None  # functions still to fail once (lambda-transient)
        self._lose_result: set[str] | None = None  # functions whose next result is lost (lambda-result-lost)
        self.lost_results: list[str] = []  # the function of every result the fault lost
        self._transient_failures: list[str] = []
        self._lock = threading.Lock()
        self.invocations: list[Invocation] = []
        self.before_invoke: list[Callable[[], None]] = []  # e.g. controlplane.settings.reset_settings
        self._originals: list[tuple[type, Callable[..., Any]]] = []
        self._running = threading.local()  # per thread: the functions whose handlers run, innermost last
        self._async_threads: list[threading.Thread] = []

    # ---------------------------------------------------------------- registry
    def register(self, spec: FunctionSpec) -> None:
        self._functions[spec.function_name] = spec

    def functions(self) -> dict[str, FunctionSpec]:
        return dict(self._functions)

    def find(self, name_or_arn: str) -> FunctionSpec | None:
        name = name_or_arn
        if name.startswith("arn:"):
            parts = name.split(":")
            name = parts[6] if len(parts) > 6 else name
        return self._functions.get(name.split(":")[0])

    def current(self) -> FunctionSpec | None:
        """The function whose handler runs in this thread (the innermost of inline invokes), if any."""
        stack = self._stack()
        return stack[-1] if stack else None

    def _stack(self) -> list[FunctionSpec]:
        stack: list[FunctionSpec] | None = getattr(self._running, "stack", None)
        if stack is None:
            stack = []
            self._running.stack = stack
        return stack

    def arm_transient_failures(self) -> None:
        """lambda-transient: the next invocation of every function fails with a Lambda service error."""
        self._transient = set(self._functions)

    def arm_lost_results(self) -> None:
        """lambda-result-lost: the next invocation of every function from outside a handler (Step
        Functions' Task) runs to its end, then the caller gets a Lambda service error instead of
        the result, so a Retry runs the handler again with its side effects already done."""
        self._lose_result = set(self._functions)

    @property
    def transient_failures(self) -> list[str]:
        """ "function: error" of every service error the lambda-transient fault produced."""
        return list(self._transient_failures)

    # ---------------------------------------------------------------- moto hook
    def install(self) -> None:
        from moto.awslambda.models import LambdaBackend
        from moto.awslambda_simple.models import LambdaSimpleBackend

        router = self
        for backend_class in (LambdaSimpleBackend, LambdaBackend):
            original = backend_class.__dict__["invoke"]
            self._originals.append((backend_class, original))

            def invoke(
                backend: Any,
                function_name: str,
                qualifier: str | None,
                body: Any,
                headers: Any,
                response_headers: Any,
                _original: Callable[..., Any] = original,
            ) -> str | bytes | None:
                spec = router.find(function_name)
                if spec is None:
                    answer: str | bytes | None = _original(
                        backend, function_name, qualifier, body, headers, response_headers
                    )
                    return answer
                return router._moto_invoke(spec, body, headers, response_headers)

            setattr(backend_class, "invoke", invoke)  # noqa: B010 - replacing a method on the class

    def uninstall(self) -> None:
        for backend_class, original in self._originals:
            setattr(backend_class, "invoke", original)  # noqa: B010
        self._originals.clear()

    def _moto_invoke(self, spec: FunctionSpec, body: Any, headers: Any, response_headers: Any) -> bytes:
        from moto.core.exceptions import JsonRESTError

        payload = body.encode() if isinstance(body, str) else (body or b"{}")
        invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type == "Event":
            self.invoke_async(spec, payload)
            return b""
        if invocation_type == "DryRun":
            return b""
        try:
            result, error = self.invoke(spec, payload)
        except _ServiceError as failure:
            exception = JsonRESTError(failure.code, str(failure))
            exception.code = failure.status
            raise exception from None
        if error is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(result))
        return result

    # ---------------------------------------------------------------- invocations
    def invoke(self, spec: FunctionSpec, payload: bytes) -> tuple[bytes, str | None]:
        """Run the handler once; returns (response payload, error type or None)."""
        with self._lock:
            if self._transient is not None and spec.function_name in self._transient:
                self._transient.discard(spec.function_name)
                code, status = _TRANSIENT_ERRORS[len(self._transient_failures) % len(_TRANSIENT_ERRORS)]
                self._transient_failures.append(f"{spec.function_name}: Lambda.{code}")
                raise _ServiceError(code, status, f"Lambda was unable to process the request ({code}).")
        if self.current() is not None:
            # A handler of this thread waits for the answer and holds the mutex (not re-entrant).
            return self._invoke_locked(spec, payload, asynchronous=False, inline=True)
        self._mutex.acquire()
        try:
            answer = self._invoke_locked(spec, payload, asynchronous=False)
        finally:
            self._mutex.release()
        with self._lock:
            lose = self._lose_result is not None and spec.function_name in self._lose_result
            if lose and self._lose_result is not None:
                self._lose_result.discard(spec.function_name)
                self.lost_results.append(spec.function_name)
        if lose:
            raise _ServiceError(
                "ServiceException",
                500,
                "Lambda was unable to return the function's response (ServiceException).",
            )
        return answer

    def invoke_async(self, spec: FunctionSpec, payload: bytes) -> threading.Thread:
        """Queue an asynchronous invocation (EventBridge target): retried twice on error."""
        self._clock.enter_worker()

        def run() -> None:
            try:
                for attempt in range(1 + len(ASYNC_RETRY_DELAYS)):
                    self._mutex.acquire()
                    try:
                        _, error = self._invoke_locked(spec, payload, asynchronous=True)
                    finally:
                        self._mutex.release()
                    if error is None or attempt == len(ASYNC_RETRY_DELAYS):
                        break
                    self._clock.sleep(ASYNC_RETRY_DELAYS[attempt])
            except ClockStopped:
                pass  # the twin stopped: an invocation waiting for its retry ends with it
            finally:
                self._clock.leave_worker()

        thread = threading.Thread(target=run, daemon=True, name=f"lambda-async-{spec.function_name}")
        with self._lock:
            self._async_threads = [t for t in self._async_threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def join_async(self, timeout: float) -> list[str]:
        """Wait for the asynchronous invocations still running (the twin is stopping); those that did not end."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._async_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [thread.name for thread in threads if thread.is_alive()]

    def _invoke_locked(
        self, spec: FunctionSpec, payload: bytes, *, asynchronous: bool, inline: bool = False
    ) -> tuple[bytes, str | None]:
        """Run the handler; the caller holds the mutex. While the handler sleeps on the clock (a
        long poll), the mutex and the environment are given away, so other invocations run.
        `inline`: invoked by a handler of this thread, whose own sleep hooks give the mutex away."""
        request_id = str(uuid.uuid4())
        record = Invocation(spec.function_name, request_id, self._clock.now(), asynchronous=asynchronous)
        self.invocations.append(record)
        self._capture.add(f"lambda-event:{spec.function_name}", payload.decode("utf-8", "replace"))
        buffer = io.StringIO()
        deadline = self._clock.now() + spec.timeout
        context = LambdaContext(spec, request_id, self._clock, deadline)
        error_type: str | None = None
        saved = [self._enter(spec)]

        def give_away() -> None:
            self._leave(saved[0])
            if not inline:
                self._mutex.release()

        def take_back() -> None:
            if not inline:
                self._mutex.acquire()
            saved[0] = self._enter(spec)

        try:
            with self._streams.routing(buffer), self._clock.around_sleep(give_away, take_back):
                buffer.write(f"START RequestId: {request_id} Version: $LATEST\n")
                try:
                    handler = self._handler(spec)
                    event = json.loads(payload) if payload.strip() else {}
                    with self._clock.deadline(deadline, LambdaTimedOut):
                        result = handler(event, context)
                    try:
                        response = json.dumps(result).encode()
                    except (TypeError, ValueError) as error:
                        error_type = "Runtime.MarshalError"
                        response = _error_payload(
                            error_type, f"Unable to marshal response: {error}", request_id, []
                        )
                except LambdaTimedOut:
                    error_type = "Sandbox.Timedout"
                    message = (
                        f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
                    )
                    buffer.write(message + "\n")
                    response = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
                except Exception as error:  # noqa: BLE001 - the runtime turns any exception into an error payload
                    error_type = type(error).__name__
                    frames = traceback.format_list(traceback.extract_tb(error.__traceback__)[1:])
                    frames = [frame.replace(str(spec.code_dir), "/var/task") for frame in frames]
                    response = _error_payload(error_type, str(error), request_id, frames)
                    buffer.write(f"[ERROR] {error_type}: {error}\n")  # what the runtime logs
                    buffer.write("Traceback (most recent call last):\n" + "".join(frames))
                buffer.write(f"END RequestId: {request_id}\n")
        finally:
            self._leave(saved[0])
            if inline:
                for hook in self.before_invoke:  # the caller's caches were this function's meanwhile
                    hook()
        record.ended = self._clock.now()
        record.error_type = error_type
        lines = buffer.getvalue().splitlines()
        self._capture.add(f"lambda-log:{spec.function_name}", buffer.getvalue())
        self._capture.add(f"lambda-result:{spec.function_name}", response.decode("utf-8", "replace"))
        if self._write_log is not None:
            self._write_log(spec, request_id, lines)
        return response, error_type

    def _enter(self, spec: FunctionSpec) -> dict[str, str | None]:
        """Give the process this function's environment (and fresh domain caches); what it replaced."""
        self._stack().append(spec)
        saved = self._apply_environment(spec)
        for hook in self.before_invoke:
            hook()
        self._streams.ensure_installed()
        self._streams.retarget_console_handlers()
        return saved

    def _leave(self, saved: dict[str, str | None]) -> None:
        self._stack().pop()
        set_environment(saved)

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        module = self._modules.get(spec.module_name)
        if module is None:
            module = self._import(spec)
            self._modules[spec.module_name] = module
        handler = getattr(module, spec.function_attribute, None)
        if not callable(handler):
            raise RuntimeError(
                f"Handler '{spec.handler}' missing on module '{spec.module_name}' ({spec.code_dir})"
            )
        return handler  # type: ignore[no-any-return]

    def _import(self, spec: FunctionSpec) -> ModuleType:
        code_dir = str(spec.code_dir)
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        module = importlib.import_module(spec.module_name)
        where = Path(module.__file__ or "").resolve()
        if spec.code_dir.resolve() not in where.parents:
            raise RuntimeError(
                f"{spec.logical_id}: module '{spec.module_name}' resolves to {where}, outside its CodeUri "
                f"{spec.code_dir}: two CodeUris define the same module name"
            )
        return module

    def _apply_environment(self, spec: FunctionSpec) -> dict[str, str | None]:
        variables = {
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_REGION": self._region,
            "AWS_DEFAULT_REGION": self._region,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            **spec.environment,
            # No X-Ray daemon in the twin: Powertools' Tracer would log that it cannot send segments.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        saved = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        return saved


def set_environment(values: Mapping[str, str | None]) -> None:
    """Set each variable, or unset it for None. An unset tolerates a variable another thread unset
    meanwhile: `os.environ.pop` reads then deletes, and raised KeyError when two threads restored at once."""
    for name, value in values.items():
        if value is not None:
            os.environ[name] = value
            continue
        with contextlib.suppress(KeyError):
            del os.environ[name]


_TRANSIENT_ERRORS = (("ServiceException", 500), ("TooManyRequestsException", 429))


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name) or headers.get(name.lower())
    return str(value) if value else None


def _error_payload(error_type: str, message: str, request_id: str, frames: list[str]) -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": frames}
    ).encode()
