"""moto on the simulated clock: Step Functions waits, retries, timeouts and every timestamp.

moto 5.2.5 executes state machines with LocalStack's ASL interpreter, which really sleeps: `Wait`
states wait on an event, `Retry` intervals call `time.sleep`, a Task's `TimeoutSeconds` and the
machine's `TimeoutSeconds` are `Event.wait`/`Thread.join` timeouts. Here each of those goes through
the twin's `SimulatedClock` instead:

- Wait states and Retry intervals sleep on the clock (the execution counts as asleep meanwhile);
- a Task's `TimeoutSeconds` is a clock deadline of the thread evaluating the task, inherited by the
  in-process Lambda it invokes: a sleep crossing it stops there and the state fails `States.Timeout`;
- the machine's `TimeoutSeconds` is a deadline of the execution's thread: the execution ends
  TIMED_OUT the moment a sleep crosses it;
- every running execution is a clock *worker*, so time never moves while one is busy;
- moto's timestamps (`utcnow`, `unix_time`, and the interpreter's `datetime.now`) read the clock, so
  `$$.Execution.StartTime`, history timestamps, ECS `createdAt` and S3 `LastModified` are simulated
  times that agree with `controlplane.clock.now()` in the handlers.

Everything is patched by `install(clock)` and restored by `uninstall()`; `install` refuses any other
moto version, since it replaces two interpreter methods by copies adapted from moto 5.2.5.
"""

from __future__ import annotations

import copy
import datetime as _datetime
import importlib
import sys
import threading
import time
import types
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, cast

from cpctl.twin.clock import ClockStopped, DeadlineExceeded, SimulatedClock

SUPPORTED_MOTO = "5.2.5"

# moto service modules whose timestamps the twin reads; imported before patching so that their
# `from moto.core.utils import utcnow` bindings exist and get patched too.
_MOTO_MODULES = (
    "moto.s3.models",
    "moto.s3.notifications",
    "moto.ecs.models",
    "moto.events.models",
    "moto.sns.models",
    "moto.sqs.models",
    "moto.dynamodb.models",
    "moto.logs.models",
    "moto.iam.models",
    "moto.ec2.models",
    "moto.secretsmanager.models",
    "moto.cloudwatch.models",
    "moto.scheduler.models",
    "moto.awslambda.models",
    "moto.stepfunctions.models",
    "moto.stepfunctions.parser.models",
    "moto.stepfunctions.parser.backend.execution",
    "moto.stepfunctions.parser.backend.execution_worker",
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl",
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp",
)
# Interpreter modules that call `datetime.datetime.now()` directly.
_DATETIME_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl",
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp",
    "moto.stepfunctions.parser.asl.component.state.state",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.backend.activity",
    "moto.stepfunctions.parser.backend.execution",
    "moto.stepfunctions.parser.backend.alias",
    "moto.stepfunctions.parser.backend.state_machine",
    "moto.stepfunctions.parser.models",
)


# Execution ARN -> (wall start, wall end or None), in time.monotonic() seconds.
EXECUTION_WALL_TIMES: dict[str, tuple[float, float | None]] = {}
# Execution ARN -> set once the execution's thread is done, so waiting needs no polling.
EXECUTION_DONE: dict[str, threading.Event] = {}


class StateTimedOut(DeadlineExceeded):
    """A Task state's TimeoutSeconds was reached."""


class ExecutionTimedOut(DeadlineExceeded):
    """The state machine's TimeoutSeconds was reached."""


class _Patches:
    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def setattr(self, target: Any, name: str, value: Any) -> None:
        original = getattr(target, name)
        setattr(target, name, value)
        self._undo.append(lambda: setattr(target, name, original))

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


_active: _Patches | None = None
_clock: SimulatedClock | None = None


def _sim_datetime_module(clock: SimulatedClock) -> types.ModuleType:
    """A stand-in for the `datetime` module whose `datetime.now()` is simulated."""

    class SimDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz: _datetime.tzinfo | None = None) -> _datetime.datetime:  # type: ignore[override]
            return _datetime.datetime.fromtimestamp(clock.now(), tz)

        @classmethod
        def utcnow(cls) -> _datetime.datetime:  # type: ignore[override]
            return _datetime.datetime.fromtimestamp(clock.now(), _datetime.UTC).replace(tzinfo=None)

    module = types.ModuleType("datetime")
    module.__dict__.update(_datetime.__dict__)
    module.datetime = SimDatetime  # type: ignore[attr-defined]
    return module


def install(clock: SimulatedClock) -> None:
    """Put moto's Step Functions interpreter and timestamps on `clock` (idempotent per clock)."""
    global _active, _clock
    if _active is not None:
        if _clock is clock:
            return
        uninstall()
    found = version("moto")
    if found != SUPPORTED_MOTO:
        raise RuntimeError(
            f"the local twin patches moto {SUPPORTED_MOTO}'s Step Functions interpreter; moto {found} is installed"
        )
    for name in _MOTO_MODULES:
        importlib.import_module(name)
    for name in _DATETIME_MODULES:
        importlib.import_module(name)

    patches = _Patches()
    _patch_timestamps(patches, clock)
    _patch_interpreter(patches, clock)
    _active, _clock = patches, clock


def uninstall() -> None:
    global _active, _clock
    if _active is not None:
        _active.undo()
    _active, _clock = None, None
    EXECUTION_WALL_TIMES.clear()
    EXECUTION_DONE.clear()


