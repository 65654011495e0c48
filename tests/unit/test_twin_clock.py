"""The twin's simulated clock: time moves only when every worker sleeps, in order, with deadlines."""

from __future__ import annotations

import threading
import time

import pytest

from cpctl.twin.clock import ClockStopped, DeadlineExceeded, SimulatedClock


class Late(DeadlineExceeded):
    pass


def run_workers(clock: SimulatedClock, *targets: object) -> None:
    threads = []
    for target in targets:
        clock.enter_worker()

        def body(target: object = target) -> None:
            try:
                target()  # type: ignore[operator]
            finally:
                clock.leave_worker()

        threads.append(threading.Thread(target=body))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), "a worker hung"


def test_concurrent_sleepers_wake_in_simulated_order_without_wall_time() -> None:
    clock = SimulatedClock(0.0)
    woke: list[tuple[float, str]] = []

    def poller(name: str, period: float, count: int) -> object:
        def run() -> None:
            for _ in range(count):
                clock.sleep(period)
                woke.append((clock.now(), name))

        return run

    started = time.monotonic()
    run_workers(clock, poller("five", 5, 180), poller("seven", 7, 100))

    assert time.monotonic() - started < 5  # 900 simulated seconds
    assert clock.now() == 900
    assert [at for at, _ in woke] == sorted(at for at, _ in woke)
    assert woke[:3] == [(5, "five"), (7, "seven"), (10, "five")]


def test_time_waits_for_a_busy_worker() -> None:
    clock = SimulatedClock(0.0)
    seen: list[float] = []
    busy = threading.Event()

    def sleeper() -> None:
        clock.sleep(10)
        seen.append(clock.now())

    def worker() -> None:
        time.sleep(0.2)  # busy in wall time: simulated time must not move meanwhile
        seen.append(clock.now())
        busy.set()

    run_workers(clock, sleeper, worker)

    assert busy.is_set()
    assert seen == [0.0, 10.0]


def test_a_deadline_stops_the_sleep_at_the_deadline() -> None:
    clock = SimulatedClock(0.0)
    with clock.worker(), clock.deadline(30, Late), pytest.raises(Late):
        clock.sleep(5)
        clock.sleep(100)
    assert clock.now() == 30


def test_a_mutex_waiter_lets_time_move_for_the_holder() -> None:
    clock = SimulatedClock(0.0)
    mutex = clock.mutex()
    order: list[tuple[str, float]] = []
    held = threading.Event()

    def holder() -> None:
        with mutex:
            held.set()
            clock.sleep(10)
            order.append(("holder done", clock.now()))

    def waiter() -> None:
        held.wait(5)
        with mutex:
            order.append(("waiter in", clock.now()))

    run_workers(clock, holder, waiter)

    assert order == [("holder done", 10.0), ("waiter in", 10.0)]


def test_listeners_see_every_step_of_at_most_max_step() -> None:
    clock = SimulatedClock(0.0, max_step=1.0)
    ticks: list[float] = []
    clock.add_listener(ticks.append)

    clock.advance(5)

    assert ticks == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_closing_the_clock_ends_every_sleeper() -> None:
    clock = SimulatedClock(0.0)
    ended: list[str] = []
    clock.enter_worker()
    clock.enter_worker()  # a second worker that never sleeps: time cannot move

    def sleeper() -> None:
        try:
            clock.sleep(60)
        except ClockStopped:
            ended.append("stopped")

    thread = threading.Thread(target=sleeper)
    thread.start()
    time.sleep(0.1)
    clock.close()
    thread.join(timeout=5)

    assert ended == ["stopped"]
    with pytest.raises(ClockStopped):
        clock.sleep(1)
