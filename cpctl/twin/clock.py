"""Simulated time for the local twin: waits cost no wall time, yet concurrent executions stay in order.

A discrete-event clock. Work that can wait on simulated time registers as a *worker*: a running
Step Functions execution, an asynchronous Lambda delivery, a test driver advancing time. A worker
that calls `sleep`, or waits for a `ClockMutex` another worker holds, is *asleep*. Simulated time moves
only when every worker is asleep, and then straight to the earliest wake-up, so a 15-minute poll
loop takes the wall time of its polls and never the 15 minutes, while two executions that
interleave in AWS interleave in the same order here. Listeners (the simulated Fargate) are called,
one at a time, every time the time moves, in steps of at most `max_step` seconds.

Threads that sleep without being workers (an `aws lambda invoke` by hand against `cpctl local up`)
still wake up, since a clock with no worker left awake advances at once.

Deadlines are per thread: `deadline()` makes every `sleep` of the thread that would cross it wake up
at the deadline and raise the given exception instead, the way AWS stops a Lambda at its timeout.
The exceptions derive from `BaseException`, so handler code's `except Exception` cannot absorb them.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

LOG = logging.getLogger(__name__)

# 2026-01-01T00:00:00Z: a fixed start makes every report of the twin reproducible.
DEFAULT_EPOCH = 1_767_225_600.0


class DeadlineExceeded(BaseException):
    """Raised out of `sleep` when the thread's deadline is reached. Subclasses say whose deadline."""


class ClockStopped(BaseException):
    """Raised out of `sleep` once the twin stopped: work left running must end, not carry on."""


@dataclass(order=True)
class _Sleeper:
    wake: float
    seq: int
    woken: bool = field(default=False, compare=False)


@dataclass
class ClockStats:
    advances: int = 0
    watchdog_advances: int = 0
    sleeps: int = 0