def _patch_timestamps(patches: _Patches, clock: SimulatedClock) -> None:
    import moto.core.utils as core_utils

    original_utcnow = core_utils.utcnow

    def utcnow() -> _datetime.datetime:
        return _datetime.datetime.fromtimestamp(clock.now(), _datetime.UTC).replace(tzinfo=None)

    for name, module in list(sys.modules.items()):
        if (name == "moto" or name.startswith("moto.")) and getattr(
            module, "utcnow", None
        ) is original_utcnow:
            patches.setattr(module, "utcnow", utcnow)
    # S3 lists a key's versions newest first, in the order they were stored (ListObjectVersions);
    # moto sorts them by LastModified alone, so writes at one simulated instant would list oldest
    # first (and mark the oldest IsLatest). S3's timestamps therefore never repeat: a write in the
    # same simulated millisecond as the last one is stamped one millisecond later.
    import moto.s3.models as s3_models

    last = [0.0]
    stamp_lock = threading.Lock()

    def s3_utcnow() -> _datetime.datetime:
        with stamp_lock:
            last[0] = max(round(clock.now(), 3), round(last[0] + 0.001, 3))
            return _datetime.datetime.fromtimestamp(last[0], _datetime.UTC).replace(tzinfo=None)

    patches.setattr(s3_models, "utcnow", s3_utcnow)
    sim_datetime = _sim_datetime_module(clock)
    for name in _DATETIME_MODULES:
        patches.setattr(sys.modules[name], "datetime", sim_datetime)


def _patch_interpreter(patches: _Patches, clock: SimulatedClock) -> None:
    from moto.stepfunctions.parser.api import ExecutionTimedOutEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker, SyncExecutionWorker
    from moto.stepfunctions.parser.utils import TMP_THREADS

    # Retry intervals: the retrier calls `time.sleep` of its module.
    patches.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=clock.sleep, time=clock.now))

    # Wait states.
    def wait_interval(self: WaitFunction, env: Environment, wait_seconds: int) -> None:
        if wait_seconds > 0 and env.is_running():
            clock.sleep(wait_seconds)

    patches.setattr(WaitFunction, "_wait_interval", wait_interval)

    # Task TimeoutSeconds: adapted from moto 5.2.5 ExecutionState._evaluate_with_timeout, which runs
    # the task on a thread and waits for it with a wall-clock timeout. Here the task runs inline
    # under a clock deadline; a task that only overran while waiting for another worker is timed
    # out when it returns, its result discarded, as AWS would have done at the deadline.
    def evaluate_with_timeout(self: ExecutionState, env: Environment) -> None:
        self.timeout.eval(env=env)
        timeout_seconds: int = env.stack.pop()

        frame: Environment = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = copy.deepcopy(env.stack)
        deadline = clock.now() + timeout_seconds
        try:
            with clock.deadline(deadline, StateTimedOut):
                self._eval_execution(frame)
        except StateTimedOut:
            raise EvalTimeoutError() from None
        finally:
            frame.set_ended()
            env.close_frame(frame)
        if clock.now() > deadline:
            raise EvalTimeoutError()

        execution_output = frame.stack.pop()
        env.stack.append(execution_output)

        if not self._is_language_query_jsonpath():
            env.states.set_result(execution_output)
        if self.assign_decl:
            self.assign_decl.eval(env=env)
        if self.result_selector:
            self.result_selector.eval(env=env)
        if self.result_path:
            self.result_path.eval(env)
        else:
            res = env.stack.pop()
            env.states.reset(input_value=res)

    patches.setattr(ExecutionState, "_evaluate_with_timeout", evaluate_with_timeout)

    # The machine's TimeoutSeconds: moto runs the program on a thread joined with a timeout.
    def program_eval(self: Program, env: Environment) -> None:
        env.next_state_name = self.start_at.start_at_name
        if not self.timeout_seconds:
            EvalComponent.eval(self, env)
            return
        try:
            with clock.deadline(clock.now() + self.timeout_seconds.timeout_seconds, ExecutionTimedOut):
                EvalComponent.eval(self, env)
        except ExecutionTimedOut:
            env.set_timed_out()
            env.event_manager.add_event(
                context=env.event_history_context,
                event_type=HistoryEventType.ExecutionTimedOut,
                event_details=cast(
                    EventDetails, {"executionTimedOutEventDetails": ExecutionTimedOutEventDetails()}
                ),
            )

    patches.setattr(Program, "eval", program_eval)

    # Every execution is a clock worker from StartExecution until it ends.
    def worker_start(self: ExecutionWorker) -> None:
        arn = self._evaluation_details.execution_details.arn
        EXECUTION_WALL_TIMES[arn] = (time.monotonic(), None)
        done = EXECUTION_DONE.setdefault(arn, threading.Event())
        clock.enter_worker()

        def run() -> None:
            try:
                self._execution_logic()  # type: ignore[no-untyped-call]
            except ClockStopped:
                return  # the twin stopped while this execution was waiting: it just ends
            finally:
                EXECUTION_WALL_TIMES[arn] = (EXECUTION_WALL_TIMES[arn][0], time.monotonic())
                clock.leave_worker()
                done.set()

        thread = threading.Thread(target=run, daemon=True, name="sfn-execution")
        TMP_THREADS.append(thread)
        thread.start()

    def sync_worker_start(self: SyncExecutionWorker) -> None:
        with clock.worker():
            self._execution_logic()  # type: ignore[no-untyped-call]

    patches.setattr(ExecutionWorker, "start", worker_start)
    patches.setattr(SyncExecutionWorker, "start", sync_worker_start)
