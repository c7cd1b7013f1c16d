"""Driving the scheduler's timers on virtual time: jump from event to event."""

from __future__ import annotations

from storalloc.core.clock import VirtualClock
from storalloc.core.timers import TimerQueue


def advance(clock: VirtualClock, timers: TimerQueue, until: float) -> None:
    """Fire, in order, every timer due up to `until`, with the clock set to each one's
    deadline as it fires; then set the clock to `until`."""
    while (deadline := timers.next_deadline()) is not None and deadline <= until:
        clock.advance_to(max(deadline, clock.now()))
        timers.run_due(clock.now())
    clock.advance_to(max(until, clock.now()))


def drain(clock: VirtualClock, timers: TimerQueue) -> None:
    """Run every remaining timer (the end of a replay)."""
    while (deadline := timers.next_deadline()) is not None:
        clock.advance_to(max(deadline, clock.now()))
        timers.run_due(clock.now())