class SimulatedClock:
    """`controlplane.clock.Clock` in simulated seconds, safe to share between threads."""

    def __init__(
        self,
        start: float = DEFAULT_EPOCH,
        *,
        max_step: float = 1.0,
        watchdog_seconds: float = 10.0,
    ) -> None:
        self.start = start
        self._now = start
        self._max_step = max_step
        self._watchdog = watchdog_seconds
        self._cond = threading.Condition(threading.Lock())
        self._listener_lock = threading.Lock()
        self._listeners: list[Callable[[float], None]] = []
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self._workers = 0
        self._asleep = 0
        self._advancing = False
        self._progress = 0  # bumped on every change the watchdog should see as progress
        self._local = threading.local()
        self.stats = ClockStats()
        self.listener_errors: list[str] = []
        self._closed = False

    # ---------------------------------------------------------------- the Clock protocol
    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time (as a worker if the caller is one)."""
        if self._closed:
            raise ClockStopped()
        deadline, error = self._nearest_deadline()
        wake = self._now + max(0.0, float(seconds))
        interrupted = deadline is not None and wake > deadline
        if interrupted:
            assert deadline is not None
            wake = deadline
        if wake > self._now:
            hooks: list[tuple[Callable[[], None], Callable[[], None]]] = list(
                getattr(self._local, "hooks", ())
            )
            for before, _ in reversed(hooks):
                before()
            try:
                self._wait_until(wake)
            finally:
                if not self._closed:
                    for _, after in hooks:
                        after()
        if interrupted and error is not None:
            raise error()

    # ---------------------------------------------------------------- the twin's controls
    def add_listener(self, listener: Callable[[float], None]) -> None:
        """Call `listener(now)` every time simulated time moves (serialized; it must not sleep)."""
        with self._listener_lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[float], None]) -> None:
        with self._listener_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def advance(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass for the caller, who takes part as a worker meanwhile."""
        with self.worker():
            self.sleep(seconds)

    @contextmanager
    def worker(self) -> Iterator[None]:
        """Count the calling activity as a worker for the block (time waits for it unless it sleeps)."""
        self.enter_worker()
        try:
            yield
        finally:
            self.leave_worker()

    def enter_worker(self) -> None:
        with self._cond:
            self._workers += 1
            self._progress += 1

    def leave_worker(self) -> None:
        with self._cond:
            self._workers -= 1
            self._progress += 1
            self._maybe_advance_locked()
            self._cond.notify_all()

    @contextmanager
    def around_sleep(self, before: Callable[[], None], after: Callable[[], None]) -> Iterator[None]:
        """Within the block, the calling thread runs `before()` ahead of each sleep and `after()`
        when it wakes (the Lambda service gives its mutex away while a handler sleeps)."""
        hooks: list[tuple[Callable[[], None], Callable[[], None]]] = getattr(self._local, "hooks", [])
        self._local.hooks = hooks
        hooks.append((before, after))
        try:
            yield
        finally:
            hooks.remove((before, after))

    def mutex(self) -> ClockMutex:
        """A lock whose waiters count as asleep, handed straight to the next waiter on release."""
        return ClockMutex(self)

    @contextmanager
    def deadline(self, at: float, error: type[DeadlineExceeded]) -> Iterator[None]:
        """Within the block, a sleep of this thread crossing `at` stops there and raises `error`."""
        stack = self._deadlines()
        stack.append((at, error))
        try:
            yield
        finally:
            stack.remove((at, error))

    def close(self) -> None:
        """Stop the clock for good: every sleeper, now or later, gets `ClockStopped`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ---------------------------------------------------------------- internals
    def _deadlines(self) -> list[tuple[float, type[DeadlineExceeded]]]:
        stack: list[tuple[float, type[DeadlineExceeded]]] | None = getattr(self._local, "deadlines", None)
        if stack is None:
            stack = []
            self._local.deadlines = stack
        return stack

    def _nearest_deadline(self) -> tuple[float | None, type[DeadlineExceeded] | None]:
        stack = self._deadlines()
        if not stack:
            return None, None
        at, error = min(stack, key=lambda entry: entry[0])
        return at, error

    def _wait_until(self, wake: float) -> None:
        with self._cond:
            self.stats.sleeps += 1
            sleeper = _Sleeper(wake, next(self._seq))
            heapq.heappush(self._sleepers, sleeper)
            self._asleep += 1
            self._progress += 1
            self._maybe_advance_locked()
            while not sleeper.woken:
                if self._closed:
                    raise ClockStopped()
                seen = self._progress
                started = time.monotonic()
                self._cond.wait(timeout=self._watchdog)
                if sleeper.woken:
                    break
                if self._progress == seen and time.monotonic() - started >= self._watchdog:
                    # Nothing moved for a long wall time: a worker is stuck outside the clock's
                    # sight. Advance anyway rather than hang, and leave a trace of it.
                    LOG.warning(
                        "simulated clock: no progress for %.0f s of wall time, advancing", self._watchdog
                    )
                    self.stats.watchdog_advances += 1
                    self._advance_locked()
                else:
                    self._maybe_advance_locked()

    def _notify_listeners(self, now: float) -> None:
        with self._listener_lock:
            for listener in list(self._listeners):
                try:
                    listener(now)
                except Exception as error:  # a listener's bug must not surface in whichever thread slept
                    LOG.exception("simulated clock: listener %r failed", listener)
                    self.listener_errors.append(f"{type(error).__name__}: {error}")

    def _maybe_advance_locked(self) -> None:
        while not self._advancing and self._sleepers and self._asleep >= self._workers:
            self._advance_locked()

    def _advance_locked(self) -> None:
        if self._advancing or not self._sleepers:
            return
        target = self._sleepers[0].wake
        if self._listeners and target - self._now > self._max_step:
            target = self._now + self._max_step
        self._advancing = True
        try:
            if target > self._now:
                self._now = target
                self.stats.advances += 1
                self._cond.release()
                try:
                    self._notify_listeners(target)
                finally:
                    self._cond.acquire()
            while self._sleepers and self._sleepers[0].wake <= self._now:
                sleeper = heapq.heappop(self._sleepers)
                sleeper.woken = True
                self._asleep -= 1
            self._progress += 1
        finally:
            self._advancing = False
            self._cond.notify_all()


class ClockMutex:
    """A mutual exclusion lock for workers of one `SimulatedClock`.

    A worker waiting for it is asleep (time may move while the holder sleeps), and `release` hands
    the lock to the next waiter and wakes it in one step, so time cannot move in between.
    """

    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock
        self._owner: object | None = None
        self._waiters: deque[object] = deque()

    def acquire(self) -> None:
        clock = self._clock
        ticket = object()
        with clock._cond:
            if self._owner is None:
                self._owner = ticket
                return
            self._waiters.append(ticket)
            clock._asleep += 1
            clock._progress += 1
            clock._maybe_advance_locked()
            while self._owner is not ticket:
                if clock._closed:
                    raise ClockStopped()
                clock._cond.wait(timeout=clock._watchdog)

    def release(self) -> None:
        clock = self._clock
        with clock._cond:
            if self._waiters:
                self._owner = self._waiters.popleft()
                clock._asleep -= 1
            else:
                self._owner = None
            clock._progress += 1
            clock._cond.notify_all()

    def __enter__(self) -> ClockMutex:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
