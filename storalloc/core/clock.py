"""Time sources for the scheduler: live (wall-anchored monotonic) and virtual (simulation).

The scheduler reads time only through `Clock.now()`, in epoch seconds. Live time is
measured with the monotonic clock from a wall-clock anchor taken once, so a step of the
system clock (NTP) cannot fire leases early or late. Virtual time moves only when told.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class LiveClock:
    """Epoch seconds that advance with the monotonic clock."""

    def __init__(self) -> None:
        self._wall = time.time()
        self._mono = time.monotonic()

    def now(self) -> float:
        return self._wall + (time.monotonic() - self._mono)


class VirtualClock:
    """Simulated time: jumps from event to event and never moves backwards."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        if t < self._now:
            raise ValueError(f"virtual time cannot go back from {self._now} to {t}")
        self._now = t
