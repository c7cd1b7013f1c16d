"""Driving the scheduler's timers on virtual time: jump from event to event."""

from __future__ import annotations

from storalloc.core.clock import VirtualClock
from storalloc.core.timers import TimerQueue


def advance(clock: VirtualClock, timers: TimerQueue, until: float) -> None:
    """Fire, in order, every timer due up to `until`, with the clock set to each one's
    deadline as it fires; then set the clock to `until`."""
    _fire_through(clock, timers, until)
    if until > clock.now():
        clock.advance_to(until)


def drain(clock: VirtualClock, timers: TimerQueue) -> None:
    """Run every remaining timer (the end of a replay)."""
    _fire_through(clock, timers, float("inf"))


def _fire_through(clock: VirtualClock, timers: TimerQueue, until: float) -> None:
    while (due := timers.pop_next(until)) is not None:
        deadline, timer = due
        if deadline > clock.now():  # a timer set in the past fires at once, at now
            clock.advance_to(deadline)
        timer.callback(*timer.args)
