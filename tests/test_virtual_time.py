"""Virtual time (storalloc.core.virtual): timers fire in order, each at its own deadline."""

from __future__ import annotations

from storalloc.core.clock import VirtualClock
from storalloc.core.timers import TimerQueue
from storalloc.core.virtual import advance, drain


def _recorder(clock: VirtualClock, fired: list[tuple[str, float]]):
    def record(name: str) -> None:
        fired.append((name, clock.now()))

    return record


def test_timers_fire_in_deadline_then_priority_then_schedule_order() -> None:
    clock, timers, fired = VirtualClock(0.0), TimerQueue(), []
    record = _recorder(clock, fired)
    timers.schedule(20.0, record, "late")
    timers.schedule(10.0, record, "b")
    timers.schedule(10.0, record, "first", priority=-1)
    timers.schedule(10.0, record, "c")
    timers.schedule(30.0, record, "beyond")
    advance(clock, timers, 25.0)
    assert fired == [("first", 10.0), ("b", 10.0), ("c", 10.0), ("late", 20.0)]
    assert clock.now() == 25.0
    assert timers.next_deadline() == 30.0


def test_a_timer_set_while_firing_fires_in_the_same_advance_if_due() -> None:
    clock, timers, fired = VirtualClock(0.0), TimerQueue(), []
    record = _recorder(clock, fired)

    def chain() -> None:
        record("chain")
        timers.schedule(5.0, record, "in the past")  # fires at once, at now
        timers.schedule(15.0, record, "due")
        timers.schedule(50.0, record, "not due")

    timers.schedule(10.0, chain)
    advance(clock, timers, 20.0)
    assert fired == [("chain", 10.0), ("in the past", 10.0), ("due", 15.0)]
    assert clock.now() == 20.0
    assert timers.next_deadline() == 50.0


def test_cancelled_timers_never_fire() -> None:
    clock, timers, fired = VirtualClock(0.0), TimerQueue(), []
    record = _recorder(clock, fired)
    timers.schedule(1.0, record, "cancelled").cancel()
    timers.schedule(2.0, record, "kept")
    timers.schedule(3.0, record, "cancelled too").cancel()
    assert len(timers) == 1
    advance(clock, timers, 10.0)
    assert fired == [("kept", 2.0)]
    assert timers.pop_next(float("inf")) is None


def test_pop_next_stops_at_its_bound() -> None:
    timers = TimerQueue()
    timers.schedule(5.0, print)
    assert timers.pop_next(4.9) is None
    deadline, timer = timers.pop_next(5.0)
    assert deadline == 5.0 and timer.callback is print
    assert timers.pop_next(5.0) is None


def test_drain_leaves_the_clock_at_the_last_deadline() -> None:
    clock, timers, fired = VirtualClock(0.0), TimerQueue(), []
    record = _recorder(clock, fired)
    timers.schedule(7.0, record, "a")
    timers.schedule(3.0, record, "b")
    drain(clock, timers)
    assert fired == [("b", 3.0), ("a", 7.0)]
    assert clock.now() == 7.0


def test_advance_never_moves_the_clock_back() -> None:
    clock, timers = VirtualClock(100.0), TimerQueue()
    advance(clock, timers, 50.0)
    assert clock.now() == 100.0
