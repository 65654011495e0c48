"""The one source of time for the domain: real time on AWS, simulated time in the local twin.

Every wait, deadline and duration in `controlplane` goes through `now()` and `sleep()`, so the twin
can run a 15-minute deadline in seconds of wall time by installing its own clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


_clock: Clock = SystemClock()


def install(clock: Clock) -> None:
    """Replace the clock (the local twin installs its simulated clock; production never calls this)."""
    global _clock
    _clock = clock


def current() -> Clock:
    return _clock


def now() -> float:
    """Seconds since the epoch, from the installed clock."""
    return _clock.now()


def utcnow() -> datetime:
    """The installed clock's time as an aware UTC datetime."""
    return datetime.fromtimestamp(_clock.now(), tz=UTC)


def sleep(seconds: float) -> None:
    """Wait on the installed clock."""
    _clock.sleep(seconds)
